"""The S3 artifact store against moto's S3 server (a local stand-in for S3 or MinIO)."""

from __future__ import annotations

import hashlib
import os

import pytest

from modelreg.artifacts import ArtifactNotFound, ArtifactUnreadable, open_artifacts
from modelreg.artifacts.s3 import S3ArtifactStore, split_s3_uri
from modelreg.config import Settings
from tests.artifacts.moto_server import CREDENTIALS, MotoServer
from tests.server import free_port


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def bucket(moto_s3: MotoServer, unique: str) -> str:
    moto_s3.s3().create_bucket(Bucket=unique)
    return unique


def test_read_and_sha256(moto_s3: MotoServer, bucket: str, credentials: None) -> None:
    data = os.urandom(2 * 1024 * 1024 + 5)
    moto_s3.s3().put_object(Bucket=bucket, Key="models/v1/model.tar.gz", Body=data)
    moto_s3.s3().put_object(Bucket=bucket, Key="models/v1/metrics.json", Body=b'{"auc": 0.9}')
    store = S3ArtifactStore(endpoint_url=moto_s3.url)
    assert store.read(f"s3://{bucket}/models/v1/metrics.json") == b'{"auc": 0.9}'
    assert store.sha256(f"s3://{bucket}/models/v1/model.tar.gz") == hashlib.sha256(data).hexdigest()
    with pytest.raises(ArtifactUnreadable, match="larger than 1024 bytes"):
        store.read(f"s3://{bucket}/models/v1/model.tar.gz", max_bytes=1024)


def test_the_router_reads_s3_through_the_configured_endpoint(
    moto_s3: MotoServer, bucket: str, credentials: None
) -> None:
    moto_s3.s3().put_object(Bucket=bucket, Key="m.json", Body=b"{}")
    artifacts = open_artifacts(Settings(s3_endpoint_url=moto_s3.url))
    assert artifacts.read(f"s3://{bucket}/m.json") == b"{}"


def test_missing_key_and_bucket_are_not_found(moto_s3: MotoServer, bucket: str, credentials: None) -> None:
    store = S3ArtifactStore(endpoint_url=moto_s3.url)
    with pytest.raises(ArtifactNotFound, match="no such object"):
        store.read(f"s3://{bucket}/nope.json")
    with pytest.raises(ArtifactNotFound, match="no such bucket"):
        store.sha256("s3://no-such-bucket-for-modelreg/x.json")


def test_bad_uris_and_unreachable_endpoints(credentials: None) -> None:
    with pytest.raises(ArtifactUnreadable, match="not an s3://bucket/key URI"):
        split_s3_uri("s3://bucket-only")
    with pytest.raises(ArtifactUnreadable, match="not an s3://bucket/key URI"):
        split_s3_uri("s3:///key")
    down = f"http://127.0.0.1:{free_port()}"
    store = S3ArtifactStore(endpoint_url=down, connect_timeout=1, read_timeout=1)
    with pytest.raises(ArtifactUnreadable, match=f"cannot be read from S3 at {down}"):
        store.read("s3://b/k.json")


def test_no_credentials_is_a_clear_error(
    moto_s3: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ArtifactUnreadable, match="no AWS credentials"):
        S3ArtifactStore(endpoint_url=moto_s3.url).read("s3://b/k.json")


def test_fetch_size_and_delete(moto_s3: MotoServer, bucket: str, credentials: None, tmp_path) -> None:
    s3 = moto_s3.s3()
    s3.put_object(Bucket=bucket, Key="m/model.tar.gz", Body=b"z" * 70_000)
    store = S3ArtifactStore(endpoint_url=moto_s3.url)
    uri = f"s3://{bucket}/m/model.tar.gz"
    dest = tmp_path / "model.tar.gz"
    assert store.fetch_to_file(uri, dest) == hashlib.sha256(b"z" * 70_000).hexdigest()
    assert dest.read_bytes() == b"z" * 70_000
    assert store.size(uri) == 70_000
    store.delete(uri)
    with pytest.raises(ArtifactNotFound):
        store.size(uri)
    with pytest.raises(ArtifactNotFound):
        store.delete(uri)
