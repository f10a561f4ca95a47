"""Metrics as numbers: the files a version's ``ModelMetrics`` points to, read after it is registered.

Registration only records each URI (``metric_sources``, status ``pending``) in the transaction
that creates the version: one insert, no I/O, so metrics never slow down or fail a registration.
The :class:`MetricsIngester`, a background task of the server, then claims pending sources, reads
each file through the ArtifactStore, records its SHA-256, and for the metrics file proper parses it
(:mod:`modelreg.sagemaker.metrics`) into ``package_metrics`` rows, one number per metric.

Which URIs: every ``S3Uri`` under ``ModelMetrics`` (``ModelQuality.Statistics``/``Constraints``,
``ModelDataQuality.*``, ``Bias.*``, ``Explainability.Report``) and under ``DriftCheckBaselines``
(member ``DriftCheckBaselines.ModelQuality.Statistics``, ...). Numbers come from
``ModelQuality.Statistics`` when it is JSON (ContentType ``application/json`` or any ``...json``
type, or a ``.json`` URI): that is where SageMaker (and its Python SDK's
``ModelMetrics(model_statistics=...)``) puts a model's quality metrics, and what promotion policies
read. The other files (constraints, data-quality statistics, bias and explainability reports) are
not tables of metrics (their top-level ``"version": 0.0`` would become one); they are read for
their SHA-256 only. A ``ContentDigest`` given at registration is checked against the file.

Outcomes, on the source row: ``read`` (with its SHA-256), or ``failed`` with the reason: not
found, unreadable (permission, too large, unsupported scheme), digest mismatch, not JSON, no
numeric metric. A storage service that cannot be reached (or answers 5xx / throttles) is retried
with exponential backoff, ``MAX_ATTEMPTS`` times in all, then ``failed``. Pending rows live in the
database, so a restart (or a crash mid-read: the claim's lease lapses) loses none.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import threading
import time
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from modelreg.artifacts import ArtifactError, ArtifactNotFound, ArtifactStore
from modelreg.sagemaker.metrics import MetricsError, parse_metrics
from modelreg.sagemaker.promotion import MAX_METRICS_BYTES
from modelreg.store.base import Store, Transaction
from modelreg.store.rows import MetricSource, PackageRow
from modelreg.wakeup import Wakeup

log = logging.getLogger("modelreg.metrics")

PENDING, READ, FAILED = "pending", "read", "failed"
#: the members whose JSON is parsed into metrics
METRICS_MEMBERS = frozenset({"ModelQuality.Statistics"})
DRIFT_PREFIX = "DriftCheckBaselines."
#: reads of one source in all (the first and the retries) before a transient failure is final
MAX_ATTEMPTS = 5
#: a claimed source is claimable again after this long: longer than one read can take (S3's
#: timeouts, 5 s to connect and 30 s to read, three tries), short enough that a crash delays little
LEASE_SECONDS = 180
#: most metrics kept from one file; longer names than the column holds are skipped
MAX_METRICS = 1000
MAX_NAME_LENGTH = 256
_RETRYABLE_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "ServiceUnavailable", "InternalError"}
)


def _now_us() -> int:
    return time.time_ns() // 1000


# -- registration -----------------------------------------------------------------------------


def has_sources(params: Mapping[str, Any]) -> bool:
    """Whether a CreateModelPackage request names metrics files at all (cheap; no walk)."""
    return bool(params.get("ModelMetrics") or params.get("DriftCheckBaselines"))


def find_sources(package: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(member, uri) of every ``S3Uri`` under ``ModelMetrics`` and ``DriftCheckBaselines``."""
    found: list[tuple[str, str]] = []
    _walk(package.get("ModelMetrics"), "", found)
    _walk(package.get("DriftCheckBaselines"), DRIFT_PREFIX, found)
    return found


def _walk(node: Any, path: str, found: list[tuple[str, str]]) -> None:
    if not isinstance(node, Mapping):
        return
    uri = node.get("S3Uri")
    if isinstance(uri, str) and uri:
        found.append((path.rstrip("."), uri))
        return
    for key, child in node.items():
        _walk(child, f"{path}{key}.", found)


def record_sources(tx: Transaction, row: PackageRow, params: Mapping[str, Any], now_us: int) -> bool:
    """CreateModelPackage, in its write transaction: record the new version's metrics URIs as
    pending (one insert; nothing when the request has none). True when there are some: fire
    ``Signals.fire_metrics_pending`` after the commit."""
    if not has_sources(params):
        return False
    sources = [
        MetricSource(
            package_arn=row.arn,
            member=member,
            uri=uri,
            status=PENDING,
            updated_us=now_us,
            group_id=row.group_id,
            version=row.version,
        )
        for member, uri in find_sources(params)
    ]
    tx.add_metric_sources(sources)
    return bool(sources)


# -- reading one source -----------------------------------------------------------------------


