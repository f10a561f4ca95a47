"""Model packages (versions) through boto3 against a live server, as the issue's example uses them."""

from __future__ import annotations

import concurrent.futures
import uuid

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import client

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
INFERENCE = {
    "Containers": [
        {"Image": IMAGE, "ModelDataUrl": "s3://my-bucket/models/fraud-xgb-v1/output/model.tar.gz"}
    ],
    "SupportedContentTypes": ["text/csv", "application/json"],
    "SupportedResponseMIMETypes": ["text/csv", "application/json"],
    "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"],
    "SupportedTransformInstanceTypes": ["ml.m5.xlarge"],
}
METRICS = {
    "ModelQuality": {
        "Statistics": {
            "ContentType": "application/json",
            "S3Uri": "s3://my-bucket/models/fraud-xgb-v1/evaluation/metrics.json",
        }
    }
}


def register(sm, group: str, **extra) -> str:
    return sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=INFERENCE, **extra)[
        "ModelPackageArn"
    ]


@pytest.fixture
def group(sm, unique: str) -> str:
    sm.create_model_package_group(ModelPackageGroupName=unique, Tags=[{"Key": "Team", "Value": "risk"}])
    return unique


def test_the_issue_example_end_to_end(sm, group: str) -> None:
    arn = sm.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription="XGBoost fraud classifier trained on January data",
        InferenceSpecification=INFERENCE,
        ModelApprovalStatus="PendingManualApproval",
        ModelMetrics=METRICS,
        CustomerMetadataProperties={"training_job": "fraud-xgb-training-2026-01-15", "feature_count": "45"},
    )["ModelPackageArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{group}/1"
    sm.update_model_package(
        ModelPackageArn=arn,
        ModelApprovalStatus="Approved",
        ApprovalDescription="Reviewed by ML team. AUC improved by 3%.",
    )
    latest = sm.list_model_packages(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=1,
    )
    assert [p["ModelPackageArn"] for p in latest["ModelPackageSummaryList"]] == [arn]
    desc = sm.describe_model_package(ModelPackageName=arn)
    assert desc["ModelApprovalStatus"] == "Approved"
    assert desc["ApprovalDescription"] == "Reviewed by ML team. AUC improved by 3%."
    assert desc["ModelPackageName"] == group
    assert desc["ModelPackageGroupName"] == group
    assert desc["ModelPackageVersion"] == 1
    assert desc["ModelPackageStatus"] == "Completed"
    assert desc["ModelPackageStatusDetails"]["ValidationStatuses"] == []
    assert desc["InferenceSpecification"] == INFERENCE
    assert desc["ModelMetrics"] == METRICS
    assert desc["CustomerMetadataProperties"] == {
        "training_job": "fraud-xgb-training-2026-01-15",
        "feature_count": "45",
    }
    assert desc["CreatedBy"]["UserProfileName"] == "AKIDTESTUSER"
    assert desc["LastModifiedBy"]["UserProfileName"] == "AKIDTESTUSER"
    assert desc["LastModifiedTime"] >= desc["CreationTime"]
    sm.delete_model_package(ModelPackageName=arn)
    with pytest.raises(ClientError) as exc:
        sm.describe_model_package(ModelPackageName=arn)
    assert exc.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": f"ModelPackage {arn} does not exist.",
    }


def test_every_input_member_comes_back_as_sent(sm, group: str) -> None:
    members = {
        "ModelPackageDescription": "all members",
        "InferenceSpecification": INFERENCE,
        "ModelMetrics": {
            **METRICS,
            "Bias": {"Report": {"ContentType": "application/json", "S3Uri": "s3://b/bias"}},
        },
        "MetadataProperties": {
            "CommitId": "abc123",
            "Repository": "git@example:ml.git",
            "GeneratedBy": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/x",
            "ProjectId": "p-1",
        },
        "CustomerMetadataProperties": {"auc": "0.91"},
        "DriftCheckBaselines": {
            "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": "s3://b/drift.json"}}
        },
        "AdditionalInferenceSpecifications": [
            {
                "Name": "gpu",
                "Description": "on gpu",
                "Containers": [{"Image": "img:gpu"}],
                "SupportedContentTypes": ["text/csv"],
            }
        ],
        "SamplePayloadUrl": "s3://b/sample.csv",
        "Domain": "MACHINE_LEARNING",
        "Task": "CLASSIFICATION",
        "SkipModelValidation": "None",
        "SourceUri": "s3://b/source.tar.gz",
        "SecurityConfig": {"KmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/abc"},
        "ModelCard": {
            "ModelCardContent": '{"model_overview": {"model_description": "x"}}',
            "ModelCardStatus": "Draft",
        },
        "ModelLifeCycle": {"Stage": "Development", "StageStatus": "In-Progress", "StageDescription": "new"},
        "CertifyForMarketplace": False,
        "ModelApprovalStatus": "Rejected",
    }
    arn = sm.create_model_package(ModelPackageGroupName=group, **members)["ModelPackageArn"]
    desc = sm.describe_model_package(ModelPackageName=arn)
    for member, value in members.items():
        assert desc[member] == value, member


