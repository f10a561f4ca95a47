"""The approval and lifecycle ledger: append-only, written in the transaction of the change."""

from __future__ import annotations

import json
from typing import Any

from modelreg.aws.dispatch import RequestContext
from modelreg.store.base import Transaction
from modelreg.store.rows import HistoryEntry

#: members whose every change is recorded, and where the reason for a change is found
TRACKED = ("ModelApprovalStatus", "ModelLifeCycle")


def _value(body: dict[str, Any] | None, member: str) -> str | None:
    if body is None or body.get(member) is None:
        return None
    value = body[member]
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _reason(request: dict[str, Any], member: str) -> str | None:
    """The reason the caller gave in this request (not one left over from an earlier change)."""
    if member == "ModelApprovalStatus":
        return request.get("ApprovalDescription")
    return (request.get("ModelLifeCycle") or {}).get("StageDescription")


def record_changes(
    tx: Transaction,
    ctx: RequestContext,
    arn: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    at_us: int,
    request: dict[str, Any],
) -> None:
    """Append one entry per tracked member whose value differs between ``before`` and ``after``;
    ``request`` is the request that made the change (its reasons are recorded)."""
    for member in TRACKED:
        old, new = _value(before, member), _value(after, member)
        if old != new:
            tx.append_history(
                HistoryEntry(
                    arn=arn,
                    at_us=at_us,
                    principal=ctx.principal.user_name,
                    field=member,
                    old_value=old,
                    new_value=new,
                    reason=_reason(request, member),
                    request_id=ctx.request_id,
                )
            )


def record_deletion(
    tx: Transaction, ctx: RequestContext, arn: str, before: dict[str, Any], at_us: int
) -> None:
    tx.append_history(
        HistoryEntry(
            arn=arn,
            at_us=at_us,
            principal=ctx.principal.user_name,
            field="Deleted",
            old_value=_value(before, "ModelApprovalStatus"),
            new_value=None,
            reason=None,
            request_id=ctx.request_id,
        )
    )


def as_json(entry: HistoryEntry) -> dict[str, Any]:
    """One ledger entry as modelreg's own API returns it."""

    def decode(value: str | None) -> Any:
        if value is not None and value.startswith("{"):
            return json.loads(value)
        return value

    return {
        "at": entry.at_us / 1_000_000,
        "principal": entry.principal,
        "field": entry.field,
        "from": decode(entry.old_value),
        "to": decode(entry.new_value),
        "reason": entry.reason,
        "request_id": entry.request_id,
    }
