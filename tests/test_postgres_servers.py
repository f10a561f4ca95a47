"""Several modelreg servers on one PostgreSQL database share the registry without colliding."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import threading
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


def test_tags_added_at_once_from_two_servers_all_land_within_the_limit(
    postgres_url: str, tmp_path: Path
) -> None:
    """AddTags of the same keys at once (was a 500: both requests inserted the key), and of
    different keys that together pass the 50-tag limit (was over the limit: each request counted
    the tags without the other's)."""
    servers = [Server(tmp_path, args=["--store", postgres_url]).start() for _ in range(2)]
    try:
        group = client(servers[0].url).create_model_package_group(ModelPackageGroupName="tagged")
        arn = group["ModelPackageGroupArn"]
        for attempt in range(5):
            start = threading.Barrier(6)

            def tag(i: int, attempt: int = attempt, start: threading.Barrier = start) -> str:
                sm = client(servers[i % 2].url)
                start.wait(timeout=30)
                sm.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": f"{attempt}-{i}"}])
                return "ok"

            with concurrent.futures.ThreadPoolExecutor(6) as pool:
                assert list(pool.map(tag, range(6))) == ["ok"] * 6
        [team] = client(servers[1].url).list_tags(ResourceArn=arn)["Tags"]
        assert team["Key"] == "team" and team["Value"].startswith("4-")

        start = threading.Barrier(2)

        def tag_many(i: int) -> str:
            sm = client(servers[i].url)
            start.wait(timeout=30)
            try:
                sm.add_tags(ResourceArn=arn, Tags=[{"Key": f"k{i}-{n}", "Value": "v"} for n in range(30)])
            except sm.exceptions.ResourceLimitExceeded:
                return "refused"
            return "ok"

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            assert sorted(pool.map(tag_many, range(2))) == ["ok", "refused"]
        tags = client(servers[0].url).list_tags(ResourceArn=arn, MaxResults=100)["Tags"]
        assert len(tags) == 31
    finally:
        for srv in servers:
            srv.stop()


def test_one_client_token_sent_at_once_to_two_servers_creates_one_version(
    postgres_url: str, tmp_path: Path
) -> None:
    """A retry that reaches another server while the first attempt is still running: whichever
    commits first creates the version, the others answer with its ARN (a request that loses the race
    for the token at commit replays it)."""
    servers = [Server(tmp_path, args=["--store", postgres_url]).start() for _ in range(2)]
    try:
        client(servers[0].url).create_model_package_group(ModelPackageGroupName="retried")
        for attempt in range(5):
            token = f"retry-{attempt}"
            start = threading.Barrier(6)

            def create(i: int, token: str = token, start: threading.Barrier = start) -> str:
                sm = client(servers[i % 2].url)
                start.wait(timeout=30)
                return sm.create_model_package(
                    ModelPackageGroupName="retried",
                    InferenceSpecification={"Containers": [{"Image": "img:1"}]},
                    ClientToken=token,
                )["ModelPackageArn"]

            with concurrent.futures.ThreadPoolExecutor(6) as pool:
                arns = set(pool.map(create, range(6)))
            assert arns == {f"arn:aws:sagemaker:us-east-1:123456789012:model-package/retried/{attempt + 1}"}
        listed = client(servers[1].url).list_model_packages(ModelPackageGroupName="retried", MaxResults=100)
        assert [p["ModelPackageVersion"] for p in listed["ModelPackageSummaryList"]] == [1, 2, 3, 4, 5]
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