def test_versions_count_and_are_never_reused(sm, group: str) -> None:
    arns = [register(sm, group) for _ in range(3)]
    assert [a.rsplit("/", 1)[1] for a in arns] == ["1", "2", "3"]
    sm.delete_model_package(ModelPackageName=arns[2])
    assert register(sm, group).endswith("/4")


def test_concurrent_registration_from_many_clients(server, group: str) -> None:
    def work(i: int) -> list[str]:
        c = client(server.url, access_key=f"AKID{i}")
        return [register(c, group) for _ in range(10)]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        arns = [a for batch in pool.map(work, range(8)) for a in batch]
    assert sorted(int(a.rsplit("/", 1)[1]) for a in arns) == list(range(1, 81))
    sm = client(server.url)
    pages = sm.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=group, PaginationConfig={"PageSize": 7}
    )
    listed = [p for page in pages for p in page["ModelPackageSummaryList"]]
    assert [p["ModelPackageVersion"] for p in listed] == list(range(1, 81))
    times = [p["CreationTime"] for p in listed]
    assert times == sorted(times) and len(set(times)) == 80


def test_client_token_makes_a_retried_create_idempotent(sm, group: str) -> None:
    token = str(uuid.uuid4())
    first = register(sm, group, ClientToken=token)
    again = register(sm, group, ClientToken=token)
    assert first == again
    listed = sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    assert len(listed) == 1
    with pytest.raises(ClientError) as exc:
        register(sm, group, ClientToken=token, ModelPackageDescription="different")
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert token in exc.value.response["Error"]["Message"]
    assert len(sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]) == 1
    # the retries took no version number: the next registration is version 2
    assert register(sm, group).endswith(f"/{group}/2")


def test_client_token_replays_an_unversioned_create(sm, unique: str) -> None:
    token = str(uuid.uuid4())
    create = dict(ModelPackageName=f"{unique}-loose", InferenceSpecification=INFERENCE, ClientToken=token)
    first = sm.create_model_package(**create)["ModelPackageArn"]
    assert sm.create_model_package(**create)["ModelPackageArn"] == first
    with pytest.raises(ClientError) as exc:  # a new token for the same name: the name is taken
        sm.create_model_package(**{**create, "ClientToken": str(uuid.uuid4())})
    assert exc.value.response["Error"]["Message"] == f"ModelPackage already exists: {first}"


def test_list_filters_types_and_order(sm, group: str, unique: str) -> None:
    a = register(sm, group, ModelApprovalStatus="Approved")
    b = register(sm, group)
    c = register(sm, group, ModelApprovalStatus="Approved")
    loose = sm.create_model_package(ModelPackageName=f"{unique}-loose", InferenceSpecification=INFERENCE)[
        "ModelPackageArn"
    ]

    def arns(**kw: object) -> list[str]:
        return [p["ModelPackageArn"] for p in sm.list_model_packages(**kw)["ModelPackageSummaryList"]]

    assert arns(ModelPackageGroupName=group) == [a, b, c]
    assert arns(ModelPackageGroupName=group, SortOrder="Descending") == [c, b, a]
    assert arns(
        ModelPackageGroupName=group, ModelApprovalStatus="Approved", SortOrder="Descending", MaxResults=1
    ) == [c]
    assert arns(ModelPackageGroupName=group, ModelApprovalStatus="PendingManualApproval") == [b]
    assert arns(ModelPackageGroupName=group, ModelPackageType="Unversioned") == []
    assert arns(NameContains=unique) == [loose]  # no group: unversioned only, AWS's default
    assert set(arns(NameContains=unique, ModelPackageType="Both", MaxResults=100)) >= {a, b, c, loose}
    assert arns(
        ModelPackageGroupName=f"arn:aws:sagemaker:us-east-1:123456789012:model-package-group/{group}"
    ) == [a, b, c]
    summary = sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"][0]
    assert set(summary) == {
        "ModelPackageName",
        "ModelPackageGroupName",
        "ModelPackageVersion",
        "ModelPackageArn",
        "CreationTime",
        "ModelPackageStatus",
        "ModelApprovalStatus",
    }


