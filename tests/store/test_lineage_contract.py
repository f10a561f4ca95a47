"""The lineage half of the Store contract (associations, insert-if-absent), on every store."""

from __future__ import annotations

import threading
import time

import pytest

from modelreg.store import open_store
from modelreg.store.base import DuplicateKey
from modelreg.store.rows import AssociationQuery, AssociationRow, NamedResource
from modelreg.store.sql import SqlStore
from tests.store.test_contract import add_version, make_group

PREFIX = "arn:aws:sagemaker:us-east-1:123456789012:"
DATA = PREFIX + "artifact/d1"
CODE = PREFIX + "artifact/c1"
MODEL = PREFIX + "artifact/m1"
TRAIN = PREFIX + "action/train"
ENDPOINT = PREFIX + "context/ep"
ELSEWHERE = "arn:aws:sagemaker:eu-west-1:123456789012:artifact/x1"


def _edge(
    src: str, dst: str, at: int, kind: str = "ContributedTo", types: tuple[str, str] = ("A", "B")
) -> AssociationRow:
    return AssociationRow(
        source_arn=src, destination_arn=dst, created_us=at, body={"CreatedBy": {}},
        association_type=kind, source_type=types[0], destination_type=types[1],
    )  # fmt: skip


def _graph(store: SqlStore) -> None:
    with store.write() as tx:
        assert tx.insert_association(_edge(DATA, TRAIN, 100, types=("DataSet", "TrainingJob")))
        assert tx.insert_association(_edge(CODE, TRAIN, 200, types=("Code", "TrainingJob")))
        assert tx.insert_association(_edge(TRAIN, MODEL, 300, "Produced", ("TrainingJob", "Model")))
        assert tx.insert_association(_edge(MODEL, ENDPOINT, 400, types=("Model", "Endpoint")))
        assert tx.insert_association(_edge(ELSEWHERE, MODEL, 500))


def test_an_association_is_one_per_pair_and_a_duplicate_leaves_the_transaction_usable(
    store: SqlStore,
) -> None:
    with store.write() as tx:
        assert tx.insert_association(_edge(DATA, MODEL, 100))
        assert not tx.insert_association(_edge(DATA, MODEL, 200, "DerivedFrom"))
        assert tx.insert_association(_edge(MODEL, DATA, 300))  # the other direction is another pair
    with store.read() as tx:
        found = tx.get_association(DATA, MODEL)
        assert found is not None
        assert (found.created_us, found.association_type, found.body) == (
            100,
            "ContributedTo",
            {"CreatedBy": {}},
        )
        assert tx.get_association(DATA, CODE) is None
    with store.write() as tx:
        assert tx.delete_association(DATA, MODEL)
        assert not tx.delete_association(DATA, MODEL)
    with store.read() as tx:
        assert tx.get_association(DATA, MODEL) is None
        assert tx.get_association(MODEL, DATA) is not None


def test_edges_of_a_set_of_vertices_in_both_directions(store: SqlStore) -> None:
    _graph(store)
    with store.read() as tx:
        assert {(e.source_arn, e.destination_arn) for e in tx.associations_to([TRAIN, MODEL], 100)} == {
            (DATA, TRAIN),
            (CODE, TRAIN),
            (TRAIN, MODEL),
            (ELSEWHERE, MODEL),
        }
        assert [(e.destination_arn, e.association_type) for e in tx.associations_from([TRAIN], 100)] == [
            (MODEL, "Produced")
        ]
        assert len(tx.associations_to([TRAIN, MODEL], 2)) == 2  # bounded
        assert tx.associations_from([ENDPOINT], 10) == []


