"""SQLite checkpoints in a thread of their own, off the request path.

In WAL mode every commit appends the pages it changed to the WAL file; a checkpoint copies them
back into the database file and syncs it. Left to SQLite (``wal_autocheckpoint``), the commit that
crosses the threshold runs the checkpoint itself: with the registry's writes on the event loop,
every request waited for it (p99 of a registration under 8 clients: 34 ms with checkpoints every
4,000 pages, 55 ms every 16,000). Here a thread runs a PASSIVE checkpoint, which never blocks
readers or writers, once about ``TARGET_FRAMES`` pages have been appended since the last one, and
the store's writer copies the few pages appended meanwhile before its next transaction, so that
the WAL starts over (22 ms at 16,000). The fewer checkpoints, the less they copy: a page changed
by many commits (an index's last page, a group's version counter) is copied once per checkpoint.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy.engine import Engine

log = logging.getLogger("modelreg.store")

#: pages appended to the WAL between two checkpoints (16,000 pages: a 64 MB WAL file); SQLite's
#: own ``wal_autocheckpoint`` is set well above this and runs only if this thread falls behind
TARGET_FRAMES = 16_000
BACKSTOP_FRAMES = 4 * TARGET_FRAMES
_FIRST_COMMITS = 200  # commits before the first checkpoint, until frames per commit are known
_IDLE_SECONDS = 2.0  # a WAL with commits since the last checkpoint is checkpointed after this long idle


class Checkpointer:
    """Call ``committed()`` after each write transaction, and ``catch_up`` before the next one
    when ``catch_up_due``; the thread checkpoints when due. ``close()`` stops the thread (the
    last connection to close checkpoints whatever remains)."""

    def __init__(self, engine: Engine, target_frames: int = TARGET_FRAMES) -> None:
        self._engine = engine
        self._target = target_frames
        self._due_after = min(_FIRST_COMMITS, target_frames)
        self._commits = 0
        self.catch_up_due = False
        self._due = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="modelreg-checkpoint", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        """After a write transaction committed (under the store's write lock, as ``catch_up``)."""
        self._commits += 1
        if self._commits >= self._due_after:
            self._due.set()

    def close(self) -> None:
        self._stop.set()
        self._due.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        raw = self._engine.raw_connection()
        try:
            while not self._stop.is_set():
                woken = self._due.wait(_IDLE_SECONDS)
                self._due.clear()
                if self._stop.is_set() or (not woken and self._commits == 0):
                    continue
                try:
                    self._checkpoint(raw.driver_connection)
                except Exception:  # a checkpoint that fails now is tried again at the next one
                    log.exception("SQLite checkpoint failed")
        finally:
            raw.close()

    def _checkpoint(self, conn: Any) -> None:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")  # the bulk, while writers go on
        self.catch_up_due = True

    def catch_up(self, conn: Any) -> None:
        """Run by the store's writer between two write transactions, on its own sqlite3
        connection, when ``catch_up_due``. The WAL starts over only when a write transaction
        begins with every frame in it copied, which under steady writes never happens by
        chance: this copies the few frames appended since the thread's checkpoint (well under a
        millisecond), so the next transaction starts the WAL over."""
        self.catch_up_due = False
        commits, self._commits = self._commits, 0
        try:
            _busy, wal_frames, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except Exception:  # the write that follows must not fail for it: the next one catches up
            log.exception("SQLite checkpoint failed")
            return
        # the WAL holds about what the last ``commits`` appended: aim the next checkpoint at
        # ``target`` frames from that
        if commits > 0 and wal_frames > 0:
            self._due_after = max(1, min(50_000, int(self._target * commits / wal_frames)))
