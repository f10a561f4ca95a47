"""Events into the outbox, in the transaction of the change they describe.

A committed change always has its event; a change that rolls back has none. The delivery worker
(``modelreg.events.delivery``) matches outbox events against the rules later, so delivery never
slows a write down and survives a crash between commit and delivery.

Model package events follow AWS's "SageMaker Model Package State Change": ``detail`` is the
DescribeModelPackage output with ISO-8601 times. Beyond AWS (and harmless to AWS-shaped
consumers), ``detail.modelreg`` carries what changed: the previous approval status and lifecycle,
the principal, the operation and a per-resource ``sequence`` (1, 2, ...) to order events and drop
duplicates by.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from modelreg.aws.dispatch import RequestContext
from modelreg.store.base import Transaction
from modelreg.store.rows import OutboxEvent, PackageRow

SOURCE = "aws.sagemaker"
MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
#: modelreg extension: AWS sends no event for groups
MODEL_PACKAGE_GROUP_STATE_CHANGE = "SageMaker Model Package Group State Change"
_TIME_MEMBERS = ("CreationTime", "LastModifiedTime")


def iso_time(epoch_seconds: float) -> str:
    """EventBridge's time format: ``2021-02-24T17:00:14Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_seconds))


def emit(
    tx: Transaction,
    ctx: RequestContext,
    *,
    detail_type: str,
    detail: dict[str, Any],
    resources: list[str],
    source: str = SOURCE,
    sequenced_arn: str | None = None,
    last_sequence: int | None = None,
    at_us: int | None = None,
) -> OutboxEvent:
    """Write one EventBridge-shaped event into the outbox; ``sequenced_arn`` numbers it per resource:
    ``last_sequence`` + 1 when the caller knows the resource's last number (0 for a brand-new
    resource), else the number after the outbox's last for it."""
    at_us = at_us if at_us is not None else ctx.now_us()
    sequence = None
    if sequenced_arn:
        sequence = last_sequence + 1 if last_sequence is not None else tx.next_event_sequence(sequenced_arn)
    if sequence is not None and isinstance(detail.get("modelreg"), dict):
        detail["modelreg"]["sequence"] = sequence
    event_id = str(uuid.uuid4())
    body = {
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": source,
        "account": ctx.account,
        "time": iso_time(at_us / 1_000_000),
        "region": ctx.region,
        "resources": resources,
        "detail": detail,
    }
    return tx.append_event(
        OutboxEvent(
            event_id=event_id,
            region=ctx.region,
            source=source,
            detail_type=detail_type,
            created_us=at_us,
            body=body,
            resource_arn=sequenced_arn,
            sequence=sequence,
        )
    )


def with_iso_times(body: dict[str, Any]) -> dict[str, Any]:
    """A copy of a resource body with its CreationTime and LastModifiedTime in EventBridge's format."""
    detail = dict(body)
    for member in _TIME_MEMBERS:
        if isinstance(detail.get(member), int | float):
            detail[member] = iso_time(detail[member])
    return detail


def model_package_changed(
    tx: Transaction,
    ctx: RequestContext,
    row: PackageRow,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    at_us: int,
) -> OutboxEvent:
    """The event for a created (``before`` None), updated, or deleted (``after`` None) model package
    ``row``, numbered after ``row.last_event_sequence`` (looked up when None), which is then set to
    the event's number: an update writes the row after this, so that the next event needs no
    lookup."""
    arn = row.arn
    current = after if after is not None else before
    assert current is not None
    detail = with_iso_times(current)
    change = "Created" if before is None else "Deleted" if after is None else "Updated"
    if after is None:
        detail["ModelPackageStatus"] = "Deleted"
    detail["modelreg"] = {
        "change": change,
        "operation": ctx.operation,
        "principal": ctx.principal.user_name,
        "requestId": ctx.request_id,
        "previousModelApprovalStatus": (before or {}).get("ModelApprovalStatus"),
        "previousModelLifeCycle": (before or {}).get("ModelLifeCycle"),
    }
    # a version's ARN is never reused, so its creation is always its first event
    last_sequence = 0 if before is None and row.version is not None else row.last_event_sequence
    event = emit(
        tx,
        ctx,
        detail_type=MODEL_PACKAGE_STATE_CHANGE,
        detail=detail,
        resources=[arn],
        sequenced_arn=arn,
        last_sequence=last_sequence,
        at_us=at_us,
    )
    row.last_event_sequence = event.sequence
    return event


def model_package_group_changed(
    tx: Transaction, ctx: RequestContext, arn: str, body: dict[str, Any], change: str, at_us: int
) -> OutboxEvent:
    """A group was created or deleted (``change``: "Created" | "Deleted")."""
    detail = with_iso_times(body)
    if change == "Deleted":
        detail["ModelPackageGroupStatus"] = "Deleted"
    detail["modelreg"] = {
        "change": change,
        "operation": ctx.operation,
        "principal": ctx.principal.user_name,
        "requestId": ctx.request_id,
    }
    return emit(
        tx,
        ctx,
        detail_type=MODEL_PACKAGE_GROUP_STATE_CHANGE,
        detail=detail,
        resources=[arn],
        sequenced_arn=arn,
        at_us=at_us,
    )
