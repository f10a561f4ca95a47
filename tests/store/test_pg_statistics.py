"""PostgreSQL: the store keeps the planner's statistics of its tables current, so that lookups by
a unique key use that key's index however the table grew (this machine's PostgreSQL, like CI's,
runs with autovacuum off)."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from modelreg.store import pg_statistics
from modelreg.store.pg_statistics import StatisticsKeeper
from modelreg.store.rows import NamedResource
from modelreg.store.sql import SqlStore
from modelreg.store.sql_lineage import _get_many

PREFIX = "arn:aws:sagemaker:us-east-1:123456789012:"
ROWS = 400


@pytest.fixture
def store_url(postgres_database: str) -> str:
    """PostgreSQL only (the ``store`` fixture of conftest opens it)."""
    return postgres_database


@pytest.fixture
def quiet_store(store: SqlStore) -> SqlStore:
    """Where autovacuum runs, it could analyze the table before the keeper does (each test then
    waits out its deadline and checks nothing of the keeper): only the keeper may here."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE named_resources SET (autovacuum_enabled = false)")
    return store


def _resources(start: int, count: int) -> list[NamedResource]:
    return [
        NamedResource("us-east-1", kind, f"{kind}-{i:06d}", f"{PREFIX}artifact/{i}", i, {"n": i})
        for i in range(start, start + count)
        for kind in ("artifact-source", "artifact")
    ]


def _keeper_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "modelreg-analyze"]


def _lookup_plan(conn: sa.Connection) -> str:
    query = _get_many(1).compile(dialect=conn.dialect)
    params = {"region": "us-east-1", "kind_0": "artifact-source", "name_0": "artifact-source-000007"}
    return "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {query}", params))


def _analyzed(conn: sa.Connection, table: str) -> bool:
    """(Each statement of an autocommit connection sees fresh statistics; a transaction would
    keep reading the snapshot of its first look.)"""
    row = conn.exec_driver_sql(
        "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = %(t)s", {"t": table}
    ).one()
    return row[0] is not None


def test_writes_get_the_lineage_lookup_its_unique_index(quiet_store: SqlStore) -> None:
    store = quiet_store
    for start in range(0, ROWS, 50):  # the way registrations grow the table: many small commits
        with store.write() as tx:
            tx.insert_resources(_resources(start, 50))
    store.engine.dispose()  # a backend reports its row counts when it exits, else up to 10 s later
    deadline = time.monotonic() + 60  # the keeper looks every 2 s; PostgreSQL reports counts late
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        while not _analyzed(conn, "named_resources") and time.monotonic() < deadline:
            threading.Event().wait(0.2)
        plan = _lookup_plan(conn)
    # never analyzed, PostgreSQL took the (region, kind, created_us, id) index and read every row
    # of the kind for each lookup
    assert "uq_named_resources_region_kind_name" in plan, plan


def _insert_directly(store: SqlStore, resources: list[NamedResource]) -> None:
    """Rows written past ``store.write()`` (so no keeper runs), their counts reported at once (a
    backend reports them when it exits, else up to 10 s later)."""
    with store.engine.begin() as conn:
        for resource in resources:
            conn.exec_driver_sql(
                "INSERT INTO named_resources (region, kind, name, arn, created_us, body)"
                " VALUES (%(r)s, %(k)s, %(n)s, %(a)s, %(c)s, '{}')",
                {"r": resource.region, "k": resource.kind, "n": resource.name, "a": resource.arn,
                 "c": resource.created_us},
            )  # fmt: skip
    store.engine.dispose()


def _changed_since_analyze(store: SqlStore, table: str) -> int:
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        return conn.exec_driver_sql(
            "SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = %(t)s", {"t": table}
        ).scalar_one()


def test_tables_past_autovacuums_threshold_are_analyzed_at_most_once_a_minute(
    quiet_store: SqlStore,
) -> None:
    store = quiet_store
    _insert_directly(store, _resources(0, 100))
    before = len(_keeper_threads())
    keeper = StatisticsKeeper(store.engine)
    try:
        deadline = time.monotonic() + 60  # until PostgreSQL reports the inserts' counts
        analyzed: list[str] = []
        while "named_resources" not in analyzed and time.monotonic() < deadline:
            analyzed = keeper.analyze_stale()
            threading.Event().wait(0.2)
        assert analyzed == ["named_resources"]  # 200 rows changed; the other tables: none or a few
        assert keeper.analyze_stale() == []  # nothing changed since

        _insert_directly(store, _resources(100, 200))  # 400 more rows: past the threshold again
        deadline = time.monotonic() + 60
        while _changed_since_analyze(store, "named_resources") < 400 and time.monotonic() < deadline:
            threading.Event().wait(0.2)
        assert _changed_since_analyze(store, "named_resources") == 400
        assert keeper.analyze_stale() == []  # analyzed less than a minute ago
    finally:
        keeper.close()
    assert len(_keeper_threads()) == before  # close() stops the thread


class _CountingKeeper(StatisticsKeeper):
    """Counts its looks instead of querying a database."""

    looks = 0

    def analyze_stale(self) -> list[str]:
        self.looks += 1
        return []


def test_the_keeper_goes_on_looking_a_while_after_the_last_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """A backend may report a commit's row counts seconds after it (10 s when idle): the look
    right after the last commit can miss them, so the thread looks again until SETTLE passes."""
    monkeypatch.setattr(pg_statistics, "SETTLE", 2.0)  # a busy machine may pause the thread for long
    keeper = _CountingKeeper(sa.create_engine("postgresql+psycopg://"), interval=0.05)
    try:
        committed = time.monotonic()
        keeper.committed()
        while keeper.looks < 3 and time.monotonic() < committed + 10:
            threading.Event().wait(0.05)
        assert keeper.looks >= 3
        # past SETTLE the thread waits for the next write
        threading.Event().wait(max(0.0, committed + 3.0 - time.monotonic()))
        settled = keeper.looks
        threading.Event().wait(0.5)
        assert keeper.looks == settled
    finally:
        keeper.close()