def source_spec(body: Mapping[str, Any], member: str) -> Mapping[str, Any]:
    """The ``{"ContentType", "ContentDigest", "S3Uri"}`` a member path names in a package body."""
    node: Any = body.get("ModelMetrics")
    path = member
    if member.startswith(DRIFT_PREFIX):
        node, path = body.get("DriftCheckBaselines"), member[len(DRIFT_PREFIX) :]
    for key in path.split("."):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}


def is_json(content_type: str | None, uri: str) -> bool:
    """A JSON content type (``application/json``, ``text/json``, ``...+json``) or a ``.json`` URI."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media.endswith("json") or urlsplit(uri).path.lower().endswith(".json")


def is_transient(error: BaseException) -> bool:
    """Whether reading failed for a reason that may pass: the storage service could not be reached,
    timed out, dropped the connection, throttled or answered 5xx. (The ArtifactStore wraps such
    errors; the original is the wrapper's context.)"""
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    seen: BaseException | None = error
    for _ in range(5):
        seen = seen.__cause__ or seen.__context__ if seen is not None else None
        if seen is None:
            return False
        if isinstance(seen, BotoConnectionError | HTTPClientError | ConnectionError | TimeoutError):
            return True
        if isinstance(seen, ClientError):
            response = seen.response
            status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            return status >= 500 or response.get("Error", {}).get("Code") in _RETRYABLE_CODES
    return False


def retry_delay_seconds(attempts: int, base: float) -> float:
    """Doubling from ``base`` after each attempt, at most a minute, with jitter."""
    ceiling = min(60.0, base * 2 ** max(0, attempts - 1))
    return random.uniform(ceiling / 2, ceiling)


def _metrics_from(data: bytes) -> tuple[dict[str, float], str | None]:
    """The metrics in a file and a note on what was left out; ``MetricsError`` if there are none.
    Names the store cannot hold are left out: longer than ``MAX_NAME_LENGTH``, or holding U+0000
    (which PostgreSQL cannot store in text)."""
    metrics = parse_metrics(data)
    long_names = [name for name in metrics if len(name) > MAX_NAME_LENGTH]
    nul_names = [name for name in metrics if "\x00" in name and len(name) <= MAX_NAME_LENGTH]
    for name in long_names + nul_names:
        del metrics[name]
    if len(metrics) > MAX_METRICS:
        raise MetricsError(f"the metrics file holds {len(metrics)} metrics; at most {MAX_METRICS} are kept.")
    if not metrics:
        raise MetricsError(
            f"every metric name in the file is longer than {MAX_NAME_LENGTH} characters "
            "or holds the NUL character."
        )
    notes = []
    if long_names:
        notes.append(f"skipped {len(long_names)} metric name(s) longer than {MAX_NAME_LENGTH} characters")
    if nul_names:
        notes.append(f"skipped {len(nul_names)} metric name(s) holding the NUL character")
    return metrics, "; ".join(notes) or None


def read_source(
    artifacts: ArtifactStore,
    source: MetricSource,
    body: Mapping[str, Any] | None,
    *,
    now_us: int,
    retry_base_seconds: float = 1.0,
    max_attempts: int = MAX_ATTEMPTS,
) -> tuple[MetricSource, dict[str, float] | None]:
    """Read one claimed source (network or disk I/O: outside any transaction). Returns the source
    as it should be written back and the metrics it gives its version: a dict for the metrics file
    (empty when it failed, so numbers from an earlier read go), None for files that give none and
    for a retry to come."""
    attempts = source.attempts + 1
    settled = replace(source, attempts=attempts, updated_us=now_us)
    if body is None:
        return replace(settled, status=FAILED, error="the model package no longer exists."), None
    spec = source_spec(body, source.member)
    parse = source.member in METRICS_MEMBERS and is_json(spec.get("ContentType"), source.uri)
    none: dict[str, float] | None = {} if parse else None
    data = b""
    try:
        if parse:
            data = artifacts.read(source.uri, max_bytes=MAX_METRICS_BYTES)
            sha256 = hashlib.sha256(data).hexdigest()
        else:
            sha256 = artifacts.sha256(source.uri)
    except ArtifactError as exc:
        reason = str(exc)
        if not isinstance(exc, ArtifactNotFound) and is_transient(exc):
            if attempts < max_attempts:
                retry_at = now_us + int(retry_delay_seconds(attempts, retry_base_seconds) * 1e6)
                return replace(settled, status=PENDING, error=reason, updated_us=retry_at), None
            reason = f"{reason.rstrip('.')} (gave up after {attempts} attempts)."
        return replace(settled, status=FAILED, error=reason), none
    settled.sha256 = sha256
    digest = spec.get("ContentDigest")
    if isinstance(digest, str) and digest.lower() != f"sha256:{sha256}":
        return replace(
            settled,
            status=FAILED,
            error=f"the file does not match its ContentDigest: registered {digest}, read sha256:{sha256}.",
        ), none
    if not parse:
        return replace(settled, status=READ, error=None), None
    try:
        metrics, note = _metrics_from(data)
    except MetricsError as exc:
        return replace(settled, status=FAILED, error=str(exc)), none
    return replace(settled, status=READ, error=note), metrics


# -- the background task ----------------------------------------------------------------------


class MetricsIngester:
    """Reads pending metric sources in the background until ``stop()``; several servers on one
    PostgreSQL database may all run one (claims skip each other's rows)."""

    def __init__(
        self,
        store: Store,
        artifacts: ArtifactStore,
        *,
        interval: float = 2.0,
        batch: int = 16,
        readers: int = 4,
        retry_base_seconds: float = 1.0,
        max_attempts: int = MAX_ATTEMPTS,
        coalesce_seconds: float = 0.2,
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self.interval = interval
        self.batch = batch
        self.retry_base_seconds = retry_base_seconds
        self.max_attempts = max_attempts
        self.coalesce_seconds = coalesce_seconds
        self.readers = readers
        self._pool = ThreadPoolExecutor(readers, thread_name_prefix="modelreg-metrics")
        self._stopping = threading.Event()
        self._wakeup = Wakeup()
        self._runner: asyncio.Task[None] | None = None

    # one pass (synchronous: tests call it directly) -------------------------------------------
    def run_once(self) -> float:
        """Claim a batch of due sources, read them, write the outcomes; seconds until the next
        pass is needed (0 when more sources are due now)."""
        if self._stopping.is_set():  # claim nothing that would stay leased after the server stops
            return self.interval
        now = _now_us()
        with self.store.read() as tx:  # an idle server takes no write lock (SQLite has one writer)
            due_us = tx.next_metric_source_due_us()
        if due_us is None or due_us > now:
            return self._wait_until(due_us)
        with self.store.write() as tx:
            claimed = tx.claim_metric_sources(now, LEASE_SECONDS * 1_000_000, self.batch)
        if claimed:
            with self.store.read() as tx:
                bodies = {
                    arn: row.body
                    for arn in {s.package_arn for s in claimed}
                    if (row := tx.get_package_by_arn(arn)) is not None
                }
            # each reader reads its share of the batch in turn: a hand-off to a thread per file
            # cost more than reading a local one
            shares = [claimed[i :: self.readers] for i in range(min(self.readers, len(claimed)))]
            reading = {self._pool.submit(self._read_share, share, bodies) for share in shares}
            while reading:  # what has been read is written in one transaction, and the rest waits
                done, reading = wait(reading, return_when=FIRST_COMPLETED)
                with self.store.write() as tx:
                    for future in done:
                        for source, metrics in future.result():
                            tx.settle_metric_source(source, metrics)
            if len(claimed) >= self.batch:
                return 0.0
        with self.store.read() as tx:
            return self._wait_until(tx.next_metric_source_due_us())

    def _wait_until(self, due_us: int | None) -> float:
        """Seconds until a pass is due (at most ``interval``)."""
        if due_us is None:
            return self.interval
        return max(0.0, min(self.interval, (due_us - _now_us()) / 1e6))

    def _read_share(
        self, sources: list[MetricSource], bodies: Mapping[str, Mapping[str, Any]]
    ) -> list[tuple[MetricSource, Any]]:
        return [self._read(source, bodies.get(source.package_arn)) for source in sources]

    def _read(self, source: MetricSource, body: Mapping[str, Any] | None) -> tuple[MetricSource, Any]:
        try:
            return read_source(
                self.artifacts,
                source,
                body,
                now_us=_now_us(),
                retry_base_seconds=self.retry_base_seconds,
                max_attempts=self.max_attempts,
            )
        except Exception as exc:  # a bug must not leave the source leased forever
            log.exception("reading metrics file %s failed", source.uri)
            reason = f"modelreg could not read this file ({type(exc).__name__}); see the server log."
            failed = replace(source, status=FAILED, error=reason, attempts=source.attempts + 1)
            return replace(failed, updated_us=_now_us()), None

    # lifecycle (an asyncio task of the server, like the endpoint reconciler) -----------------
    def start(self) -> None:
        self._wakeup.bind()
        self._runner = asyncio.create_task(self._run())

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Let a pass in progress write what it read (up to ``grace_seconds``), then stop."""
        self._stopping.set()
        self.wake()
        if self._runner is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._runner), grace_seconds)
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
        self._pool.shutdown(wait=False, cancel_futures=True)

    def wake(self) -> None:
        """A version with metrics files was registered: look now. Safe to call from any thread."""
        self._wakeup.set()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                pause = await asyncio.to_thread(self.run_once)
            except Exception:
                log.exception("reading metrics files failed; trying again")
                pause = self.interval
            last_pass = time.monotonic()
            if pause > 0 and await self._wakeup.wait(pause) and not self._stopping.is_set():
                # Woken by a registration. Under a burst of them, passes are spaced by the
                # coalescing window, so that one pass reads the files of many versions (a pass per
                # registration cost as much CPU as the registration); a lone one is served at once.
                gap = time.monotonic() - last_pass
                if gap < self.coalesce_seconds:
                    await asyncio.sleep(self.coalesce_seconds - gap)
