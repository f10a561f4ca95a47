"""The metrics ingester on a real store (SQLite, and PostgreSQL when configured) with ``file://``
metrics files, a dead S3 endpoint, and a flaky artifact store: outcomes, reasons, retries."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from modelreg.artifacts import ArtifactUnreadable, LocalArtifactStore
from modelreg.artifacts.s3 import S3ArtifactStore
from modelreg.sagemaker.metrics_ingest import (
    MetricsIngester,
    find_sources,
    is_json,
    is_transient,
    record_sources,
)
from modelreg.sagemaker.promotion import MAX_METRICS_BYTES
from modelreg.store import open_store
from modelreg.store.rows import MetricSource
from modelreg.store.sql import SqlStore
from tests.server import free_port
from tests.store.metrics_rows import add_group, add_version


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """A store on SQLite, and on PostgreSQL when MODELREG_TEST_POSTGRES_URL is set."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'modelreg.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
    opened = open_store(url)
    assert isinstance(opened, SqlStore)
    yield opened
    opened.close()


def statistics(uri: str, content_type: str = "application/json") -> dict[str, Any]:
    return {"ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": content_type, "S3Uri": uri}}}}


def register(store: SqlStore, version: int, package: dict[str, Any], group: str = "g") -> str:
    """A version whose body (and CreateModelPackage request) is ``package``; its ARN."""
    with store.read() as tx:
        found = tx.get_group("us-east-1", group)
    gid = found.id if found and found.id else add_group(store, group)
    row = add_version(store, gid, version, body=package)
    with store.write() as tx:
        record_sources(tx, row, package, 0)
    return row.arn


def ingest(store: SqlStore, artifacts: Any, **options: Any) -> None:
    """Run passes until no source is pending (bounded), as the server's task does."""
    ingester = MetricsIngester(store, artifacts, **options)
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            ingester.run_once()
            with store.read() as tx:
                due_us = tx.next_metric_source_due_us()
            if due_us is None:
                return
            time.sleep(min(0.05, max(0.0, due_us / 1e6 - time.time())))  # until the retry is due
        raise AssertionError("metric sources still pending")
    finally:
        ingester._pool.shutdown()


def outcome(store: SqlStore, arn: str) -> tuple[dict[str, float], list[MetricSource]]:
    with store.read() as tx:
        return tx.metrics_of([arn])[arn], tx.list_metric_sources([arn])


def write(path: Path, content: Any) -> str:
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return path.as_uri()


def test_file_uris_in_both_formats(store: SqlStore, tmp_path: Path) -> None:
    sagemaker = {"version": 0.0, "regression_metrics": {"mse": {"value": 1.5}, "r2": {"value": 0.7}}}
    flat = {"auc": 0.91, "latency_p99_ms": 12}
    first = register(store, 1, statistics(write(tmp_path / "sm.json", sagemaker)))
    second = register(store, 2, statistics(write(tmp_path / "flat.json", flat)))
    ingest(store, LocalArtifactStore())
    metrics, [src] = outcome(store, first)
    assert metrics == {"mse": 1.5, "r2": 0.7}
    assert (src.status, src.attempts, src.error) == ("read", 1, None)
    assert src.sha256 == hashlib.sha256((tmp_path / "sm.json").read_bytes()).hexdigest()
    assert outcome(store, second)[0] == {"auc": 0.91, "latency_p99_ms": 12.0}


def test_unreadable_files_fail_with_their_reason(store: SqlStore, tmp_path: Path) -> None:
    (tmp_path / "folder.json").mkdir()
    big = tmp_path / "big.json"
    big.write_bytes(b'{"auc": 0.9, "pad": "' + b"x" * MAX_METRICS_BYTES + b'"}')
    cases = {
        (tmp_path / "missing.json").as_uri(): "does not exist",
        (tmp_path / "folder.json").as_uri(): "is a folder",
        big.as_uri(): f"larger than {MAX_METRICS_BYTES} bytes",
        write(tmp_path / "text.json", b"auc: 0.9"): "not valid JSON",
        write(tmp_path / "none.json", {"name": "x"}): "holds no numeric metric",
        write(tmp_path / "many.json", {f"m{i}": i for i in range(1001)}): "at most 1000 are kept",
        "relative/metrics.json": "is a relative path",
    }
    arns = {uri: register(store, i, statistics(uri)) for i, uri in enumerate(cases, 1)}
    ingest(store, LocalArtifactStore())
    for uri, reason in cases.items():
        metrics, [src] = outcome(store, arns[uri])
        assert metrics == {}
        assert src.status == "failed" and src.attempts == 1
        assert reason in (src.error or ""), (uri, src.error)


