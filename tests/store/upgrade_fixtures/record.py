"""Record a registry written by an older modelreg, for ``tests/store/test_upgrades.py``.

The fixtures beside this file were made with it, each by the code of the release it is named after
(the last commit before the next migration was added), checked out in a git worktree:

    git worktree add /tmp/old 87355a5^          # schema revision 0001
    git worktree add /tmp/old f3944ba^          # schema revision 0007
    .venv/bin/python tests/store/upgrade_fixtures/record.py /tmp/old revision_0001.json

It starts the old checkout's ``modelreg serve`` on SQLite, makes a registry through boto3 as users do
(groups with tags and a policy, versions approved, rejected and pending, a deleted version, an
unversioned package, a retried create), and writes every table's rows as the old server stored
them, with what the old server answered for each resource. The test loads the rows into a
database at that revision, on SQLite and on PostgreSQL, upgrades it, and checks that the new
server gives the same answers and goes on from there.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config

GROUP = "fraud-detection-models"
OTHER_GROUP = "churn-models"
UNVERSIONED = "standalone-scorer"
POLICY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}}]}'


def _spec(n: int) -> dict[str, Any]:
    return {
        "Containers": [
            {
                "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                "ModelDataUrl": f"s3://my-bucket/models/fraud-xgb-v{n}/output/model.tar.gz",
            }
        ],
        "SupportedContentTypes": ["text/csv", "application/json"],
        "SupportedResponseMIMETypes": ["text/csv", "application/json"],
        "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"],
        "SupportedTransformInstanceTypes": ["ml.m5.xlarge"],
    }


def make_registry(sm: Any) -> dict[str, list[str]]:
    """The registry the fixtures hold; returns the ARNs of its packages by group."""
    sm.create_model_package_group(
        ModelPackageGroupName=GROUP,
        ModelPackageGroupDescription="Models for real-time fraud detection",
        Tags=[{"Key": "Team", "Value": "risk-engineering"}],
    )
    sm.put_model_package_group_policy(ModelPackageGroupName=GROUP, ResourcePolicy=POLICY)
    sm.create_model_package_group(ModelPackageGroupName=OTHER_GROUP)
    arns: dict[str, list[str]] = {GROUP: [], OTHER_GROUP: [], UNVERSIONED: []}
    for n in range(1, 5):
        arn = sm.create_model_package(
            ModelPackageGroupName=GROUP,
            ModelPackageDescription=f"XGBoost fraud classifier {n}",
            InferenceSpecification=_spec(n),
            ModelApprovalStatus="PendingManualApproval",
            ModelMetrics={
                "ModelQuality": {
                    "Statistics": {
                        "ContentType": "application/json",
                        "S3Uri": f"s3://my-bucket/models/fraud-xgb-v{n}/evaluation/metrics.json",
                    }
                }
            },
            CustomerMetadataProperties={"training_job": f"fraud-xgb-training-{n}", "feature_count": "45"},
            ClientToken=f"register-fraud-{n}",
        )["ModelPackageArn"]
        arns[GROUP].append(arn)
    # a retried create: the same token and parameters give the first version back
    retried = sm.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelPackageDescription="XGBoost fraud classifier 1",
        InferenceSpecification=_spec(1),
        ModelApprovalStatus="PendingManualApproval",
        ModelMetrics={
            "ModelQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": "s3://my-bucket/models/fraud-xgb-v1/evaluation/metrics.json",
                }
            }
        },
        CustomerMetadataProperties={"training_job": "fraud-xgb-training-1", "feature_count": "45"},
        ClientToken="register-fraud-1",
    )["ModelPackageArn"]
    assert retried == arns[GROUP][0], (retried, arns[GROUP][0])
    sm.update_model_package(
        ModelPackageArn=arns[GROUP][0],
        ModelApprovalStatus="Approved",
        ApprovalDescription="Reviewed by ML team. AUC improved by 3%.",
    )
    sm.update_model_package(
        ModelPackageArn=arns[GROUP][1], ModelApprovalStatus="Rejected", ApprovalDescription="Recall too low"
    )
    sm.update_model_package(
        ModelPackageArn=arns[GROUP][2],
        CustomerMetadataProperties={"reviewer": "alice"},
        CustomerMetadataPropertiesToRemove=["feature_count"],
    )
    sm.delete_model_package(ModelPackageName=arns[GROUP].pop())  # version 4: never numbered again
    arns[OTHER_GROUP].append(
        sm.create_model_package(
            ModelPackageGroupName=OTHER_GROUP,
            InferenceSpecification={"Containers": [{"Image": "churn:1"}]},
            ModelApprovalStatus="Approved",
        )["ModelPackageArn"]
    )
    arns[UNVERSIONED].append(
        sm.create_model_package(
            ModelPackageName=UNVERSIONED,
            InferenceSpecification={"Containers": [{"Image": "scorer:1"}]},
            CertifyForMarketplace=False,
        )["ModelPackageArn"]
    )
    return arns


def answers(sm: Any, url: str, arns: dict[str, list[str]]) -> dict[str, Any]:
    """What a server answers about the registry: the wire's JSON, as the test compares it."""
    out: dict[str, Any] = {"packages": {}, "groups": {}, "history": {}}
    for arn in [a for group_arns in arns.values() for a in group_arns]:
        out["packages"][arn] = _plain(sm.describe_model_package(ModelPackageName=arn))
    for name in (GROUP, OTHER_GROUP):
        group = _plain(sm.describe_model_package_group(ModelPackageGroupName=name))
        group["Tags"] = sm.list_tags(ResourceArn=group["ModelPackageGroupArn"])["Tags"]
        out["groups"][name] = group
    out["policy"] = sm.get_model_package_group_policy(ModelPackageGroupName=GROUP)["ResourcePolicy"]
    for version in (1, 2, 3):
        history = httpx.get(f"{url}/api/model-packages/{GROUP}/{version}/history").json()
        out["history"][str(version)] = history
    return out


def _plain(response: dict[str, Any]) -> dict[str, Any]:
    response = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    return json.loads(json.dumps(response, default=lambda v: v.timestamp() if isinstance(v, datetime) else v))


def rows(database: Path) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows (but alembic's), in insertion order."""
    conn = sqlite3.connect(database)
    conn.row_factory = sqlite3.Row
    tables = [
        name
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        if name != "alembic_version" and not name.startswith("sqlite_")
    ]
    out = {
        table: [dict(row) for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid')]
        for table in tables
    }
    (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    conn.close()
    return {"revision": revision, "tables": out}  # type: ignore[dict-item]


def main(old_checkout: str, output: str) -> None:
    port = 5099
    with tempfile.TemporaryDirectory() as data_dir:
        server = subprocess.Popen(  # run from the old checkout, so that its ``modelreg`` is imported
            [sys.executable, "-m", "modelreg.cli", "serve", "--port", str(port), "--data-dir", data_dir],
            cwd=old_checkout,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                time.sleep(0.1)
            sm = boto3.client(
                "sagemaker",
                endpoint_url=url,
                region_name="us-east-1",
                aws_access_key_id="AKIDRECORDER",
                aws_secret_access_key="secret",
                config=Config(retries={"max_attempts": 1}),
            )
            arns = make_registry(sm)
            recorded = {"arns": arns, "answers": answers(sm, url, arns)}
        finally:
            server.terminate()
            server.wait(timeout=30)
        recorded.update(rows(Path(data_dir) / "modelreg.db"))
    Path(__file__).with_name(output).write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
