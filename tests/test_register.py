"""`modelreg register` and `modelreg.register(...)`: pack, upload to the built-in S3, register with
lineage, then deploy what was registered and get the model's own predictions."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx
import numpy as np
import pytest
from botocore.exceptions import ClientError

import modelreg
from modelreg.registering import RegisterError
from tests.conftest import client
from tests.sagemaker.trained_models import Trained, deploy, predictions, wait_settled
from tests.server import Server

KEYS = {
    "AWS_ACCESS_KEY_ID": "AKIDDATASCIENTIST",
    "AWS_SECRET_ACCESS_KEY": "x",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_register_an_xgboost_model_from_a_git_checkout_then_deploy_it(
    server: Server, unique: str, tmp_path: Path, aws_env: None
) -> None:
    import xgboost as xgb

    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 10))
    booster = xgb.train({"objective": "binary:logistic", "nthread": 1}, xgb.DMatrix(x, label=x[:, 0] > 0), 20)
    workdir = tmp_path / "project"
    workdir.mkdir()
    _git(workdir, "init", "-q")
    (workdir / "train.py").write_text("print('train')\n")
    _git(workdir, "add", ".")
    _git(workdir, "commit", "-q", "-m", "train")
    booster.save_model(str(workdir / "model.ubj"))
    (workdir / "metrics.json").write_text(
        json.dumps({"binary_classification_metrics": {"auc": {"value": 0.93}}})
    )

    done = subprocess.run(
        [sys.executable, "-m", "modelreg.cli", "register", unique, "--model", "model.ubj",
         "--framework", "xgboost", "--metrics", "metrics.json", "--meta", "team=risk",
         "--dataset", "s3://data/train.csv", "--approve", "--endpoint", server.url],
        cwd=workdir, capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **KEYS},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"registered arn:aws:sagemaker:us-east-1:123456789012:model-package/{unique}/1" in done.stdout

    sm, s3 = client(server.url), client(server.url, "s3")
    described = sm.describe_model_package(ModelPackageName=f"{unique}/1")
    assert described["ModelApprovalStatus"] == "Approved"
    [container] = described["InferenceSpecification"]["Containers"]
    assert "sagemaker-xgboost" in container["Image"]
    bucket, key = container["ModelDataUrl"].removeprefix("s3://").split("/", 1)
    archive = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    metadata = described["CustomerMetadataProperties"]
    assert metadata["modelreg:model_sha256"] == hashlib.sha256(archive).hexdigest()
    assert metadata["team"] == "risk" and metadata["modelreg:dataset:1"] == "s3://data/train.csv"
    assert metadata["modelreg:git_commit"] == _git(workdir, "rev-parse", "HEAD")
    assert metadata["modelreg:git_dirty"] == "true"  # model.ubj and metrics.json are not committed
    assert "register" in metadata["modelreg:command"]
    assert described["MetadataProperties"]["CommitId"] == metadata["modelreg:git_commit"]
    statistics = described["ModelMetrics"]["ModelQuality"]["Statistics"]
    metrics_bucket, metrics_key = statistics["S3Uri"].removeprefix("s3://").split("/", 1)
    assert (
        json.loads(s3.get_object(Bucket=metrics_bucket, Key=metrics_key)["Body"].read())[
            "binary_classification_metrics"
        ]["auc"]["value"]
        == 0.93
    )

    deploy(sm, unique, described["ModelPackageArn"])
    assert wait_settled(sm, unique)["EndpointStatus"] == "InService"
    runtime = client(server.url, "sagemaker-runtime")
    rows = Trained(Path(), x[:3], booster.inplace_predict(x[:3]), "")
    np.testing.assert_allclose(predictions(runtime, unique, rows), rows.expected, rtol=1e-6)


def test_the_python_helper_registers_a_scikit_learn_model(
    server: Server, unique: str, tmp_path: Path, aws_env: None
) -> None:
    import joblib
    from sklearn.linear_model import LinearRegression

    x = np.arange(20, dtype=float).reshape(10, 2)
    joblib.dump(LinearRegression().fit(x, x.sum(axis=1)), tmp_path / "model.joblib")
    done = modelreg.register(unique, tmp_path / "model.joblib", endpoint_url=server.url, description="linear")
    assert done.version == 1 and done.metrics_url is None
    described = client(server.url).describe_model_package(ModelPackageName=done.model_package_arn)
    assert "sagemaker-scikit-learn" in described["InferenceSpecification"]["Containers"][0]["Image"]
    assert described["ModelApprovalStatus"] == "PendingManualApproval"
    assert described["ModelPackageDescription"] == "linear"

    with pytest.raises(RegisterError, match="framework"):
        (tmp_path / "weights.bin").write_bytes(b"?")
        modelreg.register(unique, tmp_path / "weights.bin", endpoint_url=server.url)


def _register_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    isolated = {**os.environ, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_REGION"):
        isolated.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "modelreg.cli", "register", *args],
        capture_output=True, text=True, timeout=120, env={**isolated, **env},
    )  # fmt: skip


def test_register_without_a_region_uses_us_east_1_and_without_keys_says_what_to_set(
    server: Server, unique: str, tmp_path: Path
) -> None:
    """Before, both failed with "refused the registration" though no request had been sent."""
    import joblib
    from sklearn.linear_model import LinearRegression

    x = np.arange(20, dtype=float).reshape(10, 2)
    joblib.dump(LinearRegression().fit(x, x.sum(axis=1)), tmp_path / "model.joblib")
    args = ("--model", str(tmp_path / "model.joblib"), "--endpoint", server.url, unique)
    no_keys = _register_cli(*args, env={})
    assert no_keys.returncode == 1
    said = no_keys.stderr.strip().splitlines()[-1]
    assert said.startswith("Error: no AWS credentials to sign the requests with: set AWS_ACCESS_KEY_ID")
    keys = {k: v for k, v in KEYS.items() if k != "AWS_DEFAULT_REGION"}
    done = _register_cli(*args, env=keys)
    assert done.returncode == 0, done.stderr
    listed = client(server.url).list_model_packages(ModelPackageGroupName=unique)
    (version,) = listed["ModelPackageSummaryList"]
    assert version["ModelPackageArn"].startswith("arn:aws:sagemaker:us-east-1:")


def test_a_metrics_file_modelreg_cannot_read_is_refused_before_anything_is_uploaded(
    server: Server, unique: str, tmp_path: Path
) -> None:
    (tmp_path / "model.tar.gz").write_bytes(b"never read")
    (tmp_path / "metrics.json").write_text('{"auc": "high"}')
    done = _register_cli(
        "--model", str(tmp_path / "model.tar.gz"), "--metrics", str(tmp_path / "metrics.json"),
        "--endpoint", server.url, unique, env=KEYS,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"Error: {tmp_path / 'metrics.json'}: the metrics file holds no numeric metric: expected SageMaker "
        'model quality statistics ({"binary_classification_metrics": {"auc": {"value": 0.91}}}) or a flat '
        'object ({"auc": 0.91}).'
    )
    with pytest.raises(ClientError, match="does not exist"):  # nothing registered, not even the group
        client(server.url).describe_model_package_group(ModelPackageGroupName=unique)


def test_metadata_values_are_what_sagemaker_accepts() -> None:
    from modelreg.registering import metadata_value

    assert metadata_value("python train.py --lr=0.1 -k 'a, b'") == "python train.py --lr=0.1 -k _a_ b_"
    assert metadata_value("s3://data/train v2.csv") == "s3://data/train v2.csv"
    assert len(metadata_value("x" * 500)) == 256


def test_bytes_replaced_after_registration_never_serve(
    server: Server, unique: str, tmp_path: Path, aws_env: None
) -> None:
    import xgboost as xgb

    x = np.random.default_rng(5).normal(size=(200, 4))
    booster = xgb.train({"objective": "binary:logistic", "nthread": 1}, xgb.DMatrix(x, label=x[:, 0] > 0), 5)
    booster.save_model(str(tmp_path / "model.ubj"))
    done = modelreg.register(unique, tmp_path / "model.ubj", endpoint_url=server.url, approve=True)

    # someone overwrites the registered archive in the store before anything deployed it
    bucket, key = done.model_data_url.removeprefix("s3://").split("/", 1)
    other = tmp_path / "other.tar.gz"
    with tarfile.open(other, "w:gz") as tar:
        tar.add(tmp_path / "model.ubj", arcname="xgboost-model")
        tar.add(tmp_path / "model.ubj", arcname="extra")
    client(server.url, "s3").upload_file(str(other), bucket, key)

    sm = client(server.url)
    deploy(sm, unique, done.model_package_arn)
    described = wait_settled(sm, unique)
    assert described["EndpointStatus"] == "Failed"
    assert done.sha256 in described["FailureReason"] and "refuses to serve" in described["FailureReason"]


def test_cleanup_deletes_old_archives_from_the_built_in_store(
    server: Server, unique: str, tmp_path: Path, aws_env: None
) -> None:
    import joblib
    from sklearn.linear_model import LinearRegression

    x = np.arange(20, dtype=float).reshape(10, 2)
    registered = []
    for scale in (1.0, 2.0):
        joblib.dump(LinearRegression().fit(x, scale * x.sum(axis=1)), tmp_path / "model.joblib")
        registered.append(modelreg.register(unique, tmp_path / "model.joblib", endpoint_url=server.url))
    old = registered[0]

    done = httpx.post(f"{server.url}/api/model-package-groups/{unique}/gc", json={"keepLast": 1}).json()
    assert [v["version"] for v in done["deleted"]] == [1]
    assert [(a["uri"], a["deleted"]) for a in done["artifacts"]] == [(old.model_data_url, True)]
    assert done["bytesReclaimed"] > 0
    bucket, key = old.model_data_url.removeprefix("s3://").split("/", 1)
    with pytest.raises(ClientError, match="404"):
        client(server.url, "s3").head_object(Bucket=bucket, Key=key)
