"""Where handlers run: inline operations on the event loop when the store is local, everything
else (and an inline handler that needs other blocking I/O) in a worker thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelreg.app import build_app
from modelreg.aws import dispatch
from modelreg.config import Settings
from modelreg.store.base import StoreBusy

HEADERS = {
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Target": "SageMaker.DescribeModelPackageGroup",
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDRAW/20261126/us-east-1/sagemaker/aws4_request, "
    "SignedHeaders=host, Signature=" + "0" * 64,
}


class Recorder:
    """A stand-in DescribeModelPackageGroup that records where each call ran."""

    def __init__(self, needs_io: bool) -> None:
        self.needs_io = needs_io
        self.calls: list[tuple[bool, bool]] = []  # (ran on the loop's thread, ctx.on_event_loop)
        self.loop_thread: threading.Thread | None = None

    def __call__(self, ctx: dispatch.RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((threading.current_thread() is self.loop_thread, ctx.on_event_loop))
        if self.needs_io:
            ctx.allow_blocking_io()
        return {"ModelPackageGroupName": params["ModelPackageGroupName"]}


def call_once(tmp_path: Path, recorder: Recorder, *, local: bool = True) -> httpx.Response:
    app = build_app(Settings(data_dir=tmp_path, serving=False, delivery_worker=False, metrics_ingest=False))
    app.state.store.local = local

    async def go() -> httpx.Response:
        recorder.loop_thread = threading.current_thread()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.post("/", content=b'{"ModelPackageGroupName": "g"}', headers=HEADERS)

    try:
        return asyncio.run(go())
    finally:
        app.state.store.close()


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Recorder:
    fake = Recorder(needs_io=getattr(request, "param", False))
    monkeypatch.setitem(dispatch._HANDLERS, ("sagemaker", "DescribeModelPackageGroup"), fake)
    return fake


def test_an_inline_operation_runs_on_the_event_loop_with_a_local_store(tmp_path, recorder) -> None:
    assert dispatch.runs_inline("sagemaker", "DescribeModelPackageGroup")
    response = call_once(tmp_path, recorder)
    assert response.status_code == 200
    assert response.json() == {"ModelPackageGroupName": "g"}
    assert recorder.calls == [(True, True)]


@pytest.mark.parametrize("recorder", [True], indirect=True)
def test_an_inline_handler_that_needs_blocking_io_runs_again_in_a_thread(tmp_path, recorder) -> None:
    response = call_once(tmp_path, recorder)
    assert response.status_code == 200
    assert recorder.calls == [(True, True), (False, False)]


def test_with_a_remote_store_every_handler_runs_in_a_thread(tmp_path, recorder) -> None:
    response = call_once(tmp_path, recorder, local=False)
    assert response.status_code == 200
    assert recorder.calls == [(False, False)]


def test_operations_not_marked_inline_run_in_a_thread(monkeypatch, tmp_path, recorder) -> None:
    monkeypatch.setattr(dispatch, "_INLINE", dispatch._INLINE - {("sagemaker", "DescribeModelPackageGroup")})
    response = call_once(tmp_path, recorder)
    assert response.status_code == 200
    assert recorder.calls == [(False, False)]


def test_an_inline_write_does_not_wait_on_the_event_loop_for_another_writer(tmp_path) -> None:
    """While another thread holds the SQLite write transaction, an inline write request moves to
    a worker thread (the event loop keeps serving) and completes once the other one commits."""
    app = build_app(Settings(data_dir=tmp_path, serving=False, delivery_worker=False, metrics_ingest=False))
    store = app.state.store
    holding, release, waiting_in_thread = threading.Event(), threading.Event(), threading.Event()
    write = store.write

    def spying_write(*, timeout: float | None = None) -> Any:
        if threading.current_thread() is not threading.main_thread():
            waiting_in_thread.set()
        return write(timeout=timeout)

    store.write = spying_write

    def hold_the_write_lock() -> None:
        with write():
            holding.set()
            release.wait(timeout=30)

    async def go() -> tuple[bool, httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            create = asyncio.create_task(
                client.post(
                    "/",
                    content=b'{"ModelPackageGroupName": "g"}',
                    headers=dict(HEADERS, **{"X-Amz-Target": "SageMaker.CreateModelPackageGroup"}),
                )
            )
            moved = await asyncio.to_thread(waiting_in_thread.wait, 30)
            # the loop is free while the create waits in its thread: a read answers meanwhile
            listing = await client.post(
                "/",
                content=b"{}",
                headers=dict(HEADERS, **{"X-Amz-Target": "SageMaker.ListModelPackageGroups"}),
            )
            still_waiting = not create.done()
            release.set()
            return moved and still_waiting, await create, listing

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    try:
        assert holding.wait(timeout=30)
        moved_to_a_thread, created, listed = asyncio.run(go())
    finally:
        release.set()
        holder.join()
        store.close()
    assert moved_to_a_thread
    assert listed.status_code == 200 and listed.json()["ModelPackageGroupSummaryList"] == []
    assert created.status_code == 200
    assert created.json()["ModelPackageGroupArn"].endswith(":model-package-group/g")


class TimeoutRecordingStore:
    """A store whose writes record the timeout they were given; busy ones raise StoreBusy."""

    url, local = "sqlite://", True

    def __init__(self, busy: bool) -> None:
        self.busy = busy
        self.timeouts: list[float | None] = []

    @contextlib.contextmanager
    def write(self, *, timeout: float | None = None) -> Iterator[None]:
        self.timeouts.append(timeout)
        if self.busy and timeout is not None:
            raise StoreBusy()
        yield None


def test_only_the_first_inline_write_waits_briefly_and_a_busy_one_moves_to_a_thread() -> None:
    store = TimeoutRecordingStore(busy=False)
    loop_store = dispatch.LoopStore(store)  # type: ignore[arg-type]
    for _ in range(2):
        with loop_store.write():
            pass
    assert store.timeouts == [dispatch.LOOP_WAIT_SECONDS, None]
    assert 0 < dispatch.LOOP_WAIT_SECONDS <= 0.05  # short enough to be a pause, not a stall

    busy = dispatch.LoopStore(TimeoutRecordingStore(busy=True))  # type: ignore[arg-type]
    with pytest.raises(dispatch.NeedsThread), busy.write():
        pass
