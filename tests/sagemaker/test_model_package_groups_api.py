"""Model package groups through boto3 against a live server."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"


def error_of(exc_info: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc_info.value.response["Error"]
    return err["Code"], err["Message"]


def test_create_describe_and_tags(sm, unique: str) -> None:
    arn = sm.create_model_package_group(
        ModelPackageGroupName=unique,
        ModelPackageGroupDescription="Models for real-time fraud detection",
        Tags=[{"Key": "Team", "Value": "risk-engineering"}],
    )["ModelPackageGroupArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package-group/{unique}"
    desc = sm.describe_model_package_group(ModelPackageGroupName=unique)
    assert desc["ModelPackageGroupName"] == unique
    assert desc["ModelPackageGroupArn"] == arn
    assert desc["ModelPackageGroupDescription"] == "Models for real-time fraud detection"
    assert desc["ModelPackageGroupStatus"] == "Completed"
    assert desc["CreatedBy"]["UserProfileName"] == "AKIDTESTUSER"
    assert isinstance(desc["CreationTime"], dt.datetime)
    assert abs((dt.datetime.now(dt.UTC) - desc["CreationTime"]).total_seconds()) < 60
    assert sm.describe_model_package_group(ModelPackageGroupName=arn)["ModelPackageGroupName"] == unique
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "Team", "Value": "risk-engineering"}]


def test_duplicate_name_is_an_error_not_an_overwrite(sm, unique: str) -> None:
    sm.create_model_package_group(ModelPackageGroupName=unique, ModelPackageGroupDescription="first")
    with pytest.raises(ClientError) as exc:
        sm.create_model_package_group(
            ModelPackageGroupName=unique.upper(), ModelPackageGroupDescription="second"
        )
    code, message = error_of(exc)
    assert code == "ValidationException"
    assert (
        message == f"Model Package Group already exists: arn:aws:sagemaker:us-east-1:{ACCOUNT}:"
        f"model-package-group/{unique}"
    )
    assert (
        sm.describe_model_package_group(ModelPackageGroupName=unique)["ModelPackageGroupDescription"]
        == "first"
    )


def test_missing_group_message(sm) -> None:
    with pytest.raises(ClientError) as exc:
        sm.describe_model_package_group(ModelPackageGroupName="hello")
    assert error_of(exc) == (
        "ValidationException",
        f"ModelPackageGroup arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package-group/hello does not exist.",
    )


def test_list_filters_sorting_and_pagination(sm, unique: str) -> None:
    names = [f"{unique}-{suffix}" for suffix in ("c", "a", "b", "e", "d")]
    for name in names:
        sm.create_model_package_group(ModelPackageGroupName=name)
    listed = sm.list_model_package_groups(NameContains=unique, SortBy="Name", SortOrder="Ascending")
    assert [g["ModelPackageGroupName"] for g in listed["ModelPackageGroupSummaryList"]] == sorted(names)
    by_time = sm.list_model_package_groups(NameContains=unique, SortBy="CreationTime", SortOrder="Descending")
    assert [g["ModelPackageGroupName"] for g in by_time["ModelPackageGroupSummaryList"]] == names[::-1]
    pages = sm.get_paginator("list_model_package_groups").paginate(
        NameContains=unique, SortBy="Name", PaginationConfig={"PageSize": 2}
    )
    page_names = [[g["ModelPackageGroupName"] for g in p["ModelPackageGroupSummaryList"]] for p in pages]
    assert page_names == [sorted(names)[0:2], sorted(names)[2:4], sorted(names)[4:]]
    first = sm.list_model_package_groups(NameContains=unique, MaxResults=1)
    created = first["ModelPackageGroupSummaryList"][0]["CreationTime"]
    after = sm.list_model_package_groups(NameContains=unique, CreationTimeAfter=created)
    assert len(after["ModelPackageGroupSummaryList"]) == 4
    with pytest.raises(ClientError) as exc:
        sm.list_model_package_groups(NameContains=unique + "x", NextToken=first["NextToken"])
    assert error_of(exc)[0] == "ValidationException"


def test_delete_refuses_while_versions_remain(sm, unique: str) -> None:
    sm.create_model_package_group(ModelPackageGroupName=unique)
    arn = sm.create_model_package(
        ModelPackageGroupName=unique,
        InferenceSpecification={
            "Containers": [{"Image": "img:1"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    with pytest.raises(ClientError) as exc:
        sm.delete_model_package_group(ModelPackageGroupName=unique)
    assert error_of(exc)[0] == "ConflictException"
    sm.delete_model_package(ModelPackageName=arn)
    sm.delete_model_package_group(ModelPackageGroupName=unique)
    with pytest.raises(ClientError):
        sm.describe_model_package_group(ModelPackageGroupName=unique)


def test_resource_policy_round_trip(sm, unique: str) -> None:
    arn = sm.create_model_package_group(ModelPackageGroupName=unique)["ModelPackageGroupArn"]
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "share",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
                    "Action": ["sagemaker:DescribeModelPackage"],
                    "Resource": arn + "/*",
                }
            ],
        }
    )
    assert (
        sm.put_model_package_group_policy(ModelPackageGroupName=unique, ResourcePolicy=policy)[
            "ModelPackageGroupArn"
        ]
        == arn
    )
    assert sm.get_model_package_group_policy(ModelPackageGroupName=unique)["ResourcePolicy"] == policy
    with pytest.raises(ClientError) as exc:
        sm.put_model_package_group_policy(ModelPackageGroupName=unique, ResourcePolicy="{not json")
    assert error_of(exc)[0] == "ValidationException"
    assert sm.get_model_package_group_policy(ModelPackageGroupName=unique)["ResourcePolicy"] == policy
    with pytest.raises(ClientError) as exc:  # the model's pattern is Java's ".*": no line breaks, as in AWS
        sm.put_model_package_group_policy(
            ModelPackageGroupName=unique, ResourcePolicy=json.dumps({"a": 1}, indent=1)
        )
    assert "regular expression pattern" in error_of(exc)[1]
    sm.delete_model_package_group_policy(ModelPackageGroupName=unique)
    with pytest.raises(ClientError) as exc:
        sm.get_model_package_group_policy(ModelPackageGroupName=unique)
    assert error_of(exc)[0] == "ValidationException"


def test_groups_are_regional(server, unique: str) -> None:
    from tests.conftest import client

    east, west = client(server.url, region="us-east-1"), client(server.url, region="us-west-2")
    arn = west.create_model_package_group(ModelPackageGroupName=unique)["ModelPackageGroupArn"]
    assert arn.startswith("arn:aws:sagemaker:us-west-2:")
    with pytest.raises(ClientError):
        east.describe_model_package_group(ModelPackageGroupName=unique)
    assert east.describe_model_package_group(ModelPackageGroupName=arn)["ModelPackageGroupArn"] == arn
