"""The default ServingBackend: every instance of every variant is a local worker process
(``python -m modelreg.serving.worker``) that speaks the SageMaker container contract on a Unix
socket. A model that crashes takes down its worker, never the registry; ``heal`` replaces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from modelreg.serving.base import (
    ContainerSpec,
    DeployError,
    EndpointNotFound,
    Invocation,
    InvocationResult,
    VariantNotFound,
    VariantSpec,
    WorkerInfo,
)
from modelreg.serving.frameworks import framework_for_image
from modelreg.serving.model_files import ModelFiles
from modelreg.serving.worker_client import WorkerClient, WorkerConnectionError

log = logging.getLogger("modelreg.serving")

#: how long an invocation may take, as SageMaker's real-time endpoints allow
INVOCATION_TIMEOUT = 60.0
_RETIRE_GRACE = 60.0


class WorkerUnavailable(Exception):
    """No worker of the chosen variant could take the request (they are restarting)."""


@dataclass(eq=False)
class _Worker:
    variant: str
    key: tuple[object, ...]
    framework: str
    model_dir: Path
    sha256: str
    environment: dict[str, str]
    socket: str
    proc: asyncio.subprocess.Process
    client: WorkerClient
    log_path: Path
    in_flight: int = 0

    def alive(self) -> bool:
        return self.proc.returncode is None


@dataclass
class _Variant:
    spec: VariantSpec
    workers: list[_Worker]
    _turn: itertools.count = field(default_factory=itertools.count)

    def next_worker(self) -> _Worker:
        live = [w for w in self.workers if w.alive()]
        if not live:
            raise WorkerUnavailable(f"every worker of variant {self.spec.name} is restarting")
        return live[next(self._turn) % len(live)]


@dataclass
class _Endpoint:
    change: int
    variants: dict[str, _Variant]

    def pick(self, target: str | None) -> _Variant:
        if target is not None:
            variant = self.variants.get(target)
            if variant is None:
                raise VariantNotFound(target)
            return variant
        weighted = [(v, v.spec.weight) for v in self.variants.values() if v.spec.weight > 0]
        if not weighted:
            weighted = [(v, 1.0) for v in self.variants.values()]
        if len(weighted) == 1:
            return weighted[0][0]
        return random.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def _container_key(container: ContainerSpec) -> tuple[object, ...]:
    return (container.image, container.model_data_url, tuple(sorted(container.environment.items())))


class ProcessBackend:
    """Worker processes on this machine (see ``ServingBackend``).

    Workers are not pinned to CPUs: the kernel spreads them over the CPUs and wakes a worker on
    the CPU of the process that just handed it a request, which pinning prevents. Measured with
    ``bench/inference.py`` on 2 vCPUs: 0.3 ms less per request than one CPU per worker."""

    def __init__(self, model_files: ModelFiles) -> None:
        self.model_files = model_files
        self._table: dict[str, _Endpoint] = {}
        self._run_dir_path: Path | None = None  # made when the first worker starts
        self._names = itertools.count(1)
        self._retiring: set[asyncio.Task[None]] = set()

    @property
    def _run_dir(self) -> Path:
        """Where worker sockets and logs live: short, as socket paths are limited to ~100 bytes."""
        if self._run_dir_path is None:
            self._run_dir_path = Path(tempfile.mkdtemp(prefix="modelreg-"))
        return self._run_dir_path

    # ------------------------------------------------------------------ deploy
    async def deploy(
        self, endpoint: str, change: int, variants: Sequence[VariantSpec]
    ) -> dict[tuple[str, str], str]:
        current = self._table.get(endpoint)
        reusable: list[_Worker] = [
            w for v in (current.variants.values() if current else []) for w in v.workers if w.alive()
        ]
        started: list[_Worker] = []
        digests: dict[tuple[str, str], str] = {}
        new_variants: dict[str, _Variant] = {}
        try:
            for spec in variants:
                if len(spec.containers) != 1:
                    raise DeployError(
                        f"Variant {spec.name} has {len(spec.containers)} containers; modelreg serves "
                        "single-container models."
                    )
                container = spec.containers[0]
                key = _container_key(container)
                kept = [w for w in reusable if w.variant == spec.name and w.key == key][: spec.instance_count]
                for worker in kept:
                    reusable.remove(worker)
                    digests[(container.owner_arn, container.model_data_url or "")] = worker.sha256
                missing = spec.instance_count - len(kept)
                fresh: list[_Worker] = []
                if missing > 0:
                    fresh = await self._start_workers(spec, container, missing, digests)
                    started.extend(fresh)
                new_variants[spec.name] = _Variant(spec, kept + fresh)
        except BaseException:
            await asyncio.gather(*(self._stop(w) for w in started))
            raise
        self._table[endpoint] = _Endpoint(change, new_variants)
        self._retire(reusable)  # what the new change does not use, once its requests are done
        return digests

    async def _start_workers(
        self, spec: VariantSpec, container: ContainerSpec, count: int, digests: dict[tuple[str, str], str]
    ) -> list[_Worker]:
        framework = framework_for_image(container.image)
        if framework is None:
            raise DeployError(
                f"modelreg cannot serve the image {container.image} of variant {spec.name}: it runs the "
                "SageMaker XGBoost (sagemaker-xgboost) and scikit-learn (sagemaker-scikit-learn) containers."
            )
        if not container.model_data_url:
            raise DeployError(f"Variant {spec.name} has no ModelDataUrl: there is no model to load.")
        model_dir, sha = await asyncio.to_thread(
            self.model_files.prepare, container.model_data_url, container.expected_sha256
        )
        digests[(container.owner_arn, container.model_data_url)] = sha
        key = _container_key(container)
        results = await asyncio.gather(
            *(
                self._start_worker(spec, key, framework, model_dir, sha, dict(container.environment))
                for _ in range(count)
            ),
            return_exceptions=True,
        )
        workers = [r for r in results if isinstance(r, _Worker)]
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            await asyncio.gather(*(self._stop(w) for w in workers))
            raise errors[0]
        return workers

    async def _start_worker(
        self,
        spec: VariantSpec,
        key: tuple[object, ...],
        framework: str,
        model_dir: Path,
        sha: str,
        environment: dict[str, str],
    ) -> _Worker:
        number = next(self._names)
        socket = str(self._run_dir / f"w{number}.sock")
        log_path = self._run_dir / f"w{number}.log"
        env = {**os.environ, "OMP_NUM_THREADS": "1", **environment}
        with open(log_path, "wb") as stderr:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "modelreg.serving.worker",
                "--framework", framework, "--model-dir", str(model_dir), "--uds", socket,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=stderr, env=env,
            )  # fmt: skip
        client = WorkerClient(socket, INVOCATION_TIMEOUT)
        worker = _Worker(
            spec.name, key, framework, model_dir, sha, environment, socket, proc, client, log_path
        )
        try:
            await self._wait_ready(worker, spec.startup_timeout_seconds)
        except BaseException:
            await self._stop(worker)
            raise
        return worker

    async def _wait_ready(self, worker: _Worker, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not worker.alive():
                raise DeployError(
                    f"The model of variant {worker.variant} failed to load: {_last_line(worker.log_path)}"
                )
            if os.path.exists(worker.socket):
                with contextlib.suppress(WorkerConnectionError, TimeoutError):
                    if (await worker.client.request("GET", "/ping", timeout=2.0)).status == 200:
                        return
            if time.monotonic() > deadline:
                raise DeployError(
                    f"The worker of variant {worker.variant} did not answer /ping within {timeout:g} s."
                )
            await asyncio.sleep(0.02)

    # ------------------------------------------------------------------ stop
    def _retire(self, workers: list[_Worker]) -> None:
        for worker in workers:
            task = asyncio.create_task(self._stop(worker, drain=True))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def _stop(self, worker: _Worker, drain: bool = False) -> None:
        deadline = time.monotonic() + _RETIRE_GRACE
        while drain and worker.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if worker.alive():
            with contextlib.suppress(ProcessLookupError):
                worker.proc.terminate()
            try:
                await asyncio.wait_for(worker.proc.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    worker.proc.kill()
                await worker.proc.wait()
        await worker.client.close()
        for path in (worker.socket, worker.log_path):
            with contextlib.suppress(OSError):
                os.unlink(path)

    async def undeploy(self, endpoint: str) -> None:
        gone = self._table.pop(endpoint, None)
        if gone is not None:
            await asyncio.gather(
                *(self._stop(w, drain=True) for v in gone.variants.values() for w in v.workers)
            )

    async def close(self) -> None:
        for endpoint in list(self._table):
            gone = self._table.pop(endpoint)
            await asyncio.gather(*(self._stop(w) for v in gone.variants.values() for w in v.workers))
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
        if self._run_dir_path is not None:
            shutil.rmtree(self._run_dir_path, ignore_errors=True)

    async def heal(self) -> None:
        for endpoint, state in list(self._table.items()):
            for variant in state.variants.values():
                for index, worker in enumerate(list(variant.workers)):
                    if worker.alive():
                        continue
                    log.warning(
                        "worker %s of endpoint %s variant %s exited (%s); starting a new one: %s",
                        worker.proc.pid, endpoint, variant.spec.name, worker.proc.returncode,
                        _last_line(worker.log_path),
                    )  # fmt: skip
                    await self._stop(worker)
                    try:
                        fresh = await self._start_worker(
                            variant.spec, worker.key, worker.framework, worker.model_dir, worker.sha256,
                            worker.environment,
                        )  # fmt: skip
                    except DeployError as exc:
                        log.error("could not restart a worker of endpoint %s: %s", endpoint, exc)
                        continue
                    variant.workers[index] = fresh

    # ------------------------------------------------------------------ state
    def running_change(self, endpoint: str) -> int | None:
        state = self._table.get(endpoint)
        return state.change if state else None

    def endpoints(self) -> list[str]:
        return list(self._table)

    def workers(self, endpoint: str) -> list[WorkerInfo]:
        state = self._table.get(endpoint)
        if state is None:
            return []
        return [
            WorkerInfo(v.spec.name, w.proc.pid, w.socket, state.change, {"sha256": w.sha256})
            for v in state.variants.values()
            for w in v.workers
        ]

    # ------------------------------------------------------------------ invoke
    async def invoke(self, endpoint: str, invocation: Invocation) -> InvocationResult:
        headers = {"Content-Type": invocation.content_type, "Accept": invocation.accept}
        if invocation.custom_attributes is not None:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = invocation.custom_attributes
        for _ in range(3):  # a worker retired between the pick and the send: pick again
            state = self._table.get(endpoint)
            if state is None:
                raise EndpointNotFound(endpoint)
            variant = state.pick(invocation.target_variant)
            worker = variant.next_worker()
            worker.in_flight += 1
            try:
                response = await worker.client.request("POST", "/invocations", invocation.body, headers)
            except WorkerConnectionError:
                continue
            finally:
                worker.in_flight -= 1
            return InvocationResult(
                status=response.status,
                body=response.body,
                content_type=response.headers.get("content-type", "application/octet-stream"),
                variant=variant.spec.name,
                custom_attributes=response.headers.get("x-amzn-sagemaker-custom-attributes"),
            )
        raise WorkerUnavailable(f"no worker of endpoint {endpoint} answered")


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no output)"
    return lines[-1].strip() if lines else "(no output)"