def test_update_merges_metadata_and_keeps_what_was_not_sent(sm, group: str) -> None:
    arn = register(
        sm,
        group,
        CustomerMetadataProperties={"a": "1", "b": "2"},
        SourceUri="s3://b/old",
        ModelLifeCycle={"Stage": "Development", "StageStatus": "In-Progress"},
    )
    sm.update_model_package(
        ModelPackageArn=arn,
        CustomerMetadataProperties={"b": "20", "c": "3"},
        CustomerMetadataPropertiesToRemove=["a"],
    )
    sm.update_model_package(
        ModelPackageArn=arn,
        AdditionalInferenceSpecificationsToAdd=[
            {"Name": "cpu-small", "Containers": [{"Image": "img:small"}]}
        ],
    )
    sm.update_model_package(
        ModelPackageArn=arn,
        ModelLifeCycle={"Stage": "Staging", "StageStatus": "Approved", "StageDescription": "passed QA"},
        ModelCard={"ModelCardStatus": "PendingReview"},
    )
    desc = sm.describe_model_package(ModelPackageName=arn)
    assert desc["CustomerMetadataProperties"] == {"b": "20", "c": "3"}
    assert desc["AdditionalInferenceSpecifications"] == [
        {"Name": "cpu-small", "Containers": [{"Image": "img:small"}]}
    ]
    assert desc["ModelLifeCycle"] == {
        "Stage": "Staging",
        "StageStatus": "Approved",
        "StageDescription": "passed QA",
    }
    assert desc["ModelCard"] == {"ModelCardStatus": "PendingReview"}
    assert desc["SourceUri"] == "s3://b/old"
    assert desc["InferenceSpecification"] == INFERENCE
    assert desc["ModelApprovalStatus"] == "PendingManualApproval"
    with pytest.raises(ClientError) as exc:
        sm.update_model_package(
            ModelPackageArn=arn,
            AdditionalInferenceSpecificationsToAdd=[
                {"Name": "cpu-small", "Containers": [{"Image": "img:other"}]}
            ],
        )
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    new_spec = {**INFERENCE, "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://b/v2/model.tar.gz"}]}
    sm.update_model_package(ModelPackageArn=arn, InferenceSpecification=new_spec, SourceUri="s3://b/new")
    desc = sm.describe_model_package(ModelPackageName=arn)
    assert desc["InferenceSpecification"] == new_spec and desc["SourceUri"] == "s3://b/new"