def test_long_metric_names_are_skipped_with_a_note(store: SqlStore, tmp_path: Path) -> None:
    arn = register(store, 1, statistics(write(tmp_path / "m.json", {"auc": 0.9, "n" * 300: 1.0})))
    ingest(store, LocalArtifactStore())
    metrics, [src] = outcome(store, arn)
    assert metrics == {"auc": 0.9}
    assert src.status == "read"
    assert src.error == "skipped 1 metric name(s) longer than 256 characters"


def test_a_metric_name_with_a_nul_character_is_skipped_and_spoils_nothing_else(
    store: SqlStore, tmp_path: Path
) -> None:
    # PostgreSQL cannot hold U+0000 in a name: the file's other metrics, and the other files read
    # in the same pass, must still be recorded
    spoiled = register(store, 1, statistics(write(tmp_path / "nul.json", {"auc": 0.9, "a\u0000b": 1.0})))
    clean = register(store, 2, statistics(write(tmp_path / "ok.json", {"auc": 0.8})))
    only_nul = register(store, 3, statistics(write(tmp_path / "only.json", {"\u0000": 1.0})))
    ingest(store, LocalArtifactStore())
    metrics, [src] = outcome(store, spoiled)
    assert metrics == {"auc": 0.9}
    assert (src.status, src.error) == ("read", "skipped 1 metric name(s) holding the NUL character")
    assert outcome(store, clean)[0] == {"auc": 0.8}
    metrics, [src] = outcome(store, only_nul)
    assert metrics == {} and src.status == "failed"
    assert src.error == (
        "every metric name in the file is longer than 256 characters or holds the NUL character."
    )


class Flaky:
    """An artifact store that cannot reach its endpoint ``failures`` times, then serves ``data``."""

    def __init__(self, failures: int, data: bytes = b'{"auc": 0.5}') -> None:
        self.failures, self.data, self.calls = failures, data, 0

    def read(self, uri: str, *, max_bytes: int | None = None) -> bytes:
        self.calls += 1
        if self.calls <= self.failures:
            try:
                raise EndpointConnectionError(endpoint_url="http://s3.invalid")
            except EndpointConnectionError:
                raise ArtifactUnreadable(f"{uri} cannot be read from S3: could not connect.") from None
        return self.data

    def sha256(self, uri: str) -> str:
        return hashlib.sha256(self.read(uri)).hexdigest()

    def fetch_to_file(self, uri: str, dest: Path) -> str:
        raise NotImplementedError


def test_an_unreachable_endpoint_is_retried_then_gives_up(store: SqlStore) -> None:
    recovers = register(store, 1, statistics("s3://bucket/a.json"))
    ingest(store, Flaky(failures=2), retry_base_seconds=0.001, max_attempts=3)
    metrics, [src] = outcome(store, recovers)
    assert (metrics, src.status, src.attempts, src.error) == ({"auc": 0.5}, "read", 3, None)

    gives_up = register(store, 2, statistics("s3://bucket/b.json"))
    ingest(store, Flaky(failures=10), retry_base_seconds=0.001, max_attempts=3)
    metrics, [src] = outcome(store, gives_up)
    assert (metrics, src.status, src.attempts) == ({}, "failed", 3)
    assert (
        src.error
        == "s3://bucket/b.json cannot be read from S3: could not connect (gave up after 3 attempts)."
    )


