"""Events reach webhooks: approval -> rule -> API destination, with retries, dead letters, crash safety."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelreg.events.webhook import verify
from tests.conftest import client
from tests.events.receiver import Receiver
from tests.server import Server

FAST = ["--allow-private-webhooks", "--retry-base-seconds", "0.05"]
PATTERN = {
    "source": ["aws.sagemaker"],
    "detail-type": ["SageMaker Model Package State Change"],
    "detail": {"ModelPackageGroupName": ["fraud-detection-models"], "ModelApprovalStatus": ["Approved"]},
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def wire_rule(
    url: str,
    hook: str,
    *,
    name: str = "model-approved-trigger",
    retry: dict | None = None,
    pattern: dict | None = None,
) -> None:
    """The issue's EventBridge example, verbatim apart from the receiver's address."""
    events = client(url, "events")
    events.put_rule(
        Name=name,
        State="ENABLED",
        Description="Trigger deployment when a fraud model is approved",
        EventPattern=json.dumps(pattern or PATTERN),
    )
    conn = events.create_connection(
        Name=f"{name}-ci",
        AuthorizationType="API_KEY",
        AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "X-Token", "ApiKeyValue": "s3cret"}},
    )
    dest = events.create_api_destination(
        Name=f"{name}-hook", ConnectionArn=conn["ConnectionArn"], InvocationEndpoint=hook, HttpMethod="POST"
    )
    target = {"Id": "deploy", "Arn": dest["ApiDestinationArn"]}
    if retry:
        target["RetryPolicy"] = retry
    out = events.put_targets(Rule=name, Targets=[target])
    assert out["FailedEntryCount"] == 0, out


def register(url: str, approve: bool = True, group: str = "fraud-detection-models") -> str:
    sm = client(url)
    with contextlib.suppress(sm.exceptions.ClientError):
        sm.create_model_package_group(ModelPackageGroupName=group)
    arn = sm.create_model_package(
        ModelPackageGroupName=group, InferenceSpecification={"Containers": [{"Image": "img:1"}]}
    )["ModelPackageArn"]
    if approve:
        sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="ok")
    return arn


def signing_key(data_dir: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "modelreg.cli", "events", "signing-key", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.strip()


def deliveries(url: str, **params: str) -> list[dict]:
    return httpx.get(f"{url}/api/deliveries", params=params).json()["deliveries"]


def wait_deliveries(url: str, predicate, timeout: float = 20.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = deliveries(url)
        if predicate(rows):
            return rows
        time.sleep(0.05)
    raise AssertionError(f"deliveries never satisfied the condition: {rows}")


def test_an_approval_reaches_the_webhook_signed_and_shaped_like_aws(
    tmp_path: Path, receiver: Receiver
) -> None:
    server = Server(tmp_path, args=FAST).start()
    try:
        wire_rule(server.url, receiver.url + "/hooks/deploy")
        register(server.url, approve=False)  # a pending version matches nothing
        arn = register(server.url)
        (got,) = receiver.wait_for(lambda r: len(r) >= 1)
        assert got.path == "/hooks/deploy"
        assert got.headers["x-token"] == "s3cret"
        assert verify(signing_key(tmp_path), got.headers, got.body)
        event = got.json
        assert (
            event["source"] == "aws.sagemaker"
            and event["detail-type"] == "SageMaker Model Package State Change"
        )
        assert event["resources"] == [arn] and event["region"] == "us-east-1"
        assert event["account"] == "123456789012" and got.headers["webhook-id"] == event["id"]
        detail = event["detail"]
        assert detail["ModelPackageArn"] == arn and detail["ModelApprovalStatus"] == "Approved"
        assert detail["CreationTime"].endswith("Z")
        assert detail["modelreg"]["previousModelApprovalStatus"] == "PendingManualApproval"
        assert detail["modelreg"]["principal"] == "AKIDTESTUSER"
        assert detail["modelreg"]["sequence"] == 2  # created, then approved
        time.sleep(0.3)
        assert len(receiver.received) == 1  # nothing else matched
        (row,) = wait_deliveries(server.url, lambda rows: rows and rows[0]["status"] == "succeeded")
        assert row["rule"] == "model-approved-trigger" and row["attempts"] == 1
    finally:
        server.stop()


def test_each_package_event_is_numbered_after_the_packages_last(tmp_path: Path, receiver: Receiver) -> None:
    every_package_event = {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
    }
    server = Server(tmp_path, args=FAST).start()
    try:
        wire_rule(server.url, receiver.url + "/hooks/all", pattern=every_package_event)
        sm = client(server.url)
        version = register(server.url)  # created, approved
        sm.update_model_package(ModelPackageArn=version, CustomerMetadataProperties={"k": "v"})
        # a row written before the package kept its last number (migration 0008): looked up instead
        with contextlib.closing(sqlite3.connect(tmp_path / "modelreg.db", timeout=10)) as db, db:
            db.execute(
                "UPDATE model_packages SET last_event_sequence = NULL WHERE arn = ?", (version.lower(),)
            )
        sm.update_model_package(ModelPackageArn=version, ModelApprovalStatus="Rejected")
        sm.delete_model_package(ModelPackageName=version)
        for created in (1, 3):  # an unversioned name used again continues its numbers
            loose = sm.create_model_package(
                ModelPackageName="loose", InferenceSpecification={"Containers": [{"Image": "img:1"}]}
            )["ModelPackageArn"]
            with contextlib.closing(sqlite3.connect(tmp_path / "modelreg.db", timeout=10)) as db:
                kept = db.execute("SELECT last_event_sequence FROM model_packages WHERE arn = ?", (loose,))
                assert kept.fetchone() == (created,)  # the row keeps its Created event's number
            sm.delete_model_package(ModelPackageName="loose")
        got = receiver.wait_for(lambda r: len(r) >= 9)
        numbers: dict[str, list[tuple[int, str]]] = {}
        for event in (r.json for r in got):
            numbers.setdefault(event["resources"][0], []).append(
                (event["detail"]["modelreg"]["sequence"], event["detail"]["modelreg"]["change"])
            )
        assert sorted(numbers[version]) == [
            (1, "Created"),
            (2, "Updated"),
            (3, "Updated"),
            (4, "Updated"),
            (5, "Deleted"),
        ]
        assert sorted(numbers[loose]) == [(1, "Created"), (2, "Deleted"), (3, "Created"), (4, "Deleted")]
    finally:
        server.stop()


def test_a_receiver_that_is_down_gets_every_event_when_it_comes_back(tmp_path: Path) -> None:
    receiver = Receiver().start()
    hook = receiver.url + "/hook"
    port = receiver.port
    receiver.stop()  # down: connection refused
    server = Server(tmp_path, args=FAST).start()
    try:
        wire_rule(server.url, hook)
        arns = [register(server.url) for _ in range(3)]
        wait_deliveries(server.url, lambda rows: len(rows) == 3 and all(r["attempts"] >= 2 for r in rows))
        receiver = Receiver(port=port).start()
        got = receiver.wait_for(lambda r: {e.json["resources"][0] for e in r} >= set(arns))
        assert {e.json["detail"]["ModelApprovalStatus"] for e in got} == {"Approved"}
        rows = wait_deliveries(server.url, lambda rows: all(r["status"] == "succeeded" for r in rows))
        detail = httpx.get(f"{server.url}/api/deliveries/{rows[0]['id']}").json()
        assert (
            detail["attemptLog"][0]["statusCode"] is None
            and "ConnectError" in detail["attemptLog"][0]["error"]
        )
        assert detail["attemptLog"][-1]["statusCode"] == 200
    finally:
        server.stop()
        receiver.stop()


def test_events_committed_before_a_crash_are_delivered_after_restart(tmp_path: Path) -> None:
    receiver = Receiver().start()
    hook, port = receiver.url + "/hook", receiver.port
    receiver.stop()
    server = Server(tmp_path, args=FAST).start()
    wire_rule(server.url, hook)
    arns = [register(server.url) for _ in range(5)]
    server.kill()  # kill -9 between commit and a successful delivery
    receiver = Receiver(port=port).start()
    restarted = Server(tmp_path, args=FAST).start()
    try:
        # a call in flight at the kill is retried once its lease (15 s) lapses
        got = receiver.wait_for(lambda r: {e.json["resources"][0] for e in r} >= set(arns), timeout=45)
        ids = [e.json["id"] for e in got]
        assert len(set(ids)) == 5  # duplicates are allowed, and detectable by id
    finally:
        restarted.stop()
        receiver.stop()


def test_a_rejected_call_is_a_dead_letter_until_redelivered(tmp_path: Path, receiver: Receiver) -> None:
    receiver.responses = [(400, {})]
    server = Server(tmp_path, args=FAST).start()
    try:
        wire_rule(server.url, receiver.url + "/hook")
        register(server.url)
        (row,) = wait_deliveries(server.url, lambda rows: rows and rows[0]["status"] == "dead")
        assert row["attempts"] == 1 and row["lastStatusCode"] == 400  # a 400 is not retried
        assert deliveries(server.url, status="dead", rule="model-approved-trigger")[0]["id"] == row["id"]
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "modelreg.cli",
                "events",
                "redeliver",
                str(row["id"]),
                "--endpoint",
                server.url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        receiver.wait_for(lambda r: len(r) == 2)
        wait_deliveries(
            server.url, lambda rows: rows[0]["status"] == "succeeded" and rows[0]["attempts"] == 2
        )
        listing = subprocess.run(
            [
                sys.executable,
                "-m",
                "modelreg.cli",
                "events",
                "deliveries",
                "--endpoint",
                server.url,
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert json.loads(listing.stdout)[0]["status"] == "succeeded"
    finally:
        server.stop()


def test_retry_policy_and_retry_after_are_respected(tmp_path: Path, receiver: Receiver) -> None:
    receiver.responses = [(429, {"Retry-After": "1"}), (503, {}), (503, {}), (503, {})]
    server = Server(tmp_path, args=FAST).start()
    try:
        wire_rule(server.url, receiver.url + "/hook", retry={"MaximumRetryAttempts": 2})
        register(server.url)
        (row,) = wait_deliveries(server.url, lambda rows: rows and rows[0]["status"] == "dead")
        assert row["attempts"] == 3  # the first call and two retries
        got = receiver.wait_for(lambda r: len(r) == 3)
        log = httpx.get(f"{server.url}/api/deliveries/{row['id']}").json()["attemptLog"]
        assert [a["statusCode"] for a in log] == [429, 503, 503]
        assert log[1]["at"] - log[0]["at"] >= 0.95  # waited for Retry-After, not the 50 ms base delay
        assert len({e.headers["webhook-id"] for e in got}) == 1  # the same event each time
    finally:
        server.stop()


def test_private_addresses_are_refused_unless_allowed(tmp_path: Path, receiver: Receiver) -> None:
    server = Server(tmp_path, args=["--retry-base-seconds", "0.05"]).start()
    try:
        wire_rule(server.url, receiver.url + "/hook")
        register(server.url)
        (row,) = wait_deliveries(server.url, lambda rows: rows and rows[0]["status"] == "dead")
        assert "--allow-private-webhooks" in row["lastError"]
        assert receiver.received == []
    finally:
        server.stop()


def test_basic_and_oauth_connections_and_input_transformers(tmp_path: Path, receiver: Receiver) -> None:
    receiver.fixed["/oauth/token"] = {"access_token": "tok-123", "token_type": "Bearer", "expires_in": 3600}
    server = Server(tmp_path, args=FAST).start()
    events = client(server.url, "events")
    try:
        basic = events.create_connection(
            Name="basic",
            AuthorizationType="BASIC",
            AuthParameters={"BasicAuthParameters": {"Username": "ci", "Password": "pw"}},
        )
        oauth = events.create_connection(
            Name="oauth",
            AuthorizationType="OAUTH_CLIENT_CREDENTIALS",
            AuthParameters={
                "OAuthParameters": {
                    "AuthorizationEndpoint": receiver.url + "/oauth/token",
                    "HttpMethod": "POST",
                    "ClientParameters": {"ClientID": "id", "ClientSecret": "secret"},
                }
            },
        )
        targets = []
        for name, conn in (("basic", basic), ("oauth", oauth)):
            dest = events.create_api_destination(
                Name=name,
                ConnectionArn=conn["ConnectionArn"],
                InvocationEndpoint=f"{receiver.url}/{name}",
                HttpMethod="POST",
            )
            targets.append(
                {
                    "Id": name,
                    "Arn": dest["ApiDestinationArn"],
                    "InputTransformer": {
                        "InputPathsMap": {
                            "version": "$.detail.ModelPackageVersion",
                            "status": "$.detail.ModelApprovalStatus",
                        },
                        "InputTemplate": '{"text": "version <version> is <status>", "version": <version>}',
                    },
                }
            )
        events.put_rule(Name="both", EventPattern=json.dumps(PATTERN))
        assert events.put_targets(Rule="both", Targets=targets)["FailedEntryCount"] == 0
        register(server.url)
        got = {r.path: r for r in receiver.wait_for(lambda r: len(r) == 2)}
        assert got["/basic"].headers["authorization"] == "Basic " + base64.b64encode(b"ci:pw").decode()
        assert got["/oauth"].headers["authorization"] == "Bearer tok-123"
        assert got["/basic"].json == {"text": "version 1 is Approved", "version": 1}
        (token_call,) = receiver.fixed_calls
        assert token_call.headers["authorization"] == "Basic " + base64.b64encode(b"id:secret").decode()
        assert b"grant_type=client_credentials" in token_call.body
    finally:
        server.stop()


def test_a_replay_sends_archived_events_again(tmp_path: Path, receiver: Receiver) -> None:
    server = Server(tmp_path, args=FAST).start()
    events = client(server.url, "events")
    try:
        bus = "arn:aws:events:us-east-1:123456789012:event-bus/default"
        archive = events.create_archive(
            ArchiveName="approvals",
            EventSourceArn=bus,
            EventPattern=json.dumps({"source": ["aws.sagemaker"]}),
        )["ArchiveArn"]
        before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
        arn = register(server.url)  # no rule yet: nothing is delivered
        time.sleep(0.2)
        wire_rule(server.url, receiver.url + "/hook")
        events.start_replay(
            ReplayName="catch-up",
            EventSourceArn=archive,
            EventStartTime=before,
            EventEndTime=dt.datetime.now(dt.UTC),
            Destination={"Arn": bus},
        )
        (got,) = receiver.wait_for(lambda r: len(r) >= 1)
        assert got.json["resources"] == [arn] and got.json["replay-name"] == "catch-up"
        deadline = time.monotonic() + 20
        while events.describe_replay(ReplayName="catch-up")["State"] != "COMPLETED":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        server.stop()