def test_history_records_every_approval_and_lifecycle_change(server, sm, group: str) -> None:
    arn = register(sm, group)
    reviewer = client(server.url, access_key="reviewer-alice")
    reviewer.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="good"
    )
    reviewer.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Rejected", ApprovalDescription="drift"
    )
    sm.update_model_package(
        ModelPackageArn=arn,
        ModelLifeCycle={"Stage": "Production", "StageStatus": "Deployed", "StageDescription": "go live"},
    )
    sm.update_model_package(
        ModelPackageArn=arn, CustomerMetadataProperties={"x": "y"}
    )  # not an approval change
    body = httpx.get(f"{server.url}/api/model-packages/{group}/1/history").json()
    assert body["ModelPackageArn"] == arn
    steps = [(e["principal"], e["field"], e["from"], e["to"], e["reason"]) for e in body["history"]]
    assert steps == [
        ("AKIDTESTUSER", "ModelApprovalStatus", None, "PendingManualApproval", None),
        ("reviewer-alice", "ModelApprovalStatus", "PendingManualApproval", "Approved", "good"),
        ("reviewer-alice", "ModelApprovalStatus", "Approved", "Rejected", "drift"),
        (
            "AKIDTESTUSER",
            "ModelLifeCycle",
            None,
            {"Stage": "Production", "StageStatus": "Deployed", "StageDescription": "go live"},
            "go live",
        ),
    ]
    assert all(e["at"] > 0 and e["request_id"] for e in body["history"])
    sm.delete_model_package(ModelPackageName=arn)
    after = httpx.get(f"{server.url}/api/model-packages/{group}/1/history").json()["history"]
    assert after[:4] == body["history"] and after[4]["field"] == "Deleted"
    assert httpx.get(f"{server.url}/api/model-packages/{group}/99/history").status_code == 404
    for far in ("99999999999999999999", "9" * 40):  # more digits than any version: no such page
        for page in ("history", "lineage", "metrics", "deployments"):
            assert httpx.get(f"{server.url}/api/model-packages/{group}/{far}/{page}").status_code == 404
    assert httpx.get(f"{server.url}/api/deliveries/99999999999999999999").status_code == 404
    for far in ("99999999999999999999", "-99999999999999999999"):  # ids a database cannot hold
        listed = httpx.get(f"{server.url}/api/deliveries", params={"before": far, "limit": 1})
        assert listed.status_code == 200, listed.text
    assert httpx.get(f"{server.url}/api/deliveries", params={"before": "-99999999999999999999"}).json() == {
        "deliveries": []
    }
    for far in ("99999999999999999999", "%C2%B2"):  # past any version; a digit that is not 0-9
        compare = httpx.get(f"{server.url}/api/model-package-groups/{group}/compare?versions=1,{far}")
        assert compare.status_code == 400, compare.text


def test_unversioned_packages_and_batch_describe(sm, group: str, unique: str) -> None:
    name = f"{unique}-market"
    arn = sm.create_model_package(
        ModelPackageName=name, InferenceSpecification=INFERENCE, Tags=[{"Key": "k", "Value": "v"}]
    )["ModelPackageArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{name}"
    assert sm.describe_model_package(ModelPackageName=name)["ModelPackageArn"] == arn
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "k", "Value": "v"}]
    with pytest.raises(ClientError) as exc:
        sm.create_model_package(ModelPackageName=name, InferenceSpecification=INFERENCE)
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    versioned = register(sm, group)
    missing = versioned[:-1] + "9"
    out = sm.batch_describe_model_package(ModelPackageArnList=[versioned, missing])
    assert set(out["ModelPackageSummaries"]) == {versioned}
    assert out["ModelPackageSummaries"][versioned]["InferenceSpecification"] == INFERENCE
    assert out["BatchDescribeModelPackageErrorMap"][missing]["ErrorCode"] == "ValidationException"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"ModelPackageName": "x", "ModelPackageGroupName": "y"},
            "Both ModelPackageName and ModelPackageGroupName are provided in the input. "
            "Cannot determine which one to use.",
        ),
        (
            {"ModelPackageGroupName": "nope-no-such-group"},
            "ModelPackageGroup arn:aws:sagemaker:us-east-1:123456789012:"
            "model-package-group/nope-no-such-group does not exist.",
        ),
    ],
)
def test_create_errors(sm, kwargs: dict, message: str) -> None:
    with pytest.raises(ClientError) as exc:
        sm.create_model_package(InferenceSpecification=INFERENCE, **kwargs)
    assert exc.value.response["Error"] == {"Code": "ValidationException", "Message": message}


def test_versioned_packages_refuse_tags(sm, group: str) -> None:
    with pytest.raises(ClientError) as exc:
        register(sm, group, Tags=[{"Key": "k", "Value": "v"}])
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    arn = register(sm, group)
    with pytest.raises(ClientError) as exc:
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "k", "Value": "v"}])
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert "versioned" in exc.value.response["Error"]["Message"]


def test_bad_input_is_a_4xx_and_changes_nothing(sm, group: str) -> None:
    arn = register(sm, group)
    for kwargs in ({"ModelApprovalStatus": "Bogus"}, {"ApprovalDescription": "x" * 1025}):
        with pytest.raises(ClientError) as exc:
            sm.update_model_package(ModelPackageArn=arn, **kwargs)
        assert exc.value.response["Error"]["Code"] == "ValidationException"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as exc:
        sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Bogus")
    assert exc.value.response["Error"]["Message"] == (
        "1 validation error detected: Value 'Bogus' at 'modelApprovalStatus' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Approved, Rejected, PendingManualApproval]"
    )
    assert sm.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "PendingManualApproval"