def test_list_filters_sorts_and_pages_within_one_region(store: SqlStore) -> None:
    _graph(store)

    def listed(query: AssociationQuery, limit: int = 100) -> list[tuple[str, str]]:
        out, after = [], None
        with store.read() as tx:
            while True:
                page = tx.list_associations(query, after, limit)
                out += [(r.source_arn, r.destination_arn) for r in page]
                if len(page) < limit:
                    return out
                after = tx.association_cursor(page[-1], query)

    region = AssociationQuery(arn_prefix=PREFIX)
    newest_first = [(MODEL, ENDPOINT), (TRAIN, MODEL), (CODE, TRAIN), (DATA, TRAIN)]
    assert listed(region) == newest_first
    assert listed(region, limit=1) == newest_first
    assert listed(AssociationQuery()) == [(ELSEWHERE, MODEL), *newest_first]
    assert listed(AssociationQuery(arn_prefix=PREFIX, descending=False), limit=3) == newest_first[::-1]
    assert listed(AssociationQuery(arn_prefix=PREFIX, destination_arn=TRAIN)) == [
        (CODE, TRAIN),
        (DATA, TRAIN),
    ]
    assert listed(AssociationQuery(arn_prefix=PREFIX, source_type="Code")) == [(CODE, TRAIN)]
    assert listed(AssociationQuery(arn_prefix=PREFIX, destination_type="Endpoint")) == [(MODEL, ENDPOINT)]
    assert listed(AssociationQuery(arn_prefix=PREFIX, association_type="Produced")) == [(TRAIN, MODEL)]
    # creation bounds are inclusive
    assert listed(AssociationQuery(arn_prefix=PREFIX, created_after_us=200, created_before_us=300)) == [
        (TRAIN, MODEL),
        (CODE, TRAIN),
    ]
    by_type = AssociationQuery(arn_prefix=PREFIX, sort_by="SourceType", descending=False)
    assert listed(by_type, limit=1) == [(CODE, TRAIN), (DATA, TRAIN), (MODEL, ENDPOINT), (TRAIN, MODEL)]
    by_source = AssociationQuery(arn_prefix=PREFIX, sort_by="SourceArn", descending=True)
    assert listed(by_source, limit=2) == sorted(newest_first, reverse=True)
    by_destination = AssociationQuery(arn_prefix=PREFIX, sort_by="DestinationArn", descending=False)
    assert listed(by_destination, limit=1) == [
        (CODE, TRAIN),
        (DATA, TRAIN),
        (TRAIN, MODEL),
        (MODEL, ENDPOINT),
    ]


def test_deleting_every_association_of_an_entity(store: SqlStore) -> None:
    _graph(store)
    with store.write() as tx:
        assert tx.delete_associations_of(MODEL) == 3
    with store.read() as tx:
        assert tx.associations_from([MODEL], 10) == [] and tx.associations_to([MODEL], 10) == []
        assert len(tx.associations_to([TRAIN], 10)) == 2


def test_insert_if_absent_returns_the_row_that_holds_the_name(store: SqlStore) -> None:
    first = NamedResource("us-east-1", "artifact-source", "abc", PREFIX + "artifact/1", 10, {"n": 1})
    with store.write() as tx:
        stored, inserted = tx.insert_resource_if_absent(first)
        assert inserted and stored.id is not None
        again, inserted = tx.insert_resource_if_absent(
            NamedResource("us-east-1", "artifact-source", "abc", PREFIX + "artifact/2", 20, {"n": 2})
        )
        assert not inserted
        assert (again.id, again.arn, again.body) == (stored.id, PREFIX + "artifact/1", {"n": 1})
        # the transaction is still usable after the collision
        other, inserted = tx.insert_resource_if_absent(
            NamedResource("eu-west-1", "artifact-source", "abc", ELSEWHERE, 30, {})
        )
        assert inserted and other.id != stored.id
    with store.read() as tx:
        assert tx.get_resource("us-east-1", "artifact-source", "abc").body == {"n": 1}  # type: ignore[union-attr]


def test_plain_insert_still_refuses_a_taken_name(store: SqlStore) -> None:
    with store.write() as tx:
        tx.insert_resource(NamedResource("us-east-1", "action", "train", TRAIN, 10, {}))
    with pytest.raises(DuplicateKey), store.write() as tx:
        tx.insert_resource(NamedResource("us-east-1", "action", "train", TRAIN, 20, {}))


