"""Models, endpoint configs and endpoints are stored as ``NamedResource`` rows: one per
(region, kind, lower-cased name), the wire shape in ``body``. This module looks them up and lists
them with SageMaker's List* filters, sorting and paging (there are few of them: listing filters
in Python over one region's rows)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelreg import arns
from modelreg.aws.dispatch import RequestContext
from modelreg.sagemaker import pagination
from modelreg.sagemaker.common import epoch_param_us
from modelreg.store.base import Transaction
from modelreg.store.rows import NamedResource

MODEL = "model"
ENDPOINT_CONFIG = "endpoint-config"
ENDPOINT = "endpoint"
_BATCH = 500


def key(name_or_arn: str, kind: str) -> str:
    """The stored name of a resource given by name or ARN: SageMaker names are case-insensitive."""
    return arns.name_from(name_or_arn, kind).lower()


def get(
    tx: Transaction, ctx: RequestContext, kind: str, name_or_arn: str, *, for_update: bool = False
) -> NamedResource | None:
    return tx.get_resource(ctx.region, kind, key(name_or_arn, kind), for_update=for_update)


def arn_of(ctx: RequestContext, kind: str, name_or_arn: str) -> str:
    return arns.sagemaker(ctx.region, ctx.account, kind, arns.name_from(name_or_arn, kind))


def all_of_kind(tx: Transaction, region: str | None, kind: str) -> list[NamedResource]:
    """Every resource of ``kind`` (in ``region``, or in all regions), by name."""
    found: list[NamedResource] = []
    after: str | None = None
    while True:
        batch = tx.list_resources(region, kind, None, after, _BATCH)
        found.extend(batch)
        if len(batch) < _BATCH:
            return found
        after = batch[-1].name


def list_page(
    tx: Transaction,
    ctx: RequestContext,
    kind: str,
    params: dict[str, Any],
    name_member: str,
    status_of: Callable[[NamedResource], str] | None = None,
) -> tuple[list[NamedResource], str | None]:
    """One page of a List* call: NameContains, CreationTime/LastModifiedTime Before/After,
    StatusEquals, SortBy Name|CreationTime|Status, SortOrder (default Descending), MaxResults."""
    rows = all_of_kind(tx, ctx.region, kind)
    contains = (params.get("NameContains") or "").lower()
    if contains:
        rows = [r for r in rows if contains in r.name]
    bounds = {
        m: epoch_param_us(params, m)
        for m in (
            "CreationTimeAfter",
            "CreationTimeBefore",
            "LastModifiedTimeAfter",
            "LastModifiedTimeBefore",
        )
    }

    def modified_us(r: NamedResource) -> int:
        return round(r.body.get("LastModifiedTime", r.created_us / 1e6) * 1_000_000)

    for member, bound in bounds.items():
        if bound is None:
            continue
        of = modified_us if member.startswith("LastModified") else (lambda r: r.created_us)
        after = member.endswith("After")
        rows = [r for r in rows if (of(r) > bound if after else of(r) < bound)]
    if params.get("StatusEquals") and status_of is not None:
        rows = [r for r in rows if status_of(r) == params["StatusEquals"]]
    sort_by = params.get("SortBy") or "CreationTime"
    sort_key: Callable[[NamedResource], Any] = {
        "Name": lambda r: (r.body.get(name_member, r.name), r.id),
        "Status": lambda r: (status_of(r) if status_of else "", r.created_us, r.id),
    }.get(sort_by, lambda r: (r.created_us, r.id))
    rows.sort(key=sort_key, reverse=(params.get("SortOrder") or "Descending") == "Descending")
    start = pagination.decode_offset(params)
    limit = params.get("MaxResults") or 10
    page = rows[start : start + limit]
    token = pagination.encode_token([start + limit], params) if start + limit < len(rows) else None
    return page, token


def delete_with_tags(tx: Transaction, resource: NamedResource) -> None:
    """Delete a resource and its tags."""
    assert resource.id is not None
    tx.delete_resource(resource.id)
    tx.delete_tags(resource.arn, [k for k, _ in tx.list_tags(resource.arn)])
