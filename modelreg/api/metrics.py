"""``/api`` for metrics as numbers: a version's metrics, compare, trend, and versions sorted by a metric.

- ``GET /api/model-packages/{group}/{version}/metrics``: the version's metrics and the files they
  come from (``sources``: member, uri, status pending|read|failed, sha256, error).
- ``POST /api/model-packages/{group}/{version}/metrics/reread``: read the version's metrics files
  again (after fixing one that failed); 202.
- ``GET /api/model-package-groups/{group}/compare?versions=3,5,7[&baseline=first|approved]``:
  metrics side by side with deltas against the first version (or the group's latest Approved
  version, put first when not asked for), and the differences in inference specification and
  customer metadata (:mod:`modelreg.sagemaker.compare`).
- ``GET /api/model-package-groups/{group}/metrics/{metric}[?status=&limit=&nextToken=]``: the
  metric over the versions that have it, by version (a trend).
- ``GET /api/model-package-groups/{group}/model-packages?sort=metric:auc&order=desc[&status=]``:
  the group's versions sorted by a metric (those without it last), or by ``version``.

``?region=`` picks the group's region (default: the server's). Paginated answers carry
``nextToken`` when there is more; send it back with the same query. A bad query is a 400, an
unknown group or version a 404, both as ``{"error", "message"}``.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from modelreg import arns
from modelreg.api import common
from modelreg.errors import ValidationException
from modelreg.sagemaker import compare, pagination, promotion
from modelreg.sagemaker.common import us_to_epoch, version_number
from modelreg.store.base import Transaction
from modelreg.store.rows import GroupRow, PackageQuery, PackageRow

MAX_COMPARE = 20
APPROVAL_STATUSES = ("Approved", "Rejected", "PendingManualApproval")
SUMMARY_MEMBERS = (
    "ModelPackageGroupName",
    "ModelPackageVersion",
    "ModelPackageArn",
    "ModelPackageDescription",
    "CreationTime",
    "ModelApprovalStatus",
    "ModelLifeCycle",
)


class BadRequest(Exception):
    """A query parameter is wrong; the message says which and how."""


class NotFound(Exception):
    pass


def _group(request: Request, tx: Transaction) -> GroupRow:
    region, name = common.region(request), request.path_params["group"]
    group = tx.get_group(region, name)
    if group is None or group.id is None:
        arn = arns.model_package_group(region, request.app.state.settings.account_id, name)
        raise NotFound(f"ModelPackageGroup {arn} does not exist.")
    return group


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer from {low} to {high}, not {raw!r}.") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}, not {value}.")
    return value


def _status(request: Request) -> str | None:
    status = request.query_params.get("status")
    if status is not None and status not in APPROVAL_STATUSES:
        raise BadRequest(f"status must be one of {', '.join(APPROVAL_STATUSES)}, not {status!r}.")
    return status


def _cursor(request: Request, query: dict[str, Any], shape: tuple[type, ...]) -> list[Any] | None:
    try:
        cursor = pagination.decode_token(request.query_params.get("nextToken"), query)
    except ValidationException as exc:
        raise BadRequest(exc.message.replace("NextToken", "nextToken")) from None
    if cursor is not None and (
        len(cursor) != len(shape)
        or not all(v is None or isinstance(v, t) for v, t in zip(cursor, shape, strict=True))
    ):
        raise BadRequest("Invalid nextToken: it was not issued by this server.")
    return cursor


def _answer(handler: Any) -> Any:
    """Run ``handler(request)`` and turn ``BadRequest`` / ``NotFound`` into 400 / 404. The endpoint
    is a plain function: Starlette runs it in its thread pool, off the event loop."""

    def endpoint(request: Request) -> JSONResponse:
        try:
            return handler(request)
        except BadRequest as exc:
            return common.error(400, str(exc))
        except NotFound as exc:
            return common.error(404, str(exc))

    endpoint.__doc__ = handler.__doc__
    return endpoint


# -- one version ------------------------------------------------------------------------------


def _version(request: Request, tx: Transaction) -> PackageRow:
    group = _group(request, tx)
    assert group.id is not None
    version = request.path_params["version"]
    row = tx.get_package_version(group.id, version)
    if row is None:
        arn = arns.model_package(group.region, request.app.state.settings.account_id, group.name, version)
        raise NotFound(f"ModelPackage {arn} does not exist.")
    return row


@_answer
def version_metrics(request: Request) -> JSONResponse:
    """The version's metrics by name, and every metrics file it names with how reading it went."""
    with common.store(request).read() as tx:
        row = _version(request, tx)
        metrics = tx.metrics_of([row.arn])[row.arn]
        sources = tx.list_metric_sources([row.arn])
    return JSONResponse(
        {
            "ModelPackageArn": row.arn,
            "metricsStatus": compare.metrics_status(sources),
            "metrics": metrics,
            "sources": [compare.source_json(s) for s in sources],
        }
    )


