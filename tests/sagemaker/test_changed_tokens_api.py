"""A NextToken a client changed is a ValidationException on every paginated call, never a 5xx."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from modelreg.sagemaker.pagination import query_digest

ACCOUNT_PREFIX = "arn:aws:sagemaker:us-east-1:123456789012:"


def changed_token(cursor: Any, params: dict[str, Any]) -> str:
    """A token in the server's format, bound to ``params``, carrying ``cursor``."""
    raw = json.dumps({"c": cursor, "q": query_digest(params)})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


#: cursors no listing issues (offset listings take [n >= 0], ListTags [key], keysets [value, id])
CURSORS = [[], ["x", "y"], [None, None], [1, 2, 3], [{"a": 1}, 2], [-5], [True, 1], [1.5, 2]]


@pytest.fixture
def calls(sm, unique: str) -> list[tuple[Any, dict[str, Any]]]:
    sm.create_model_package_group(ModelPackageGroupName=unique, Tags=[{"Key": "k", "Value": "v"}])
    group_arn = f"{ACCOUNT_PREFIX}model-package-group/{unique}"
    artifact = sm.create_artifact(Source={"SourceUri": f"s3://t/{unique}"}, ArtifactType="DataSet")[
        "ArtifactArn"
    ]
    return [
        (sm.list_model_packages, {"ModelPackageGroupName": unique}),
        (sm.list_model_packages, {"ModelPackageGroupName": unique, "SortBy": "Name"}),
        (sm.list_model_package_groups, {}),
        (sm.list_tags, {"ResourceArn": group_arn}),
        (sm.list_artifacts, {}),
        (sm.list_artifacts, {"SourceUri": f"s3://t/{unique}"}),
        (sm.list_actions, {"SortBy": "Name"}),
        (sm.list_contexts, {}),
        (sm.list_associations, {}),
        (sm.list_endpoints, {}),
        (sm.search, {"Resource": "ModelPackage"}),
        (sm.query_lineage, {"StartArns": [artifact]}),
    ]


def test_a_changed_next_token_is_a_validation_error(sm, calls) -> None:
    for call, params in calls:
        for cursor in CURSORS:
            with pytest.raises(ClientError) as refused:
                call(**params, NextToken=changed_token(cursor, params))
                pytest.fail(f"{call.__name__} {params} took the cursor {cursor}")
            error = refused.value.response
            assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
                "ValidationException",
                400,
            ), (call.__name__, cursor)
            assert "NextToken" in error["Error"]["Message"]
