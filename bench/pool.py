"""Parallel clients: N worker processes, each with its own long-lived registry client.

Each worker builds one client (boto3 or MlflowClient) and keeps it for every batch it runs, so
its HTTP connection stays alive between requests as a real client's does. A batch starts in all
workers at once (a barrier); each worker times every request and stops at the batch's deadline
even if requests remain, so every loop is bounded in count and time.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import clients

_BARRIER_TIMEOUT = 120.0


@dataclass
class Batch:
    """The requests one worker makes for one workload."""

    op: str  # a RegistryClient method: register, describe, approve, latest_approved
    items: list[Any]
    deadline: float  # time.monotonic() after which the worker stops


@dataclass
class BatchResult:
    latencies_ns: list[int] = field(default_factory=list)
    first_start_ns: int = 0
    client_cpu_s: float = 0.0  # CPU the client process itself spent on the batch
    last_end_ns: int = 0
    outputs: list[Any] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    stopped_at_deadline: bool = False


def _call(client: clients.RegistryClient, op: str, item: Any) -> Any:
    method: Callable[..., Any] = getattr(client, op)
    return method(*item) if isinstance(item, tuple) else method(item)


def run_batch(client: clients.RegistryClient | None, batch: Batch, connect_error: str = "") -> BatchResult:
    """Make the batch's requests one after the other, timing each (perf_counter_ns, system-wide)."""
    cpu_before = time.process_time()
    result = BatchResult(first_start_ns=time.perf_counter_ns())
    for item in batch.items:
        if time.monotonic() > batch.deadline:
            result.stopped_at_deadline = True
            break
        start = time.perf_counter_ns()
        try:
            if client is None:
                raise RuntimeError(f"client could not be built: {connect_error}")
            output = _call(client, batch.op, item)
        except Exception as exc:
            output = None
            result.errors += 1
            if len(result.error_samples) < 3:
                result.error_samples.append(f"{type(exc).__name__}: {str(exc)[:300]}")
        end = time.perf_counter_ns()
        result.latencies_ns.append(end - start)
        if output is not None:
            result.outputs.append(output)
    result.last_end_ns = time.perf_counter_ns()
    result.client_cpu_s = time.process_time() - cpu_before
    return result


def default_sigterm() -> None:
    """A forked worker ends on SIGTERM, whatever handler the bench process installed."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _worker_main(api: str, url: str, inbox: Any, outbox: Any, barrier: Any) -> None:
    default_sigterm()
    client: clients.RegistryClient | None = None
    connect_error = ""
    while True:
        batch = inbox.get()
        if batch is None:
            return
        if client is None and not connect_error:
            try:
                client = clients.connect(api, url)
            except Exception as exc:
                connect_error = f"{type(exc).__name__}: {exc}"
        try:
            barrier.wait(timeout=_BARRIER_TIMEOUT)
        except threading.BrokenBarrierError:
            outbox.put(BatchResult(errors=len(batch.items), error_samples=["start barrier broken"]))
            continue
        outbox.put(run_batch(client, batch, connect_error))


class ClientPool:
    """``size`` client processes against one server; ``run`` makes one workload's requests."""

    def __init__(self, api: str, url: str, size: int) -> None:
        # fork: workers build their clients after the fork, never before
        self._start(
            mp.get_context("fork"), size, "bench-client", _worker_main, lambda i, inbox: (api, url, inbox)
        )

    def _start(
        self,
        ctx: Any,
        size: int,
        name: str,
        target: Callable[..., None],
        args_of: Callable[[int, Any], tuple[Any, ...]],
    ) -> None:
        """Start ``size`` processes ``target(*args_of(i, inbox), outbox, barrier)``."""
        self.size = size
        self.barrier = ctx.Barrier(size + 1)
        self.inboxes = [ctx.Queue() for _ in range(size)]
        self.outbox = ctx.Queue()
        self.workers = [
            ctx.Process(
                target=target,
                args=(*args_of(i, inbox), self.outbox, self.barrier),
                daemon=True,
                name=f"{name}-{i}",
            )
            for i, inbox in enumerate(self.inboxes)
        ]
        for worker in self.workers:
            worker.start()

    def run(
        self, op: str, items: list[Any], time_limit: float, before: Callable[[], None] = lambda: None
    ) -> list[BatchResult]:
        """Split ``items`` over the workers (round robin), call ``before`` once every worker is ready
        to start, start them together, and return each worker's result."""
        deadline = time.monotonic() + time_limit
        for i, inbox in enumerate(self.inboxes):
            inbox.put(Batch(op, items[i :: self.size], deadline))
        before()
        self.barrier.wait(timeout=_BARRIER_TIMEOUT)
        results = []
        for _ in self.workers:
            try:
                results.append(self.outbox.get(timeout=time_limit + 120))
            except queue.Empty:
                raise RuntimeError(f"a client process did not finish {op!r} in time") from None
        return results

    def close(self) -> None:
        """Ask every worker to exit; end (by PID) any that does not within a few seconds."""
        for inbox in self.inboxes:
            inbox.put(None)
        for worker in self.workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()
                worker.join(timeout=5)
