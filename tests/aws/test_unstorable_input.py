"""Input at and past the limits of what a store can hold, on SQLite and on PostgreSQL: what AWS
accepts is stored (a lineage type of 256 characters), and what no store could hold (the NUL
character, a region or access key id longer than any AWS issues) is a 4xx in AWS's format that
leaves what is stored as it was.

PostgreSQL refuses U+0000 in text and values longer than a column; before these checks such input
reached it and came back as a 500, which botocore retries.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest
from botocore.exceptions import ClientError

from modelreg.sagemaker import pagination
from tests.conftest import client, server_on
from tests.server import Server

SPEC = {"Containers": [{"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"}]}


@pytest.fixture(params=["sqlite", "postgresql"], scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with server_on(request.param, tmp_path_factory.mktemp("unstorable")) as srv:
        yield srv


def _error(call, **params) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as caught:
        call(**params)
    return caught.value.response["Error"]


def test_the_nul_character_is_refused_and_nothing_changes(server: Server) -> None:
    sm = client(server.url)
    sm.create_model_package_group(ModelPackageGroupName="nul-group")
    arn = sm.create_model_package(ModelPackageGroupName="nul-group", InferenceSpecification=SPEC)[
        "ModelPackageArn"
    ]
    error = _error(
        sm.update_model_package,
        ModelPackageArn=arn,
        ModelApprovalStatus="Approved",
        ApprovalDescription="ok\0",
    )
    assert error["Code"] == "ValidationException"
    assert (
        "at 'approvalDescription' failed to satisfy constraint: Member must not contain the NUL"
        in (error["Message"])
    )
    assert sm.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "PendingManualApproval"
    metrics = {
        "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": "s3://b/m\0.json"}}
    }
    error = _error(
        sm.create_model_package,
        ModelPackageGroupName="nul-group",
        InferenceSpecification=SPEC,
        ModelMetrics=metrics,
    )
    assert (
        error["Code"] == "ValidationException"
        and "modelMetrics.modelQuality.statistics.s3Uri" in error["Message"]
    )
    summaries = sm.list_model_packages(ModelPackageGroupName="nul-group")["ModelPackageSummaryList"]
    assert [s["ModelPackageArn"] for s in summaries] == [arn]

    events = client(server.url, "events")
    error = _error(events.put_events, Entries=[{"Source": "app\0", "DetailType": "t", "Detail": "{}"}])
    assert error["Code"] == "ValidationException" and "entries.1.member.source" in error["Message"]

    history = httpx.get(f"{server.url}/api/model-packages/nul-group/1/history").json()["history"]
    assert [entry["to"] for entry in history] == ["PendingManualApproval"]


def test_a_region_or_access_key_no_aws_account_has_is_refused(server: Server) -> None:
    longest = "r" * 32  # the longest region modelreg keeps
    assert (
        client(server.url, region=longest).list_model_package_groups()["ModelPackageGroupSummaryList"] == []
    )
    error = _error(client(server.url, region="r" * 33).list_model_package_groups)
    assert error == {
        "Code": "InvalidSignatureException",
        "Message": f"Credential should be scoped to a valid region, not '{'r' * 33}'.",
    }
    error = _error(
        client(server.url, access_key="A" * 129).create_model_package_group, ModelPackageGroupName="k"
    )
    assert error["Code"] == "UnrecognizedClientException"
    assert client(server.url, access_key="A" * 128).create_model_package_group(ModelPackageGroupName="k")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "/api/model-packages/nul-group/1/history?region=%00",
            "The query must not contain the NUL character",
        ),
        ("/api/model-packages/nul%00group/1/history", "The path must not contain the NUL character"),
        ("/api/deliveries?rule=a%00", "The query must not contain the NUL character"),
        ("/api/model-package-groups/g/compare?region=" + "r" * 33, "region must be a region name"),
        ("/api/model-package-groups/g/promotion-policy?region=us_east_1", "region must be a region name"),
    ],
)
def test_the_own_api_refuses_what_no_store_could_look_up(server: Server, path: str, message: str) -> None:
    answer = httpx.get(server.url + path)
    assert answer.status_code == 400
    assert answer.json()["error"] == "BadRequest" and answer.json()["message"].startswith(message)


def test_a_change_through_the_own_api_checks_the_callers_credential_scope_too(server: Server) -> None:
    region = "r" * 33
    answer = httpx.post(
        f"{server.url}/api/model-package-groups/nul-group/gc",
        json={"dryRun": True},
        headers={
            "Authorization": f"AWS4-HMAC-SHA256 Credential=AKID/20261127/{region}/sagemaker/aws4_request, "
            "SignedHeaders=host, Signature=00"
        },
    )
    assert answer.status_code == 403
    assert answer.json() == {
        "error": "InvalidSignatureException",
        "message": f"Credential should be scoped to a valid region, not '{region}'.",
    }


def test_put_events_fails_an_entry_whose_source_or_detail_type_is_too_long(server: Server) -> None:
    # EventBridge's limits, which the service model does not carry: 256 and 128 characters
    events = client(server.url, "events")
    out = events.put_events(
        Entries=[
            {"Source": "s" * 257, "DetailType": "t", "Detail": "{}"},
            {"Source": "s", "DetailType": "t" * 129, "Detail": "{}"},
            {"Source": "s" * 256, "DetailType": "t" * 128, "Detail": "{}"},
        ]
    )
    assert out["FailedEntryCount"] == 2
    assert out["Entries"][:2] == [
        {
            "ErrorCode": "InvalidArgument",
            "ErrorMessage": "Parameter Source is not valid. Reason: Source is longer than 256 characters.",
        },
        {
            "ErrorCode": "InvalidArgument",
            "ErrorMessage": "Parameter DetailType is not valid. "
            "Reason: DetailType is longer than 128 characters.",
        },
    ]
    assert set(out["Entries"][2]) == {"EventId"}


def test_an_association_keeps_entity_types_of_the_longest_length_aws_allows(server: Server) -> None:
    # ArtifactType and ContextType may be 256 characters; the association listing repeats them
    sm = client(server.url)
    long_type = "T" * 256
    artifact = sm.create_artifact(
        ArtifactName="long-typed", Source={"SourceUri": "s3://b/long-typed"}, ArtifactType=long_type
    )["ArtifactArn"]
    context = sm.create_context(
        ContextName="long-typed", Source={"SourceUri": "s3://b/ctx"}, ContextType="C" * 256
    )["ContextArn"]
    sm.add_association(SourceArn=artifact, DestinationArn=context)
    [association] = sm.list_associations(SourceArn=artifact)["AssociationSummaries"]
    assert (association["SourceType"], association["DestinationType"]) == (long_type, "C" * 256)


def test_a_next_token_made_up_to_hold_the_nul_character_is_refused(server: Server) -> None:
    # a NextToken is base64 JSON that a client can make; its cursor reaches the listing's query
    params = {"SortBy": "Name"}
    forged = json.dumps({"c": ["a\0b", 1], "q": pagination.query_digest(params)})
    token = base64.urlsafe_b64encode(forged.encode()).decode().rstrip("=")
    error = _error(client(server.url).list_model_packages, **params, NextToken=token)
    assert error == {
        "Code": "ValidationException",
        "Message": "Invalid NextToken: it was not issued by this server.",
    }
    forged = json.dumps({"c": ["a\0b"], "q": pagination.query_digest({})})
    token = base64.urlsafe_b64encode(forged.encode()).decode().rstrip("=")
    error = _error(client(server.url, "events").list_rules, NextToken=token)
    assert error["Code"] == "ValidationException"