def test_retries_wait_their_backoff(store: SqlStore) -> None:
    arn = register(store, 1, statistics("s3://bucket/a.json"))
    flaky = Flaky(failures=1)
    ingester = MetricsIngester(store, flaky, retry_base_seconds=30)
    try:
        assert 0 < ingester.run_once() <= ingester.interval  # read once, failed, retry in >= 15 s
        assert ingester.run_once() > 0  # nothing is due: not read again yet
        assert flaky.calls == 1
    finally:
        ingester._pool.shutdown()
    _, [src] = outcome(store, arn)
    assert (src.status, src.attempts) == ("pending", 1)
    assert "could not connect" in (src.error or "")


def test_real_s3_store_errors_are_classified(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    dead = S3ArtifactStore(endpoint_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ArtifactUnreadable) as unreachable:
        dead.read("s3://bucket/metrics.json", max_bytes=100)
    assert is_transient(unreachable.value)

    def client_error(status: int, code: str) -> ArtifactUnreadable:
        try:
            raise ClientError(
                {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Get"
            )
        except ClientError:
            try:
                raise ArtifactUnreadable("s3://b/k cannot be read") from None
            except ArtifactUnreadable as wrapped:
                return wrapped

    assert is_transient(client_error(503, "ServiceUnavailable"))
    assert is_transient(client_error(400, "SlowDown"))
    assert not is_transient(client_error(403, "AccessDenied"))
    assert not is_transient(ArtifactUnreadable("too large"))


def test_only_json_statistics_are_parsed_and_every_file_is_hashed(store: SqlStore, tmp_path: Path) -> None:
    csv = write(tmp_path / "stats.csv", b"auc,0.9\n")
    constraints = write(tmp_path / "constraints.json", {"version": 0.0, "features": []})
    package = {
        "ModelMetrics": {
            "ModelQuality": {
                "Statistics": {"ContentType": "text/csv", "S3Uri": csv},
                "Constraints": {"ContentType": "application/json", "S3Uri": constraints},
            }
        },
        "DriftCheckBaselines": {"Bias": {"ConfigFile": {"S3Uri": constraints}}},
    }
    arn = register(store, 1, package)
    ingest(store, LocalArtifactStore())
    metrics, sources = outcome(store, arn)
    assert metrics == {}  # no "version": 0.0 metric from the constraints
    assert [(s.member, s.status) for s in sources] == [
        ("ModelQuality.Statistics", "read"),
        ("ModelQuality.Constraints", "read"),
        ("DriftCheckBaselines.Bias.ConfigFile", "read"),
    ]
    assert sources[0].sha256 == hashlib.sha256(b"auc,0.9\n").hexdigest()


def test_a_source_of_a_deleted_version_is_dropped(store: SqlStore, tmp_path: Path) -> None:
    arn = register(store, 1, statistics(write(tmp_path / "m.json", {"auc": 0.9})))
    with store.write() as tx:
        row = tx.get_package_by_arn(arn)
        assert row is not None and row.id is not None
        tx.delete_package(row.id)  # as if deleted between the claim and the read
    ingest(store, LocalArtifactStore())
    metrics, [src] = outcome(store, arn)
    assert metrics == {}
    assert (src.status, src.error) == ("failed", "the model package no longer exists.")


def test_find_sources_and_json_types() -> None:
    package = {
        "ModelMetrics": {
            "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": "s3://b/s.json"}},
            "Bias": {"Report": {"ContentType": "application/json", "S3Uri": "s3://b/bias.json"}},
            "Explainability": {},
        },
        "DriftCheckBaselines": {
            "ModelDataQuality": {"Constraints": {"ContentType": "application/json", "S3Uri": "s3://b/c.json"}}
        },
    }
    assert find_sources(package) == [
        ("ModelQuality.Statistics", "s3://b/s.json"),
        ("Bias.Report", "s3://b/bias.json"),
        ("DriftCheckBaselines.ModelDataQuality.Constraints", "s3://b/c.json"),
    ]
    assert find_sources({"InferenceSpecification": {}}) == []
    assert is_json("application/json", "s3://b/k")
    assert is_json("application/json; charset=utf-8", "s3://b/k")
    assert is_json("text/json", "s3://b/k")
    assert is_json("application/vnd.amazonaws+json", "s3://b/k")
    assert is_json("text/plain", "s3://b/metrics.JSON")
    assert not is_json("text/csv", "s3://b/metrics.csv")
    assert is_json(None, "s3://b/metrics.json?versionId=1")
