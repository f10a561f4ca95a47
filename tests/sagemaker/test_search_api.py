"""Search over ModelPackage and ModelPackageGroup through boto3."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.sagemaker.test_model_packages_api import INFERENCE


@pytest.fixture
def populated(sm, unique: str) -> dict[str, object]:
    sm.create_model_package_group(ModelPackageGroupName=unique, Tags=[{"Key": "Team", "Value": "risk"}])
    arns = []
    for i, (status, auc) in enumerate(
        [("Approved", "0.91"), ("Rejected", "0.80"), ("Approved", "0.95"), ("PendingManualApproval", "0.88")]
    ):
        spec = {
            **INFERENCE,
            "Containers": [{"Image": f"img:{i}", "ModelDataUrl": f"s3://b/{i}/model.tar.gz"}],
        }
        arns.append(
            sm.create_model_package(
                ModelPackageGroupName=unique,
                InferenceSpecification=spec,
                ModelApprovalStatus=status,
                CustomerMetadataProperties={"auc": auc},
            )["ModelPackageArn"]
        )
    return {"group": unique, "arns": arns}


def search_arns(sm, **kw: object) -> list[str]:
    return [r["ModelPackage"]["ModelPackageArn"] for r in sm.search(Resource="ModelPackage", **kw)["Results"]]


def test_filters_sorting_and_results(sm, populated) -> None:
    group, arns = populated["group"], populated["arns"]
    in_group = {"Name": "ModelPackageGroupName", "Operator": "Equals", "Value": group}
    approved = search_arns(
        sm,
        SearchExpression={
            "Filters": [in_group, {"Name": "ModelApprovalStatus", "Operator": "Equals", "Value": "Approved"}]
        },
        SortBy="CreationTime",
        SortOrder="Ascending",
    )
    assert approved == [arns[0], arns[2]]
    high = search_arns(
        sm,
        SearchExpression={
            "Filters": [
                in_group,
                {
                    "Name": "CustomerMetadataProperties.auc",
                    "Operator": "GreaterThanOrEqualTo",
                    "Value": "0.9",
                },
            ]
        },
        SortBy="CustomerMetadataProperties.auc",
        SortOrder="Descending",
    )
    assert high == [arns[2], arns[0]]
    either = search_arns(
        sm,
        SearchExpression={
            "Filters": [in_group],
            "SubExpressions": [
                {
                    "Operator": "Or",
                    "Filters": [
                        {"Name": "ModelApprovalStatus", "Operator": "Equals", "Value": "Rejected"},
                        {"Name": "CustomerMetadataProperties.auc", "Operator": "LessThan", "Value": "0.9"},
                    ],
                }
            ],
        },
        SortBy="CreationTime",
        SortOrder="Ascending",
    )
    assert either == [arns[1], arns[3]]
    nested = search_arns(
        sm,
        SearchExpression={
            "Filters": [in_group],
            "NestedFilters": [
                {
                    "NestedPropertyName": "InferenceSpecification.Containers",
                    "Filters": [
                        {
                            "Name": "InferenceSpecification.Containers.Image",
                            "Operator": "Equals",
                            "Value": "img:3",
                        }
                    ],
                }
            ],
        },
    )
    assert nested == [arns[3]]
    record = sm.search(
        Resource="ModelPackage",
        SearchExpression={
            "Filters": [in_group, {"Name": "ModelPackageVersion", "Operator": "Equals", "Value": "1"}]
        },
    )["Results"][0]
    assert record["ModelPackage"]["Tags"] == [{"Key": "Team", "Value": "risk"}]
    assert record["ModelPackage"]["CustomerMetadataProperties"] == {"auc": "0.91"}


def test_pagination(sm, populated) -> None:
    expr = {"Filters": [{"Name": "ModelPackageGroupName", "Operator": "Equals", "Value": populated["group"]}]}
    pages = sm.get_paginator("search").paginate(
        Resource="ModelPackage",
        SearchExpression=expr,
        SortBy="CreationTime",
        SortOrder="Ascending",
        PaginationConfig={"PageSize": 3},
    )
    got = [r["ModelPackage"]["ModelPackageArn"] for p in pages for r in p["Results"]]
    assert got == populated["arns"]


def test_ties_keep_arn_order_in_both_directions_across_pages(sm, populated) -> None:
    arns = populated["arns"]  # statuses: Approved, Rejected, Approved, PendingManualApproval
    expr = {"Filters": [{"Name": "ModelPackageGroupName", "Operator": "Equals", "Value": populated["group"]}]}
    for order, expected in (
        ("Descending", [arns[1], arns[3], arns[0], arns[2]]),
        ("Ascending", [arns[0], arns[2], arns[3], arns[1]]),
    ):
        pages = list(
            sm.get_paginator("search").paginate(
                Resource="ModelPackage",
                SearchExpression=expr,
                SortBy="ModelApprovalStatus",
                SortOrder=order,
                PaginationConfig={"PageSize": 1},
            )
        )
        assert [r["ModelPackage"]["ModelPackageArn"] for p in pages for r in p["Results"]] == expected
        assert {p["TotalHits"]["Value"] for p in pages} == {4}


def test_groups_by_tag(sm, populated) -> None:
    found = sm.search(
        Resource="ModelPackageGroup",
        SearchExpression={
            "Filters": [
                {"Name": "Tags.Team", "Operator": "Equals", "Value": "risk"},
                {"Name": "ModelPackageGroupName", "Operator": "Equals", "Value": populated["group"]},
            ]
        },
    )["Results"]
    assert [r["ModelPackageGroup"]["ModelPackageGroupName"] for r in found] == [populated["group"]]
    assert found[0]["ModelPackageGroup"]["Tags"] == [{"Key": "Team", "Value": "risk"}]


def test_bad_expressions_are_validation_errors(sm) -> None:
    with pytest.raises(ClientError) as exc:
        sm.search(
            Resource="ModelPackage",
            SearchExpression={
                "Filters": [{"Name": "ModelApprovalStatus", "Operator": "Exists", "Value": "x"}]
            },
        )
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as exc:
        sm.search(Resource="TrainingJob")
    assert exc.value.response["Error"]["Code"] == "ValidationException"
