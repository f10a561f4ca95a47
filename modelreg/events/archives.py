"""EventBridge archives and replays over modelreg's outbox.

Every event modelreg emits or receives (PutEvents) is kept in the outbox, so an archive here is a
named, optionally filtered view of the default bus's events: kind ``archive``, ARN ``archive/<name>``,
body = the DescribeArchive members (``EventCount`` and ``SizeBytes`` are kept by the delivery worker
and start at 0).

A replay (kind ``replay``, ARN ``replay/<name>``) stores the DescribeReplay members with epoch-second
times and starts in ``State`` STARTING; the delivery worker picks it up, moves it to RUNNING and
COMPLETED, and re-sends the archive's events of [EventStartTime, EventEndTime) to the rules
(``Destination.FilterArns`` narrows them), as EventBridge does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from modelreg import arns
from modelreg.aws.dispatch import RequestContext, operation
from modelreg.aws.protocol import parse_timestamp
from modelreg.errors import (
    IllegalStatusException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    ValidationException,
)
from modelreg.events.rules import check_bus, events_arn, page_by_name, parse_pattern, pick
from modelreg.sagemaker.common import us_to_epoch
from modelreg.store.base import DuplicateKey, Transaction
from modelreg.store.rows import NamedResource

ARCHIVE = "archive"
REPLAY = "replay"
_BUS_ARN = re.compile(r"arn:aws[\w-]*:events:[\w-]+:\d{12}:event-bus/.+")
_ARCHIVE_SUMMARY = (
    "ArchiveName",
    "EventSourceArn",
    "State",
    "StateReason",
    "RetentionDays",
    "SizeBytes",
    "EventCount",
    "CreationTime",
)
_REPLAY_SUMMARY = (
    "ReplayName",
    "EventSourceArn",
    "State",
    "StateReason",
    "EventStartTime",
    "EventEndTime",
    "EventLastReplayedTime",
    "ReplayStartTime",
    "ReplayEndTime",
)
_CANCELLABLE = ("STARTING", "RUNNING")


def _one_filter(params: dict[str, Any], operation_name: str) -> None:
    if sum(params.get(m) is not None for m in ("NamePrefix", "EventSourceArn", "State")) > 1:
        raise ValidationException(
            f"At most one filter is allowed for {operation_name}. "
            "Use either : State, EventSourceArn, or NamePrefix."
        )


def _filter(params: dict[str, Any]) -> Callable[[NamedResource], bool] | None:
    """The ``keep`` predicate of a List call filtered by EventSourceArn or State (or None)."""
    member = next((m for m in ("EventSourceArn", "State") if params.get(m) is not None), None)
    if member is None:
        return None
    wanted = params[member]
    return lambda row: row.body.get(member) == wanted


# --------------------------------------------------------------------------- archives


def get_archive(
    tx: Transaction, ctx: RequestContext, name: str, *, for_update: bool = False
) -> NamedResource:
    row = tx.get_resource(ctx.region, ARCHIVE, name, for_update=for_update)
    if row is None:
        raise ResourceNotFoundException(f"Archive {name} does not exist.")
    return row


@operation("events", "CreateArchive")
def create_archive(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["ArchiveName"]
    check_bus(ctx, params["EventSourceArn"])
    if params.get("EventPattern") is not None:
        parse_pattern(params["EventPattern"])
    arn = events_arn(ctx, f"{ARCHIVE}/{name}")
    now = ctx.now_us()
    body = {
        "ArchiveArn": arn,
        "ArchiveName": name,
        "EventSourceArn": params["EventSourceArn"],
        "Description": params.get("Description"),
        "EventPattern": params.get("EventPattern"),
        "State": "ENABLED",
        "KmsKeyIdentifier": params.get("KmsKeyIdentifier"),
        "RetentionDays": params.get("RetentionDays", 0),  # 0: keep events indefinitely
        "SizeBytes": 0,
        "EventCount": 0,
        "CreationTime": us_to_epoch(now),
    }
    body = {k: v for k, v in body.items() if v is not None}
    try:
        with ctx.store.write() as tx:
            tx.insert_resource(NamedResource(ctx.region, ARCHIVE, name, arn, now, body))
    except DuplicateKey:
        raise ResourceAlreadyExistsException(f"Archive {name} already exists.") from None
    return pick(body, ("ArchiveArn", "State", "CreationTime"))


@operation("events", "DescribeArchive")
def describe_archive(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as tx:
        return get_archive(tx, ctx, params["ArchiveName"]).body


@operation("events", "ListArchives")
def list_archives(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _one_filter(params, "ListArchives")
    if params.get("EventSourceArn") is not None:
        check_bus(ctx, params["EventSourceArn"])
    with ctx.store.read() as tx:
        rows, token = page_by_name(
            tx, ctx, ARCHIVE, params, prefix=params.get("NamePrefix"), keep=_filter(params)
        )
    return {"Archives": [pick(r.body, _ARCHIVE_SUMMARY) for r in rows], "NextToken": token}


@operation("events", "UpdateArchive")
def update_archive(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("EventPattern") is not None:
        parse_pattern(params["EventPattern"])
    with ctx.store.write() as tx:
        row = get_archive(tx, ctx, params["ArchiveName"], for_update=True)
        for member in ("Description", "EventPattern", "RetentionDays", "KmsKeyIdentifier"):
            if params.get(member) is not None:
                row.body[member] = params[member]
        tx.update_resource(row)
    return pick(row.body, ("ArchiveArn", "State", "StateReason", "CreationTime"))


@operation("events", "DeleteArchive")
def delete_archive(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.write() as tx:
        row = get_archive(tx, ctx, params["ArchiveName"], for_update=True)
        assert row.id is not None
        tx.delete_resource(row.id)
    return {}


# --------------------------------------------------------------------------- replays


def get_replay(tx: Transaction, ctx: RequestContext, name: str, *, for_update: bool = False) -> NamedResource:
    row = tx.get_resource(ctx.region, REPLAY, name, for_update=for_update)
    if row is None:
        raise ResourceNotFoundException(f"Replay {name} does not exist.")
    return row


def _replay_window(ctx: RequestContext, params: dict[str, Any]) -> tuple[float, float]:
    start = parse_timestamp(params["EventStartTime"], "EventStartTime")
    end = parse_timestamp(params["EventEndTime"], "EventEndTime")
    if end <= start:
        raise ValidationException(
            "Parameter EventEndTime is not valid. Reason: EventStartTime must be before EventEndTime."
        )
    if end > us_to_epoch(ctx.now_us()):
        raise ValidationException(
            "Parameter EventEndTime is not valid. Reason: EventEndTime must not be in the future."
        )
    return start, end


def _source_archive(tx: Transaction, ctx: RequestContext, arn: str) -> NamedResource:
    parsed = arns.parse(arn)
    name = parsed.resource if parsed else arn.rsplit("/", 1)[-1]
    row = None
    if (
        parsed
        and parsed.resource_type == ARCHIVE
        and (parsed.region, parsed.account) == (ctx.region, ctx.account)
    ):
        row = tx.get_resource(ctx.region, ARCHIVE, name)
    if row is None:
        raise ValidationException(
            f"Parameter EventSourceArn is not valid. Reason: Archive {name} does not exist."
        )
    return row


def _check_destination(ctx: RequestContext, archive: NamedResource, destination: str) -> None:
    if not _BUS_ARN.fullmatch(destination):
        raise ValidationException(
            "Parameter Destination.Arn is not valid. Reason: Must contain an event bus ARN."
        )
    check_bus(ctx, destination)
    if destination != archive.body["EventSourceArn"]:
        raise ValidationException(
            "Parameter Destination.Arn is not valid. Reason: Cross event bus replay is not permitted."
        )


@operation("events", "StartReplay")
def start_replay(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["ReplayName"]
    exists = ResourceAlreadyExistsException(f"Replay {name} already exists.")
    now = ctx.now_us()
    try:
        with ctx.store.write() as tx:
            if tx.get_resource(ctx.region, REPLAY, name) is not None:
                raise exists
            start, end = _replay_window(ctx, params)
            archive = _source_archive(tx, ctx, params["EventSourceArn"])
            _check_destination(ctx, archive, params["Destination"]["Arn"])
            arn = events_arn(ctx, f"{REPLAY}/{name}")
            body = {
                "ReplayName": name,
                "ReplayArn": arn,
                "Description": params.get("Description"),
                "State": "STARTING",
                "EventSourceArn": params["EventSourceArn"],
                "Destination": params["Destination"],
                "EventStartTime": start,
                "EventEndTime": end,
                "ReplayStartTime": us_to_epoch(now),
            }
            body = {k: v for k, v in body.items() if v is not None}
            tx.insert_resource(NamedResource(ctx.region, REPLAY, name, arn, now, body))
    except DuplicateKey:  # started concurrently
        raise exists from None
    return pick(body, ("ReplayArn", "State", "StateReason", "ReplayStartTime"))


@operation("events", "DescribeReplay")
def describe_replay(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as tx:
        return get_replay(tx, ctx, params["ReplayName"]).body


@operation("events", "ListReplays")
def list_replays(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _one_filter(params, "ListReplays")
    with ctx.store.read() as tx:
        rows, token = page_by_name(
            tx, ctx, REPLAY, params, prefix=params.get("NamePrefix"), keep=_filter(params)
        )
    return {"Replays": [pick(r.body, _REPLAY_SUMMARY) for r in rows], "NextToken": token}


@operation("events", "CancelReplay")
def cancel_replay(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """A replay that has not finished moves to CANCELLING; the delivery worker stops it (CANCELLED)."""
    name = params["ReplayName"]
    with ctx.store.write() as tx:
        row = get_replay(tx, ctx, name, for_update=True)
        if row.body["State"] not in _CANCELLABLE:
            raise IllegalStatusException(f"Replay {name} is not in a valid state for this operation.")
        row.body["State"] = "CANCELLING"
        tx.update_resource(row)
    return pick(row.body, ("ReplayArn", "State", "StateReason"))
