"""Several modelreg servers on one PostgreSQL database share the registry without colliding."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import client
from tests.server import Server


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    return postgres_database.replace("postgresql+psycopg://", "postgresql://")


def test_two_servers_on_one_database_never_share_a_version(postgres_url: str, tmp_path: Path) -> None:
    servers = [Server(tmp_path, args=["--store", postgres_url]).start() for _ in range(2)]
    try:
        client(servers[0].url).create_model_package_group(ModelPackageGroupName="shared")

        def register(i: int) -> list[str]:
            sm = client(servers[i % 2].url, access_key=f"AKID{i}")
            return [
                sm.create_model_package(
                    ModelPackageGroupName="shared",
                    InferenceSpecification={"Containers": [{"Image": "img:1"}]},
                )["ModelPackageArn"]
                for _ in range(15)
            ]

        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            arns = [a for batch in pool.map(register, range(6)) for a in batch]
        assert sorted(int(a.rsplit("/", 1)[1]) for a in arns) == list(range(1, 91))
        for srv in servers:
            listed = client(srv.url).list_model_packages(
                ModelPackageGroupName="shared", SortOrder="Descending", MaxResults=1
            )["ModelPackageSummaryList"]
            assert listed[0]["ModelPackageVersion"] == 90
    finally:
        for srv in servers:
            srv.stop()


def test_aws_endpoint_url_alone_points_unmodified_code_at_modelreg(server) -> None:
    code = (
        "import boto3; sm = boto3.client('sagemaker'); "
        "print(sm.create_model_package_group(ModelPackageGroupName='env-only')['ModelPackageGroupArn'])"
    )
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": server.url,
        "AWS_ACCESS_KEY_ID": "env-user",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "arn:aws:sagemaker:eu-west-1:123456789012:model-package-group/env-only"
