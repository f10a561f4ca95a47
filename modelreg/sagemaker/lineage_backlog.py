"""A version's automatic lineage, recorded after its registration and before anyone looks.

Registering a version writes one row for its lineage: its package id on the backlog
(``lineage_backlog``, in the registering transaction, so it survives a crash). The lineage rows
themselves (the version's artifact and its Source index row, a model data artifact and its index
row, three associations: about 20 of the 44 database pages a registration wrote) are recorded by
``lineage.record_lineage``, exactly as they would have been at registration (the version's
creation time, its creator), at the first of these moments:

- before anything reads or changes lineage: every lineage handler opens its transaction through
  ``reading`` or ``writing``, which first record the whole backlog (``catch_up``), so what a
  reader sees is the same as if the lineage had been written with the version;
- in the transaction that deletes a version on the backlog, changes a member its lineage derives
  from, or links an endpoint to it (``lineage.record_if_deferred``);
- in the background (``LineageRecorder``): once the store has seen no commit for ``QUIET_SECONDS``,
  or as soon as the backlog holds ``MAX_BACKLOG`` versions, so that a reader's catch-up stays short.

Recording runs in batches of ``BATCH`` versions, a transaction each. Several servers on one
PostgreSQL may all record: background recorders skip the batches others hold; a reader's catch-up
waits for them, so it never returns before the versions it saw on the backlog are recorded.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Iterator

from modelreg.aws.dispatch import NeedsThread, RequestContext
from modelreg.config import Settings
from modelreg.store.base import Store, Transaction

log = logging.getLogger("modelreg.lineage")

#: versions recorded per transaction
BATCH = 200
#: the background recorder records the backlog once the store has been this long without a commit
QUIET_SECONDS = 10.0
#: ... or as soon as the backlog holds this many versions: a reader's catch-up then takes about 2 s
#: at most on SQLite (0.3-0.4 ms of CPU per version measured), 4-6 s on PostgreSQL (0.8-1.2 ms)
MAX_BACKLOG = 5000
#: how often the background recorder looks
POLL_SECONDS = 1.0


def record_batch(
    tx: Transaction, settings: Settings, store: Store, limit: int, *, up_to: int | None = None
) -> int:
    """Record the lineage of at most ``limit`` versions from the backlog (package ids up to
    ``up_to`` if given, see ``Transaction.deferred_lineage``) and take them off it; how many."""
    # lineage imports the entity handlers, which import this module: import it when first needed
    from modelreg.sagemaker.lineage import record_lineage

    rows = tx.deferred_lineage(limit, up_to=up_to)
    if rows:
        tx.undefer_lineage([row.id for row in rows if row.id is not None])
        record_lineage(tx, settings, store, rows)
    return len(rows)


def catch_up(store: Store, settings: Settings) -> int:
    """Record every version on the backlog now (those another server is recording: wait for it);
    how many this call recorded. Versions registered meanwhile may stay on it."""
    with store.read() as tx:
        last = tx.last_deferred_lineage()
    return 0 if last is None else _record_all(store, settings, up_to=last)


def _record_all(
    store: Store, settings: Settings, *, up_to: int | None = None, stop: threading.Event | None = None
) -> int:
    """Record the backlog (up to ``up_to``) a batch to a transaction until a batch comes up short
    or ``stop`` is set; how many versions were recorded."""
    recorded = 0
    while stop is None or not stop.is_set():
        with store.write() as tx:
            done = record_batch(tx, settings, store, BATCH, up_to=up_to)
        recorded += done
        if done < BATCH:
            break
    return recorded


def _catch_up(ctx: RequestContext) -> None:
    if ctx.on_event_loop:  # recording may take a while: not on the event loop
        with ctx.store.read() as tx:
            if tx.last_deferred_lineage() is not None:
                raise NeedsThread()
        return
    catch_up(ctx.store, ctx.settings)


@contextlib.contextmanager
def reading(ctx: RequestContext) -> Iterator[Transaction]:
    """A read transaction that sees every version's lineage (``catch_up`` first)."""
    _catch_up(ctx)
    with ctx.store.read() as tx:
        yield tx


@contextlib.contextmanager
def writing(ctx: RequestContext) -> Iterator[Transaction]:
    """A write transaction that sees every version's lineage (``catch_up`` first)."""
    _catch_up(ctx)
    with ctx.store.write() as tx:
        yield tx


class LineageRecorder:
    """A thread of the server that records the backlog when the store is quiet or the backlog is
    long (see the module docstring); make ``saw_commit`` a commit listener of the store."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        quiet_seconds: float = QUIET_SECONDS,
        max_backlog: int = MAX_BACKLOG,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.store = store
        self.settings = settings
        self.quiet_seconds = quiet_seconds
        self.max_backlog = max_backlog
        self.poll_seconds = poll_seconds
        self._last_commit = time.monotonic()
        self._commit_numbers = itertools.count(1)
        self._commits = 0  # the number of the latest commit seen
        self._empty_at: int | None = None  # the commit count when the backlog was last seen empty
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def saw_commit(self) -> None:
        """A store commit listener: a write happened (the store is not quiet)."""
        self._last_commit = time.monotonic()
        self._commits = next(self._commit_numbers)  # atomic, unlike += from several threads

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="modelreg-lineage", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.run_once()
            except Exception:  # a failed batch is rolled back and stays on the backlog: next poll
                log.exception("recording deferred lineage failed")

    def run_once(self) -> int:
        """Record the backlog, batch by batch, if the store is quiet or the backlog long; how many
        versions were recorded. An idle server does not look: nothing was committed since the
        backlog was last seen empty."""
        commits = self._commits
        if self._empty_at == commits:
            return 0
        with self.store.read() as tx:
            waiting = tx.count_deferred_lineage()
        if waiting == 0:
            self._empty_at = commits
            return 0
        quiet = time.monotonic() - self._last_commit >= self.quiet_seconds
        if not quiet and waiting < self.max_backlog:
            return 0
        return _record_all(self.store, self.settings, stop=self._stop)
