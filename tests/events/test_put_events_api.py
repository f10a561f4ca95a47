"""PutEvents and TestEventPattern through boto3 against a live server."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from botocore.exceptions import ClientError

from modelreg.store.schema import events as outbox_table
from tests.conftest import client

ACCOUNT = "123456789012"
PATTERN = {
    "source": ["aws.sagemaker"],
    "detail-type": ["SageMaker Model Package State Change"],
    "detail": {"ModelPackageGroupName": ["fraud-detection-models"], "ModelApprovalStatus": ["Approved"]},
}
EVENT = {
    "version": "0",
    "id": "844e2571-85d4-695f-b930-0153b71dcb42",
    "detail-type": "SageMaker Model Package State Change",
    "source": "aws.sagemaker",
    "account": ACCOUNT,
    "time": "2026-02-24T17:00:14Z",
    "region": "us-east-1",
    "resources": [f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/fraud-detection-models/2"],
    "detail": {"ModelPackageGroupName": "fraud-detection-models", "ModelApprovalStatus": "Approved"},
}


@pytest.fixture
def events(server):
    return client(server.url, "events")


def error_of(exc_info: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc_info.value.response["Error"]
    return err["Code"], err["Message"]


def outbox_event(server, event_id: str) -> dict[str, Any]:
    """The event as the outbox keeps it (what rules and targets will see)."""
    engine = sa.create_engine(f"sqlite:///{server.data_dir / 'modelreg.db'}")
    try:
        with engine.connect() as conn:
            query = sa.select(outbox_table.c.body).where(outbox_table.c.event_id == event_id)
            return json.loads(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def test_put_events_writes_outbox_events(server, events, unique: str) -> None:
    when = dt.datetime(2026, 3, 1, 12, 30, 5, tzinfo=dt.UTC)
    detail = {"ModelPackageGroupName": unique, "ModelApprovalStatus": "Approved", "score": 0.93}
    out = events.put_events(
        Entries=[
            {
                "Source": "aws.sagemaker",  # modelreg is the local bus: aws.* sources are welcome
                "DetailType": "SageMaker Model Package State Change",
                "Detail": json.dumps(detail),
                "Resources": [f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/{unique}/1"],
                "Time": when,
            },
            {
                "Source": "com.example.ci",
                "DetailType": "Build Finished",
                "Detail": "{}",
                "EventBusName": "default",
            },
        ]
    )
    assert out["FailedEntryCount"] == 0
    ids = [e["EventId"] for e in out["Entries"]]
    assert all(uuid.UUID(i) for i in ids) and len(set(ids)) == 2
    first = outbox_event(server, ids[0])
    assert first == {
        "version": "0",
        "id": ids[0],
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": "2026-03-01T12:30:05Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/{unique}/1"],
        "detail": detail,
    }
    second = outbox_event(server, ids[1])
    assert (second["source"], second["detail-type"], second["detail"], second["resources"]) == (
        "com.example.ci",
        "Build Finished",
        {},
        [],
    )
    sent = dt.datetime.strptime(second["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert abs((dt.datetime.now(dt.UTC) - sent).total_seconds()) < 60


def test_put_events_reports_partial_failures(server, events, unique: str) -> None:
    good = {"Source": "com.example", "DetailType": unique, "Detail": '{"ok": true}'}
    out = events.put_events(
        Entries=[
            {"DetailType": "t", "Detail": "{}"},
            good,
            {"Source": "com.example", "Detail": "{}"},
            {"Source": "com.example", "DetailType": "t"},
            {"Source": "com.example", "DetailType": "t", "Detail": "not json"},
            {"Source": "com.example", "DetailType": "t", "Detail": "[1, 2]"},
            {**good, "EventBusName": "custom"},
        ]
    )
    assert out["FailedEntryCount"] == 6
    entries = out["Entries"]
    assert len(entries) == 7
    assert set(entries[1]) == {"EventId"}
    assert outbox_event(server, entries[1]["EventId"])["detail"] == {"ok": True}
    assert [e for i, e in enumerate(entries) if i != 1] == [
        {
            "ErrorCode": "InvalidArgument",
            "ErrorMessage": "Parameter Source is not valid. Reason: Source is a required argument.",
        },
        {
            "ErrorCode": "InvalidArgument",
            "ErrorMessage": "Parameter DetailType is not valid. Reason: DetailType is a required argument.",
        },
        {
            "ErrorCode": "InvalidArgument",
            "ErrorMessage": "Parameter Detail is not valid. Reason: Detail is a required argument.",
        },
        {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."},
        {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."},
        {"ErrorCode": "ResourceNotFoundException", "ErrorMessage": "Event bus custom does not exist."},
    ]


def test_put_events_limits(events, unique: str) -> None:
    big = json.dumps({"blob": "x" * (256 * 1024)})
    with pytest.raises(ClientError) as exc:
        events.put_events(Entries=[{"Source": "com.example", "DetailType": unique, "Detail": big}])
    assert error_of(exc) == (
        "ValidationException",
        "Total size of the entries in the request is over the limit.",
    )
    half = json.dumps({"blob": "x" * (140 * 1024)})
    with pytest.raises(ClientError) as exc:  # the limit is on the whole request
        events.put_events(Entries=[{"Source": "com.example", "DetailType": unique, "Detail": half}] * 2)
    assert error_of(exc)[0] == "ValidationException"
    entry = {"Source": "com.example", "DetailType": unique, "Detail": "{}"}
    with pytest.raises(ClientError) as exc:
        events.put_events(Entries=[entry] * 11)
    assert error_of(exc)[0] == "ValidationException"
    assert events.put_events(Entries=[entry] * 10)["FailedEntryCount"] == 0


def test_event_pattern_match_near_miss_and_no_match(events) -> None:
    pattern = json.dumps(PATTERN)
    assert events.test_event_pattern(EventPattern=pattern, Event=json.dumps(EVENT))["Result"] is True
    rejected = {**EVENT, "detail": {**EVENT["detail"], "ModelApprovalStatus": "PendingManualApproval"}}
    assert events.test_event_pattern(EventPattern=pattern, Event=json.dumps(rejected))["Result"] is False
    lower = {**EVENT, "detail": {**EVENT["detail"], "ModelApprovalStatus": "approved"}}  # matching is exact
    assert events.test_event_pattern(EventPattern=pattern, Event=json.dumps(lower))["Result"] is False
    prefix = json.dumps({"detail": {"ModelPackageGroupName": [{"prefix": "fraud-"}]}})
    assert events.test_event_pattern(EventPattern=prefix, Event=json.dumps(EVENT))["Result"] is True
    without_resources = {k: v for k, v in EVENT.items() if k != "resources"}  # EventBridge accepts it too
    assert (
        events.test_event_pattern(EventPattern=pattern, Event=json.dumps(without_resources))["Result"] is True
    )


def test_event_pattern_errors(events) -> None:
    with pytest.raises(ClientError) as exc:
        events.test_event_pattern(
            EventPattern='{"detail": {"score": [{"numeric": [">", "high"]}]}}', Event=json.dumps(EVENT)
        )
    code, message = error_of(exc)
    assert code == "InvalidEventPatternException"
    assert message.startswith("Event pattern is not valid. Reason: ") and message.endswith("at detail.score")
    with pytest.raises(ClientError) as exc:
        events.test_event_pattern(EventPattern='"source"', Event=json.dumps(EVENT))
    assert error_of(exc)[0] == "InvalidEventPatternException"
    for bad_event in ("{not json", "[]", json.dumps({k: v for k, v in EVENT.items() if k != "detail-type"})):
        with pytest.raises(ClientError) as exc:
            events.test_event_pattern(EventPattern=json.dumps(PATTERN), Event=bad_event)
        assert error_of(exc) == ("ValidationException", "Parameter Event is not valid.")
