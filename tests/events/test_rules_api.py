"""EventBridge rules and targets through boto3 against a live server."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from botocore.exceptions import ClientError

from modelreg.store.schema import named_resources
from tests.conftest import client

ACCOUNT = "123456789012"
BUS_ARN = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default"
FRAUD_PATTERN = {
    "source": ["aws.sagemaker"],
    "detail-type": ["SageMaker Model Package State Change"],
    "detail": {"ModelPackageGroupName": ["fraud-detection-models"], "ModelApprovalStatus": ["Approved"]},
}


@pytest.fixture
def events(server):
    return client(server.url, "events")


def error_of(exc_info: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc_info.value.response["Error"]
    return err["Code"], err["Message"]


def stored(server, kind: str, name: str) -> dict[str, Any]:
    """The body the store keeps for a resource (what the delivery worker reads)."""
    engine = sa.create_engine(f"sqlite:///{server.data_dir / 'modelreg.db'}")
    try:
        with engine.connect() as conn:
            r = named_resources.c
            query = sa.select(r.body).where(r.region == "us-east-1", r.kind == kind, r.name == name)
            return json.loads(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def make_destination(events, name: str, endpoint: str = "http://127.0.0.1:9000/hooks/deploy") -> str:
    """An API_KEY connection and an API destination on it; returns the destination ARN."""
    conn = events.create_connection(
        Name=f"{name}-conn",
        AuthorizationType="API_KEY",
        AuthParameters={
            "ApiKeyAuthParameters": {"ApiKeyName": "X-Deploy-Token", "ApiKeyValue": "tok-secret"}
        },
    )
    return events.create_api_destination(
        Name=f"{name}-dest",
        ConnectionArn=conn["ConnectionArn"],
        InvocationEndpoint=endpoint,
        HttpMethod="POST",
    )["ApiDestinationArn"]


def put_rule(events, name: str, **extra) -> str:
    return events.put_rule(Name=name, EventPattern=json.dumps(FRAUD_PATTERN), **extra)["RuleArn"]


def test_issue_example_round_trips(server, events, unique: str) -> None:
    pattern = json.dumps(FRAUD_PATTERN)
    rule_arn = events.put_rule(
        Name=unique,
        State="ENABLED",
        Description="Trigger deployment when a fraud model is approved",
        EventPattern=pattern,
    )["RuleArn"]
    assert rule_arn == f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{unique}"
    dest_arn = make_destination(events, unique)
    assert dest_arn.startswith(f"arn:aws:events:us-east-1:{ACCOUNT}:api-destination/{unique}-dest/")
    target = {
        "Id": "deploy",
        "Arn": dest_arn,
        "InputTransformer": {
            "InputPathsMap": {"arn": "$.detail.ModelPackageArn"},
            "InputTemplate": '{"package": <arn>}',
        },
        "RetryPolicy": {"MaximumRetryAttempts": 4, "MaximumEventAgeInSeconds": 3600},
        "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-east-1:123456789012:dead-letters"},
    }
    out = events.put_targets(Rule=unique, Targets=[target])
    assert (out["FailedEntryCount"], out["FailedEntries"]) == (0, [])
    described = events.describe_rule(Name=unique)
    described.pop("ResponseMetadata")
    assert described == {
        "Name": unique,
        "Arn": rule_arn,
        "EventPattern": pattern,
        "State": "ENABLED",
        "Description": "Trigger deployment when a fraud model is approved",
        "EventBusName": "default",
        "CreatedBy": ACCOUNT,
    }
    assert stored(server, "rule", unique) == {**described, "Targets": [target]}
    assert events.describe_rule(Name=unique, EventBusName=BUS_ARN)["Arn"] == rule_arn
    listed = events.list_rules(NamePrefix=unique)["Rules"]
    assert listed == [
        {
            "Name": unique,
            "Arn": rule_arn,
            "EventPattern": pattern,
            "State": "ENABLED",
            "Description": "Trigger deployment when a fraud model is approved",
            "EventBusName": "default",
        }
    ]
    assert events.list_targets_by_rule(Rule=unique)["Targets"] == [target]
    assert events.list_rule_names_by_target(TargetArn=dest_arn)["RuleNames"] == [unique]


def test_put_rule_updates_in_place_and_keeps_targets(events, unique: str) -> None:
    arn = put_rule(events, unique, Description="first", RoleArn="arn:aws:iam::123456789012:role/r")
    dest = make_destination(events, unique)
    events.put_targets(Rule=unique, Targets=[{"Id": "1", "Arn": dest}])
    pattern = json.dumps({"source": ["com.example"]})
    assert events.put_rule(Name=unique, EventPattern=pattern, State="DISABLED")["RuleArn"] == arn
    described = events.describe_rule(Name=unique)
    assert described["EventPattern"] == pattern
    assert described["State"] == "DISABLED"
    assert "Description" not in described and "RoleArn" not in described  # PutRule replaces the rule
    assert [t["Id"] for t in events.list_targets_by_rule(Rule=unique)["Targets"]] == ["1"]


def test_rule_pattern_and_schedule_errors(events, unique: str) -> None:
    with pytest.raises(ClientError) as exc:
        events.put_rule(Name=unique, EventPattern=json.dumps({"source": [{"prefix": 1}]}))
    assert error_of(exc) == (
        "InvalidEventPatternException",
        "Event pattern is not valid. Reason: prefix match pattern must be a string, at source",
    )
    with pytest.raises(ClientError) as exc:
        events.put_rule(Name=unique, EventPattern="{not json")
    code, message = error_of(exc)
    assert code == "InvalidEventPatternException" and message.startswith("Event pattern is not valid.")
    with pytest.raises(ClientError) as exc:
        events.put_rule(Name=unique, ScheduleExpression="rate(5 minutes)")
    code, message = error_of(exc)
    assert code == "ValidationException" and "modelreg does not run scheduled rules" in message
    with pytest.raises(ClientError) as exc:
        events.put_rule(Name=unique)
    assert error_of(exc) == (
        "ValidationException",
        "Parameter(s) EventPattern or ScheduleExpression must be specified.",
    )
    with pytest.raises(ClientError) as exc:
        events.describe_rule(Name=unique)  # nothing above created it
    assert error_of(exc) == (
        "ResourceNotFoundException",
        f"Rule {unique} does not exist on EventBus default.",
    )


@pytest.mark.parametrize(
    ("bus", "shown"),
    [
        ("custom", "custom"),
        ("arn:aws:events:us-east-1:123456789012:event-bus/custom", "custom"),
        (
            "arn:aws:events:eu-west-1:123456789012:event-bus/default",
            "arn:aws:events:eu-west-1:123456789012:event-bus/default",
        ),
    ],
)
def test_only_the_default_bus_exists(events, unique: str, bus: str, shown: str) -> None:
    for call in (
        lambda: events.put_rule(Name=unique, EventPattern="{}", EventBusName=bus),
        lambda: events.list_rules(EventBusName=bus),
        lambda: events.describe_rule(Name=unique, EventBusName=bus),
        lambda: events.put_targets(Rule=unique, EventBusName=bus, Targets=[{"Id": "1", "Arn": BUS_ARN}]),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("ResourceNotFoundException", f"Event bus {shown} does not exist.")


def test_list_rules_pages_by_name(events, unique: str) -> None:
    names = [f"{unique}-{c}" for c in "ecadb"]
    for name in names:
        put_rule(events, name)
    pages = events.get_paginator("list_rules").paginate(NamePrefix=unique, PaginationConfig={"PageSize": 2})
    assert [[r["Name"] for r in p["Rules"]] for p in pages] == [
        sorted(names)[0:2],
        sorted(names)[2:4],
        sorted(names)[4:],
    ]
    first = events.list_rules(NamePrefix=unique, Limit=3)
    assert len(first["Rules"]) == 3
    rest = events.list_rules(NamePrefix=unique, Limit=3, NextToken=first["NextToken"])
    assert [r["Name"] for r in rest["Rules"]] == sorted(names)[3:]
    assert "NextToken" not in rest
    with pytest.raises(ClientError) as exc:
        events.list_rules(NamePrefix=unique + "-a", NextToken=first["NextToken"])
    assert error_of(exc)[0] == "ValidationException"
    assert events.list_rules(NamePrefix=unique + "-zz")["Rules"] == []
    assert events.list_rules(NamePrefix=unique.upper())["Rules"] == []  # names are case-sensitive


def test_enable_and_disable(events, unique: str) -> None:
    put_rule(events, unique, State="DISABLED")
    events.enable_rule(Name=unique)
    assert events.describe_rule(Name=unique)["State"] == "ENABLED"
    events.disable_rule(Name=unique)
    assert events.describe_rule(Name=unique)["State"] == "DISABLED"
    with pytest.raises(ClientError) as exc:
        events.enable_rule(Name=unique + "-missing")
    assert error_of(exc)[0] == "ResourceNotFoundException"


def test_delete_rule_refuses_while_targets_remain(events, unique: str) -> None:
    arn = put_rule(events, unique, Tags=[{"Key": "team", "Value": "risk"}])
    dest = make_destination(events, unique)
    events.put_targets(Rule=unique, Targets=[{"Id": "a", "Arn": dest}, {"Id": "b", "Arn": dest}])
    with pytest.raises(ClientError) as exc:
        events.delete_rule(Name=unique)
    assert error_of(exc) == ("ValidationException", "Rule can't be deleted since it has targets.")
    assert events.describe_rule(Name=unique)["Name"] == unique
    assert events.remove_targets(Rule=unique, Ids=["a", "b"])["FailedEntryCount"] == 0
    events.delete_rule(Name=unique)
    with pytest.raises(ClientError) as exc:
        events.describe_rule(Name=unique)
    assert error_of(exc)[0] == "ResourceNotFoundException"
    events.delete_rule(Name=unique)  # deleting what is not there succeeds, as in EventBridge
    put_rule(events, unique)  # the name is free again, and the old tags are gone with the rule
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == []


def test_put_targets_reports_undeliverable_targets_per_entry(events, unique: str) -> None:
    put_rule(events, unique)
    dest = make_destination(events, unique)
    missing = dest.replace(f"{unique}-dest/", f"{unique}-gone/")
    lambda_arn = "arn:aws:lambda:us-east-1:123456789012:function:deploy"
    endpoint_arn = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/fraud-prod"
    out = events.put_targets(
        Rule=unique,
        Targets=[
            {"Id": "lambda", "Arn": lambda_arn},
            {"Id": "hook", "Arn": dest, "Input": '{"deploy": true}'},
            {"Id": "endpoint", "Arn": endpoint_arn},
            {"Id": "gone", "Arn": missing},
        ],
    )
    assert out["FailedEntryCount"] == 3
    failed = {f["TargetId"]: f for f in out["FailedEntries"]}
    assert set(failed) == {"lambda", "endpoint", "gone"}
    assert failed["lambda"]["ErrorCode"] == "ValidationException"
    assert "only to API destinations" in failed["lambda"]["ErrorMessage"]
    assert failed["endpoint"]["ErrorCode"] == "ValidationException"
    assert "deploy targets arrive with endpoint support" in failed["endpoint"]["ErrorMessage"]
    assert failed["gone"] == {
        "TargetId": "gone",
        "ErrorCode": "ResourceNotFoundException",
        "ErrorMessage": "Failed to describe the api-destination(s). "
        f"An api-destination '{unique}-gone' does not exist.",
    }
    assert events.list_targets_by_rule(Rule=unique)["Targets"] == [
        {"Id": "hook", "Arn": dest, "Input": '{"deploy": true}'}
    ]
    assert events.list_rule_names_by_target(TargetArn=lambda_arn)["RuleNames"] == []


def test_put_targets_request_errors(events, unique: str) -> None:
    put_rule(events, unique)
    dest = make_destination(events, unique)
    cases = [
        (
            [{"Id": "1", "Arn": "not-an-arn"}],
            "Parameter not-an-arn is not valid. Reason: Provided Arn is not in correct format.",
        ),
        (
            [{"Id": "1", "Arn": dest, "Input": "{}", "InputPath": "$.detail"}],
            "Only one of Input, InputPath, or InputTransformer must be provided for target 1.",
        ),
        (
            [{"Id": "2", "Arn": dest, "InputPath": "$", "InputTransformer": {"InputTemplate": "x"}}],
            "Only one of Input, InputPath, or InputTransformer must be provided for target 2.",
        ),
    ]
    for targets, message in cases:
        with pytest.raises(ClientError) as exc:
            events.put_targets(Rule=unique, Targets=targets)
        assert error_of(exc) == ("ValidationException", message)
    with pytest.raises(ClientError) as exc:
        events.put_targets(Rule=unique, Targets=[{"Id": "1", "Arn": dest, "Input": "not json"}])
    assert error_of(exc)[0] == "ValidationException"
    with pytest.raises(ClientError) as exc:
        events.put_targets(Rule=unique + "-missing", Targets=[{"Id": "1", "Arn": dest}])
    assert error_of(exc) == (
        "ResourceNotFoundException",
        f"Rule {unique}-missing does not exist on EventBus default.",
    )
    assert events.list_targets_by_rule(Rule=unique)["Targets"] == []


def test_five_targets_per_rule(events, unique: str) -> None:
    put_rule(events, unique)
    dest = make_destination(events, unique)
    five = [{"Id": f"t{i}", "Arn": dest} for i in range(5)]
    assert events.put_targets(Rule=unique, Targets=five)["FailedEntryCount"] == 0
    replaced = {"Id": "t0", "Arn": dest, "Input": '"again"'}
    assert events.put_targets(Rule=unique, Targets=[replaced])["FailedEntryCount"] == 0
    with pytest.raises(ClientError) as exc:
        events.put_targets(Rule=unique, Targets=[{"Id": "t5", "Arn": dest}])
    assert error_of(exc) == (
        "LimitExceededException",
        "The requested resource exceeds the maximum number allowed.",
    )
    targets = events.list_targets_by_rule(Rule=unique)["Targets"]
    assert [t["Id"] for t in targets] == ["t0", "t1", "t2", "t3", "t4"]
    assert targets[0] == replaced
    page = events.list_targets_by_rule(Rule=unique, Limit=2)
    assert [t["Id"] for t in page["Targets"]] == ["t0", "t1"]
    rest = events.list_targets_by_rule(Rule=unique, Limit=3, NextToken=page["NextToken"])
    assert [t["Id"] for t in rest["Targets"]] == ["t2", "t3", "t4"] and "NextToken" not in rest


def test_remove_targets_reports_unknown_ids(events, unique: str) -> None:
    put_rule(events, unique)
    dest = make_destination(events, unique)
    events.put_targets(Rule=unique, Targets=[{"Id": "keep", "Arn": dest}, {"Id": "drop", "Arn": dest}])
    out = events.remove_targets(Rule=unique, Ids=["drop", "nope"])
    assert out["FailedEntryCount"] == 1
    assert out["FailedEntries"] == [
        {
            "TargetId": "nope",
            "ErrorCode": "ResourceNotFoundException",
            "ErrorMessage": f"Rule '{unique}' does not have a target with the Id 'nope'.",
        }
    ]
    assert [t["Id"] for t in events.list_targets_by_rule(Rule=unique)["Targets"]] == ["keep"]
    with pytest.raises(ClientError) as exc:
        events.remove_targets(Rule=unique + "-missing", Ids=["keep"])
    assert error_of(exc)[0] == "ResourceNotFoundException"


def test_list_rule_names_by_target_pages(events, unique: str) -> None:
    dest = make_destination(events, unique)
    names = [f"{unique}-{i}" for i in range(3)]
    for name in names:
        put_rule(events, name)
        events.put_targets(Rule=name, Targets=[{"Id": "1", "Arn": dest}])
    put_rule(events, f"{unique}-untargeted")
    first = events.list_rule_names_by_target(TargetArn=dest, Limit=2)
    assert first["RuleNames"] == names[:2]
    rest = events.list_rule_names_by_target(TargetArn=dest, Limit=2, NextToken=first["NextToken"])
    assert rest["RuleNames"] == names[2:] and "NextToken" not in rest


def test_rule_tags(events, unique: str) -> None:
    arn = put_rule(events, unique, Tags=[{"Key": "team", "Value": "risk"}])
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "risk"}]
    events.tag_resource(
        ResourceARN=arn, Tags=[{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "ml"}]
    )
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "env", "Value": "prod"},
        {"Key": "team", "Value": "ml"},
    ]
    events.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "env", "Value": "prod"}]
    missing = arn + "-missing"
    with pytest.raises(ClientError) as exc:
        events.tag_resource(ResourceARN=missing, Tags=[{"Key": "a", "Value": "b"}])
    assert error_of(exc) == (
        "ResourceNotFoundException",
        f"Rule {unique}-missing does not exist on EventBus default.",
    )
    with pytest.raises(ClientError) as exc:
        events.list_tags_for_resource(ResourceARN="arn:aws:events:us-east-1:123456789012:event-bus/custom")
    assert error_of(exc) == ("ResourceNotFoundException", "Event bus custom does not exist.")
    events.tag_resource(ResourceARN=BUS_ARN, Tags=[{"Key": unique, "Value": "bus"}])
    assert {"Key": unique, "Value": "bus"} in events.list_tags_for_resource(ResourceARN=BUS_ARN)["Tags"]
    events.untag_resource(ResourceARN=BUS_ARN, TagKeys=[unique])
