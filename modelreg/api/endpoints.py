"""``/api/endpoints/...`` and ``/api/model-packages/.../deployments``: deployment history and rollback.

- ``GET /api/endpoints/{name}/history``: every change of the endpoint, oldest first: what served
  in which variant with what weight, from when to when, who asked for it, and how it ended.
- ``GET /api/endpoints/{name}/workers``: the worker processes serving it in this server.
- ``POST /api/endpoints/{name}/rollback`` (optional body ``{"toChange": N}``): serve the
  configuration that served before the current one again, as a new change (202).
- ``GET /api/model-packages/{group}/{version}/deployments``: where a version served, and when.

``?region=`` picks the region (default: the server's).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from modelreg import arns, json_text
from modelreg.api import common
from modelreg.errors import ServiceError
from modelreg.sagemaker import endpoints
from modelreg.store.rows import DeploymentRow


def _time(us: int | None) -> float | None:
    return None if us is None else us / 1_000_000


def _change_json(rows: list[DeploymentRow]) -> dict[str, Any]:
    first = rows[0]
    return {
        "change": first.change,
        "action": first.action,
        "endpointConfigName": first.config_name,
        "requestedAt": _time(first.requested_us),
        "requestedBy": first.principal,
        "requestId": first.request_id,
        "outcome": first.outcome,
        "failureReason": first.failure_reason,
        "liveFrom": _time(first.live_us),
        "liveUntil": _time(first.ended_us) if first.live_us is not None else None,
        "variants": [
            {
                "variantName": r.variant_name,
                "modelName": r.model_name,
                "modelPackageArn": r.package_arn,
                "weight": r.weight,
                "instanceCount": r.instance_count,
                "containers": [
                    {"image": c.get("Image"), "modelDataUrl": c.get("ModelDataUrl")}
                    for c in r.body.get("Containers", [])
                ],
            }
            for r in rows
            if r.variant_name is not None
        ],
    }


async def endpoint_history(request: Request) -> JSONResponse:
    name = request.path_params["name"]
    arn = arns.sagemaker(common.region(request), request.app.state.settings.account_id, "endpoint", name)
    with request.app.state.store.read() as tx:
        rows = tx.list_deployments(endpoint_arn=arn)
    if not rows:
        return common.error(
            404, code="NotFound", message=f"Endpoint {arn} does not exist and has no history."
        )
    changes: dict[int, list[DeploymentRow]] = {}
    for row in rows:
        changes.setdefault(row.change, []).append(row)
    return JSONResponse(
        {
            "EndpointName": rows[-1].endpoint_name,
            "EndpointArn": arn,
            "changes": [_change_json(c) for c in changes.values()],
        }
    )


async def endpoint_workers(request: Request) -> JSONResponse:
    name = request.path_params["name"]
    arn = arns.sagemaker(common.region(request), request.app.state.settings.account_id, "endpoint", name)
    workers = request.app.state.backend.workers(arn)
    return JSONResponse(
        {
            "EndpointArn": arn,
            "workers": [
                {"variantName": w.variant, "pid": w.pid, "address": w.address, "change": w.change, **w.extra}
                for w in workers
            ],
        }
    )


async def rollback(request: Request) -> JSONResponse:
    state = request.app.state
    body = await request.body()
    try:
        ctx = common.caller_context(request, body, "RollbackEndpoint")
        options = json_text.parse(body) if body.strip() else {}
        to_change = options.get("toChange") if isinstance(options, dict) else None
        if to_change is not None and not isinstance(to_change, int):
            return common.error(400, "toChange must be a change number (an integer).")
    except ServiceError as error:
        return common.error(error.status, error.message, error.code)
    except ValueError:
        return common.error(400, 'The body must be JSON: {} or {"toChange": N}.')
    try:
        with state.store.read() as tx:
            endpoints.get_endpoint(tx, ctx, request.path_params["name"])
    except ServiceError as error:
        return common.error(404, error.message)
    try:
        result = endpoints.rollback(ctx, request.path_params["name"], to_change)
    except ServiceError as error:
        return common.error(400, error.message, error.code)
    return JSONResponse(result, status_code=202)


async def package_deployments(request: Request) -> JSONResponse:
    group, version = request.path_params["group"], request.path_params["version"]
    arn = arns.model_package(common.region(request), request.app.state.settings.account_id, group, version)
    with request.app.state.store.read() as tx:
        rows = tx.list_deployments(package_arn=arn)
        exists = tx.get_package_by_arn(arn) is not None
    if not rows and not exists:
        return common.error(
            404, code="NotFound", message=f"ModelPackage {arn} does not exist and was never deployed."
        )
    return JSONResponse(
        {
            "ModelPackageArn": arn,
            "deployments": [
                {
                    "endpointName": r.endpoint_name,
                    "endpointArn": r.endpoint_arn,
                    "change": r.change,
                    "action": r.action,
                    "variantName": r.variant_name,
                    "weight": r.weight,
                    "instanceCount": r.instance_count,
                    "requestedBy": r.principal,
                    "requestedAt": _time(r.requested_us),
                    "outcome": r.outcome,
                    "liveFrom": _time(r.live_us),
                    "liveUntil": _time(r.ended_us) if r.live_us is not None else None,
                }
                for r in rows
            ],
        }
    )


routes = [
    Route("/endpoints/{name}/history", endpoint_history, methods=["GET"]),
    Route("/endpoints/{name}/workers", endpoint_workers, methods=["GET"]),
    Route("/endpoints/{name}/rollback", rollback, methods=["POST"]),
    Route("/model-packages/{group}/{version:number}/deployments", package_deployments, methods=["GET"]),
]
