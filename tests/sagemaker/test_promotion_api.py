"""Promotion policies: gates, auto-approval and four eyes, through boto3 against a live server.

Metrics files live in moto's S3 server (the local stand-in for S3 or MinIO), which the server
reads through ``--s3-endpoint-url``: a version's ``ModelMetrics...S3Uri`` must be an s3:// or
https:// URI on the wire (SageMaker's pattern, which modelreg enforces), so a file:// URI cannot
be registered through boto3. The local file store is tested in tests/artifacts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from modelreg.sagemaker.promotion import Gate, Metrics, Policy, evaluate, parse_policy
from tests.artifacts.moto_server import CREDENTIALS, MotoServer, modelreg_reading_from
from tests.conftest import client, fresh_postgres_database
from tests.sagemaker.metrics_helpers import Files, sagemaker_format
from tests.server import Server, free_port

INFERENCE = {
    "Containers": [
        {
            "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
            "ModelDataUrl": "s3://my-bucket/models/fraud-xgb/model.tar.gz",
        }
    ],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["text/csv"],
}
FULL_POLICY = {
    "gates": [
        {"metric": "auc", "min": 0.85},
        {"metric": "auc", "min_improvement": 0.01},
        {"metric": "latency_p99_ms", "max": 20},
    ],
    "auto_approve": True,
    "four_eyes": True,
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, moto_s3: MotoServer
) -> Iterator[Server]:
    """A modelreg server that reads s3:// artifacts from moto (credentials from its environment),
    on each store: a registration reads the policy and writes its version differently on each."""
    with ExitStack() as stack:
        args = []
        if request.param == "postgresql":
            url = stack.enter_context(fresh_postgres_database())
            args = ["--store", url.replace("postgresql+psycopg://", "postgresql://")]
        srv = modelreg_reading_from(moto_s3, tmp_path_factory.mktemp("modelreg"), *args)
        yield srv
        srv.stop()


@pytest.fixture
def sm(server: Server):
    return client(server.url)


@pytest.fixture
def reviewer(server: Server):
    return client(server.url, access_key="reviewer-alice")


@pytest.fixture
def bucket(moto_s3: MotoServer, unique: str) -> str:
    moto_s3.s3().create_bucket(Bucket=unique)
    return unique


@pytest.fixture
def group(sm, unique: str) -> str:
    sm.create_model_package_group(ModelPackageGroupName=unique)
    return unique


@pytest.fixture
def files(moto_s3: MotoServer, bucket: str) -> Files:
    return Files(moto_s3, bucket)


def register(sm, group: str, metrics_uri: str | None, **extra: Any) -> str:
    if metrics_uri is not None:
        extra["ModelMetrics"] = {
            "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": metrics_uri}}
        }
    return sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=INFERENCE, **extra)[
        "ModelPackageArn"
    ]


def policy_url(server: Server, group: str) -> str:
    return f"{server.url}/api/model-package-groups/{group}/promotion-policy"


def set_policy(server: Server, group: str, policy: dict[str, Any]) -> dict[str, Any]:
    response = httpx.put(policy_url(server, group), json=policy)
    assert response.status_code == 200, response.text
    return response.json()


def history(server: Server, group: str, version: int) -> list[tuple[Any, ...]]:
    body = httpx.get(f"{server.url}/api/model-packages/{group}/{version}/history").json()
    return [(e["principal"], e["field"], e["from"], e["to"], e["reason"]) for e in body["history"]]


def describe(sm, arn: str) -> dict[str, Any]:
    desc = sm.describe_model_package(ModelPackageName=arn)
    desc.pop("ResponseMetadata")
    return desc


def status(sm, arn: str) -> str:
    return sm.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"]


def refusal(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = exc.value.response["Error"]
    return error["Code"], error["Message"]


CREATED = ("AKIDTESTUSER", "ModelApprovalStatus", None, "PendingManualApproval", None)


# -- the policy resource ----------------------------------------------------------------------


def test_put_get_delete(server: Server, group: str) -> None:
    url = policy_url(server, group)
    missing = httpx.get(url)
    assert missing.status_code == 404
    assert missing.json()["message"] == f"Model package group {group} has no promotion policy."
    stored = set_policy(server, group, {"gates": [{"metric": "auc", "min": 0.85}]})
    expected = {"gates": [{"metric": "auc", "min": 0.85}], "auto_approve": False, "four_eyes": False}
    assert stored["policy"] == expected
    assert stored["ModelPackageGroupName"] == group
    assert (
        stored["ModelPackageGroupArn"]
        == f"arn:aws:sagemaker:us-east-1:123456789012:model-package-group/{group}"
    )
    assert httpx.get(url).json() == stored
    assert (
        httpx.get(policy_url(server, group.upper())).json()["policy"] == expected
    )  # names are case-insensitive
    replaced = set_policy(server, group, FULL_POLICY)["policy"]
    assert replaced["gates"][1] == {"metric": "auc", "min_improvement": 0.01, "direction": "higher"}
    assert httpx.get(url).json()["policy"] == replaced
    assert httpx.delete(url).status_code == 204
    assert httpx.get(url).status_code == 404
    assert httpx.delete(url).status_code == 404


def test_region_and_unknown_groups(server: Server, group: str, unique: str) -> None:
    eu = client(server.url, region="eu-west-1")
    eu.create_model_package_group(ModelPackageGroupName=group)
    eu_url = policy_url(server, group) + "?region=eu-west-1"
    assert httpx.put(eu_url, json={"four_eyes": True}).status_code == 200
    assert httpx.get(eu_url).json()["policy"]["four_eyes"] is True
    assert "eu-west-1" in httpx.get(eu_url).json()["ModelPackageGroupArn"]
    assert httpx.get(policy_url(server, group)).status_code == 404  # us-east-1's group has none
    for method in ("GET", "PUT", "DELETE"):
        response = httpx.request(method, policy_url(server, f"{unique}-nope"), json={})
        assert response.status_code == 404
        assert response.json()["message"] == (
            f"ModelPackageGroup arn:aws:sagemaker:us-east-1:123456789012:model-package-group/{unique}-nope "
            "does not exist."
        )


def test_a_policy_applies_only_to_its_own_regions_group(server: Server, sm, group: str) -> None:
    eu = client(server.url, region="eu-west-1")
    eu.create_model_package_group(ModelPackageGroupName=group)
    assert (
        httpx.put(policy_url(server, group) + "?region=eu-west-1", json={"four_eyes": True}).status_code
        == 200
    )
    # us-east-1's group of the same name has no policy: its registrant may register Approved
    arn = register(sm, group, None, ModelApprovalStatus="Approved")
    assert status(sm, arn) == "Approved"
    pending = register(sm, group, None, ModelApprovalStatus="PendingManualApproval")
    sm.update_model_package(ModelPackageArn=pending, ModelApprovalStatus="Approved")
    assert status(sm, pending) == "Approved"
    with pytest.raises(ClientError) as exc:  # eu-west-1's is under the rule
        register(eu, group, None, ModelApprovalStatus="Approved")
    assert "four-eyes rule" in refusal(exc)[1]


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ([], "The promotion policy must be a JSON object"),
        (
            {"gates": [], "auto_aprove": True},
            'unknown field "auto_aprove"; allowed: gates, auto_approve, four_eyes',
        ),
        ({"gates": {"metric": "auc"}}, "gates must be a list of gate objects"),
        ({"gates": ["auc >= 0.85"]}, "gates[0] must be an object"),
        ({"gates": [{"min": 0.85}]}, "gates[0].metric must be a metric name"),
        ({"gates": [{"metric": "", "min": 0.85}]}, "gates[0].metric must be a metric name"),
        ({"gates": [{"metric": "auc"}]}, "gates[0] needs one of min, max, min_improvement, max_regression"),
        ({"gates": [{"metric": "auc", "min": 0.8, "max": 0.99}]}, "gates[0] has both min and max"),
        ({"gates": [{"metric": "auc", "min": "0.85"}]}, 'gates[0].min must be a number, not "0.85"'),
        ({"gates": [{"metric": "auc", "min": True}]}, "gates[0].min must be a number, not true"),
        (
            {"gates": [{"metric": "auc", "min": 0.8}, {"metric": "auc", "min_improvement": -0.01}]},
            "gates[1].min_improvement must be zero or more",
        ),
        (
            {"gates": [{"metric": "auc", "min": 0.8, "direction": "lower"}]},
            "gates[0].direction applies only to min_improvement and max_regression gates",
        ),
        (
            {"gates": [{"metric": "loss", "max_regression": 0.1, "direction": "down"}]},
            'gates[0].direction must be "higher" or "lower", not "down"',
        ),
        ({"gates": [{"metric": "auc", "min": 0.8, "weight": 2}]}, 'gates[0]: unknown field "weight"'),
        ({"gates": [], "four_eyes": "yes"}, 'four_eyes must be true or false, not "yes"'),
        ({"auto_approve": True}, "auto_approve needs at least one gate"),
        ({"gates": [{"metric": "auc", "min": 0.5}] * 51}, "gates has 51 gates; at most 50 are allowed"),
    ],
)
def test_a_bad_policy_is_a_400_naming_the_field(
    server: Server, group: str, policy: Any, message: str
) -> None:
    response = httpx.put(policy_url(server, group), json=policy)
    assert response.status_code == 400
    assert response.json()["error"] == "BadRequest"
    assert message in response.json()["message"]
    assert httpx.get(policy_url(server, group)).status_code == 404  # nothing stored


def test_not_json_is_a_400(server: Server, group: str) -> None:
    response = httpx.put(policy_url(server, group), content=b"{gates: []}")
    assert response.status_code == 400
    assert response.json()["message"].startswith("The promotion policy is not valid JSON")


def test_deleting_the_group_deletes_its_policy(server: Server, sm, group: str) -> None:
    set_policy(server, group, FULL_POLICY)
    sm.delete_model_package_group(ModelPackageGroupName=group)
    sm.create_model_package_group(ModelPackageGroupName=group)
    assert httpx.get(policy_url(server, group)).status_code == 404


# -- auto-approval ----------------------------------------------------------------------------


def test_auto_approval_and_the_improvement_gate(server: Server, sm, group: str, files: Files) -> None:
    set_policy(server, group, FULL_POLICY)
    # version 1: no Approved version yet, so the improvement gate passes (SageMaker's format)
    v1 = register(sm, group, files.put(sagemaker_format(auc=0.91, latency_p99_ms=12)))
    desc = sm.describe_model_package(ModelPackageName=v1)
    assert desc["ModelApprovalStatus"] == "Approved"
    reason = (
        "Auto-approved by promotion policy: auc 0.91 >= 0.85; auc: no Approved version yet to compare with; "
        "latency_p99_ms 12 <= 20"
    )
    assert desc["ApprovalDescription"] == reason
    assert desc["CreatedBy"]["UserProfileName"] == "AKIDTESTUSER"
    assert history(server, group, 1) == [
        CREATED,
        ("promotion-policy", "ModelApprovalStatus", "PendingManualApproval", "Approved", reason),
    ]
    # version 2: 0.03 better than version 1 (a flat metrics object, status given explicitly)
    v2 = register(
        sm, group, files.put({"auc": 0.94, "latency_p99_ms": 15}), ModelApprovalStatus="PendingManualApproval"
    )
    assert sm.describe_model_package(ModelPackageName=v2)["ApprovalDescription"] == (
        "Auto-approved by promotion policy: auc 0.94 >= 0.85; auc +0.03 over version 1 (>= +0.01); "
        "latency_p99_ms 15 <= 20"
    )
    # version 3: good in absolute terms, but only 0.005 better than version 2: stays pending
    v3 = register(sm, group, files.put({"auc": 0.945, "latency_p99_ms": 15}))
    assert status(sm, v3) == "PendingManualApproval"
    assert "ApprovalDescription" not in sm.describe_model_package(ModelPackageName=v3)
    assert history(server, group, 3) == [
        CREATED,
        (
            "promotion-policy",
            "PromotionCheck",
            None,
            "Failed",
            "Not auto-approved: auc 0.945 is +0.005 over version 2 (0.94); "
            "the policy requires a change of at least +0.01",
        ),
    ]
    latest = sm.list_model_packages(
        ModelPackageGroupName=group, ModelApprovalStatus="Approved", SortOrder="Descending", MaxResults=1
    )["ModelPackageSummaryList"]
    assert [p["ModelPackageArn"] for p in latest] == [v2]


def test_auto_approval_by_absolute_gates_alone(server: Server, sm, group: str, files: Files) -> None:
    # nothing to compare with, so nothing is read between writing the version and approving it
    set_policy(server, group, {"gates": [{"metric": "auc", "min": 0.85}], "auto_approve": True})
    arn = register(sm, group, files.put({"auc": 0.9}))
    desc = sm.describe_model_package(ModelPackageName=arn)
    reason = "Auto-approved by promotion policy: auc 0.9 >= 0.85"
    assert (desc["ModelApprovalStatus"], desc["ApprovalDescription"]) == ("Approved", reason)
    assert history(server, group, 1) == [
        CREATED,
        ("promotion-policy", "ModelApprovalStatus", "PendingManualApproval", "Approved", reason),
    ]
    latest = sm.list_model_packages(
        ModelPackageGroupName=group, ModelApprovalStatus="Approved", SortOrder="Descending", MaxResults=1
    )["ModelPackageSummaryList"]
    assert [p["ModelPackageArn"] for p in latest] == [arn]


def test_a_failed_gate_leaves_the_version_pending(server: Server, sm, group: str, files: Files) -> None:
    set_policy(server, group, FULL_POLICY)
    arn = register(sm, group, files.put(sagemaker_format(auc=0.80, latency_p99_ms=25)))
    assert status(sm, arn) == "PendingManualApproval"
    assert history(server, group, 1) == [
        CREATED,
        (
            "promotion-policy",
            "PromotionCheck",
            None,
            "Failed",
            "Not auto-approved: auc 0.8 is below the minimum 0.85; latency_p99_ms 25 is above the maximum 20",
        ),
    ]


@pytest.mark.parametrize(
    ("metrics", "reason"),
    [
        ("missing", "does not exist in S3 at"),
        (b"auc: 0.91", "the metrics file is not valid JSON"),
        ({"f1": 0.9, "latency_p99_ms": 3}, "version 1 has no metric auc (its metrics: f1, latency_p99_ms)"),
        ("https", "uses the scheme 'https'"),
        (None, "it has no ModelMetrics.ModelQuality.Statistics.S3Uri"),
    ],
)
def test_metrics_that_cannot_be_read_never_fail_registration(
    server: Server, sm, group: str, files: Files, metrics: Any, reason: str
) -> None:
    set_policy(server, group, {"gates": [{"metric": "auc", "min": 0.85}], "auto_approve": True})
    if metrics == "missing":
        uri = f"s3://{files.bucket}/evaluation/none.json"
    elif metrics == "https":
        uri = "https://example.com/metrics.json"
    else:
        uri = None if metrics is None else files.put(metrics)
    arn = register(sm, group, uri)
    assert status(sm, arn) == "PendingManualApproval"
    (entry,) = history(server, group, 1)[1:]
    assert entry[:4] == ("promotion-policy", "PromotionCheck", None, "Failed")
    assert entry[4].startswith("Not auto-approved: ")
    assert reason in entry[4]


def test_an_unreachable_s3_endpoint_never_fails_registration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    down = f"http://127.0.0.1:{free_port()}"
    srv = Server(tmp_path, args=["--s3-endpoint-url", down]).start()
    try:
        sm = client(srv.url)
        sm.create_model_package_group(ModelPackageGroupName="g")
        set_policy(srv, "g", {"gates": [{"metric": "auc", "min": 0.85}], "auto_approve": True})
        arn = register(sm, "g", "s3://bucket/metrics.json")
        assert status(sm, arn) == "PendingManualApproval"
        assert f"s3://bucket/metrics.json cannot be read from S3 at {down}" in history(srv, "g", 1)[1][4]
    finally:
        srv.stop()


def test_rejected_or_policyless_registrations_are_untouched(
    server: Server, sm, group: str, files: Files
) -> None:
    uri = files.put({"auc": 0.99})
    set_policy(server, group, {"gates": [{"metric": "auc", "min": 0.85}]})  # no auto_approve
    arn = register(sm, group, uri)
    assert status(sm, arn) == "PendingManualApproval"
    assert history(server, group, 1) == [CREATED]
    set_policy(server, group, {"gates": [{"metric": "auc", "min": 0.85}], "auto_approve": True})
    rejected = register(sm, group, uri, ModelApprovalStatus="Rejected")
    assert status(sm, rejected) == "Rejected"
    assert [e[1] for e in history(server, group, 2)] == ["ModelApprovalStatus"]


# -- enforcement on UpdateModelPackage -------------------------------------------------------


def test_an_approval_that_breaks_a_gate_is_refused_and_changes_nothing(
    server: Server, sm, reviewer, group: str, files: Files
) -> None:
    set_policy(server, group, {"gates": [{"metric": "auc", "min": 0.85}]})
    arn = register(sm, group, files.put(sagemaker_format(auc=0.80)))
    before = describe(sm, arn)
    with pytest.raises(ClientError) as exc:
        reviewer.update_model_package(
            ModelPackageArn=arn,
            ModelApprovalStatus="Approved",
            ApprovalDescription="looks fine",
            CustomerMetadataProperties={"reviewed": "yes"},
        )
    assert refusal(exc) == (
        "ValidationException",
        f"Promotion policy of group {group} refuses approval: auc 0.8 is below the minimum 0.85.",
    )
    assert describe(sm, arn) == before
    assert history(server, group, 1) == [CREATED]
    # rejecting is always allowed
    reviewer.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Rejected", ApprovalDescription="auc"
    )
    assert status(sm, arn) == "Rejected"


def test_approvals_compare_with_the_latest_approved_version(
    server: Server, sm, reviewer, group: str, files: Files
) -> None:
    v1 = register(sm, group, files.put({"auc": 0.90}))
    reviewer.update_model_package(ModelPackageArn=v1, ModelApprovalStatus="Approved")
    set_policy(server, group, {"gates": [{"metric": "auc", "min_improvement": 0.01}]})
    v2 = register(sm, group, files.put({"auc": 0.905}))
    with pytest.raises(ClientError) as exc:
        reviewer.update_model_package(ModelPackageArn=v2, ModelApprovalStatus="Approved")
    assert refusal(exc)[1] == (
        f"Promotion policy of group {group} refuses approval: auc 0.905 is +0.005 over version 1 (0.9); "
        "the policy requires a change of at least +0.01."
    )
    v3 = register(sm, group, files.put({"auc": 0.91}))  # exactly +0.01: passes despite float rounding
    reviewer.update_model_package(
        ModelPackageArn=v3, ModelApprovalStatus="Approved", ApprovalDescription="ok"
    )
    assert status(sm, v3) == "Approved"
    assert history(server, group, 3)[1:] == [
        (
            "promotion-policy",
            "PromotionCheck",
            None,
            "Passed",
            "Gates passed: auc +0.01 over version 1 (>= +0.01)",
        ),
        ("reviewer-alice", "ModelApprovalStatus", "PendingManualApproval", "Approved", "ok"),
    ]
    # version 2 now compares with version 3
    with pytest.raises(ClientError) as exc:
        reviewer.update_model_package(ModelPackageArn=v2, ModelApprovalStatus="Approved")
    assert "auc 0.905 is -0.005 under version 3 (0.91)" in refusal(exc)[1]


def test_lower_is_better_gates(server: Server, sm, reviewer, group: str, files: Files) -> None:
    v1 = register(sm, group, files.put({"latency_p99_ms": 20}))
    reviewer.update_model_package(ModelPackageArn=v1, ModelApprovalStatus="Approved")
    set_policy(
        server,
        group,
        {
            "gates": [{"metric": "latency_p99_ms", "min_improvement": 2, "direction": "lower"}],
            "auto_approve": True,
        },
    )
    slower = register(sm, group, files.put({"latency_p99_ms": 19}))
    assert status(sm, slower) == "PendingManualApproval"
    assert history(server, group, 2)[1][4] == (
        "Not auto-approved: latency_p99_ms 19 is -1 under version 1 (20); "
        "the policy requires a change of at most -2 (lower is better)"
    )
    faster = register(sm, group, files.put({"latency_p99_ms": 17.5}))
    assert sm.describe_model_package(ModelPackageName=faster)["ApprovalDescription"] == (
        "Auto-approved by promotion policy: latency_p99_ms -2.5 under version 1 (<= -2)"
    )


def test_four_eyes(server: Server, sm, reviewer, group: str, files: Files) -> None:
    set_policy(server, group, {"four_eyes": True})
    arn = register(sm, group, None)
    with pytest.raises(ClientError) as exc:
        sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    assert refusal(exc) == (
        "ValidationException",
        f"Promotion policy of group {group} refuses approval: four-eyes rule: AKIDTESTUSER registered "
        "version 1 and cannot also approve it; another principal must approve it.",
    )
    assert status(sm, arn) == "PendingManualApproval"
    with pytest.raises(ClientError) as exc:
        register(sm, group, None, ModelApprovalStatus="Approved")
    assert "four-eyes rule: AKIDTESTUSER cannot register a version as Approved" in refusal(exc)[1]
    assert len(sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]) == 1
    reviewer.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    assert status(sm, arn) == "Approved"
    # the creator may still reject their own version
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected")
    assert status(sm, arn) == "Rejected"


def test_a_retried_registration_is_replayed_though_the_policy_now_refuses_it(
    server: Server, sm, group: str
) -> None:
    token = str(uuid.uuid4())
    arn = register(sm, group, None, ModelApprovalStatus="Approved", ClientToken=token)
    set_policy(server, group, {"four_eyes": True})
    with pytest.raises(ClientError) as exc:  # a new request is refused ...
        register(sm, group, None, ModelApprovalStatus="Approved")
    assert "four-eyes rule" in refusal(exc)[1]
    # ... but the retry of the one made before the policy is answered as it was then
    assert register(sm, group, None, ModelApprovalStatus="Approved", ClientToken=token) == arn
    assert len(sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]) == 1


def test_an_approval_by_another_spelling_of_the_versions_arn_meets_the_policy(
    server: Server, sm, group: str
) -> None:
    set_policy(server, group, {"four_eyes": True})
    arn = register(sm, group, None)
    respelled = arn[: -len("/1")] + "/01"  # not the stored ARN: found by group and version
    with pytest.raises(ClientError) as exc:
        sm.update_model_package(ModelPackageArn=respelled, ModelApprovalStatus="Approved")
    assert "four-eyes rule: AKIDTESTUSER registered version 1" in refusal(exc)[1]
    assert status(sm, arn) == "PendingManualApproval"
    with pytest.raises(ClientError) as exc:
        sm.update_model_package(ModelPackageArn=arn[: -len("/1")] + "/9", ModelApprovalStatus="Approved")
    assert refusal(exc) == ("ValidationException", f"ModelPackage {arn[: -len('/1')]}/9 does not exist.")


def test_four_eyes_with_gates_and_auto_approval(
    server: Server, sm, reviewer, group: str, files: Files
) -> None:
    set_policy(server, group, FULL_POLICY)
    v1 = register(sm, group, files.put({"auc": 0.9, "latency_p99_ms": 10}))
    assert status(sm, v1) == "Approved"  # the policy is not the registrant
    v2 = register(sm, group, files.put({"auc": 0.95, "latency_p99_ms": 30}))
    assert status(sm, v2) == "PendingManualApproval"
    with pytest.raises(ClientError) as exc:
        sm.update_model_package(ModelPackageArn=v2, ModelApprovalStatus="Approved")
    assert "four-eyes rule" in refusal(exc)[1]
    with pytest.raises(ClientError) as exc:
        reviewer.update_model_package(ModelPackageArn=v2, ModelApprovalStatus="Approved")
    assert refusal(exc)[1] == (
        f"Promotion policy of group {group} refuses approval: latency_p99_ms 30 is above the maximum 20."
    )


def test_registering_approved_must_pass_the_gates(server: Server, sm, group: str, files: Files) -> None:
    set_policy(server, group, {"gates": [{"metric": "auc", "min": 0.85}]})
    with pytest.raises(ClientError) as exc:
        register(sm, group, files.put({"auc": 0.7}), ModelApprovalStatus="Approved")
    assert (
        refusal(exc)[1]
        == f"Promotion policy of group {group} refuses approval: auc 0.7 is below the minimum 0.85."
    )
    assert sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"] == []
    arn = register(sm, group, files.put({"auc": 0.9}), ModelApprovalStatus="Approved")
    assert status(sm, arn) == "Approved"
    assert history(server, group, 1) == [
        ("AKIDTESTUSER", "ModelApprovalStatus", None, "Approved", None),
        ("promotion-policy", "PromotionCheck", None, "Passed", "Gates passed: auc 0.9 >= 0.85"),
    ]


# -- the evaluation rules ----------------------------------------------------------------------


def test_max_regression_and_tolerance() -> None:
    policy = parse_policy(
        {
            "gates": [
                {"metric": "auc", "max_regression": 0.01},
                {"metric": "loss", "max_regression": 0.1, "direction": "lower"},
                {"metric": "auc", "min_improvement": 0.01},
            ]
        }
    )
    base = Metrics(4, values={"auc": 0.56, "loss": 1.0})
    results = evaluate(policy, Metrics(5, values={"auc": 0.57, "loss": 1.1}), base)
    assert [r.passed for r in results] == [True, True, True]  # 0.57 - 0.56 is 0.00999... in floats
    assert results[1].text == "loss +0.1 over version 4 (<= +0.1)"
    results = evaluate(policy, Metrics(5, values={"auc": 0.54, "loss": 1.2}), base)
    assert [r.passed for r in results] == [False, False, False]
    assert results[0].text == (
        "auc 0.54 is -0.02 under version 4 (0.56); the policy requires a change of at least -0.01"
    )
    assert results[1].text == (
        "loss 1.2 is +0.2 over version 4 (1); the policy requires a change of at most +0.1 (lower is better)"
    )


def test_an_unreadable_baseline_fails_relative_gates_only() -> None:
    policy = Policy(gates=(Gate("auc", "min", 0.5), Gate("auc", "min_improvement", 0.0)))
    results = evaluate(policy, Metrics(2, values={"auc": 0.9}), Metrics(1, error="s3://b/k does not exist"))
    assert [r.passed for r in results] == [True, False]
    assert results[1].text == (
        "auc cannot be compared with version 1: its metrics could not be read: s3://b/k does not exist"
    )


# -- the CLI ----------------------------------------------------------------------------------


def modelreg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelreg.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_cli_set_show_delete(server: Server, group: str, tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(FULL_POLICY))
    endpoint = ("--endpoint", server.url)
    result = modelreg("policy", "set", group, str(path), *endpoint)
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip() == f"promotion policy of {group} set: 3 gate(s), auto_approve on, four_eyes on"
    )
    shown = modelreg("policy", "show", group, *endpoint)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == httpx.get(policy_url(server, group)).json()["policy"]
    # what show prints is what set takes
    path.write_text(shown.stdout)
    assert modelreg("policy", "set", group, str(path), *endpoint).returncode == 0
    path.write_text('{"gates": [{"metric": "auc", "minimum": 0.85}]}')
    bad = modelreg("policy", "set", group, str(path), *endpoint)
    assert bad.returncode == 1
    assert 'Error: gates[0]: unknown field "minimum"' in bad.stderr
    assert modelreg("policy", "delete", group, *endpoint).returncode == 0
    gone = modelreg("policy", "show", group, *endpoint)
    assert gone.returncode == 1
    assert "has no promotion policy" in gone.stderr
    unreachable = modelreg("policy", "show", group, "--endpoint", "http://127.0.0.1:9")
    assert unreachable.returncode == 1
    assert "cannot reach modelreg at http://127.0.0.1:9" in unreachable.stderr


def test_cli_region_and_stdin(server: Server, group: str) -> None:
    client(server.url, region="eu-west-2").create_model_package_group(ModelPackageGroupName=group)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelreg.cli",
            "policy",
            "set",
            group,
            "-",
            "--endpoint",
            server.url,
            "--region",
            "eu-west-2",
        ],
        input='{"four_eyes": true}',
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert httpx.get(policy_url(server, group) + "?region=eu-west-2").json()["policy"]["four_eyes"] is True
    assert httpx.get(policy_url(server, group)).status_code == 404
