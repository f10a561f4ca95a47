"""The pure Search evaluation core: filters, nested filters, sub-expressions, validation, sorting."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any

import pytest

from modelreg.errors import SerializationException, ServiceError, ValidationException
from modelreg.sagemaker.search_expression import compile_expression, lookup, sort_key

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package"
XGB = f"{ECR}/sagemaker-xgboost:1.7-1"
SKL = f"{ECR}/sagemaker-scikit-learn:1.2-1-cpu-py3"
TORCH = f"{ECR}/pytorch-inference:2.1-cpu-py310"

# 2024-01-01T00:00:00Z, 2024-02-01T00:00:00.5Z, 2024-03-01T00:00:00Z
T1, T2, T3 = 1704067200.0, 1706745600.5, 1709251200.0

CHURN_1: dict[str, Any] = {
    "ModelPackageName": "churn-model",
    "ModelPackageGroupName": "churn-model",
    "ModelPackageVersion": 1,
    "ModelPackageArn": f"{ARN}/churn-model/1",
    "ModelPackageDescription": "Churn baseline, XGBoost with a scikit-learn preprocessor",
    "CreationTime": T1,
    "LastModifiedTime": T1 + 3600,
    "InferenceSpecification": {
        "Containers": [
            {"Image": XGB, "ModelDataUrl": "s3://models/churn/v1/model.tar.gz", "Framework": "XGBOOST"},
            {"Image": SKL, "ModelDataUrl": "s3://models/churn/v1/preproc.tar.gz"},
        ],
        "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"],
    },
    "ModelPackageStatus": "Completed",
    "CertifyForMarketplace": False,
    "ModelApprovalStatus": "Approved",
    "ModelMetrics": {
        "ModelQuality": {
            "Statistics": {
                "ContentType": "application/json",
                "S3Uri": "s3://models/churn/v1/eval/metrics.json",
            }
        }
    },
    "CustomerMetadataProperties": {"git_sha": "abc123", "auc": "0.91", "epochs": "9", "team.owner": "alice"},
    "Tags": [{"Key": "Team", "Value": "risk"}, {"Key": "env", "Value": "prod"}],
    "__metrics__": {"auc": 0.91, "f1": 0.8},
}

CHURN_2: dict[str, Any] = {
    "ModelPackageName": "churn-model",
    "ModelPackageGroupName": "churn-model",
    "ModelPackageVersion": 2,
    "ModelPackageArn": f"{ARN}/churn-model/2",
    "ModelPackageDescription": "Churn with tuned depth",
    "CreationTime": T2,
    "LastModifiedTime": T2,
    "InferenceSpecification": {
        # the same two images as version 1, but the model artifact now sits with scikit-learn
        "Containers": [
            {"Image": SKL, "ModelDataUrl": "s3://models/churn/v2/model.tar.gz"},
            {"Image": XGB, "ModelDataUrl": "s3://models/churn/v2/preproc.tar.gz"},
        ],
        "SupportedContentTypes": ["application/json"],
        "SupportedResponseMIMETypes": ["application/json"],
    },
    "ModelPackageStatus": "Completed",
    "ModelApprovalStatus": "PendingManualApproval",
    "CustomerMetadataProperties": {"git_sha": "def456", "auc": "0.935", "epochs": "10"},
    "Tags": [{"Key": "Team", "Value": "growth"}, {"Key": "cost.center", "Value": "cc-42"}],
    "__metrics__": {"auc": 0.935},
}

FRAUD_10: dict[str, Any] = {
    "ModelPackageName": "fraud-model",
    "ModelPackageGroupName": "fraud-model",
    "ModelPackageVersion": 10,
    "ModelPackageArn": f"{ARN}/fraud-model/10",
    "CreationTime": T3,
    "LastModifiedTime": T3 + 60,
    "InferenceSpecification": {
        "Containers": [{"Image": TORCH, "ModelDataUrl": "s3://models/fraud/v10/model.tar.gz"}],
        "SupportedContentTypes": ["application/json"],
        "SupportedResponseMIMETypes": ["application/json"],
    },
    "ModelPackageStatus": "Completed",
    "ModelApprovalStatus": "Rejected",
    "ApprovalDescription": "AUC too low on the holdout set",
    "Tags": [{"Key": "Team", "Value": "fraud"}],
}

PACKAGES = [CHURN_1, CHURN_2, FRAUD_10]
ALL = {"churn/1", "churn/2", "fraud/10"}


def ident(record: Mapping[str, Any]) -> str:
    return f"{record['ModelPackageGroupName'].removesuffix('-model')}/{record['ModelPackageVersion']}"


def matching(expression: dict | None, records: list[dict[str, Any]] = PACKAGES) -> set[str]:
    predicate = compile_expression(expression, "ModelPackage")
    return {ident(r) for r in records if predicate(r)}


def f(name: str, operator: str | None = None, value: str | None = None) -> dict[str, str]:
    out = {"Name": name}
    if operator is not None:
        out["Operator"] = operator
    if value is not None:
        out["Value"] = value
    return out


def filters(*items: dict[str, str], operator: str | None = None) -> dict[str, Any]:
    expression: dict[str, Any] = {"Filters": list(items)}
    if operator is not None:
        expression["Operator"] = operator
    return expression


CONTAINERS = "InferenceSpecification.Containers"

FILTER_CASES: list[tuple[str, dict[str, Any] | None, set[str]]] = [
    ("none matches all", None, ALL),
    # Equals / NotEquals
    ("Equals", filters(f("ModelApprovalStatus", "Equals", "Approved")), {"churn/1"}),
    ("Equals is case-sensitive", filters(f("ModelApprovalStatus", "Equals", "approved")), set()),
    ("Value without Operator is Equals", filters(f("ModelApprovalStatus", value="Rejected")), {"fraud/10"}),
    ("NotEquals", filters(f("ModelApprovalStatus", "NotEquals", "Approved")), {"churn/2", "fraud/10"}),
    (
        "NotEquals matches a missing property",
        filters(f("CustomerMetadataProperties.git_sha", "NotEquals", "abc123")),
        {"churn/2", "fraud/10"},
    ),
    (
        "NotEquals on a list: no element may equal",
        filters(f(f"{CONTAINERS}.Image", "NotEquals", XGB)),
        {"fraud/10"},
    ),
    (
        "Equals on an integer compares numbers",
        filters(f("ModelPackageVersion", "Equals", "2.0")),
        {"churn/2"},
    ),
    ("Equals on an integer, near miss", filters(f("ModelPackageVersion", "Equals", "3")), set()),
    # ordering on numbers: 10 > 9 numerically (lexicographically "10" < "9")
    ("GreaterThan number", filters(f("ModelPackageVersion", "GreaterThan", "9")), {"fraud/10"}),
    ("GreaterThan number, near miss", filters(f("ModelPackageVersion", "GreaterThan", "10")), set()),
    (
        "GreaterThanOrEqualTo number",
        filters(f("ModelPackageVersion", "GreaterThanOrEqualTo", "10")),
        {"fraud/10"},
    ),
    ("LessThan number", filters(f("ModelPackageVersion", "LessThan", "2")), {"churn/1"}),
    (
        "LessThanOrEqualTo number",
        filters(f("ModelPackageVersion", "LessThanOrEqualTo", "2")),
        {"churn/1", "churn/2"},
    ),
    # timestamps, as epoch seconds and ISO 8601
    (
        "GreaterThan epoch is strict",
        filters(f("CreationTime", "GreaterThan", "1704067200")),
        {"churn/2", "fraud/10"},
    ),
    ("GreaterThanOrEqualTo epoch", filters(f("CreationTime", "GreaterThanOrEqualTo", "1704067200")), ALL),
    ("LessThan fractional epoch", filters(f("CreationTime", "LessThan", "1706745600.5")), {"churn/1"}),
    (
        "GreaterThan ISO Z",
        filters(f("CreationTime", "GreaterThan", "2024-01-31T23:59:59Z")),
        {"churn/2", "fraud/10"},
    ),
    (
        "GreaterThan naive ISO is UTC (0.5 s after)",
        filters(f("CreationTime", "GreaterThan", "2024-02-01T00:00:00")),
        {"churn/2", "fraud/10"},
    ),
    (
        "LessThan ISO with fraction, near miss on equality",
        filters(f("CreationTime", "LessThan", "2024-02-01T00:00:00.5Z")),
        {"churn/1"},
    ),
    (
        "LessThanOrEqualTo ISO with offset",
        filters(f("CreationTime", "LessThanOrEqualTo", "2024-02-01T01:00:00.500+01:00")),
        {"churn/1", "churn/2"},
    ),
    ("Equals ISO", filters(f("CreationTime", "Equals", "2024-03-01T00:00:00Z")), {"fraud/10"}),
    ("ISO date only", filters(f("CreationTime", "LessThan", "2024-02-15")), {"churn/1", "churn/2"}),
    (
        "LastModifiedTime between, And",
        filters(
            f("LastModifiedTime", "GreaterThan", "2024-01-01T00:30:00Z"),
            f("LastModifiedTime", "LessThan", "2024-02-15T00:00:00Z"),
        ),
        {"churn/1", "churn/2"},
    ),
    # strings: numeric when both sides are numbers, lexicographic otherwise
    (
        "string property, numeric values compare as numbers",
        filters(f("CustomerMetadataProperties.epochs", "GreaterThan", "8.5")),
        {"churn/1", "churn/2"},
    ),
    (
        "string property, numeric near miss",
        filters(f("CustomerMetadataProperties.epochs", "GreaterThan", "10")),
        set(),
    ),
    (
        "string property, lexicographic",
        filters(f("CustomerMetadataProperties.git_sha", "GreaterThan", "abd")),
        {"churn/2"},
    ),
    (
        "string property, lexicographic near miss",
        filters(f("CustomerMetadataProperties.git_sha", "GreaterThan", "def456")),
        set(),
    ),
    ("string Equals stays textual", filters(f("CustomerMetadataProperties.auc", "Equals", "0.910")), set()),
    (
        "string LessThanOrEqualTo numeric",
        filters(f("CustomerMetadataProperties.auc", "LessThanOrEqualTo", "0.910")),
        {"churn/1"},
    ),
    (
        "ModelPackageGroupName LessThan lexicographic",
        filters(f("ModelPackageGroupName", "LessThan", "d")),
        {"churn/1", "churn/2"},
    ),
    # Contains
    ("Contains substring", filters(f("ModelPackageDescription", "Contains", "baseline")), {"churn/1"}),
    ("Contains is case-sensitive", filters(f("ModelPackageDescription", "Contains", "Baseline")), set()),
    ("Contains on a list property", filters(f(f"{CONTAINERS}.Image", "Contains", "pytorch")), {"fraud/10"}),
    (
        "Contains, any list element",
        filters(f(f"{CONTAINERS}.Image", "Contains", "scikit-learn")),
        {"churn/1", "churn/2"},
    ),
    ("Contains ignores non-text values", filters(f("ModelPackageVersion", "Contains", "1")), set()),
    # In
    ("In", filters(f("ModelApprovalStatus", "In", "Approved,Rejected")), {"churn/1", "fraud/10"}),
    (
        "In trims blanks",
        filters(f("ModelApprovalStatus", "In", "Approved, Rejected")),
        {"churn/1", "fraud/10"},
    ),
    ("In, near miss", filters(f("ModelApprovalStatus", "In", "Approve,Reject")), set()),
    ("In on a number", filters(f("ModelPackageVersion", "In", "2,10")), {"churn/2", "fraud/10"}),
    ("In on a tag", filters(f("Tags.Team", "In", "risk,fraud")), {"churn/1", "fraud/10"}),
    # Exists / NotExists
    ("Exists on a map", filters(f("CustomerMetadataProperties", "Exists")), {"churn/1", "churn/2"}),
    (
        "Exists on a map key",
        filters(f("CustomerMetadataProperties.git_sha", "Exists")),
        {"churn/1", "churn/2"},
    ),
    ("Exists on a missing key", filters(f("CustomerMetadataProperties.nope", "Exists")), set()),
    ("Exists top level", filters(f("ApprovalDescription", "Exists")), {"fraud/10"}),
    ("NotExists top level", filters(f("ApprovalDescription", "NotExists")), {"churn/1", "churn/2"}),
    ("NotExists on a present property", filters(f("ModelApprovalStatus", "NotExists")), set()),
    ("Name alone means Exists", filters(f("ApprovalDescription")), {"fraud/10"}),
    ("Exists inside a list element", filters(f(f"{CONTAINERS}.Framework", "Exists")), {"churn/1"}),
    ("Exists on a tag", filters(f("Tags.env", "Exists")), {"churn/1"}),
    ("NotExists on a tag", filters(f("Tags.env", "NotExists")), {"churn/2", "fraud/10"}),
    ("Exists on a boolean False", filters(f("CertifyForMarketplace", "Exists")), {"churn/1"}),
    # list properties
    (
        "list of strings, any element",
        filters(f("InferenceSpecification.SupportedContentTypes", "Equals", "text/csv")),
        {"churn/1"},
    ),
    ("list of structures, any element", filters(f(f"{CONTAINERS}.Image", "Equals", TORCH)), {"fraud/10"}),
    # Tags.<key>, CustomerMetadataProperties.<key>
    ("Tags.<key>", filters(f("Tags.Team", "Equals", "risk")), {"churn/1"}),
    ("Tags value is case-sensitive", filters(f("Tags.Team", "Equals", "Risk")), set()),
    ("Tags key is case-sensitive", filters(f("Tags.team", "Equals", "risk")), set()),
    ("Tags key with a dot", filters(f("Tags.cost.center", "Equals", "cc-42")), {"churn/2"}),
    (
        "CustomerMetadataProperties key with a dot",
        filters(f("CustomerMetadataProperties.team.owner", "Equals", "alice")),
        {"churn/1"},
    ),
    (
        "CustomerMetadataProperties.<key> Contains",
        filters(f("CustomerMetadataProperties.git_sha", "Contains", "456")),
        {"churn/2"},
    ),
    # ModelMetrics.<name> (modelreg extension)
    (
        "ModelMetrics GreaterThanOrEqualTo",
        filters(f("ModelMetrics.auc", "GreaterThanOrEqualTo", "0.9")),
        {"churn/1", "churn/2"},
    ),
    ("ModelMetrics GreaterThan, near miss", filters(f("ModelMetrics.auc", "GreaterThan", "0.935")), set()),
    ("ModelMetrics Equals", filters(f("ModelMetrics.auc", "Equals", "0.91")), {"churn/1"}),
    ("ModelMetrics LessThan", filters(f("ModelMetrics.auc", "LessThan", "0.92")), {"churn/1"}),
    ("ModelMetrics Exists", filters(f("ModelMetrics.f1", "Exists")), {"churn/1"}),
    ("ModelMetrics NotExists", filters(f("ModelMetrics.auc", "NotExists")), {"fraud/10"}),
    (
        "ModelMetrics structure still reads the record",
        filters(f("ModelMetrics.ModelQuality.Statistics.S3Uri", "Contains", "churn/v1")),
        {"churn/1"},
    ),
    ("internal keys are not addressable", filters(f("__metrics__.auc", "Exists")), set()),
    # booleans
    ("boolean Equals false", filters(f("CertifyForMarketplace", "Equals", "false")), {"churn/1"}),
    ("boolean is case-insensitive", filters(f("CertifyForMarketplace", "Equals", "False")), {"churn/1"}),
    ("boolean near miss", filters(f("CertifyForMarketplace", "Equals", "true")), set()),
    # several filters: And by default, Or on request
    (
        "filters And by default",
        filters(
            f("ModelPackageGroupName", "Equals", "churn-model"),
            f("ModelApprovalStatus", "NotEquals", "Approved"),
        ),
        {"churn/2"},
    ),
    (
        "explicit And",
        filters(
            f("ModelPackageGroupName", "Equals", "churn-model"),
            f("Tags.Team", "Equals", "fraud"),
            operator="And",
        ),
        set(),
    ),
    (
        "Or",
        filters(
            f("ModelPackageGroupName", "Equals", "churn-model"),
            f("Tags.Team", "Equals", "fraud"),
            operator="Or",
        ),
        ALL,
    ),
]


@pytest.mark.parametrize(
    ("expression", "expected"), [c[1:] for c in FILTER_CASES], ids=[c[0] for c in FILTER_CASES]
)
def test_filters(expression: dict[str, Any] | None, expected: set[str]) -> None:
    assert matching(expression) == expected


def nested(prefix: str, *items: dict[str, str]) -> dict[str, Any]:
    return {"NestedPropertyName": prefix, "Filters": list(items)}


XGB_WITH_MODEL = [
    f(f"{CONTAINERS}.Image", "Contains", "xgboost"),
    f(f"{CONTAINERS}.ModelDataUrl", "Contains", "/model.tar.gz"),
]

STRUCTURE_CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    # the same two conditions: as flat filters any containers may satisfy them, nested one must
    ("flat filters may match different elements", {"Filters": XGB_WITH_MODEL}, {"churn/1", "churn/2"}),
    (
        "nested filters must match the same element",
        {"NestedFilters": [nested(CONTAINERS, *XGB_WITH_MODEL)]},
        {"churn/1"},
    ),
    (
        "nested, one filter",
        {"NestedFilters": [nested(CONTAINERS, f(f"{CONTAINERS}.Image", "Equals", TORCH))]},
        {"fraud/10"},
    ),
    (
        "nested, NotExists within the element",
        {
            "NestedFilters": [
                nested(
                    CONTAINERS,
                    f(f"{CONTAINERS}.Image", "Equals", SKL),
                    f(f"{CONTAINERS}.Framework", "NotExists"),
                )
            ]
        },
        {"churn/1", "churn/2"},
    ),
    (
        "nested, Exists within the element, near miss",
        {
            "NestedFilters": [
                nested(
                    CONTAINERS,
                    f(f"{CONTAINERS}.Image", "Equals", SKL),
                    f(f"{CONTAINERS}.Framework", "Exists"),
                )
            ]
        },
        set(),
    ),
    (
        "nested on Tags pairs Key with Value",
        {
            "NestedFilters": [
                nested("Tags", f("Tags.Key", "Equals", "Team"), f("Tags.Value", "Equals", "growth"))
            ]
        },
        {"churn/2"},
    ),
    (
        "nested on Tags, Key and Value of different tags",
        {
            "NestedFilters": [
                nested("Tags", f("Tags.Key", "Equals", "env"), f("Tags.Value", "Equals", "risk"))
            ]
        },
        set(),
    ),
    (
        "nested on a list of strings, the element itself",
        {
            "NestedFilters": [
                nested(
                    "InferenceSpecification.SupportedContentTypes",
                    f("InferenceSpecification.SupportedContentTypes", "Equals", "application/json"),
                )
            ]
        },
        {"churn/2", "fraud/10"},
    ),
    (
        "nested combined with a filter",
        {
            "Filters": [f("ModelApprovalStatus", "Equals", "PendingManualApproval")],
            "NestedFilters": [nested(CONTAINERS, *XGB_WITH_MODEL)],
        },
        set(),
    ),
    (
        "nested Or a filter",
        {
            "Operator": "Or",
            "Filters": [f("ModelApprovalStatus", "Equals", "Rejected")],
            "NestedFilters": [nested(CONTAINERS, *XGB_WITH_MODEL)],
        },
        {"churn/1", "fraud/10"},
    ),
    # SubExpressions
    (
        "SubExpressions Or",
        {
            "Operator": "Or",
            "SubExpressions": [
                filters(f("ModelApprovalStatus", "Equals", "Approved")),
                filters(f("Tags.Team", "Equals", "fraud")),
            ],
        },
        {"churn/1", "fraud/10"},
    ),
    (
        "SubExpressions And (default)",
        {
            "SubExpressions": [
                filters(f("ModelPackageGroupName", "Equals", "churn-model")),
                filters(f("ModelMetrics.auc", "GreaterThan", "0.92")),
            ]
        },
        {"churn/2"},
    ),
    (
        "filters And a sub-expression of Or",
        {
            "Filters": [f("ModelPackageGroupName", "Equals", "churn-model")],
            "SubExpressions": [
                filters(
                    f("ModelApprovalStatus", "Equals", "Approved"),
                    f("ModelMetrics.auc", "GreaterThan", "0.93"),
                    operator="Or",
                )
            ],
        },
        {"churn/1", "churn/2"},
    ),
    (
        "three levels deep",
        {
            "Operator": "Or",
            "SubExpressions": [
                {
                    "SubExpressions": [
                        filters(f("Tags.Team", "Equals", "fraud")),
                        {
                            "Operator": "Or",
                            "Filters": [
                                f("ModelPackageVersion", "GreaterThan", "5"),
                                f("ModelApprovalStatus", "Equals", "Approved"),
                            ],
                        },
                    ]
                },
                {
                    "Filters": [f("ModelPackageGroupName", "Equals", "churn-model")],
                    "NestedFilters": [
                        nested(
                            CONTAINERS,
                            f(f"{CONTAINERS}.Image", "Equals", SKL),
                            f(f"{CONTAINERS}.ModelDataUrl", "Contains", "v2/model"),
                        )
                    ],
                },
            ],
        },
        {"churn/2", "fraud/10"},
    ),
    (
        "three levels deep, near miss",
        {
            "Operator": "Or",
            "SubExpressions": [
                {
                    "SubExpressions": [
                        filters(f("Tags.Team", "Equals", "fraud")),
                        {
                            "Operator": "Or",
                            "Filters": [
                                f("ModelPackageVersion", "GreaterThan", "10"),
                                f("ModelApprovalStatus", "Equals", "Approved"),
                            ],
                        },
                    ]
                },
                {
                    "NestedFilters": [
                        nested(
                            CONTAINERS,
                            f(f"{CONTAINERS}.Image", "Equals", SKL),
                            f(f"{CONTAINERS}.ModelDataUrl", "Contains", "v1/model"),
                        )
                    ]
                },
            ],
        },
        set(),
    ),
]


@pytest.mark.parametrize(
    ("expression", "expected"), [c[1:] for c in STRUCTURE_CASES], ids=[c[0] for c in STRUCTURE_CASES]
)
def test_nested_filters_and_sub_expressions(expression: dict[str, Any], expected: set[str]) -> None:
    assert matching(expression) == expected


GROUPS = [
    {
        "ModelPackageGroupName": "churn-model",
        "ModelPackageGroupArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/churn-model",
        "ModelPackageGroupDescription": "Customer churn",
        "CreationTime": T1,
        "ModelPackageGroupStatus": "Completed",
        "Tags": [{"Key": "Team", "Value": "risk"}],
    },
    {
        "ModelPackageGroupName": "fraud-model",
        "ModelPackageGroupArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/fraud-model",
        "CreationTime": T3,
        "ModelPackageGroupStatus": "Completed",
        "Tags": [],
    },
]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (filters(f("ModelPackageGroupName", "Contains", "churn")), {"churn-model"}),
        (filters(f("CreationTime", "GreaterThan", "2024-02-01T00:00:00Z")), {"fraud-model"}),
        (filters(f("Tags.Team", "Exists")), {"churn-model"}),
        (filters(f("ModelPackageGroupDescription", "NotExists")), {"fraud-model"}),
    ],
)
def test_model_package_groups(expression: dict[str, Any], expected: set[str]) -> None:
    predicate = compile_expression(expression, "ModelPackageGroup")
    assert {g["ModelPackageGroupName"] for g in GROUPS if predicate(g)} == expected


def test_group_timestamps_are_typed() -> None:
    with pytest.raises(ValidationException, match="is not a valid timestamp"):
        compile_expression(filters(f("CreationTime", "LessThan", "last week")), "ModelPackageGroup")


def test_naive_iso_timestamps_are_utc_whatever_the_server_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        expression = filters(f("CreationTime", "Equals", "2024-03-01T00:00:00"))
        assert matching(expression) == {"fraud/10"}
    finally:
        monkeypatch.undo()
        time.tzset()


def test_predicate_is_reusable_and_does_not_mutate_records() -> None:
    before = copy.deepcopy(PACKAGES)
    predicate = compile_expression(filters(f("Tags.Team", "In", "risk,growth")), "ModelPackage")
    assert [predicate(r) for r in PACKAGES] == [True, True, False]
    assert [predicate(r) for r in PACKAGES] == [True, True, False]
    assert before == PACKAGES


def many(n: int) -> list[dict[str, str]]:
    return [f("ModelApprovalStatus", "Equals", "Approved") for _ in range(n)]


ENUM = (
    "[Equals, NotEquals, GreaterThan, GreaterThanOrEqualTo, LessThan, LessThanOrEqualTo, Contains, "
    "Exists, NotExists, In]"
)
TOO_MANY = (
    "The maximum number of recursive SubExpressions, NestedFilters, and Filters in a SearchExpression is 50."
)
ERROR_CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "unknown operator",
        filters(f("ModelApprovalStatus", "Like", "Appr%")),
        "1 validation error detected: Value 'Like' at 'searchExpression.filters.1.member.operator' "
        f"failed to satisfy constraint: Member must satisfy enum value set: {ENUM}",
    ),
    (
        "unknown operator in a nested filter",
        {
            "NestedFilters": [
                nested(
                    CONTAINERS,
                    f(f"{CONTAINERS}.Image", "Equals", XGB),
                    f(f"{CONTAINERS}.Image", "StartsWith", "123"),
                )
            ]
        },
        "1 validation error detected: Value 'StartsWith' at "
        "'searchExpression.nestedFilters.1.member.filters.2.member.operator' "
        f"failed to satisfy constraint: Member must satisfy enum value set: {ENUM}",
    ),
    (
        "unknown boolean operator",
        {"SubExpressions": [filters(f("ModelApprovalStatus", "Exists"), operator="Xor")]},
        "1 validation error detected: Value 'Xor' at 'searchExpression.subExpressions.1.member.operator' "
        "failed to satisfy constraint: Member must satisfy enum value set: [And, Or]",
    ),
    (
        "missing Value",
        filters(f("CreationTime", "GreaterThan")),
        "Filter 'CreationTime' with operator 'GreaterThan' requires a Value.",
    ),
    (
        "missing Value for In",
        filters(f("ModelApprovalStatus", "In")),
        "Filter 'ModelApprovalStatus' with operator 'In' requires a Value.",
    ),
    (
        "Value given to Exists",
        filters(f("Tags.Team", "Exists", "risk")),
        "Filter 'Tags.Team' with operator 'Exists' must not have a Value.",
    ),
    (
        "Value given to NotExists",
        filters(f("ApprovalDescription", "NotExists", "x")),
        "Filter 'ApprovalDescription' with operator 'NotExists' must not have a Value.",
    ),
    (
        "bad timestamp",
        filters(f("CreationTime", "GreaterThan", "yesterday")),
        "Value 'yesterday' for filter 'CreationTime' is not a valid timestamp: use epoch seconds or an "
        "ISO 8601 date-time such as 2024-01-31T12:00:00Z.",
    ),
    (
        "bad timestamp in In",
        filters(f("LastModifiedTime", "In", "2024-01-01T00:00:00Z,2024-13-01")),
        "Value '2024-13-01' for filter 'LastModifiedTime' is not a valid timestamp: use epoch seconds or an "
        "ISO 8601 date-time such as 2024-01-31T12:00:00Z.",
    ),
    (
        "bad number",
        filters(f("ModelPackageVersion", "Equals", "two")),
        "Value 'two' for filter 'ModelPackageVersion' is not a valid number.",
    ),
    (
        "not a finite number",
        filters(f("ModelPackageVersion", "LessThan", "inf")),
        "Value 'inf' for filter 'ModelPackageVersion' is not a valid number.",
    ),
    (
        "bad metric value",
        filters(f("ModelMetrics.auc", "GreaterThan", "high")),
        "Value 'high' for filter 'ModelMetrics.auc' is not a valid number.",
    ),
    (
        "bad boolean",
        filters(f("CertifyForMarketplace", "Equals", "yes")),
        "Value 'yes' for filter 'CertifyForMarketplace' is not a valid boolean: use true or false.",
    ),
    (
        "In with no values",
        filters(f("ModelApprovalStatus", "In", " , ")),
        "Value ' , ' for filter 'ModelApprovalStatus' with operator 'In' must be a comma-separated "
        "list of values.",
    ),
    (
        "nested filter outside its property",
        {"NestedFilters": [nested(CONTAINERS, f("ModelApprovalStatus", "Equals", "Approved"))]},
        "Filter name 'ModelApprovalStatus' in NestedFilters must be under the NestedPropertyName "
        f"'{CONTAINERS}' (for example '{CONTAINERS}.<property>').",
    ),
    (
        "nested filter on a sibling with a common prefix",
        {"NestedFilters": [nested("Tags", f("TagsExtra.Key", "Equals", "x"))]},
        "Filter name 'TagsExtra.Key' in NestedFilters must be under the NestedPropertyName "
        "'Tags' (for example 'Tags.<property>').",
    ),
    (
        "empty expression",
        {},
        "The SearchExpression at 'searchExpression' must contain at least one subexpression, filter, "
        "or nested filter.",
    ),
    (
        "empty sub-expression",
        {"Operator": "Or", "SubExpressions": [{"Operator": "And"}]},
        "The SearchExpression at 'searchExpression.subExpressions.1.member' must contain at least one "
        "subexpression, filter, or nested filter.",
    ),
    (
        "empty Filters",
        {"Filters": []},
        "1 validation error detected: Value '[]' at 'searchExpression.filters' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1",
    ),
    (
        "too many Filters",
        {"Filters": many(21)},
        "...at 'searchExpression.filters' failed to satisfy constraint: "
        "Member must have length less than or equal to 20",
    ),
    (
        "more than 50 elements",
        {"SubExpressions": [{"Filters": many(16)}, {"Filters": many(16)}, {"Filters": many(16)}]},
        TOO_MANY,
    ),
    (
        "more than 50 elements counting nested filters",
        {
            "SubExpressions": [
                {"NestedFilters": [nested(CONTAINERS, *[f(f"{CONTAINERS}.Image", "Exists")] * 20)]}
                for _ in range(3)
            ]
        },
        TOO_MANY,
    ),
    (
        "Name missing",
        {"Filters": [{"Operator": "Exists"}]},
        "1 validation error detected: Value null at 'searchExpression.filters.1.member.name' "
        "failed to satisfy constraint: Member must not be null",
    ),
    (
        "Name too long",
        filters(f("CustomerMetadataProperties." + "k" * 230, "Exists")),
        "...at 'searchExpression.filters.1.member.name' failed to satisfy constraint: "
        "Member must have length less than or equal to 255",
    ),
    (
        "Value empty",
        filters(f("ModelApprovalStatus", "Equals", "")),
        "1 validation error detected: Value '' at 'searchExpression.filters.1.member.value' "
        "failed to satisfy constraint: Member must have length greater than or equal to 1",
    ),
    (
        "Value too long",
        filters(f("ModelPackageDescription", "Contains", "x" * 1025)),
        "...at 'searchExpression.filters.1.member.value' failed to satisfy constraint: "
        "Member must have length less than or equal to 1024",
    ),
    (
        "NestedPropertyName missing",
        {"NestedFilters": [{"Filters": [f("Tags.Key", "Exists")]}]},
        "1 validation error detected: Value null at "
        "'searchExpression.nestedFilters.1.member.nestedPropertyName' "
        "failed to satisfy constraint: Member must not be null",
    ),
    (
        "nested Filters missing",
        {"NestedFilters": [{"NestedPropertyName": "Tags"}]},
        "1 validation error detected: Value null at 'searchExpression.nestedFilters.1.member.filters' "
        "failed to satisfy constraint: Member must not be null",
    ),
]


@pytest.mark.parametrize(
    ("expression", "message"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_validation_errors(expression: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationException) as caught:
        compile_expression(expression, "ModelPackage")
    assert caught.value.code == "ValidationException"
    if message.startswith("..."):  # the rest of the message echoes a long value
        assert caught.value.message.startswith("1 validation error detected: Value '")
        assert caught.value.message.endswith(message[3:])
    else:
        assert caught.value.message == message


@pytest.mark.parametrize(
    "expression",
    [
        {"Filters": {"Name": "ModelApprovalStatus"}},
        {"Filters": ["ModelApprovalStatus"]},
        {"Filters": [{"Name": 7, "Operator": "Exists"}]},
        {"Filters": [{"Name": "ModelMetrics.auc", "Operator": "GreaterThan", "Value": 0.9}]},
        {"SubExpressions": ["And"]},
    ],
)
def test_wrong_json_types_are_serialization_errors(expression: dict[str, Any]) -> None:
    with pytest.raises(SerializationException, match=r"^Value at 'searchExpression\..+' must be a"):
        compile_expression(expression, "ModelPackage")


def test_unknown_resource() -> None:
    with pytest.raises(ValidationException, match=r"^Search does not support the resource 'Spaceship'\.$"):
        compile_expression(None, "Spaceship")


def test_errors_are_client_errors() -> None:
    with pytest.raises(ServiceError) as caught:
        compile_expression(filters(f("CreationTime", "Exists", "1")), "ModelPackage")
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("ModelApprovalStatus", ["Approved"]),
        ("InferenceSpecification.Containers.Image", [XGB, SKL]),
        ("InferenceSpecification.SupportedContentTypes", ["text/csv"]),
        ("CustomerMetadataProperties.auc", ["0.91"]),
        ("CustomerMetadataProperties.team.owner", ["alice"]),
        ("Tags.Team", ["risk"]),
        ("Tags.Key", []),
        ("Tags", [{"Key": "Team", "Value": "risk"}, {"Key": "env", "Value": "prod"}]),
        ("ModelMetrics.auc", [0.91]),
        ("ModelMetrics.ModelQuality.Statistics.ContentType", ["application/json"]),
        ("CertifyForMarketplace", [False]),
        ("__metrics__", []),
        ("__metrics__.auc", []),
        ("Nope", []),
        ("ModelApprovalStatus.Deeper", []),
        ("", []),
    ],
)
def test_lookup(path: str, expected: list[Any]) -> None:
    assert lookup(CHURN_1, path) == expected


def test_lookup_treats_empty_and_null_as_absent() -> None:
    record = {
        "Tags": [],
        "CustomerMetadataProperties": {},
        "ApprovalDescription": None,
        "__metrics__": {"auc": float("nan"), "f1": None},
    }
    for path in (
        "Tags",
        "CustomerMetadataProperties",
        "ApprovalDescription",
        "ModelMetrics.auc",
        "ModelMetrics.f1",
    ):
        assert lookup(record, path) == []
    assert matching(filters(f("Tags", "NotExists")), [{**FRAUD_10, "Tags": []}]) == {"fraud/10"}


def ordered(sort_by: str, *, descending: bool = False, records: list[dict[str, Any]] = PACKAGES) -> list[str]:
    return [ident(r) for r in sorted(records, key=lambda r: sort_key(r, sort_by), reverse=descending)]


@pytest.mark.parametrize(
    ("sort_by", "ascending"),
    [
        ("CreationTime", ["churn/1", "churn/2", "fraud/10"]),
        ("ModelPackageVersion", ["churn/1", "churn/2", "fraud/10"]),  # numeric: 1, 2, 10
        ("ModelApprovalStatus", ["churn/1", "churn/2", "fraud/10"]),  # Approved, Pending..., Rejected
        (
            "CustomerMetadataProperties.epochs",
            ["churn/1", "churn/2", "fraud/10"],
        ),  # "9" < "10" numerically, missing
        ("ModelMetrics.auc", ["churn/1", "churn/2", "fraud/10"]),  # 0.91, 0.935, missing
        ("Tags.Team", ["fraud/10", "churn/2", "churn/1"]),  # fraud, growth, risk
        ("Tags.env", ["churn/1", "churn/2", "fraud/10"]),  # prod, then the two without
        (
            "ApprovalDescription",
            ["fraud/10", "churn/1", "churn/2"],
        ),  # present first, ties kept in input order
    ],
)
def test_sort_key(sort_by: str, ascending: list[str]) -> None:
    assert ordered(sort_by) == ascending


def test_sort_key_missing_last_ascending_first_descending() -> None:
    assert ordered("ModelMetrics.auc") == ["churn/1", "churn/2", "fraud/10"]
    assert ordered("ModelMetrics.auc", descending=True) == ["fraud/10", "churn/2", "churn/1"]
    assert ordered("CustomerMetadataProperties.git_sha", descending=True) == [
        "fraud/10",
        "churn/2",
        "churn/1",
    ]
    assert sort_key(FRAUD_10, "ModelMetrics.auc") == (1,)
    assert sort_key(CHURN_1, "ModelMetrics.auc") < sort_key(FRAUD_10, "ModelMetrics.auc")


def test_sort_key_numbers_before_text_and_unsortable_values_missing() -> None:
    records = [
        {"Id": "text", "P": "abc"},
        {"Id": "none"},
        {"Id": "num", "P": "10"},
        {"Id": "small", "P": 9},
        {"Id": "map", "P": {"a": 1}},
    ]
    got = [r["Id"] for r in sorted(records, key=lambda r: sort_key(r, "P"))]
    assert got == ["small", "num", "text", "none", "map"]
