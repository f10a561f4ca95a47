"""``/api/model-packages/...``: the approval and lifecycle history of a version."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from modelreg import arns
from modelreg.api import common
from modelreg.sagemaker.history import as_json


async def version_history(request: Request) -> JSONResponse:
    """Every approval and lifecycle change of ``{group}/{version}``, oldest first; kept after a delete."""
    group, version = request.path_params["group"], request.path_params["version"]
    settings = request.app.state.settings
    arn = arns.model_package(common.region(request), settings.account_id, group, version)
    with common.store(request).read() as tx:
        entries = tx.list_history(arn)
        exists = tx.get_package_by_arn(arn) is not None
    if not entries and not exists:
        return common.error(404, f"ModelPackage {arn} does not exist and has no history.")
    return JSONResponse({"ModelPackageArn": arn, "history": [as_json(e) for e in entries]})


routes = [Route("/model-packages/{group}/{version:number}/history", version_history, methods=["GET"])]
