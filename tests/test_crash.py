"""An acknowledged write survives kill -9 of the server, and numbering stays unique."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import client, fresh_postgres_database
from tests.server import Server


@pytest.fixture(params=["sqlite", "postgresql"])
def store_args(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """``modelreg serve`` arguments for the store: SQLite in the data folder, or a fresh
    PostgreSQL database."""
    if request.param == "sqlite":
        yield []
        return
    with fresh_postgres_database() as url:
        yield ["--store", url]


@pytest.mark.slow
def test_kill_during_concurrent_registration_loses_no_acknowledged_version(
    tmp_path: Path, store_args: list[str]
) -> None:
    server = Server(tmp_path, args=store_args).start()
    sm = client(server.url)
    sm.create_model_package_group(ModelPackageGroupName="crash")
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(i: int) -> None:
        c = client(server.url, access_key=f"AKID{i}")
        for _ in range(2000):  # bounded; the kill ends it much sooner
            if stop.is_set():
                return
            try:
                arn = c.create_model_package(
                    ModelPackageGroupName="crash", InferenceSpecification={"Containers": [{"Image": "img:1"}]}
                )["ModelPackageArn"]
            except Exception:
                return  # the server is gone: this write was never acknowledged
            with lock:
                acknowledged.append(arn)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 150 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert len(acknowledged) >= 150

    restarted = Server(tmp_path, args=store_args).start()
    try:
        sm = client(restarted.url)
        pages = sm.get_paginator("list_model_packages").paginate(ModelPackageGroupName="crash")
        stored = [p["ModelPackageArn"] for page in pages for p in page["ModelPackageSummaryList"]]
        assert set(acknowledged) <= set(stored)
        versions = [int(a.rsplit("/", 1)[1]) for a in stored]
        assert len(versions) == len(set(versions))
        next_arn = sm.create_model_package(
            ModelPackageGroupName="crash", InferenceSpecification={"Containers": [{"Image": "i"}]}
        )["ModelPackageArn"]
        assert int(next_arn.rsplit("/", 1)[1]) > max(versions)
    finally:
        restarted.stop()