def test_concurrent_inserts_of_one_name_both_commit_and_agree(store: SqlStore) -> None:
    """Two registrations creating the same shared artifact at once: the second waits for the
    first, gets its row, and its own transaction still commits."""
    first_inserted, second_writing, release = threading.Event(), threading.Event(), threading.Event()
    results: dict[str, tuple[str, bool]] = {}

    def first() -> None:
        with store.write() as tx:
            row, inserted = tx.insert_resource_if_absent(
                NamedResource("us-east-1", "artifact-source", "shared", PREFIX + "artifact/a", 1, {})
            )
            results["first"] = (row.arn, inserted)
            first_inserted.set()
            release.wait(10)

    def second() -> None:
        first_inserted.wait(10)
        second_writing.set()
        with store.write() as tx:  # waits for the first (SQLite's write lock, or PostgreSQL's unique index)
            row, inserted = tx.insert_resource_if_absent(
                NamedResource("us-east-1", "artifact-source", "shared", PREFIX + "artifact/b", 2, {})
            )
            results["second"] = (row.arn, inserted)
            own = NamedResource("us-east-1", "artifact", "b-own", PREFIX + "artifact/own", 3, {})
            tx.insert_resource(own)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    second_writing.wait(10)
    assert "second" not in results  # it cannot get past the first's uncommitted row
    release.set()
    for t in threads:
        t.join(20)
    assert results == {"first": (PREFIX + "artifact/a", True), "second": (PREFIX + "artifact/a", False)}
    with store.read() as tx:
        assert tx.get_resource("us-east-1", "artifact", "b-own") is not None


def test_resources_by_name_in_one_query_and_inserted_in_one_statement(store: SqlStore) -> None:
    rows = [
        NamedResource("us-east-1", "artifact-source", n, PREFIX + f"artifact/{n}", 1, {"n": n}) for n in "abc"
    ]
    with store.write() as tx:
        tx.insert_resources(rows)
        tx.insert_resources([])
    with store.read() as tx:
        tx_keys = [
            ("artifact-source", "a"),
            ("artifact-source", "c"),
            ("artifact-source", "z"),
            ("action", "b"),
        ]
        found = tx.get_resources("us-east-1", [*tx_keys, ("artifact-source", "a")])
        assert {k: v.body for k, v in found.items()} == {
            ("artifact-source", "a"): {"n": "a"},
            ("artifact-source", "c"): {"n": "c"},
        }
        assert tx.get_resources("eu-west-1", [("artifact-source", "a")]) == {}
        assert tx.get_resources("us-east-1", []) == {}
    with pytest.raises(DuplicateKey), store.write() as tx:
        tx.insert_resources([rows[1]])


def test_resources_by_many_keys_come_back_exactly(store: SqlStore) -> None:
    """More keys than one lookup statement takes; kinds and names that exist only in other pairs
    (an ``action`` named like an artifact) do not match."""
    names = [f"n{i:02d}" for i in range(30)]
    with store.write() as tx:
        tx.insert_resources(
            [NamedResource("us-east-1", "artifact", n, PREFIX + f"artifact/{n}", 1, {"n": n}) for n in names]
        )
        tx.insert_resources([NamedResource("us-east-1", "action", "x", PREFIX + "action/x", 1, {})])
    wanted = [("artifact", n) for n in names[::2]] + [("artifact", "x"), ("action", "n01"), ("action", "x")]
    with store.read() as tx:
        found = tx.get_resources("us-east-1", wanted)
    assert sorted(found) == sorted([("artifact", n) for n in names[::2]] + [("action", "x")])
    assert all(found[("artifact", n)].body == {"n": n} for n in names[::2])


def test_resources_of_a_kind_page_by_keyset_in_either_order(store: SqlStore) -> None:
    def entity(region: str, kind: str, name: str, created_us: int) -> NamedResource:
        return NamedResource(region, kind, name, f"{PREFIX}{kind}/{name}", created_us, {})

    with store.write() as tx:  # two share a creation time: the id breaks the tie
        tx.insert_resources(
            [entity("us-east-1", "artifact", n, t) for n, t in (("b", 30), ("d", 10), ("a", 20), ("c", 20))]
            + [entity("us-east-1", "action", "z", 15), entity("eu-west-1", "artifact", "e", 25)]
        )

    def pages(**kw: object) -> list[list[str]]:
        by_name = bool(kw.get("by_name"))
        out, after = [], None
        with store.read() as tx:
            while True:
                page = tx.page_resources(
                    "us-east-1", "artifact", after=after, limit=2,
                    by_name=by_name, descending=bool(kw.get("descending")),
                    created_after_us=kw.get("after"), created_before_us=kw.get("before"),  # type: ignore[arg-type]
                )  # fmt: skip
                if not page:
                    return out
                out.append([r.name for r in page])
                after = (page[-1].name if by_name else page[-1].created_us, page[-1].id)

    assert pages() == [["d", "a"], ["c", "b"]]
    assert pages(descending=True) == [["b", "c"], ["a", "d"]]
    assert pages(by_name=True) == [["a", "b"], ["c", "d"]]
    assert pages(by_name=True, descending=True) == [["d", "c"], ["b", "a"]]
    assert pages(after=20, before=30) == [["a", "c"], ["b"]]  # bounds included
    assert pages(after=21, descending=True) == [["b"]]


