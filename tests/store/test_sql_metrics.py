"""The metrics half of the store contract (``MetricsTransaction``), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from modelreg.store.rows import MetricSource, PackageRow
from modelreg.store.sql import SqlStore
from tests.store.metrics_rows import add_group, add_version, source

SECOND = 1_000_000


def claim(store: SqlStore, now: int, lease: int = 60 * SECOND, limit: int = 10) -> list[MetricSource]:
    with store.write() as tx:
        return tx.claim_metric_sources(now, lease, limit)


def settle(store: SqlStore, src: MetricSource, metrics: dict[str, float] | None, **changes: Any) -> bool:
    for name, value in {"status": "read", "updated_us": 5 * SECOND, **changes}.items():
        setattr(src, name, value)
    with store.write() as tx:
        return tx.settle_metric_source(src, metrics)


def test_sources_are_claimed_once_per_lease(store: SqlStore) -> None:
    gid = add_group(store, "g")
    row = add_version(store, gid, 1)
    with store.write() as tx:
        tx.add_metric_sources([source(row, "ModelQuality.Statistics", 10), source(row, "Bias.Report", 20)])
    with store.read() as tx:
        assert tx.next_metric_source_due_us() == 10
    assert claim(store, now=5) == []  # not due yet
    first = claim(store, now=15)
    assert [(s.member, s.updated_us) for s in first] == [("ModelQuality.Statistics", 15 + 60 * SECOND)]
    second = claim(store, now=25)
    assert [s.member for s in second] == ["Bias.Report"]
    assert claim(store, now=30) == []  # both leased
    again = claim(store, now=16 + 60 * SECOND)  # the first lease lapsed (its reader died)
    assert [s.member for s in again] == ["ModelQuality.Statistics"]
    with store.read() as tx:
        assert tx.next_metric_source_due_us() == 25 + 60 * SECOND


def test_settle_writes_the_outcome_and_the_numbers(store: SqlStore) -> None:
    gid = add_group(store, "g")
    row = add_version(store, gid, 1)
    with store.write() as tx:
        tx.add_metric_sources([source(row, "ModelQuality.Statistics", 0), source(row, "Bias.Report", 0)])
    stats, bias = claim(store, now=1)
    assert settle(store, stats, {"auc": 0.91, "f1": 0.8}, sha256="a" * 64, attempts=1)
    assert settle(store, bias, None, status="failed", error="s3://b/k does not exist.", attempts=1)
    with store.read() as tx:
        assert tx.metrics_of([row.arn, "arn:nothing"]) == {
            row.arn: {"auc": 0.91, "f1": 0.8},
            "arn:nothing": {},
        }
        listed = tx.list_metric_sources([row.arn])
        assert [(s.member, s.status, s.sha256, s.error, s.attempts) for s in listed] == [
            ("ModelQuality.Statistics", "read", "a" * 64, None, 1),
            ("Bias.Report", "failed", None, "s3://b/k does not exist.", 1),
        ]
        assert tx.next_metric_source_due_us() is None
        assert tx.list_metric_sources([]) == []
    # settled rows are not pending: settling again does nothing
    assert not settle(store, stats, {"auc": 0.1})
    # read again: the new numbers replace the old ones (f1 is gone from the file)
    with store.write() as tx:
        assert tx.reset_metric_sources(row.arn, 7) == 2
    stats, bias = claim(store, now=8)
    assert (stats.status, stats.attempts, stats.error) == ("pending", 0, None)
    assert settle(store, stats, {"auc": 0.95})
    with store.read() as tx:
        assert tx.metrics_of([row.arn])[row.arn] == {"auc": 0.95}
    # a retry to come (None) leaves the numbers; a failed metrics file ({}) takes them away
    with store.write() as tx:
        tx.reset_metric_sources(row.arn, 9)
    stats, _ = claim(store, now=10)
    assert settle(store, stats, None, status="pending", updated_us=11)
    with store.read() as tx:
        assert tx.metrics_of([row.arn])[row.arn] == {"auc": 0.95}
    [stats] = claim(store, now=12)
    assert settle(store, stats, {}, status="failed", error="not JSON")
    with store.read() as tx:
        assert tx.metrics_of([row.arn])[row.arn] == {}


def test_a_deleted_version_takes_its_rows_and_is_not_settled(store: SqlStore) -> None:
    gid = add_group(store, "g")
    row = add_version(store, gid, 1)
    with store.write() as tx:
        tx.add_metric_sources([source(row, "ModelQuality.Statistics", 0)])
    [src] = claim(store, now=1)
    with store.write() as tx:
        tx.delete_package_metrics(row.arn)
    assert not settle(store, src, {"auc": 0.9})
    with store.read() as tx:
        assert tx.metrics_of([row.arn]) == {row.arn: {}}
        assert tx.list_metric_sources([row.arn]) == []


def _versions_with(store: SqlStore, gid: int, aucs: dict[int, float | None]) -> dict[int, PackageRow]:
    rows = {}
    for version, auc in aucs.items():
        row = rows[version] = add_version(store, gid, version, status="Approved" if version % 2 else None)
        with store.write() as tx:
            tx.add_metric_sources([source(row, "ModelQuality.Statistics", 0)])
            [src] = tx.claim_metric_sources(1, SECOND, 1)
        settle(store, src, {"auc": auc, "f1": 0.5} if auc is not None else {"f1": 0.5})
    return rows


def test_trend_and_metric_values(store: SqlStore) -> None:
    gid = add_group(store, "g")
    other = add_group(store, "other")
    rows = _versions_with(store, gid, {1: 0.8, 2: None, 3: 0.9, 4: 0.85, 5: 0.7})
    _versions_with(store, other, {1: 0.99})
    with store.read() as tx:
        points = tx.metric_trend(gid, "auc", None, 10)
        assert [(p.version, p.value, p.approval_status) for p in points] == [
            (1, 0.8, "Approved"),
            (3, 0.9, "Approved"),
            (4, 0.85, "PendingManualApproval"),
            (5, 0.7, "Approved"),
        ]
        assert points[0].package_arn == rows[1].arn and points[0].created_us == rows[1].created_us
        assert [p.version for p in tx.metric_trend(gid, "auc", 3, 2)] == [4, 5]
        assert [p.version for p in tx.metric_trend(gid, "auc", None, 10, "PendingManualApproval")] == [4]
        assert tx.metric_trend(gid, "nope", None, 10) == []
        values = tx.metric_values(["auc"], gid)
        assert values == {rows[v].arn: {"auc": a} for v, a in ((1, 0.8), (3, 0.9), (4, 0.85), (5, 0.7))}
        everywhere = tx.metric_values(["auc", "f1"])
        assert len(everywhere) == 6 and all("f1" in m for m in everywhere.values())
        assert tx.metric_values([]) == {}


@pytest.mark.parametrize("descending", [True, False])
def test_versions_sorted_by_a_metric_page_by_page(store: SqlStore, descending: bool) -> None:
    gid = add_group(store, "g")
    aucs = {1: 0.8, 2: None, 3: 0.9, 4: 0.8, 5: None, 6: 0.95, 7: 0.8}
    _versions_with(store, gid, aucs)
    expected_present = sorted(
        ((a, v) for v, a in aucs.items() if a is not None), reverse=descending
    )  # ties by version, the same way
    expected = [v for _, v in expected_present] + sorted(
        (v for v, a in aucs.items() if a is None), reverse=descending
    )
    with store.read() as tx:
        whole = tx.list_packages_by_metric(
            gid, "auc", descending=descending, approval_status=None, after=None, limit=100
        )
        assert [r.version for r, _ in whole] == expected
        assert [value for _, value in whole] == [aucs[v] for v in expected]
        paged, cursor = [], None
        while True:
            page = tx.list_packages_by_metric(
                gid, "auc", descending=descending, approval_status=None, after=cursor, limit=2
            )
            paged += [r.version for r, _ in page]
            if len(page) < 2:
                break
            cursor = tx.metric_cursor(*page[-1])
        assert paged == expected
        approved = tx.list_packages_by_metric(
            gid, "auc", descending=descending, approval_status="Approved", after=None, limit=100
        )
        assert [r.version for r, _ in approved] == [v for v in expected if v % 2]


def test_postgres_readers_claim_disjoint_sources(store: SqlStore) -> None:
    if store.is_sqlite:
        pytest.skip("SQLite has one writer at a time; SKIP LOCKED is PostgreSQL's")
    gid = add_group(store, "g")
    for version in range(1, 5):
        row = add_version(store, gid, version)
        with store.write() as tx:
            tx.add_metric_sources([source(row, "ModelQuality.Statistics", 0)])
    claimed: list[list[MetricSource]] = []
    holding = threading.Event()
    release = threading.Event()

    def slow_claimer() -> None:
        with store.write() as tx:
            claimed.append(tx.claim_metric_sources(1, SECOND, 2))
            holding.set()
            release.wait(10)

    worker = threading.Thread(target=slow_claimer)
    worker.start()
    assert holding.wait(10)
    try:
        other = claim(store, now=1, limit=10)  # skips the rows the open transaction locked
    finally:
        release.set()
        worker.join(10)
    first = {s.id for s in claimed[0]}
    assert len(first) == 2 and len(other) == 2
    assert first.isdisjoint(s.id for s in other)
