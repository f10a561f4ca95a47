"""EventBridge archives and replays through boto3 against a live server."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.events.test_rules_api import stored

ACCOUNT = "123456789012"
BUS_ARN = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default"
PATTERN = json.dumps({"source": ["aws.sagemaker"]})


@pytest.fixture
def events(server):
    return client(server.url, "events")


def error_of(exc_info: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc_info.value.response["Error"]
    return err["Code"], err["Message"]


def ago(minutes: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)


def test_archive_lifecycle(server, events, unique: str) -> None:
    created = events.create_archive(
        ArchiveName=unique, EventSourceArn=BUS_ARN, Description="all registry events", EventPattern=PATTERN
    )
    arn = f"arn:aws:events:us-east-1:{ACCOUNT}:archive/{unique}"
    assert (created["ArchiveArn"], created["State"]) == (arn, "ENABLED")
    described = events.describe_archive(ArchiveName=unique)
    described.pop("ResponseMetadata")
    assert described == {
        "ArchiveArn": arn,
        "ArchiveName": unique,
        "EventSourceArn": BUS_ARN,
        "Description": "all registry events",
        "EventPattern": PATTERN,
        "State": "ENABLED",
        "RetentionDays": 0,
        "SizeBytes": 0,
        "EventCount": 0,
        "CreationTime": created["CreationTime"],
    }
    assert stored(server, "archive", unique)["EventPattern"] == PATTERN
    listed = events.list_archives(NamePrefix=unique)["Archives"]
    assert listed == [
        {
            "ArchiveName": unique,
            "EventSourceArn": BUS_ARN,
            "State": "ENABLED",
            "RetentionDays": 0,
            "SizeBytes": 0,
            "EventCount": 0,
            "CreationTime": created["CreationTime"],
        }
    ]
    assert unique in [
        a["ArchiveName"] for a in events.list_archives(EventSourceArn=BUS_ARN, Limit=100)["Archives"]
    ]
    updated = events.update_archive(ArchiveName=unique, Description="kept a week", RetentionDays=7)
    assert (updated["ArchiveArn"], updated["State"]) == (arn, "ENABLED")
    described = events.describe_archive(ArchiveName=unique)
    assert (described["Description"], described["RetentionDays"], described["EventPattern"]) == (
        "kept a week",
        7,
        PATTERN,
    )
    events.delete_archive(ArchiveName=unique)
    for call in (
        lambda: events.describe_archive(ArchiveName=unique),
        lambda: events.update_archive(ArchiveName=unique, Description="x"),
        lambda: events.delete_archive(ArchiveName=unique),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("ResourceNotFoundException", f"Archive {unique} does not exist.")


def test_archive_errors(events, unique: str) -> None:
    events.create_archive(ArchiveName=unique, EventSourceArn=BUS_ARN)
    with pytest.raises(ClientError) as exc:
        events.create_archive(ArchiveName=unique, EventSourceArn=BUS_ARN)
    assert error_of(exc) == ("ResourceAlreadyExistsException", f"Archive {unique} already exists.")
    other_bus = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/custom"
    with pytest.raises(ClientError) as exc:
        events.create_archive(ArchiveName=unique + "-2", EventSourceArn=other_bus)
    assert error_of(exc) == ("ResourceNotFoundException", "Event bus custom does not exist.")
    with pytest.raises(ClientError) as exc:
        events.list_archives(EventSourceArn=other_bus)
    assert error_of(exc) == ("ResourceNotFoundException", "Event bus custom does not exist.")
    with pytest.raises(ClientError) as exc:
        events.create_archive(
            ArchiveName=unique + "-3", EventSourceArn=BUS_ARN, EventPattern='{"source": "x"}'
        )
    code, message = error_of(exc)
    assert code == "InvalidEventPatternException" and message.startswith(
        "Event pattern is not valid. Reason:"
    )
    with pytest.raises(ClientError) as exc:
        events.update_archive(ArchiveName=unique, EventPattern="[]")
    assert error_of(exc)[0] == "InvalidEventPatternException"
    with pytest.raises(ClientError) as exc:
        events.list_archives(NamePrefix=unique, State="ENABLED")
    assert error_of(exc) == (
        "ValidationException",
        "At most one filter is allowed for ListArchives. Use either : State, EventSourceArn, or NamePrefix.",
    )
    with pytest.raises(ClientError) as exc:
        events.create_archive(ArchiveName="x" * 49, EventSourceArn=BUS_ARN)
    assert error_of(exc)[0] == "ValidationException"


def test_list_archives_pages(events, unique: str) -> None:
    names = [f"{unique}-{c}" for c in "bca"]
    for name in names:
        events.create_archive(ArchiveName=name, EventSourceArn=BUS_ARN)
    first = events.list_archives(NamePrefix=unique, Limit=2)
    assert [a["ArchiveName"] for a in first["Archives"]] == sorted(names)[:2]
    rest = events.list_archives(NamePrefix=unique, Limit=2, NextToken=first["NextToken"])
    assert [a["ArchiveName"] for a in rest["Archives"]] == sorted(names)[2:] and "NextToken" not in rest


def test_start_describe_and_list_replay(server, events, unique: str) -> None:
    archive_arn = events.create_archive(ArchiveName=unique, EventSourceArn=BUS_ARN)["ArchiveArn"]
    rule_arn = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{unique}"
    start, end = ago(60).replace(microsecond=0), ago(1).replace(microsecond=0)
    destination = {"Arn": BUS_ARN, "FilterArns": [rule_arn]}
    started = events.start_replay(
        ReplayName=unique,
        Description="redeliver the last hour",
        EventSourceArn=archive_arn,
        EventStartTime=start,
        EventEndTime=end,
        Destination=destination,
    )
    assert started["ReplayArn"] == f"arn:aws:events:us-east-1:{ACCOUNT}:replay/{unique}"
    assert started["State"] == "STARTING"
    assert abs((dt.datetime.now(dt.UTC) - started["ReplayStartTime"]).total_seconds()) < 60
    described = events.describe_replay(ReplayName=unique)
    assert described["ReplayName"] == unique
    assert described["Description"] == "redeliver the last hour"
    assert described["EventSourceArn"] == archive_arn
    assert described["Destination"] == destination
    assert (described["EventStartTime"], described["EventEndTime"]) == (start, end)
    assert described["State"] in ("STARTING", "RUNNING", "COMPLETED")  # the delivery worker moves it on
    body = stored(server, "replay", unique)
    assert (body["EventStartTime"], body["EventEndTime"]) == (start.timestamp(), end.timestamp())
    listed = events.list_replays(NamePrefix=unique)["Replays"]
    assert [r["ReplayName"] for r in listed] == [unique]
    assert listed[0]["EventSourceArn"] == archive_arn
    assert unique in [r["ReplayName"] for r in events.list_replays(EventSourceArn=archive_arn)["Replays"]]
    with pytest.raises(ClientError) as exc:
        events.list_replays(NamePrefix=unique, EventSourceArn=archive_arn)
    assert error_of(exc) == (
        "ValidationException",
        "At most one filter is allowed for ListReplays. Use either : State, EventSourceArn, or NamePrefix.",
    )
    with pytest.raises(ClientError) as exc:
        events.describe_replay(ReplayName=unique + "-missing")
    assert error_of(exc) == ("ResourceNotFoundException", f"Replay {unique}-missing does not exist.")


def test_start_replay_validation(events, unique: str) -> None:
    archive_arn = events.create_archive(ArchiveName=unique, EventSourceArn=BUS_ARN)["ArchiveArn"]

    def start(name: str = unique, **overrides) -> None:
        params = {
            "ReplayName": name,
            "EventSourceArn": archive_arn,
            "EventStartTime": ago(30),
            "EventEndTime": ago(10),
            "Destination": {"Arn": BUS_ARN},
            **overrides,
        }
        events.start_replay(**params)

    same = ago(10)
    cases = [
        (
            {"EventStartTime": ago(10), "EventEndTime": ago(30)},
            "Parameter EventEndTime is not valid. Reason: EventStartTime must be before EventEndTime.",
        ),
        (
            {"EventStartTime": same, "EventEndTime": same},
            "Parameter EventEndTime is not valid. Reason: EventStartTime must be before EventEndTime.",
        ),
        (
            {"EventEndTime": ago(-60)},
            "Parameter EventEndTime is not valid. Reason: EventEndTime must not be in the future.",
        ),
        (
            {"EventSourceArn": archive_arn + "-gone"},
            f"Parameter EventSourceArn is not valid. Reason: Archive {unique}-gone does not exist.",
        ),
        (
            {"Destination": {"Arn": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{unique}"}},
            "Parameter Destination.Arn is not valid. Reason: Must contain an event bus ARN.",
        ),
    ]
    for overrides, message in cases:
        with pytest.raises(ClientError) as exc:
            start(**overrides)
        assert error_of(exc) == ("ValidationException", message), overrides
    with pytest.raises(ClientError) as exc:
        start(Destination={"Arn": f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/custom"})
    assert error_of(exc) == ("ResourceNotFoundException", "Event bus custom does not exist.")
    with pytest.raises(ClientError) as exc:
        events.describe_replay(ReplayName=unique)  # no failed attempt left a replay behind
    assert error_of(exc)[0] == "ResourceNotFoundException"
    start()
    with pytest.raises(ClientError) as exc:
        start()
    assert error_of(exc) == ("ResourceAlreadyExistsException", f"Replay {unique} already exists.")


def test_cancel_replay(events, unique: str) -> None:
    archive_arn = events.create_archive(ArchiveName=unique, EventSourceArn=BUS_ARN)["ArchiveArn"]
    events.start_replay(
        ReplayName=unique,
        EventSourceArn=archive_arn,
        EventStartTime=ago(30),
        EventEndTime=ago(10),
        Destination={"Arn": BUS_ARN},
    )
    try:
        cancelled = events.cancel_replay(ReplayName=unique)
    except ClientError as exc:  # the delivery worker may already have finished it
        assert exc.response["Error"]["Code"] == "IllegalStatusException"
        assert events.describe_replay(ReplayName=unique)["State"] in ("COMPLETED", "FAILED", "CANCELLED")
    else:
        assert cancelled["ReplayArn"] == f"arn:aws:events:us-east-1:{ACCOUNT}:replay/{unique}"
        assert cancelled["State"] == "CANCELLING"
    deadline = time.monotonic() + 15
    while events.describe_replay(ReplayName=unique)["State"] in ("STARTING", "RUNNING", "CANCELLING"):
        if time.monotonic() > deadline:
            pytest.skip("no delivery worker finished the replay; the finished-replay case needs one")
        time.sleep(0.1)
    with pytest.raises(ClientError) as exc:
        events.cancel_replay(ReplayName=unique)
    assert error_of(exc) == (
        "IllegalStatusException",
        f"Replay {unique} is not in a valid state for this operation.",
    )
    with pytest.raises(ClientError) as exc:
        events.cancel_replay(ReplayName=unique + "-missing")
    assert error_of(exc) == ("ResourceNotFoundException", f"Replay {unique}-missing does not exist.")
