"""``/api/model-package-groups/{group}/promotion-policy``: a group's promotion policy.

``PUT`` sets it (the body is the policy JSON, see :mod:`modelreg.sagemaker.promotion`), ``GET``
returns it, ``DELETE`` removes it. ``?region=`` picks the group's region (default: the server's).
A policy that breaks the format is a 400 whose message names the field; an unknown group, or a
group without a policy on GET/DELETE, is a 404.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from modelreg import arns, json_text
from modelreg.api import common
from modelreg.sagemaker import promotion
from modelreg.store.rows import NamedResource

#: a policy of MAX_GATES gates fits many times over
MAX_BODY_BYTES = 64 * 1024


def _no_group(request: Request, region: str) -> JSONResponse:
    arn = arns.model_package_group(
        region, request.app.state.settings.account_id, request.path_params["group"]
    )
    return common.error(404, f"ModelPackageGroup {arn} does not exist.")


def _policy_json(group_name: str, resource: NamedResource) -> dict[str, Any]:
    return {
        "ModelPackageGroupName": group_name,
        "ModelPackageGroupArn": resource.body["group_arn"],
        "policy": resource.body["policy"],
        "updated_at": resource.body["updated_us"] / 1_000_000,
    }


async def get_policy(request: Request) -> JSONResponse:
    region, name = common.region(request), request.path_params["group"]
    with common.store(request).read() as tx:
        group = tx.get_group(region, name)
        resource = promotion.get_policy_resource(tx, region, name) if group else None
    if group is None:
        return _no_group(request, region)
    if resource is None:
        return common.error(404, f"Model package group {group.name} has no promotion policy.")
    return JSONResponse(_policy_json(group.name, resource))


async def put_policy(request: Request) -> JSONResponse:
    """Set (create or replace) the policy; answers with it as stored (defaults filled in)."""
    region, name = common.region(request), request.path_params["group"]
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        return common.error(400, f"The promotion policy is larger than {MAX_BODY_BYTES} bytes.")
    try:
        document = json_text.parse(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return common.error(400, f"The promotion policy is not valid JSON: {exc}")
    try:
        policy = promotion.parse_policy(document)
    except promotion.PolicyError as exc:
        return common.error(400, str(exc))
    with common.store(request).write() as tx:
        group = tx.get_group(region, name, for_update=True)
        if group is None:
            return _no_group(request, region)
        resource = promotion.save_policy(tx, group, policy, time.time_ns() // 1000)
    return JSONResponse(_policy_json(group.name, resource))


async def delete_policy(request: Request) -> Response:
    region, name = common.region(request), request.path_params["group"]
    with common.store(request).write() as tx:
        group = tx.get_group(region, name, for_update=True)
        if group is None:
            return _no_group(request, region)
        if not promotion.delete_policy(tx, region, group.name):
            return common.error(404, f"Model package group {group.name} has no promotion policy.")
    return Response(status_code=204)


routes = [
    Route("/model-package-groups/{group}/promotion-policy", get_policy, methods=["GET"]),
    Route("/model-package-groups/{group}/promotion-policy", put_policy, methods=["PUT"]),
    Route("/model-package-groups/{group}/promotion-policy", delete_policy, methods=["DELETE"]),
]
