"""AddTags / ListTags / DeleteTags through boto3."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError


def test_add_overwrite_page_and_delete(sm, unique: str) -> None:
    arn = sm.create_model_package_group(ModelPackageGroupName=unique)["ModelPackageGroupArn"]
    tags = [{"Key": f"k{i:02d}", "Value": f"v{i}"} for i in range(50)]
    assert sm.add_tags(ResourceArn=arn, Tags=tags)["Tags"] == tags
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "k00", "Value": "changed"}])
    first = sm.list_tags(ResourceArn=arn, MaxResults=50)
    assert len(first["Tags"]) == 50 and "NextToken" not in first
    assert first["Tags"][0] == {"Key": "k00", "Value": "changed"}
    pages = list(sm.get_paginator("list_tags").paginate(ResourceArn=arn, PaginationConfig={"PageSize": 50}))
    assert sum(len(p["Tags"]) for p in pages) == 50
    with pytest.raises(ClientError) as exc:
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "one-too-many", "Value": "x"}])
    assert exc.value.response["Error"]["Code"] == "ResourceLimitExceeded"
    sm.delete_tags(ResourceArn=arn, TagKeys=[f"k{i:02d}" for i in range(1, 50)])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "k00", "Value": "changed"}]


def test_tags_of_missing_or_foreign_resources(sm) -> None:
    missing = "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/not-there"
    with pytest.raises(ClientError) as exc:
        sm.list_tags(ResourceArn=missing)
    assert exc.value.response["Error"]["Code"] == "ResourceNotFound"
    with pytest.raises(ClientError) as exc:
        sm.add_tags(ResourceArn="arn:aws:s3:::bucket", Tags=[{"Key": "k", "Value": "v"}])
    assert exc.value.response["Error"]["Code"] == "ValidationException"


def test_deleting_a_group_drops_its_tags(sm, unique: str) -> None:
    arn = sm.create_model_package_group(ModelPackageGroupName=unique, Tags=[{"Key": "a", "Value": "1"}])[
        "ModelPackageGroupArn"
    ]
    sm.delete_model_package_group(ModelPackageGroupName=unique)
    sm.create_model_package_group(ModelPackageGroupName=unique)
    assert sm.list_tags(ResourceArn=arn)["Tags"] == []
