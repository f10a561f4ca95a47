"""SQLite checkpoints run in the store's own thread and keep the WAL file bounded under steady
writes (SQLite's own checkpoint is set far beyond what these tests write)."""

from __future__ import annotations

import threading
from pathlib import Path

from modelreg.store.sql import SqlStore
from modelreg.store.sqlite_checkpoints import BACKSTOP_FRAMES

PAGE = 4096
COMMITS = 3000
ROW = "x" * 3000  # about a page per row, and more pages as the table and its index grow


def _write_many(store: SqlStore) -> None:
    with store.write() as tx:
        tx.conn.exec_driver_sql("CREATE TABLE scratch (id INTEGER PRIMARY KEY, k TEXT UNIQUE, v TEXT)")
    for i in range(COMMITS):
        with store.write() as tx:
            tx.conn.exec_driver_sql(
                "INSERT INTO scratch (k, v) VALUES (?, ?)", (f"{i * 7919 % COMMITS}", ROW)
            )


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "modelreg-checkpoint"]


def test_the_wal_stays_near_its_target_under_steady_writes(tmp_path: Path) -> None:
    before = len(_checkpoint_threads())
    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", checkpoint_frames=300)
    try:
        _write_many(store)
        wal_pages = (tmp_path / "db.sqlite-wal").stat().st_size / PAGE
        # The writes above append about 11,000 pages; SQLite's own checkpoint would wait for
        # BACKSTOP_FRAMES. The file keeps its largest extent: usually 1,100-1,500 pages here, more
        # when this tight loop of writes keeps the thread from its turn for a while.
        assert BACKSTOP_FRAMES > 11_000
        assert wal_pages < 6_000, wal_pages
        assert len(_checkpoint_threads()) == before + 1
        with store.read() as tx:
            assert tx.conn.exec_driver_sql("SELECT count(*) FROM scratch").scalar() == COMMITS
    finally:
        store.close()
    assert len(_checkpoint_threads()) == before  # close() stops the thread


def test_a_store_that_only_reads_starts_no_thread(tmp_path: Path) -> None:
    before = len(_checkpoint_threads())
    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        with store.read() as tx:
            tx.conn.exec_driver_sql("SELECT 1")
        assert len(_checkpoint_threads()) == before
    finally:
        store.close()
