"""``POST /api/model-package-groups/{group}/gc``: clean up a group's versions (see
:mod:`modelreg.sagemaker.retention` for what is selected and what is never deleted).

Body: ``{"keepLast": N, "rejectedOlderThanSeconds": S, "dryRun": true|false}`` (at least one of
the first two). Answers 200 with what was (or, in a dry run, would be) deleted, what the guardrails
kept and why, the orphaned artifacts and the bytes reclaimed. ``?region=`` picks the region.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from modelreg import json_text
from modelreg.api import common
from modelreg.errors import ServiceError, ValidationException
from modelreg.sagemaker import retention


def _number(options: dict, key: str, kind: type) -> float | None:
    value = options.get(key)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (kind is int and not isinstance(value, int))
    ):
        raise ValidationException(f"{key} must be a {'whole ' if kind is int else ''}number.")
    return value


async def cleanup(request: Request) -> JSONResponse:
    state = request.app.state
    body = await request.body()
    try:
        ctx = common.caller_context(request, body, "CleanupModelPackageGroup")
        options = json_text.parse(body) if body.strip() else {}
        if not isinstance(options, dict):
            raise ValidationException("The body must be a JSON object.")
        keep_last = _number(options, "keepLast", int)
        older = _number(options, "rejectedOlderThanSeconds", float)
        dry_run = bool(options.get("dryRun", False))
    except ValueError:
        return common.error(400, "The body must be JSON.")
    except ServiceError as error:
        return common.error(error.status, error.message, error.code)
    artifacts = state.artifacts

    def work() -> dict:
        with state.store.read() as tx:
            plan = retention.plan_cleanup(
                tx, ctx, request.path_params["group"], keep_last=keep_last,  # type: ignore[arg-type]
                rejected_older_than_s=older, artifacts=artifacts,
            )  # fmt: skip
        if not dry_run:
            plan = retention.run_cleanup(ctx, plan, artifacts)
        return plan.as_json(dry_run)

    try:
        result = await run_in_threadpool(work)
    except ValidationException as error:
        status = 404 if "does not exist" in error.message else 400
        return common.error(status, error.message)
    return JSONResponse(result)


routes = [Route("/model-package-groups/{group}/gc", cleanup, methods=["POST"])]
