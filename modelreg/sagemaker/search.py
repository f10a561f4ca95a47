"""The ``Search`` operation for Resource ``ModelPackage`` and ``ModelPackageGroup``.

Filters are evaluated by ``search_expression`` over the records a client would see (the Describe
output plus ``Tags``). A top-level ``ModelPackageGroupName Equals`` filter narrows the scan to that
group's versions; other searches scan the region's resources of that kind.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any

from modelreg import arns
from modelreg.aws.dispatch import RequestContext, operation
from modelreg.errors import ValidationException
from modelreg.sagemaker import pagination
from modelreg.sagemaker.common import group_name_and_region, tag_list
from modelreg.sagemaker.search_expression import METRICS_KEY, compile_expression, lookup, sort_key
from modelreg.store.base import Transaction

SUPPORTED = ("ModelPackage", "ModelPackageGroup")
_METRIC = "ModelMetrics."


def _metric_names(node: Any, sort_by: str) -> list[str]:
    """The metrics named by ``ModelMetrics.<name>`` filters (at any depth) or by the sort."""
    names = {sort_by[len(_METRIC) :]} if sort_by.startswith(_METRIC) else set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            name = item.get("Name")
            if isinstance(name, str) and name.startswith(_METRIC):
                names.add(name[len(_METRIC) :])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return sorted(names)


def _group_filter(expression: dict[str, Any] | None) -> str | None:
    """The group named by a top-level ``ModelPackageGroupName Equals`` filter of an And expression."""
    if not expression or expression.get("Operator", "And") != "And":
        return None
    for f in expression.get("Filters") or []:
        if (
            f.get("Name") == "ModelPackageGroupName"
            and f.get("Operator", "Equals") == "Equals"
            and f.get("Value")
        ):
            return f["Value"]
    return None


def _package_records(
    tx: Transaction, ctx: RequestContext, expression: dict[str, Any] | None, metric_names: list[str]
) -> Iterator[dict[str, Any]]:
    group_id = None
    only_group = _group_filter(expression)
    if only_group is not None:
        name, region = group_name_and_region(ctx, only_group)
        group = tx.get_group(region, name)
        if group is None:
            return
        group_id = group.id
    group_tags: dict[int, list[dict[str, str]]] = {}
    metrics = tx.metric_values(metric_names, group_id) if metric_names else {}
    for row in tx.iter_packages(ctx.region, group_id):
        record = dict(row.body)
        if metric_names:
            record[METRICS_KEY] = metrics.get(row.arn, {})
        if row.group_id is not None:
            if row.group_id not in group_tags:
                group_arn = arns.model_package_group(row.region, ctx.account, row.name)
                group_tags[row.group_id] = tag_list(tx.list_tags(group_arn))
            record["Tags"] = group_tags[row.group_id]
        else:
            record["Tags"] = tag_list(tx.list_tags(row.arn))
        yield record


def _group_records(tx: Transaction, ctx: RequestContext) -> Iterator[dict[str, Any]]:
    for row in tx.iter_groups(ctx.region):
        record = dict(row.body)
        record["Tags"] = tag_list(tx.list_tags(row.arn))
        yield record


@operation("sagemaker", "Search")
def search(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    resource = params["Resource"]
    if resource not in SUPPORTED:
        raise ValidationException(
            f"modelreg searches only {' and '.join(SUPPORTED)} resources, not {resource}."
        )
    expression = params.get("SearchExpression")
    matches = compile_expression(expression, resource)
    sort_by = params.get("SortBy") or "LastModifiedTime"
    descending = (params.get("SortOrder") or "Descending") == "Descending"
    start = pagination.decode_offset(params)
    limit = params.get("MaxResults") or 10
    arn_member = "ModelPackageArn" if resource == "ModelPackage" else "ModelPackageGroupArn"
    by_metric = sort_by.startswith(_METRIC)

    def order(record: dict[str, Any]) -> tuple[Any, ...]:
        # versions without the sort metric come last whichever the order; ties go by ARN
        key = sort_key(record, sort_by)
        missing = by_metric and not lookup(record, sort_by)
        return (missing, _Descending(key) if descending else key, record.get(arn_member, ""))

    total = 0

    def hits(records: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        nonlocal total
        for record in records:
            if matches(record):
                total += 1
                yield record

    with ctx.store.read() as tx:
        records = (
            _package_records(tx, ctx, expression, _metric_names(expression, sort_by))
            if resource == "ModelPackage"
            else _group_records(tx, ctx)
        )
        # only the hits up to the end of the page are kept: a search matching a million versions
        # holds one page in memory, not a million records
        first = heapq.nsmallest(start + limit, hits(records), key=order)
    page = first[start:]
    token = pagination.encode_token([start + limit], params) if start + limit < total else None
    results = [{resource: {k: v for k, v in r.items() if not k.startswith("__")}} for r in page]
    return {"Results": results, "NextToken": token, "TotalHits": {"Value": total, "Relation": "EqualTo"}}


class _Descending:
    """A sort key with its order inverted, for one element of a composite key."""

    __slots__ = ("key",)

    def __init__(self, key: tuple[Any, ...]) -> None:
        self.key = key

    def __lt__(self, other: _Descending) -> bool:
        return other.key < self.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.key == other.key

    __hash__ = None  # type: ignore[assignment]