def test_insert_many_if_absent_inserts_the_free_keys_and_leaves_the_taken_ones(store: SqlStore) -> None:
    def row(name: str, arn: str) -> NamedResource:
        return NamedResource("us-east-1", "artifact-source", name, arn, 100, {"ArtifactType": "Image"})

    with store.write() as tx:
        assert tx.insert_resources_if_absent([row("a", PREFIX + "artifact/first")]) == {
            ("artifact-source", "a")
        }
        inserted = tx.insert_resources_if_absent(
            [row("a", PREFIX + "artifact/second"), row("b", PREFIX + "artifact/b")]
        )
        assert inserted == {("artifact-source", "b")}
        assert tx.insert_resources_if_absent([]) == set()
    with store.read() as tx:
        found = tx.get_resources("us-east-1", [("artifact-source", "a"), ("artifact-source", "b")])
        assert {k[1]: r.arn for k, r in found.items()} == {
            "a": PREFIX + "artifact/first",
            "b": PREFIX + "artifact/b",
        }


# --------------------------------------------------------------------------- the lineage backlog


def _deferred_versions(store: SqlStore, count: int) -> list[int]:
    group = make_group(store, "backlog")
    ids = []
    for n in range(count):
        row = add_version(store, group, 1000 + n)
        assert row.id is not None
        with store.write() as tx:
            tx.defer_lineage(row.id)
        ids.append(row.id)
    return ids


def test_the_lineage_backlog_gives_versions_oldest_first_until_taken_off(store: SqlStore) -> None:
    with store.read() as tx:
        assert (tx.last_deferred_lineage(), tx.count_deferred_lineage()) == (None, 0)
    ids = _deferred_versions(store, 5)
    with store.read() as tx:
        assert (tx.last_deferred_lineage(), tx.count_deferred_lineage()) == (ids[-1], 5)
        assert [r.id for r in tx.deferred_lineage(3)] == ids[:3]
        assert [r.version for r in tx.deferred_lineage(10, up_to=ids[1])] == [1, 2]
    with store.write() as tx:
        assert tx.undefer_lineage([ids[0]]) == 1
        assert tx.undefer_lineage([ids[0]]) == 0  # taken once
        assert tx.undefer_lineage(ids[1:3]) == 2
    with store.read() as tx:
        assert [r.id for r in tx.deferred_lineage(10)] == ids[3:]
        assert tx.count_deferred_lineage() == 2


def _waiting_for_a_lock(store: SqlStore) -> bool:
    with store.read() as tx:
        waiting = tx.conn.exec_driver_sql("SELECT count(*) FROM pg_locks WHERE NOT granted").scalar()
    return bool(waiting)


def test_concurrent_recorders_take_disjoint_batches_and_a_reader_waits_for_them(
    postgres_database: str,
) -> None:
    """PostgreSQL: a background batch skips rows another transaction holds; a catch-up batch
    (``up_to``) waits for that transaction and then finds the rows it took off gone."""
    store = open_store(postgres_database)
    assert isinstance(store, SqlStore)
    try:
        ids = _deferred_versions(store, 4)
        holding, release = threading.Event(), threading.Event()
        waited: list[list[int | None]] = []

        def first_recorder() -> None:
            with store.write() as tx:
                taken = [r.id for r in tx.deferred_lineage(2)]
                assert taken == ids[:2]
                tx.undefer_lineage([i for i in taken if i is not None])
                holding.set()
                release.wait(10)

        def catching_up() -> None:
            with store.write() as tx:
                waited.append([r.id for r in tx.deferred_lineage(10, up_to=ids[-1])])

        first = threading.Thread(target=first_recorder)
        first.start()
        assert holding.wait(10)
        with store.write() as tx:
            assert [r.id for r in tx.deferred_lineage(10)] == ids[2:]  # skips the held rows
        reader = threading.Thread(target=catching_up)
        reader.start()
        deadline = time.monotonic() + 10
        while not _waiting_for_a_lock(store) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _waiting_for_a_lock(store) and not waited  # it waits for the first recorder
        release.set()
        first.join(10)
        reader.join(10)
        assert waited == [ids[2:]]
    finally:
        store.close()
