"""Metrics as numbers, through boto3 against a live server: ingestion of ModelMetrics files (moto_s3's
S3 through ``--s3-endpoint-url``), failures recorded with their reason, restarts, deletion, and
Search on ``ModelMetrics.<name>``.

A ``ModelMetrics...S3Uri`` must be s3:// or https:// on the wire, so file:// URIs are covered by
the ingester's own tests (tests/sagemaker/test_metrics_ingest.py).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.artifacts.moto_server import MotoServer, modelreg_reading_from
from tests.conftest import client
from tests.sagemaker.metrics_helpers import (
    Files,
    metrics_url,
    register,
    sagemaker_format,
    statistics,
    wait_read,
)
from tests.server import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, moto_s3: MotoServer) -> Iterator[Server]:
    srv = modelreg_reading_from(moto_s3, tmp_path_factory.mktemp("modelreg"))
    yield srv
    srv.stop()


@pytest.fixture
def sm(server: Server):
    return client(server.url)


@pytest.fixture
def files(moto_s3: MotoServer, unique: str) -> Files:
    moto_s3.s3().create_bucket(Bucket=unique)
    return Files(moto_s3, unique)


@pytest.fixture
def group(sm, unique: str) -> str:
    sm.create_model_package_group(ModelPackageGroupName=unique)
    return unique


def sha(content: dict | bytes) -> str:
    data = content if isinstance(content, bytes) else json.dumps(content).encode()
    return hashlib.sha256(data).hexdigest()


# -- ingestion --------------------------------------------------------------------------------


def test_sagemaker_statistics_format_becomes_numbers(server: Server, sm, group: str, files: Files) -> None:
    content = sagemaker_format(auc=0.91, f1=0.82, recall=0.75)
    uri = files.put(content)
    version = register(sm, group, uri)
    answer = wait_read(server, group, version)
    # only the *_metrics sections count: no "version" 0.0, no confusion matrix
    assert answer["metrics"] == {"auc": 0.91, "f1": 0.82, "recall": 0.75}
    assert answer["metricsStatus"] == "read"
    [source] = answer["sources"]
    assert source["member"] == "ModelQuality.Statistics"
    assert source["uri"] == uri
    assert source["status"] == "read"
    assert source["sha256"] == sha(content)
    assert source["error"] is None
    # DescribeModelPackage keeps AWS's shape
    described = sm.describe_model_package(ModelPackageName=f"{group}/{version}")
    assert described["ModelMetrics"] == statistics(uri)
    assert "metrics" not in {k.lower() for k in described}


def test_flat_format_becomes_numbers(server: Server, sm, group: str, files: Files) -> None:
    uri = files.put({"auc": 0.88, "latency_p99_ms": 12, "notes": "baseline run", "passed": True})
    version = register(sm, group, uri)
    assert wait_read(server, group, version)["metrics"] == {"auc": 0.88, "latency_p99_ms": 12.0}


def test_unreadable_files_are_recorded_and_registration_succeeds(
    server: Server, sm, group: str, files: Files
) -> None:
    not_json = b"auc=0.91\n"
    cases = {
        f"s3://{files.bucket}/nowhere/metrics.json": "does not exist",
        files.put(not_json): "the metrics file is not valid JSON",
        files.put({"model": "xgboost", "trained_on": "2024-01-01"}): "holds no numeric metric",
        files.put([0.91, 0.82]): "holds a JSON list, not an object of metrics",
        "https://example.com/metrics.json": "scheme 'https'",
    }
    versions = {}
    for uri in cases:
        started = time.monotonic()
        versions[uri] = register(sm, group, uri)
        assert time.monotonic() - started < 2  # registration does not wait for the file
        assert sm.describe_model_package(ModelPackageName=f"{group}/{versions[uri]}")[
            "ModelPackageStatus"
        ] == ("Completed")
    for uri, reason in cases.items():
        answer = wait_read(server, group, versions[uri])
        assert answer["metricsStatus"] == "failed"
        assert answer["metrics"] == {}
        [source] = answer["sources"]
        assert source["status"] == "failed"
        assert reason in source["error"], source["error"]
    # a file that was read but did not parse still has its digest on record
    not_json_source = wait_read(server, group, versions[list(cases)[1]])["sources"][0]
    assert not_json_source["sha256"] == sha(not_json)


def test_every_metrics_uri_is_recorded_with_its_digest(server: Server, sm, group: str, files: Files) -> None:
    stats = sagemaker_format(auc=0.9)
    constraints = {"version": 0.0, "binary_classification_constraints": {"auc": {"threshold": 0.8}}}
    bias = {"version": "1.0", "post_training_bias_metrics": {"label": "fraud", "facets": {}}}
    csv = b"metric,value\nauc,0.9\n"
    uris = {
        "stats": files.put(stats),
        "constraints": files.put(constraints, "constraints.json"),
        "bias": files.put(bias, "analysis.json"),
        "data_stats": files.put(csv, "statistics.csv"),
    }
    version = register(
        sm,
        group,
        ModelMetrics={
            "ModelQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": uris["stats"]},
                "Constraints": {"ContentType": "application/json", "S3Uri": uris["constraints"]},
            },
            "ModelDataQuality": {"Statistics": {"ContentType": "text/csv", "S3Uri": uris["data_stats"]}},
            "Bias": {"PostTrainingReport": {"ContentType": "application/json", "S3Uri": uris["bias"]}},
        },
        DriftCheckBaselines={
            "ModelQuality": {"Constraints": {"ContentType": "application/json", "S3Uri": uris["constraints"]}}
        },
    )
    answer = wait_read(server, group, version)
    assert answer["metrics"] == {"auc": 0.9}  # numbers come from ModelQuality.Statistics only
    assert {s["member"]: (s["status"], s["sha256"]) for s in answer["sources"]} == {
        "ModelQuality.Statistics": ("read", sha(stats)),
        "ModelQuality.Constraints": ("read", sha(constraints)),
        "ModelDataQuality.Statistics": ("read", sha(csv)),
        "Bias.PostTrainingReport": ("read", sha(bias)),
        "DriftCheckBaselines.ModelQuality.Constraints": ("read", sha(constraints)),
    }


def test_statistics_that_are_not_json_give_no_numbers(server: Server, sm, group: str, files: Files) -> None:
    csv = b"auc,0.9\n"
    uri = files.put(csv, "statistics.csv")
    version = register(sm, group, ModelMetrics=statistics(uri, "text/csv"))
    answer = wait_read(server, group, version)
    assert answer["metrics"] == {}
    assert answer["sources"][0]["status"] == "read"
    assert answer["sources"][0]["sha256"] == sha(csv)
    # a .json URI is parsed whatever its ContentType says
    json_uri = files.put({"auc": 0.7})
    version = register(sm, group, ModelMetrics=statistics(json_uri, "binary/octet-stream"))
    assert wait_read(server, group, version)["metrics"] == {"auc": 0.7}


def test_content_digest_is_checked(server: Server, sm, group: str, files: Files) -> None:
    content = {"auc": 0.93}
    uri = files.put(content)
    good = register(sm, group, ModelMetrics=statistics(uri, ContentDigest=f"sha256:{sha(content).upper()}"))
    bad = register(sm, group, ModelMetrics=statistics(uri, ContentDigest="sha256:" + "0" * 64))
    assert wait_read(server, group, good)["metrics"] == {"auc": 0.93}
    answer = wait_read(server, group, bad)
    assert answer["metrics"] == {}
    assert "does not match its ContentDigest" in answer["sources"][0]["error"]


def test_reread_after_fixing_the_file(server: Server, sm, group: str, files: Files) -> None:
    uri = f"s3://{files.bucket}/late/metrics.json"
    version = register(sm, group, uri)
    assert wait_read(server, group, version)["metricsStatus"] == "failed"
    files.s3.put_object(Bucket=files.bucket, Key="late/metrics.json", Body=b'{"auc": 0.9}')
    response = httpx.post(metrics_url(server, group, version) + "/reread")
    assert response.status_code == 202
    assert response.json()["pending"] == 1
    answer = wait_read(server, group, version)
    assert answer["metrics"] == {"auc": 0.9}
    assert answer["sources"][0]["attempts"] == 1
    # a file that breaks later takes its numbers with it on the next read
    files.s3.put_object(Bucket=files.bucket, Key="late/metrics.json", Body=b"{}")
    httpx.post(metrics_url(server, group, version) + "/reread")
    assert wait_read(server, group, version)["metrics"] == {}


def test_no_model_metrics_records_nothing(server: Server, sm, group: str) -> None:
    version = register(sm, group)
    answer = httpx.get(metrics_url(server, group, version)).json()
    assert answer == {
        "ModelPackageArn": f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{group}/{version}",
        "metricsStatus": "none",
        "metrics": {},
        "sources": [],
    }


def test_unknown_versions_are_404(server: Server, group: str, unique: str) -> None:
    missing = httpx.get(metrics_url(server, group, 9))
    assert missing.status_code == 404
    assert missing.json()["message"] == (
        f"ModelPackage arn:aws:sagemaker:us-east-1:123456789012:model-package/{group}/9 does not exist."
    )
    assert httpx.get(metrics_url(server, f"{unique}-nope", 1)).status_code == 404
    assert httpx.post(metrics_url(server, group, 9) + "/reread").status_code == 404


def test_deleting_a_version_deletes_its_metrics(server: Server, sm, group: str, files: Files) -> None:
    version = register(sm, group, files.put({"auc": 0.5}))
    wait_read(server, group, version)
    sm.delete_model_package(ModelPackageName=f"{group}/{version}")
    assert httpx.get(metrics_url(server, group, version)).status_code == 404
    trend = httpx.get(f"{server.url}/api/model-package-groups/{group}/metrics/auc").json()
    assert trend["points"] == []


def test_pending_files_are_read_after_a_restart(tmp_path: Path, moto_s3: MotoServer, unique: str) -> None:
    files = Files(moto_s3, unique)
    moto_s3.s3().create_bucket(Bucket=unique)
    uri = files.put({"auc": 0.77})
    idle = modelreg_reading_from(moto_s3, tmp_path, "--no-metrics-ingest")
    try:
        sm = client(idle.url)
        sm.create_model_package_group(ModelPackageGroupName=unique)
        version = register(sm, unique, uri)
        answer = httpx.get(metrics_url(idle, unique, version)).json()
        assert answer["metricsStatus"] == "pending"
        assert answer["sources"][0]["status"] == "pending"
    finally:
        idle.kill()  # as a crash: the pending row is all that is left
    restarted = modelreg_reading_from(moto_s3, tmp_path)
    try:
        assert wait_read(restarted, unique, version)["metrics"] == {"auc": 0.77}
    finally:
        restarted.stop()


def test_metrics_files_in_the_built_in_s3_store(tmp_path: Path) -> None:
    """With no other service: boto3 uploads the metrics file to modelreg's own S3, and modelreg
    reads it from there."""
    builtin = Server(tmp_path).start()
    try:
        s3 = client(builtin.url, "s3")
        s3.create_bucket(Bucket="evaluations")
        s3.put_object(
            Bucket="evaluations", Key="fraud/1/metrics.json", Body=json.dumps(sagemaker_format(auc=0.9))
        )
        sm = client(builtin.url)
        sm.create_model_package_group(ModelPackageGroupName="fraud")
        version = register(sm, "fraud", "s3://evaluations/fraud/1/metrics.json")
        answer = wait_read(builtin, "fraud", version)
        assert answer["metrics"] == {"auc": 0.9}
        assert answer["sources"][0]["sha256"] == sha(sagemaker_format(auc=0.9))
    finally:
        builtin.stop()


# -- Search on metrics ------------------------------------------------------------------------


def _arn(group: str, version: int) -> str:
    return f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{group}/{version}"


def _search(sm, group: str, *filters: dict, **params) -> list[int]:
    expression = {
        "Filters": [{"Name": "ModelPackageGroupName", "Operator": "Equals", "Value": group}, *filters]
    }
    results = sm.search(Resource="ModelPackage", SearchExpression=expression, **params)["Results"]
    return [r["ModelPackage"]["ModelPackageVersion"] for r in results]


def test_search_filters_and_sorts_on_metrics(server: Server, sm, group: str, files: Files) -> None:
    aucs = {1: 0.85, 2: 0.93, 3: None, 4: 0.9}
    for version, auc in aucs.items():
        uri = files.put({"auc": auc, "f1": 0.5} if auc is not None else {"f1": 0.6})
        assert register(sm, group, uri) == version
    for version in aucs:
        wait_read(server, group, version)

    def at_least(value: str) -> dict:
        return {"Name": "ModelMetrics.auc", "Operator": "GreaterThanOrEqualTo", "Value": value}

    assert sorted(_search(sm, group, at_least("0.9"))) == [2, 4]
    assert sorted(
        _search(sm, group, {"Name": "ModelMetrics.auc", "Operator": "LessThan", "Value": "0.9"})
    ) == [1]
    assert sorted(_search(sm, group, {"Name": "ModelMetrics.auc", "Operator": "Exists"})) == [1, 2, 4]
    assert _search(sm, group, {"Name": "ModelMetrics.auc", "Operator": "NotExists"}) == [3]
    assert sorted(_search(sm, group, {"Name": "ModelMetrics.f1", "Operator": "Equals", "Value": "0.6"})) == [
        3
    ]
    # sorted by the metric, those without it last in either order
    assert _search(sm, group, SortBy="ModelMetrics.auc", SortOrder="Descending") == [2, 4, 1, 3]
    assert _search(sm, group, SortBy="ModelMetrics.auc", SortOrder="Ascending") == [1, 4, 2, 3]
    # combined with a SageMaker property, and through an Or subexpression
    sm.update_model_package(ModelPackageArn=_arn(group, 4), ModelApprovalStatus="Approved")
    approved = {"Name": "ModelApprovalStatus", "Operator": "Equals", "Value": "Approved"}
    assert _search(sm, group, at_least("0.85"), approved) == [4]
    either = sm.search(
        Resource="ModelPackage",
        SearchExpression={
            "Filters": [{"Name": "ModelPackageGroupName", "Value": group}],
            "SubExpressions": [{"Operator": "Or", "Filters": [at_least("0.93"), approved]}],
        },
    )["Results"]
    assert sorted(r["ModelPackage"]["ModelPackageVersion"] for r in either) == [2, 4]
    # the records carry no internal keys
    assert all(not k.startswith("__") for r in either for k in r["ModelPackage"])
    with pytest.raises(sm.exceptions.ClientError) as bad:
        _search(sm, group, {"Name": "ModelMetrics.auc", "Operator": "GreaterThan", "Value": "high"})
    assert "is not a valid number" in bad.value.response["Error"]["Message"]


def test_search_on_metrics_across_groups(server: Server, sm, files: Files, unique: str) -> None:
    for suffix, auc in (("a", 0.991), ("b", 0.992)):
        sm.create_model_package_group(ModelPackageGroupName=f"{unique}-{suffix}")
        register(sm, f"{unique}-{suffix}", files.put({"auc": auc, f"only_{unique}": 1}))
        wait_read(server, f"{unique}-{suffix}", 1)
    found = sm.search(
        Resource="ModelPackage",
        SearchExpression={"Filters": [{"Name": f"ModelMetrics.only_{unique}", "Operator": "Exists"}]},
        SortBy="ModelMetrics.auc",
        SortOrder="Descending",
    )["Results"]
    assert [r["ModelPackage"]["ModelPackageGroupName"] for r in found] == [f"{unique}-b", f"{unique}-a"]
