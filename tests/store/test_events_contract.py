"""The events half of the Store contract: named resources, the outbox, deliveries."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from modelreg.store import open_store
from modelreg.store.base import DuplicateKey
from modelreg.store.rows import Delivery, DeliveryAttempt, DeliveryQuery, NamedResource, OutboxEvent
from modelreg.store.schema import CROSS_REGION_KINDS
from modelreg.store.sql import SqlStore

REGION = "us-east-1"


def event(n: int, arn: str | None = None, created_us: int | None = None) -> OutboxEvent:
    return OutboxEvent(
        event_id=f"e{n}",
        region=REGION,
        source="aws.sagemaker",
        detail_type="T",
        created_us=created_us if created_us is not None else n,
        body={"n": n},
        resource_arn=arn,
    )


def delivery(event_row_id: int, next_attempt_us: int = 0, rule: str = "r") -> Delivery:
    return Delivery(
        event_row_id=event_row_id,
        region=REGION,
        rule_name=rule,
        target_id="t",
        target={"Arn": "x"},
        status="pending",
        next_attempt_us=next_attempt_us,
        created_us=0,
        updated_us=0,
    )


def test_named_resources_round_trip_and_list_by_prefix(store: SqlStore) -> None:
    with store.write() as tx:
        for name in ("deploy-b", "deploy-a", "audit"):
            tx.insert_resource(
                NamedResource(
                    region=REGION,
                    kind="rule",
                    name=name,
                    arn=f"arn:{name}",
                    created_us=1,
                    body={"Name": name},
                )
            )
        tx.insert_resource(
            NamedResource(
                region=REGION, kind="connection", name="deploy-a", arn="arn:c", created_us=1, body={}
            )
        )
    with pytest.raises(DuplicateKey), store.write() as tx:
        tx.insert_resource(
            NamedResource(region=REGION, kind="rule", name="audit", arn="x", created_us=1, body={})
        )
    with store.read() as tx:
        assert [r.name for r in tx.list_resources(REGION, "rule", None, None, 10)] == [
            "audit",
            "deploy-a",
            "deploy-b",
        ]
        assert [r.name for r in tx.list_resources(REGION, "rule", "deploy", None, 10)] == [
            "deploy-a",
            "deploy-b",
        ]
        assert [r.name for r in tx.list_resources(REGION, "rule", None, "audit", 1)] == ["deploy-a"]
        assert [r.name for r in tx.list_resources(REGION, "rule", "deploy_", None, 10)] == []
        rule = tx.get_resource(REGION, "rule", "audit")
    rule.body["State"] = "DISABLED"
    with store.write() as tx:
        tx.update_resource(rule)
    with store.read() as tx:
        assert tx.get_resource(REGION, "rule", "audit").body == {"Name": "audit", "State": "DISABLED"}
    with store.write() as tx:
        tx.delete_resource(rule.id)
    with store.read() as tx:
        assert tx.get_resource(REGION, "rule", "audit") is None


@pytest.mark.parametrize("kind", CROSS_REGION_KINDS)
def test_a_kind_is_listed_across_regions_without_reading_other_kinds(store: SqlStore, kind: str) -> None:
    with store.write() as tx:
        for region in ("eu-west-1", REGION):
            for name in ("b", "a"):
                tx.insert_resource(
                    NamedResource(
                        region=region, kind=kind, name=name, arn=f"arn:{region}:{name}", created_us=1, body={}
                    )
                )
            tx.insert_resource(
                NamedResource(
                    region=region, kind="artifact", name="c", arn=f"arn:{region}:c", created_us=1, body={}
                )
            )
    issued: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        issued.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", record)
    try:
        with store.read() as tx:
            listed = tx.list_resources(None, kind, None, None, 10)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", record)
    assert [(r.name, r.region) for r in listed] == [
        ("a", "eu-west-1"),
        ("a", REGION),
        ("b", "eu-west-1"),
        ("b", REGION),
    ]
    if store.is_sqlite:  # background workers ask often; lineage fills the same table
        (statement, parameters), *_ = [(s, p) for s, p in issued if "named_resources" in s]
        with store.engine.connect() as conn:
            plan = " ".join(
                str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            )
        assert f"ix_named_resources_{kind}s" in plan, plan


def test_event_sequences_count_per_resource(store: SqlStore) -> None:
    with store.write() as tx:
        for n, arn in enumerate(["a", "b", "a", "a"]):
            e = event(n, arn)
            e.sequence = tx.next_event_sequence(arn)
            tx.append_event(e)
    with store.read() as tx:
        assert tx.next_event_sequence("a") == 4
        assert tx.next_event_sequence("b") == 2
        assert tx.next_event_sequence("never") == 1


def test_undispatched_events_are_claimed_in_order_once(store: SqlStore) -> None:
    with store.write() as tx:
        for n in range(5):
            tx.append_event(event(n))
    with store.read() as tx:
        ids = [e.id for e in tx.events_between(REGION, 0, 2**62, 0, 10)]
    assert len(ids) == 5
    with store.write() as tx:
        claimed = tx.claim_undispatched_events(3)
        assert [e.id for e in claimed] == ids[:3]
        assert claimed[0].body == {"n": 0}
        tx.mark_dispatched([e.id for e in claimed])
    with store.write() as tx:
        assert [e.id for e in tx.claim_undispatched_events(10)] == ids[3:]


def test_a_rolled_back_change_leaves_no_event(store: SqlStore) -> None:
    with pytest.raises(RuntimeError), store.write() as tx:
        tx.append_event(event(1))
        raise RuntimeError
    with store.read() as tx:
        assert tx.claim_undispatched_events(10) == []


def test_two_stores_never_claim_the_same_event(store_url: str) -> None:
    stores = [open_store(store_url), open_store(store_url)]
    try:
        with stores[0].write() as tx:
            for n in range(60):
                tx.append_event(event(n))
        claimed: list[int] = []
        lock = threading.Lock()

        def work(s: SqlStore) -> None:
            while True:
                with s.write() as tx:
                    batch = tx.claim_undispatched_events(4)
                    tx.mark_dispatched([e.id for e in batch])
                if not batch:
                    return
                with lock:
                    claimed.extend(e.id for e in batch)

        threads = [threading.Thread(target=work, args=(s,)) for s in stores * 2]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 60
    finally:
        for s in stores:
            s.close()


def test_events_between_for_replay(store: SqlStore) -> None:
    with store.write() as tx:
        for n in range(6):
            tx.append_event(event(n, created_us=n * 10))
    with store.read() as tx:
        first = tx.events_between(REGION, 10, 50, 0, 2)
        assert [e.body["n"] for e in first] == [1, 2]
        assert [e.body["n"] for e in tx.events_between(REGION, 10, 50, first[-1].id, 10)] == [3, 4]


def test_deliveries_are_leased_retried_and_listed(store: SqlStore) -> None:
    with store.write() as tx:
        tx.append_event(event(1))
        (row,) = tx.claim_undispatched_events(1)  # sees the event appended just before
        due = tx.insert_delivery(delivery(row.id, next_attempt_us=100))
        later = tx.insert_delivery(delivery(row.id, next_attempt_us=500, rule="other"))
    with store.write() as tx:
        assert [d.id for d in tx.claim_due_deliveries(now_us=200, lease_us=1000, limit=10)] == [due.id]
    with store.write() as tx:  # leased: nobody else gets it until the lease lapses
        assert tx.claim_due_deliveries(now_us=300, lease_us=1000, limit=10) == []
        assert tx.next_delivery_due_us() == 500  # the other one; the leased one is due at 1200
        claimed = tx.claim_due_deliveries(now_us=1300, lease_us=1000, limit=10)
        assert [d.id for d in claimed] == [due.id, later.id]  # the lease lapsed; the other came due
    due.status, due.attempts, due.last_status_code, due.updated_us = "succeeded", 1, 200, 5
    with store.write() as tx:
        tx.update_delivery(due)
        tx.add_attempt(
            DeliveryAttempt(delivery_id=due.id, at_us=5, duration_us=7, status_code=200, error=None)
        )
    with store.read() as tx:
        assert tx.get_delivery(due.id).status == "succeeded"
        assert [(a.status_code, a.duration_us) for a in tx.list_attempts(due.id)] == [(200, 7)]
        assert [d.id for d in tx.list_deliveries(DeliveryQuery(), None, 10)] == [later.id, due.id]
        assert [d.id for d in tx.list_deliveries(DeliveryQuery(rule_name="other"), None, 10)] == [later.id]
        assert [d.id for d in tx.list_deliveries(DeliveryQuery(status="pending"), None, 10)] == [later.id]
        assert [d.id for d in tx.list_deliveries(DeliveryQuery(), later.id, 10)] == [due.id]