@_answer
def reread_metrics(request: Request) -> JSONResponse:
    """Read the version's metrics files again (its numbers are replaced once they are read)."""
    with common.store(request).write() as tx:
        row = _version(request, tx)
        count = tx.reset_metric_sources(row.arn, time.time_ns() // 1000)
    if count:
        request.app.state.signals.fire_metrics_pending()
    return JSONResponse({"ModelPackageArn": row.arn, "pending": count}, status_code=202)


# -- compare ----------------------------------------------------------------------------------


def _compare_query(request: Request) -> tuple[list[int], str]:
    raw = ",".join(request.query_params.getlist("versions"))
    if not raw.strip():
        raise BadRequest("versions is required: the versions to compare, like ?versions=3,5,7.")
    versions = []
    for item in raw.split(","):
        item = item.strip()
        version = version_number(item)
        if version is None or version < 1:
            raise BadRequest(
                f"versions must be version numbers separated by commas (like 3,5,7), not {item!r}."
            )
        versions.append(version)
    if len(versions) > MAX_COMPARE:
        raise BadRequest(f"versions names {len(versions)} versions; compare at most {MAX_COMPARE} at once.")
    repeated = sorted({v for v in versions if versions.count(v) > 1})
    if repeated:
        raise BadRequest(f"versions names version {', '.join(map(str, repeated))} more than once.")
    basis = request.query_params.get("baseline", "first")
    if basis not in ("first", "approved"):
        raise BadRequest(f"baseline must be first or approved, not {basis!r}.")
    return versions, basis


@_answer
def compare_versions(request: Request) -> JSONResponse:
    """Metrics side by side with deltas against the baseline, and what else differs."""
    versions, basis = _compare_query(request)
    with common.store(request).read() as tx:
        group = _group(request, tx)
        assert group.id is not None
        found = {v: tx.get_package_version(group.id, v) for v in versions}
        missing = [str(v) for v, row in found.items() if row is None]
        if missing:
            plural = "s" if len(missing) > 1 else ""
            raise NotFound(f"ModelPackageGroup {group.name} has no version{plural} {', '.join(missing)}.")
        rows = [row for row in found.values() if row is not None]
        if basis == "approved":
            approved = promotion.latest_approved(tx, group.region, group.id)
            if approved is None:
                raise NotFound(
                    f"ModelPackageGroup {group.name} has no Approved version to compare with "
                    "(baseline=approved); compare against the first version instead."
                )
            rows = [approved] + [r for r in rows if r.arn != approved.arn]
        package_arns = [r.arn for r in rows]
        metrics = tx.metrics_of(package_arns)
        sources = tx.list_metric_sources(package_arns)
    answer = compare.comparison(group.name, rows, metrics, sources, basis)
    answer["ModelPackageGroupArn"] = group.arn
    return JSONResponse(answer)


# -- trend ------------------------------------------------------------------------------------


@_answer
def metric_trend(request: Request) -> JSONResponse:
    """One metric over the group's versions, by version (those without it are left out)."""
    metric = request.path_params["metric"]
    limit = _int(request, "limit", 1000, 1, 1000)
    status = _status(request)
    with common.store(request).read() as tx:
        group = _group(request, tx)
        assert group.id is not None
        query = {"group": group.arn, "metric": metric, "status": status}
        cursor = _cursor(request, query, (int,))
        after = cursor[0] if cursor else None
        points = tx.metric_trend(group.id, metric, after, limit + 1, status)
    more = len(points) > limit
    points = points[:limit]
    return JSONResponse(
        {
            "ModelPackageGroupName": group.name,
            "metric": metric,
            "points": [
                {
                    "version": p.version,
                    "value": p.value,
                    "approvalStatus": p.approval_status,
                    "creationTime": us_to_epoch(p.created_us),
                    "ModelPackageArn": p.package_arn,
                }
                for p in points
            ],
            "nextToken": pagination.encode_token([points[-1].version], query) if more else None,
        }
    )


# -- versions sorted by a metric --------------------------------------------------------------


def _sort(request: Request) -> tuple[str | None, bool]:
    """(metric name or None for version order, descending)."""
    sort = request.query_params.get("sort", "version")
    order = request.query_params.get("order", "asc")
    if order not in ("asc", "desc"):
        raise BadRequest(f"order must be asc or desc, not {order!r}.")
    if sort == "version":
        return None, order == "desc"
    if sort.startswith("metric:") and sort[len("metric:") :]:
        return sort[len("metric:") :], order == "desc"
    raise BadRequest(f"sort must be version or metric:NAME (like metric:auc), not {sort!r}.")


@_answer
def sorted_packages(request: Request) -> JSONResponse:
    """The group's versions by a metric (those without it last) or by version, paginated."""
    metric, descending = _sort(request)
    status = _status(request)
    limit = _int(request, "limit", 50, 1, 500)
    with common.store(request).read() as tx:
        group = _group(request, tx)
        assert group.id is not None
        query = {"group": group.arn, "metric": metric, "desc": descending, "status": status}
        if metric is None:
            cursor = _cursor(request, query, (int, int))
            package_query = PackageQuery(
                region=group.region, group_id=group.id, approval_status=status, descending=descending
            )
            rows = tx.list_packages(package_query, cursor, limit + 1)
            page: list[tuple[PackageRow, float | None]] = [(r, None) for r in rows]
            cursor_of = lambda r, _v: tx.package_cursor(r, package_query)  # noqa: E731
        else:
            cursor = _cursor(request, query, (bool, float, int))
            page = tx.list_packages_by_metric(
                group.id, metric, descending=descending, approval_status=status, after=cursor, limit=limit + 1
            )
            cursor_of = tx.metric_cursor
        more = len(page) > limit
        page = page[:limit]
        token = pagination.encode_token(cursor_of(*page[-1]), query) if more else None
        all_metrics = tx.metrics_of([r.arn for r, _ in page])
    summaries = []
    for row, value in page:
        summary = {k: row.body[k] for k in SUMMARY_MEMBERS if k in row.body}
        if metric is not None:
            summary["metric"] = value
        summary["metrics"] = all_metrics[row.arn]
        summaries.append(summary)
    return JSONResponse(
        {
            "ModelPackageGroupName": group.name,
            "sort": f"metric:{metric}" if metric else "version",
            "order": "desc" if descending else "asc",
            "ModelPackageSummaryList": summaries,
            "nextToken": token,
        }
    )


routes = [
    Route("/model-packages/{group}/{version:number}/metrics", version_metrics, methods=["GET"]),
    Route("/model-packages/{group}/{version:number}/metrics/reread", reread_metrics, methods=["POST"]),
    Route("/model-package-groups/{group}/compare", compare_versions, methods=["GET"]),
    Route("/model-package-groups/{group}/metrics/{metric:path}", metric_trend, methods=["GET"]),
    Route("/model-package-groups/{group}/model-packages", sorted_packages, methods=["GET"]),
]
