"""The SageMaker Python SDK v2 deploys a registered version and predicts, with only
AWS_ENDPOINT_URL pointing at modelreg (the user's code runs unchanged in a child process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.sagemaker.trained_models import Trained, register
from tests.server import Server

# The user's notebook code, as in the issue. The only test-specific line shortens the SDK's fixed
# 30 s sleeps before and between DescribeEndpoint polls.
USER_CODE = """
import json, sys, time
_sleep = time.sleep
time.sleep = lambda seconds: _sleep(min(seconds, 0.1))

import sagemaker
from sagemaker.serializers import CSVSerializer

latest_approved_arn, endpoint_name, body = sys.argv[1], sys.argv[2], sys.argv[3]
session = sagemaker.Session()
model = sagemaker.ModelPackage(role="arn:aws:iam::123456789012:role/SageMakerRole",
                               model_package_arn=latest_approved_arn, sagemaker_session=session,
                               predictor_cls=sagemaker.predictor.Predictor)
try:
    predictor = model.deploy(initial_instance_count=2, instance_type="ml.m5.xlarge",
                             endpoint_name=endpoint_name)
except Exception as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
    sys.exit(0)
predictor.serializer = CSVSerializer()
print(json.dumps({"prediction": predictor.predict(body).decode()}))
"""


def _run_user_code(tmp_path: Path, server: Server, arn: str, endpoint: str, body: str) -> dict:
    config = tmp_path / "sagemaker-config.yaml"
    config.write_text(
        "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n"
    )
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": server.url,
        "AWS_ACCESS_KEY_ID": "AKIDNOTEBOOK",
        "AWS_SECRET_ACCESS_KEY": "notebook-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config),
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", USER_CODE, arn, endpoint, body],
        capture_output=True, text=True, env=env, timeout=180, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    last_line = done.stdout.strip().splitlines()[-1]  # after the SDK's "-----!" progress dashes
    return json.loads(last_line[last_line.index("{") :])


def test_the_sdk_deploys_the_latest_approved_version_and_gets_real_predictions(
    tmp_path: Path, server: Server, sm, unique, xgb_v1: Trained
) -> None:
    pytest.importorskip("sagemaker")
    arn = register(sm, unique, xgb_v1)
    result = _run_user_code(tmp_path, server, arn, unique, xgb_v1.csv_rows(2))
    assert "error" not in result, result
    np.testing.assert_allclose(
        [float(x) for x in result["prediction"].split(",")], xgb_v1.expected[:2], rtol=1e-6
    )

    described = sm.describe_endpoint(EndpointName=unique)
    assert described["EndpointStatus"] == "InService"
    assert described["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    assert sm.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "Approved"


def test_the_sdk_cannot_approve_a_pending_version_by_deploying_it(
    tmp_path: Path, server: Server, sm, unique, xgb_v1: Trained
) -> None:
    pytest.importorskip("sagemaker")
    arn = register(sm, unique, xgb_v1, status="PendingManualApproval")
    result = _run_user_code(tmp_path, server, arn, unique, xgb_v1.csv_rows(1))
    assert result["error"] == "ClientError"
    assert "ValidationException" in result["message"]
    assert "does not approve a version on deploy" in result["message"]
    assert sm.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "PendingManualApproval"
    assert not sm.list_endpoints(NameContains=unique)["Endpoints"]


def test_with_allow_unapproved_deploy_the_sdk_approves_and_deploys(tmp_path: Path, xgb_v1: Trained) -> None:
    pytest.importorskip("sagemaker")
    from tests.conftest import client

    srv = Server(tmp_path / "data", args=["--allow-unapproved-deploy"])
    srv.data_dir.mkdir()
    srv.start()
    try:
        sm = client(srv.url)
        arn = register(sm, "g", xgb_v1, status="PendingManualApproval")
        result = _run_user_code(tmp_path, srv, arn, "lenient", xgb_v1.csv_rows(1))
        assert float(result["prediction"]) == pytest.approx(float(xgb_v1.expected[0]), rel=1e-6)
        assert sm.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "Approved"
    finally:
        srv.stop()
