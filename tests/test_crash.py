"""An acknowledged write survives kill -9 of the server, and numbering stays unique."""

from __future__ import annotations

import threading
import time

import pytest

from tests.conftest import client
from tests.server import Server


@pytest.mark.slow
def test_kill_during_concurrent_registration_loses_no_acknowledged_version(tmp_path) -> None:
    server = Server(tmp_path).start()
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

    restarted = Server(tmp_path).start()
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
