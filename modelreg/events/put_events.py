"""PutEvents and TestEventPattern.

modelreg is the local event bus of the resources it manages, so PutEvents accepts every source,
``aws.*`` included: a pipeline or a test can publish ``aws.sagemaker`` events exactly as SageMaker
would send them, and the rules see them as they see modelreg's own. (Real EventBridge refuses
``aws.*`` sources from callers with ``NotAuthorizedForSourceException``.)

Each accepted entry becomes an outbox event (``modelreg.events.outbox.emit``) in the request's one
write transaction, with the entry's Source, DetailType, parsed Detail, Resources and Time (the call's
time when absent). Entries EventBridge would refuse are answered in ``Entries`` with ``ErrorCode`` and
``ErrorMessage`` at their index and counted in ``FailedEntryCount`` (HTTP 200); a request whose
entries add up to more than 256 KB is refused whole, as EventBridge refuses it.
"""

from __future__ import annotations

from typing import Any

from modelreg import json_text
from modelreg.aws.dispatch import RequestContext, operation
from modelreg.aws.protocol import parse_timestamp
from modelreg.errors import ResourceNotFoundException, ValidationException
from modelreg.events import outbox
from modelreg.events.rules import check_bus, parse_pattern

MAX_REQUEST_BYTES = 256 * 1024
#: TestEventPattern's required event fields. The API reference also lists ``resources``, but
#: EventBridge accepts events without it (observed), so modelreg does too.
_REQUIRED_EVENT_FIELDS = ("id", "account", "source", "time", "region", "detail-type")


def entry_size(entry: dict[str, Any]) -> int:
    """An entry's size as EventBridge counts it ("Calculating PutEvents event entry size")."""
    size = 14 if entry.get("Time") is not None else 0
    for member in ("Source", "DetailType", "Detail"):
        size += len((entry.get(member) or "").encode())
    return size + sum(len(r.encode()) for r in entry.get("Resources") or [])


#: EventBridge's limits on an entry's members, which the service model does not carry
_LONGEST = {"Source": 256, "DetailType": 128}


def _invalid_argument(member: str, reason: str) -> dict[str, str]:
    return {
        "ErrorCode": "InvalidArgument",
        "ErrorMessage": f"Parameter {member} is not valid. Reason: {reason}",
    }


def _parse_entry(
    ctx: RequestContext, entry: dict[str, Any]
) -> tuple[dict[str, Any] | None, dict[str, str] | None]:
    """(detail, None) for an entry to accept, (None, error entry) for one to refuse."""
    for member in ("Source", "DetailType", "Detail"):
        if not entry.get(member):
            return None, _invalid_argument(member, f"{member} is a required argument.")
    for member, longest in _LONGEST.items():
        if len(entry[member]) > longest:
            return None, _invalid_argument(member, f"{member} is longer than {longest} characters.")
    try:
        check_bus(ctx, entry.get("EventBusName"))
    except ResourceNotFoundException as exc:
        return None, {"ErrorCode": exc.code, "ErrorMessage": exc.message}
    try:
        detail = json_text.parse(entry["Detail"])
    except ValueError:
        detail = None
    if not isinstance(detail, dict):
        return None, {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    return detail, None


@operation("events", "PutEvents")
def put_events(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    entries = params["Entries"]
    if sum(entry_size(e) for e in entries) > MAX_REQUEST_BYTES:
        raise ValidationException("Total size of the entries in the request is over the limit.")
    results: list[dict[str, Any]] = []
    with ctx.store.write() as tx:
        for entry in entries:
            detail, error = _parse_entry(ctx, entry)
            if error is not None:
                results.append(error)
                continue
            assert detail is not None
            at = entry.get("Time")
            event = outbox.emit(
                tx,
                ctx,
                detail_type=entry["DetailType"],
                detail=detail,
                resources=list(entry.get("Resources") or []),
                source=entry["Source"],
                at_us=None if at is None else round(parse_timestamp(at, "Time") * 1_000_000),
            )
            results.append({"EventId": event.event_id})
    failed = sum(1 for r in results if "ErrorCode" in r)
    return {"FailedEntryCount": failed, "Entries": results}


def _parse_event(text: str) -> dict[str, Any]:
    try:
        event = json_text.parse(text)
    except ValueError:
        event = None
    if not isinstance(event, dict) or any(field not in event for field in _REQUIRED_EVENT_FIELDS):
        raise ValidationException("Parameter Event is not valid.")
    return event


@operation("events", "TestEventPattern")
def test_event_pattern(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    event = _parse_event(params["Event"])
    return {"Result": parse_pattern(params["EventPattern"]).matches(event)}
