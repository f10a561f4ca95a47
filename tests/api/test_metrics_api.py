"""``/api`` on metrics: compare (API and ``modelreg compare``), trend, and versions sorted by a
metric, against a live server whose versions' metrics files live in moto_s3's S3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.artifacts.moto_server import MotoServer, modelreg_reading_from
from tests.conftest import client
from tests.sagemaker.metrics_helpers import Files, inference, register, wait_read
from tests.server import Server

ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, moto_s3: MotoServer) -> Iterator[Server]:
    srv = modelreg_reading_from(moto_s3, tmp_path_factory.mktemp("modelreg"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def sm(server: Server):
    return client(server.url)


@pytest.fixture(scope="module")
def files(moto_s3: MotoServer) -> Files:
    moto_s3.s3().create_bucket(Bucket="metrics-api")
    return Files(moto_s3, "metrics-api")


def add_versions(server: Server, sm, files: Files, group: str, versions: list[dict[str, Any]]) -> None:
    """Register ``versions`` (metrics, image, model, metadata, status, extra spec) and wait for
    their metrics to be read."""
    sm.create_model_package_group(ModelPackageGroupName=group)
    for number, v in enumerate(versions, 1):
        spec = inference(
            v.get("image", "xgb:1.7"), v.get("model", f"s3://m/{number}.tar.gz"), **v.get("spec", {})
        )
        extra: dict[str, Any] = {"InferenceSpecification": spec}
        if v.get("meta"):
            extra["CustomerMetadataProperties"] = v["meta"]
        uri = files.put(v["metrics"]) if v.get("metrics") is not None else None
        assert register(sm, group, uri, **extra) == number
        if v.get("status"):
            sm.update_model_package(
                ModelPackageArn=f"{ARN}/{group}/{number}", ModelApprovalStatus=v["status"]
            )
        wait_read(server, group, number)


@pytest.fixture(scope="module")
def fraud(server: Server, sm, files: Files) -> str:
    """v1 Approved (auc .80, f1 .70), v2 (auc .85, latency 12), v3 Rejected without metrics,
    v4 (auc .90, f1 .75), with images, model data, instance types and metadata that differ."""
    add_versions(
        server,
        sm,
        files,
        "fraud",
        [
            {
                "metrics": {"auc": 0.80, "f1": 0.70},
                "image": "xgb:1.5",
                "meta": {"team": "risk", "dataset": "2024-01"},
                "status": "Approved",
            },
            {
                "metrics": {
                    "binary_classification_metrics": {"auc": {"value": 0.85}, "latency_ms": {"value": 12}}
                },
                "meta": {"team": "risk", "dataset": "2024-02"},
                "spec": {"SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"]},
            },
            {"metrics": None, "status": "Rejected", "meta": {"team": "risk"}},
            {"metrics": {"auc": 0.90, "f1": 0.75}, "meta": {"team": "fraud", "dataset": "2024-02"}},
        ],
    )
    return "fraud"


def get(server: Server, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{server.url}/api{path}", params=params)


# -- compare ----------------------------------------------------------------------------------


def test_compare_against_the_first_version(server: Server, fraud: str) -> None:
    answer = get(server, f"/model-package-groups/{fraud}/compare", versions="1,2,4").json()
    assert answer["ModelPackageGroupName"] == "fraud"
    assert answer["baseline"] == {"version": 1, "basis": "first"}
    assert [(v["version"], v["ModelApprovalStatus"], v["baseline"]) for v in answer["versions"]] == [
        (1, "Approved", True),
        (2, "PendingManualApproval", False),
        (4, "PendingManualApproval", False),
    ]
    assert answer["versions"][1]["ModelPackageArn"] == f"{ARN}/fraud/2"
    assert answer["versions"][1]["metricsStatus"] == "read"
    assert answer["metrics"] == {
        "auc": {"values": [0.8, 0.85, 0.9], "deltas": [0.0, 0.05, 0.1]},
        "f1": {"values": [0.7, None, 0.75], "deltas": [0.0, None, 0.05]},
        "latency_ms": {"values": [None, 12.0, None], "deltas": [None, None, None]},
    }
    assert answer["differences"] == [
        {"field": "InferenceSpecification.Containers[0].Image", "values": ["xgb:1.5", "xgb:1.7", "xgb:1.7"]},
        {
            "field": "InferenceSpecification.Containers[0].ModelDataUrl",
            "values": ["s3://m/1.tar.gz", "s3://m/2.tar.gz", "s3://m/4.tar.gz"],
        },
        {
            "field": "InferenceSpecification.SupportedRealtimeInferenceInstanceTypes",
            "values": [None, ["ml.m5.large"], None],
        },
        {"field": "CustomerMetadataProperties.dataset", "values": ["2024-01", "2024-02", "2024-02"]},
        {"field": "CustomerMetadataProperties.team", "values": ["risk", "risk", "fraud"]},
    ]


def test_compare_order_and_a_version_without_metrics(server: Server, fraud: str) -> None:
    answer = get(server, f"/model-package-groups/{fraud}/compare", versions="4,3,2").json()
    assert answer["baseline"]["version"] == 4
    assert [v["metricsStatus"] for v in answer["versions"]] == ["read", "none", "read"]
    assert answer["metrics"]["auc"] == {"values": [0.9, None, 0.85], "deltas": [0.0, None, -0.05]}
    assert answer["metrics"]["latency_ms"] == {"values": [None, None, 12.0], "deltas": [None, None, None]}
    assert {"field": "CustomerMetadataProperties.dataset", "values": ["2024-02", None, "2024-02"]} in answer[
        "differences"
    ]
    # one version: nothing differs
    single = get(server, f"/model-package-groups/{fraud}/compare", versions="2").json()
    assert single["differences"] == []
    assert single["metrics"]["auc"] == {"values": [0.85], "deltas": [0.0]}


def test_compare_against_the_approved_version(server: Server, sm, files: Files) -> None:
    add_versions(
        server,
        sm,
        files,
        "churn",
        [
            {"metrics": {"auc": 0.7}},
            {"metrics": {"auc": 0.75}, "status": "Approved"},
            {"metrics": {"auc": 0.8}},
        ],
    )
    answer = get(server, "/model-package-groups/churn/compare", versions="3", baseline="approved").json()
    assert answer["baseline"] == {"version": 2, "basis": "approved"}
    assert [(v["version"], v["baseline"]) for v in answer["versions"]] == [(2, True), (3, False)]
    assert answer["metrics"]["auc"] == {"values": [0.75, 0.8], "deltas": [0.0, 0.05]}
    # the Approved version asked for among others is the baseline and comes first
    answer = get(server, "/model-package-groups/churn/compare", versions="1,2,3", baseline="approved").json()
    assert [v["version"] for v in answer["versions"]] == [2, 1, 3]
    assert answer["metrics"]["auc"]["deltas"] == [0.0, -0.05, 0.05]
    # a newer approval moves the baseline
    sm.update_model_package(ModelPackageArn=f"{ARN}/churn/3", ModelApprovalStatus="Approved")
    answer = get(server, "/model-package-groups/churn/compare", versions="1", baseline="approved").json()
    assert [v["version"] for v in answer["versions"]] == [3, 1]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "versions is required"),
        ({"versions": ""}, "versions is required"),
        ({"versions": "1,x"}, "not 'x'"),
        ({"versions": "0"}, "not '0'"),
        ({"versions": "-1"}, "not '-1'"),
        ({"versions": "1,2,1"}, "names version 1 more than once"),
        ({"versions": ",".join(map(str, range(1, 22)))}, "compare at most 20 at once"),
        ({"versions": "1", "baseline": "latest"}, "baseline must be first or approved, not 'latest'"),
    ],
)
def test_compare_bad_queries_are_400(server: Server, fraud: str, params: dict, message: str) -> None:
    response = get(server, f"/model-package-groups/{fraud}/compare", **params)
    assert response.status_code == 400
    assert response.json()["error"] == "BadRequest"
    assert message in response.json()["message"]


def test_compare_unknown_things_are_404(server: Server, sm, fraud: str, unique: str) -> None:
    missing = get(server, f"/model-package-groups/{fraud}/compare", versions="1,7,9")
    assert missing.status_code == 404
    assert missing.json() == {"error": "NotFound", "message": "ModelPackageGroup fraud has no versions 7, 9."}
    one = get(server, f"/model-package-groups/{fraud}/compare", versions="8")
    assert one.json()["message"] == "ModelPackageGroup fraud has no version 8."
    nogroup = get(server, f"/model-package-groups/{unique}/compare", versions="1")
    assert nogroup.status_code == 404
    group_arn = f"arn:aws:sagemaker:us-east-1:123456789012:model-package-group/{unique}"
    assert nogroup.json()["message"] == f"ModelPackageGroup {group_arn} does not exist."
    sm.create_model_package_group(ModelPackageGroupName=unique)
    register(sm, unique)
    unapproved = get(server, f"/model-package-groups/{unique}/compare", versions="1", baseline="approved")
    assert unapproved.status_code == 404
    assert "has no Approved version to compare with" in unapproved.json()["message"]


# -- modelreg compare -------------------------------------------------------------------------


def modelreg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelreg.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )


def test_cli_prints_metrics_and_differences(server: Server, fraud: str) -> None:
    result = modelreg("compare", fraud, "1", "2", "4", "--endpoint", server.url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "fraud: deltas against version 1 (the first version asked for)" in lines[0]
    table = "\n".join(lines)
    header = next(line for line in lines if "v1 (baseline)" in line)
    assert header.index("v1 (baseline)") < header.index("v2") < header.index("v4")
    auc = next(line for line in lines if line.strip("│┃ ").startswith("auc"))
    assert [cell.strip() for cell in auc.strip("│ ").split("│")] == [
        "auc",
        "0.8",
        "0.85 (+0.05)",
        "0.9 (+0.1)",
    ]
    f1 = next(line for line in lines if line.strip("│ ").startswith("f1"))
    assert [cell.strip() for cell in f1.strip("│ ").split("│")] == ["f1", "0.7", "—", "0.75 (+0.05)"]
    image = next(line for line in lines if "Containers[0].Image" in line)
    assert [cell.strip() for cell in image.strip("│ ").split("│")] == [
        "Containers[0].Image",
        "xgb:1.5",
        "xgb:1.7",
        "xgb:1.7",
    ]
    assert "CustomerMetadataProperties.team" in table
    assert "ml.m5.large" in table


def test_cli_baseline_json_and_errors(server: Server, fraud: str) -> None:
    result = modelreg("compare", fraud, "4", "--baseline", "approved", "--endpoint", server.url, "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["baseline"] == {"version": 1, "basis": "approved"}
    assert answer["metrics"]["auc"]["deltas"] == [0.0, 0.1]
    text = modelreg("compare", fraud, "3", "4", "--endpoint", server.url).stdout
    assert "v3: no ModelMetrics files registered." in text
    missing = modelreg("compare", fraud, "1", "12", "--endpoint", server.url)
    assert missing.returncode == 1
    assert "Error: ModelPackageGroup fraud has no version 12." in missing.stderr
    unreachable = modelreg("compare", fraud, "1", "--endpoint", "http://127.0.0.1:9")
    assert unreachable.returncode == 1
    assert "cannot reach modelreg at http://127.0.0.1:9" in unreachable.stderr
    assert modelreg("compare", fraud, "--endpoint", server.url).returncode == 2  # no versions


# -- trend ------------------------------------------------------------------------------------


def test_trend_of_a_metric(server: Server, fraud: str) -> None:
    answer = get(server, f"/model-package-groups/{fraud}/metrics/auc").json()
    assert answer["ModelPackageGroupName"] == "fraud" and answer["metric"] == "auc"
    assert [(p["version"], p["value"], p["approvalStatus"]) for p in answer["points"]] == [
        (1, 0.8, "Approved"),
        (2, 0.85, "PendingManualApproval"),
        (4, 0.9, "PendingManualApproval"),
    ]
    assert all(isinstance(p["creationTime"], float) for p in answer["points"])
    assert answer["points"][0]["ModelPackageArn"] == f"{ARN}/fraud/1"
    assert answer["nextToken"] is None
    approved = get(server, f"/model-package-groups/{fraud}/metrics/auc", status="Approved").json()
    assert [p["version"] for p in approved["points"]] == [1]
    assert get(server, f"/model-package-groups/{fraud}/metrics/nothing").json()["points"] == []


def test_trend_pages(server: Server, fraud: str) -> None:
    first = get(server, f"/model-package-groups/{fraud}/metrics/auc", limit="2").json()
    assert [p["version"] for p in first["points"]] == [1, 2]
    rest = get(
        server, f"/model-package-groups/{fraud}/metrics/auc", limit="2", nextToken=first["nextToken"]
    ).json()
    assert [p["version"] for p in rest["points"]] == [4]
    assert rest["nextToken"] is None
    # a token belongs to its query
    other = get(server, f"/model-package-groups/{fraud}/metrics/f1", nextToken=first["nextToken"])
    assert other.status_code == 400
    assert "issued for a different query" in other.json()["message"]
    assert get(server, f"/model-package-groups/{fraud}/metrics/auc", nextToken="garbage").status_code == 400
    assert get(server, f"/model-package-groups/{fraud}/metrics/auc", limit="0").status_code == 400
    assert get(server, f"/model-package-groups/{fraud}/metrics/auc", status="Gone").status_code == 400
    assert get(server, "/model-package-groups/no-such-group/metrics/auc").status_code == 404


# -- versions sorted by a metric --------------------------------------------------------------


def listing(server: Server, group: str, **params: Any) -> dict[str, Any]:
    response = get(server, f"/model-package-groups/{group}/model-packages", **params)
    assert response.status_code == 200, response.text
    return response.json()


def versions_of(answer: dict[str, Any]) -> list[int]:
    return [s["ModelPackageVersion"] for s in answer["ModelPackageSummaryList"]]


def test_versions_sorted_by_a_metric(server: Server, fraud: str) -> None:
    best = listing(server, fraud, sort="metric:auc", order="desc")
    assert versions_of(best) == [4, 2, 1, 3]  # without the metric last
    assert [s["metric"] for s in best["ModelPackageSummaryList"]] == [0.9, 0.85, 0.8, None]
    assert best["ModelPackageSummaryList"][0]["metrics"] == {"auc": 0.9, "f1": 0.75}
    assert best["ModelPackageSummaryList"][0]["ModelApprovalStatus"] == "PendingManualApproval"
    assert best["sort"] == "metric:auc" and best["order"] == "desc" and best["nextToken"] is None
    assert versions_of(listing(server, fraud, sort="metric:auc")) == [1, 2, 4, 3]
    assert versions_of(listing(server, fraud, sort="metric:f1", order="desc")) == [4, 1, 3, 2]
    assert versions_of(listing(server, fraud, sort="metric:auc", status="Approved")) == [1]
    assert versions_of(listing(server, fraud)) == [1, 2, 3, 4]
    assert versions_of(listing(server, fraud, order="desc")) == [4, 3, 2, 1]


@pytest.mark.parametrize("params", [{"sort": "metric:auc", "order": "desc"}, {"order": "desc"}])
def test_sorted_listing_pages(server: Server, fraud: str, params: dict[str, str]) -> None:
    whole = versions_of(listing(server, fraud, **params))
    paged, token = [], None
    for _ in range(10):
        answer = listing(server, fraud, limit="1", **params, **({"nextToken": token} if token else {}))
        paged += versions_of(answer)
        token = answer["nextToken"]
        if token is None:
            break
    assert paged == whole


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"sort": "auc"}, "sort must be version or metric:NAME"),
        ({"sort": "metric:"}, "sort must be version or metric:NAME"),
        ({"order": "down"}, "order must be asc or desc"),
        ({"status": "approved"}, "status must be one of Approved, Rejected, PendingManualApproval"),
        ({"limit": "501"}, "limit must be an integer from 1 to 500"),
        ({"limit": "x"}, "limit must be an integer from 1 to 500"),
        ({"nextToken": "not-a-token"}, "Invalid nextToken"),
    ],
)
def test_sorted_listing_bad_queries_are_400(server: Server, fraud: str, params: dict, message: str) -> None:
    response = get(server, f"/model-package-groups/{fraud}/model-packages", **params)
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_a_token_of_one_sort_is_refused_by_another(server: Server, fraud: str) -> None:
    token = listing(server, fraud, sort="metric:auc", limit="1")["nextToken"]
    response = get(server, f"/model-package-groups/{fraud}/model-packages", sort="metric:f1", nextToken=token)
    assert response.status_code == 400
    assert get(server, "/model-package-groups/no-such-group/model-packages").status_code == 404
