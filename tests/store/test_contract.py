"""The Store contract (modelreg.store.base), on every store implementation."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from modelreg.store import open_store
from modelreg.store.base import DuplicateKey, Transaction
from modelreg.store.rows import GroupQuery, GroupRow, HistoryEntry, NamedResource, PackageQuery, PackageRow
from modelreg.store.sql import SqlStore

REGION = "us-east-1"


def make_group(store: SqlStore, name: str, created_us: int = 1_000, region: str = REGION) -> GroupRow:
    with store.write() as tx:
        return tx.insert_group(
            GroupRow(
                region=region,
                name=name,
                arn=f"arn:group/{name.lower()}" if region == REGION else f"arn:{region}:group/{name.lower()}",
                created_us=created_us,
                body={"ModelPackageGroupName": name},
            )
        )


def add_version(
    store: SqlStore, group: GroupRow, now_us: int, status: str = "PendingManualApproval"
) -> PackageRow:
    with store.write() as tx:
        taken = tx.next_version_of(group.region, group.name, now_us)
        assert taken is not None
        version, created = taken.group.last_version, taken.group.last_created_us
        row = PackageRow(
            region=group.region,
            name=group.name,
            arn=f"{group.arn}/{version}",
            created_us=created,
            body={"ModelPackageVersion": version},
            group_id=group.id,
            version=version,
            approval_status=status,
            id=taken.package_id,
        )
        return tx.insert_package(row)


def test_group_names_are_unique_per_region_ignoring_case(store: SqlStore) -> None:
    make_group(store, "Fraud")
    with pytest.raises(DuplicateKey):
        make_group(store, "fraud")
    make_group(store, "fraud", region="eu-west-1")
    with store.read() as tx:
        assert tx.get_group(REGION, "FRAUD").name == "Fraud"
        assert tx.get_group("eu-west-1", "fraud").name == "fraud"
        assert tx.get_group(REGION, "other") is None


def test_versions_count_up_and_are_never_reused_after_delete(store: SqlStore) -> None:
    group = make_group(store, "g")
    rows = [add_version(store, group, 10) for _ in range(3)]
    assert [r.version for r in rows] == [1, 2, 3]
    with store.write() as tx:
        tx.delete_package(rows[2].id)
    with store.read() as tx:
        fresh = tx.get_group(REGION, "g")
    assert add_version(store, fresh, 10).version == 4


def test_creation_times_strictly_follow_version_order_even_if_the_clock_goes_back(store: SqlStore) -> None:
    group = make_group(store, "g")
    first = add_version(store, group, 5_000)
    second = add_version(store, group, 4_000)  # a clock that stepped back, or a server whose clock is behind
    assert second.created_us > first.created_us


def test_the_next_version_of_a_group_by_name_in_one_statement(store: SqlStore) -> None:
    group = make_group(store, "Fraud", created_us=700)
    add_version(store, group, 5_000)
    with store.write() as tx:
        taken = tx.next_version_of(REGION, "FRAUD", 4_000)  # any case; a clock behind the last version
        assert tx.next_version_of(REGION, "nothing", 4_000) is None
        assert tx.next_version_of("eu-west-1", "fraud", 4_000) is None
    assert taken is not None
    taken_group = taken.group
    assert (taken_group.id, taken_group.name, taken_group.arn, taken_group.created_us) == (
        group.id,
        "Fraud",
        group.arn,
        700,
    )
    assert (taken_group.last_version, taken_group.last_created_us) == (2, 5_001)
    assert taken.resource_body is None
    with store.read() as tx:
        stored = tx.get_group(REGION, "fraud")
        assert stored is not None and (stored.last_version, stored.last_created_us) == (2, 5_001)


def test_a_failed_write_transaction_leaves_nothing(store: SqlStore) -> None:
    group = make_group(store, "g")
    with pytest.raises(RuntimeError), store.write() as tx:
        tx.next_version_of(group.region, group.name, 1)
        tx.put_tags(group.arn, {"k": "v"})
        raise RuntimeError("boom")
    with store.read() as tx:
        assert tx.get_group(REGION, "g").last_version == 0
        assert tx.list_tags(group.arn) == []


def test_reads_that_keep_their_connection_see_each_commit_and_may_nest(store: SqlStore) -> None:
    group = make_group(store, "g")
    with store.read(keep_connection=True) as tx:
        assert tx.get_group(REGION, "g").last_version == 0
    add_version(store, group, 10)
    with store.read(keep_connection=True) as outer:
        assert outer.get_group(REGION, "g").last_version == 1
        with store.read(keep_connection=True) as inner:  # nested on one thread: another connection
            assert inner.get_group(REGION, "g").last_version == 1
        add_version(store, group, 20)
        with store.read(keep_connection=True) as inner:
            assert inner.get_group(REGION, "g").last_version == 2
    with pytest.raises(RuntimeError), store.read(keep_connection=True) as tx:
        tx.get_group(REGION, "g")
        raise RuntimeError("boom")
    with store.read(keep_connection=True) as tx:  # the failed read left no transaction open
        assert tx.get_group(REGION, "g").last_version == 2


def test_concurrent_registrations_never_share_a_version(store: SqlStore) -> None:
    group = make_group(store, "g")
    errors: list[BaseException] = []

    def register() -> None:
        try:
            for _ in range(15):
                add_version(store, group, 1)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    with store.read() as tx:
        rows = tx.list_packages(PackageQuery(region=REGION, group_id=group.id), None, 1000)
    assert sorted(r.version for r in rows) == list(range(1, 121))
    by_time = [r.version for r in sorted(rows, key=lambda r: r.created_us)]
    assert by_time == list(range(1, 121))


def test_two_stores_on_one_database_never_share_a_version(store_url: str) -> None:
    first, second = open_store(store_url), open_store(store_url)
    try:
        group = make_group(first, "shared")
        done: list[int] = []
        threads = [
            threading.Thread(
                target=lambda s=s: done.extend(add_version(s, group, 1).version for _ in range(20))
            )
            for s in (first, second, first, second)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert sorted(done) == list(range(1, 81))
    finally:
        first.close()
        second.close()


def test_package_listing_pages_by_keyset_in_both_orders(store: SqlStore) -> None:
    group = make_group(store, "g")
    other = make_group(store, "h")
    for i in range(7):
        add_version(store, group, 100 + i, "Approved" if i % 2 == 0 else "Rejected")
        add_version(store, other, 100 + i)
    for descending in (False, True):
        query = PackageQuery(region=REGION, group_id=group.id, descending=descending)
        seen, after = [], None
        with store.read() as tx:
            while True:
                rows = tx.list_packages(query, after, 3)
                seen += [r.version for r in rows]
                if len(rows) < 3:
                    break
                after = tx.package_cursor(rows[-1], query)
        assert seen == sorted(range(1, 8), reverse=descending)


def test_latest_approved_is_one_indexed_lookup(store: SqlStore) -> None:
    group = make_group(store, "g")
    for i in range(6):
        add_version(store, group, 100 + i, "Approved" if i in (1, 3) else "PendingManualApproval")
    query = PackageQuery(region=REGION, group_id=group.id, approval_status="Approved", descending=True)
    with store.read() as tx:
        (latest,) = tx.list_packages(query, None, 1)
    assert latest.version == 4
    if store.is_sqlite:
        with store.engine.connect() as conn:
            plan = " ".join(
                str(r[-1])
                for r in conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT * FROM model_packages WHERE region='us-east-1' AND group_id=1 "
                    "AND approval_status='Approved' ORDER BY created_us DESC, id DESC LIMIT 1"
                )
            )
        assert "USING INDEX" in plan and "TEMP B-TREE" not in plan, plan


def test_a_groups_versions_are_listed_by_the_groups_name_in_one_statement(store: SqlStore) -> None:
    group = make_group(store, "Named")
    elsewhere = make_group(store, "named", region="eu-west-1")  # same name, another region
    for i in range(3):
        add_version(store, group, 100 + i, "Approved")
    add_version(store, elsewhere, 500, "Approved")  # newer, but not this region's group
    with store.read() as tx:

        def versions(region: str, name: str) -> list[int | None]:
            query = PackageQuery(
                region=region, group_name=(region, name), approval_status="Approved", descending=True
            )
            return [r.version for r in tx.list_packages(query, None, 10)]

        assert versions(REGION, "NAMED") == [3, 2, 1]
        assert versions("eu-west-1", "named") == [1]
        assert versions(REGION, "nothing") == []


def test_package_filters(store: SqlStore) -> None:
    group = make_group(store, "fraud-models")
    for i in range(4):
        add_version(store, group, 1000 * (i + 1))
    with store.write() as tx:
        tx.insert_package(
            PackageRow(region=REGION, name="Loose_Pkg", arn="arn:mp/loose", created_us=2500, body={})
        )
    with store.read() as tx:

        def names(**kw: object) -> list[str]:
            return [r.arn for r in tx.list_packages(PackageQuery(region=REGION, **kw), None, 100)]

        assert names(versioned=False) == ["arn:mp/loose"]
        assert len(names(versioned=True)) == 4
        assert len(names()) == 5
        assert names(name_contains="PKG") == ["arn:mp/loose"]
        assert names(name_contains="%") == []
        assert len(names(created_after_us=1000, created_before_us=4000)) == 3  # exclusive bounds
        with pytest.raises(DuplicateKey), store.write() as wtx:
            wtx.insert_package(
                PackageRow(region=REGION, name="loose_pkg", arn="arn:mp/x", created_us=1, body={})
            )


def test_group_listing_filters_and_sorts(store: SqlStore) -> None:
    for i, name in enumerate(["beta", "Alpha", "gamma-x", "delta"]):
        make_group(store, name, created_us=10 + i)
    with store.read() as tx:

        def names(**kw: object) -> list[str]:
            return [r.name for r in tx.list_groups(GroupQuery(region=REGION, **kw), None, 100)]

        assert names(sort_by="Name", descending=False) == ["Alpha", "beta", "delta", "gamma-x"]
        assert names(descending=True) == ["delta", "gamma-x", "Alpha", "beta"]
        assert sorted(names(name_contains="a")) == ["Alpha", "beta", "delta", "gamma-x"]
        assert names(name_contains="x") == ["gamma-x"]
        assert names(created_after_us=10, created_before_us=13, descending=False) == ["Alpha", "gamma-x"]


def test_tags_put_overwrite_page_and_delete(store: SqlStore) -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/g"
    with store.write() as tx:
        tx.put_tags(arn, {"b": "1", "a": "2"})
        tx.put_tags(arn, {"b": "3", "c": "4"})
    with store.read() as tx:
        assert tx.list_tags(arn) == [("a", "2"), ("b", "3"), ("c", "4")]
        assert tx.list_tags(arn, after_key="a", limit=1) == [("b", "3")]
        assert tx.count_tags(arn) == 3
        assert tx.tags_for([arn, "arn:none"]) == {arn: [("a", "2"), ("b", "3"), ("c", "4")], "arn:none": []}
    with store.write() as tx:
        tx.delete_tags(arn, ["a", "missing"])
    with store.read() as tx:
        assert [k for k, _ in tx.list_tags(arn)] == ["b", "c"]


def test_history_is_appended_in_order(store: SqlStore) -> None:
    with store.write() as tx:
        for i, (old, new) in enumerate(
            [(None, "PendingManualApproval"), ("PendingManualApproval", "Approved")]
        ):
            tx.append_history(
                HistoryEntry(
                    arn="arn:x",
                    at_us=i,
                    principal="alice",
                    field="ModelApprovalStatus",
                    old_value=old,
                    new_value=new,
                    reason=f"r{i}",
                    request_id=f"q{i}",
                )
            )
    with store.read() as tx:
        entries = tx.list_history("arn:x")
    assert [(e.old_value, e.new_value, e.reason) for e in entries] == [
        (None, "PendingManualApproval", "r0"),
        ("PendingManualApproval", "Approved", "r1"),
    ]


def test_client_tokens_are_recorded_once(store: SqlStore) -> None:
    with store.write() as tx:
        tx.put_client_token(REGION, "CreateModelPackage", "tok", "hash", "arn:1", 1)
    with store.read() as tx:
        assert tx.get_client_token(REGION, "CreateModelPackage", "tok") == ("hash", "arn:1")
        assert tx.get_client_token(REGION, "UpdateModelPackage", "tok") is None
    with pytest.raises(DuplicateKey), store.write() as tx:
        tx.put_client_token(REGION, "CreateModelPackage", "tok", "other", "arn:2", 2)


def _entry(arn: str, n: int) -> HistoryEntry:
    return HistoryEntry(
        arn=arn,
        at_us=n,
        principal="alice",
        field="ModelApprovalStatus",
        old_value=None,
        new_value="Approved",
        reason=f"r{n}",
        request_id=f"q{n}",
    )


def test_appends_are_seen_by_the_next_statement_and_only_committed_with_it(store: SqlStore) -> None:
    with store.write() as tx:
        tx.append_history(_entry("arn:seen", 0))
        tx.put_client_token(REGION, "CreateModelPackage", "seen", "hash", "arn:seen", 1)
        assert [e.reason for e in tx.list_history("arn:seen")] == ["r0"]
        assert tx.get_client_token(REGION, "CreateModelPackage", "seen") == ("hash", "arn:seen")
    with pytest.raises(RuntimeError), store.write() as tx:
        tx.append_history(_entry("arn:gone", 0))
        tx.put_client_token(REGION, "CreateModelPackage", "gone", "hash", "arn:gone", 1)
        raise RuntimeError
    with store.read() as tx:
        assert tx.list_history("arn:gone") == []
        assert tx.get_client_token(REGION, "CreateModelPackage", "gone") is None


def test_a_taken_client_token_among_other_appends_is_a_duplicate_key_and_writes_none(
    store: SqlStore,
) -> None:
    with store.write() as tx:
        tx.put_client_token(REGION, "CreateModelPackage", "tok", "hash", "arn:1", 1)
    with pytest.raises(DuplicateKey), store.write() as tx:
        tx.append_history(_entry("arn:2", 0))  # sent in one statement with the token on PostgreSQL
        tx.put_client_token(REGION, "CreateModelPackage", "tok", "other", "arn:2", 2)
        tx.append_history(_entry("arn:2", 1))
    with store.read() as tx:
        assert tx.list_history("arn:2") == []
        assert tx.get_client_token(REGION, "CreateModelPackage", "tok") == ("hash", "arn:1")


def test_many_appends_in_one_transaction_keep_their_order(store: SqlStore) -> None:
    with store.write() as tx:  # more than one combined statement holds on PostgreSQL
        for n in range(19):
            tx.append_history(_entry("arn:many", n))
            if n % 3 == 0:
                tx.put_client_token(REGION, "CreateModelPackage", f"t{n}", "hash", "arn:many", n)
    with store.read() as tx:
        assert [e.reason for e in tx.list_history("arn:many")] == [f"r{n}" for n in range(19)]
        assert tx.get_client_token(REGION, "CreateModelPackage", "t18") == ("hash", "arn:many")


def test_package_updates_are_seen_by_the_next_statement_merged_and_only_committed_with_it(
    store: SqlStore,
) -> None:
    group = make_group(store, "updated")
    one, two = add_version(store, group, 100), add_version(store, group, 200)
    with store.write() as tx:
        tx.append_history(_entry(one.arn, 0))  # one statement with both updates on PostgreSQL
        one.approval_status, one.body["ModelApprovalStatus"] = "Approved", "Approved"
        one.last_event_sequence = 7
        tx.update_package(one)
        two.body["ModelPackageDescription"] = "first"
        tx.update_package(two)
        two.approval_status, two.body["ModelPackageDescription"] = "Rejected", "second"
        tx.update_package(two)  # held with the first: the two become one
        seen = tx.get_package_by_arn(two.arn)
        assert seen is not None and (seen.approval_status, seen.body["ModelPackageDescription"]) == (
            "Rejected",
            "second",
        )
    with pytest.raises(RuntimeError), store.write() as tx:
        one.approval_status = "Rejected"
        tx.update_package(one)
        raise RuntimeError
    with store.read() as tx:
        got = {arn: tx.get_package_by_arn(arn) for arn in (one.arn, two.arn)}
        assert [e.reason for e in tx.list_history(one.arn)] == ["r0"]
    assert (got[one.arn].approval_status, got[one.arn].body, got[one.arn].last_event_sequence) == (
        "Approved",
        {"ModelPackageVersion": 1, "ModelApprovalStatus": "Approved"},
        7,
    )
    assert (got[two.arn].approval_status, got[two.arn].body["ModelPackageDescription"]) == (
        "Rejected",
        "second",
    )


def test_the_next_version_reads_the_groups_named_resource_of_the_kind_asked(store: SqlStore) -> None:
    group = make_group(store, "Scored")
    other = make_group(store, "other")
    with store.write() as tx:
        # the near misses first: a lookup that ignored one of the three would find one of them
        for region, kind, name, body in [
            ("eu-west-1", "policy", "scored", {"other": "region"}),
            (REGION, "rule", "scored", {"other": "kind"}),
            (REGION, "policy", "other", {"other": "group"}),
            (REGION, "policy", "scored", {"gates": 1}),  # named by the group's key
        ]:
            tx.insert_resource(
                NamedResource(region=region, kind=kind, name=name, arn=f"arn:{name}", created_us=1, body=body)
            )
    with store.write() as tx:
        taken = tx.next_version_of(REGION, "SCORED", 1_000, resource_kind="policy")
        none_of_kind = tx.next_version_of(REGION, "scored", 2_000, resource_kind="alarm")
        no_kind = tx.next_version_of(REGION, "scored", 3_000)
    assert taken is not None and taken.resource_body == {"gates": 1}
    assert none_of_kind is not None and none_of_kind.resource_body is None
    assert no_kind is not None and no_kind.resource_body is None
    assert (taken.group.id, no_kind.group.last_version) == (group.id, 3)
    with store.read() as tx:
        untouched = tx.get_group(REGION, "other")
    assert untouched is not None and (untouched.id, untouched.last_version) == (other.id, 0)


def test_a_package_is_read_with_its_groups_named_resource_of_the_kind_asked(store: SqlStore) -> None:
    group = make_group(store, "Checked")
    version = add_version(store, group, 1_000)
    with store.write() as tx:
        # the near misses first: a lookup that ignored the region or the group would find one
        for region, name, body in [
            ("eu-west-1", "checked", {"other": "region"}),
            (REGION, "other", {}),
            (REGION, "checked", {"g": 1}),
        ]:
            tx.insert_resource(
                NamedResource(
                    region=region, kind="policy", name=name, arn=f"arn:{name}", created_us=1, body=body
                )
            )
        loose = tx.insert_package(
            PackageRow(region=REGION, name="loose", arn="arn:loose", created_us=1, body={})
        )
    with store.write() as tx:
        found = tx.get_package_and_group_resource(version.arn, "policy", for_update=True)
        assert found is not None
        row, body = found
        assert (row.id, row.version, row.arn, body) == (version.id, 1, version.arn, {"g": 1})
        assert tx.get_package_and_group_resource(version.arn, "rule") == (row, None)
        assert tx.get_package_and_group_resource(loose.arn, "policy") == (loose, None)
        assert tx.get_package_and_group_resource("arn:nothing", "policy") is None


def test_a_reserved_package_id_is_written_with_the_commit_and_merges_its_updates(store: SqlStore) -> None:
    group = make_group(store, "reserved")
    with store.write() as tx:
        taken = tx.next_version_of(REGION, "reserved", 1_000)
        assert taken is not None
        row = PackageRow(
            region=REGION,
            name="reserved",
            arn=f"{group.arn}/1",
            created_us=taken.group.last_created_us,
            body={"ModelApprovalStatus": "PendingManualApproval"},
            group_id=group.id,
            version=1,
            approval_status="PendingManualApproval",
            id=taken.package_id,
        )
        tx.insert_package(row)
        row.approval_status, row.body["ModelApprovalStatus"] = "Approved", "Approved"
        tx.update_package(row)  # merged into the insert where that is held back
        seen = tx.get_package_version(group.id, 1)
        assert seen is not None and (seen.id, seen.approval_status) == (row.id, "Approved")
    # PostgreSQL reserves ids from the sequence the serial column uses: later inserts never collide
    assert store.is_sqlite or taken.package_id is not None
    with pytest.raises(RuntimeError), store.write() as tx:
        again = tx.next_version_of(REGION, "reserved", 2_000)
        assert again is not None
        tx.insert_package(
            PackageRow(
                region=REGION,
                name="reserved",
                arn=f"{group.arn}/2",
                created_us=2_000,
                body={},
                group_id=group.id,
                version=2,
                id=again.package_id,
            )
        )
        raise RuntimeError
    with store.write() as tx:
        unversioned = tx.insert_package(
            PackageRow(region=REGION, name="loose", arn="arn:loose", created_us=1, body={})
        )
    with store.read() as tx:
        stored = tx.get_package_version(group.id, 1)
        assert stored is not None and (stored.id, stored.approval_status, stored.body) == (
            row.id,
            "Approved",
            {"ModelApprovalStatus": "Approved"},
        )
        assert tx.get_package_version(group.id, 2) is None
        assert tx.get_group(REGION, "reserved").last_version == 1
    assert unversioned.id not in (None, row.id)


def test_group_body_and_policy_round_trip(store: SqlStore) -> None:
    group = make_group(store, "g")
    group.body["ModelPackageGroupDescription"] = "déjà vu"
    group.policy = '{"Version": "2012-10-17"}'
    with store.write() as tx:
        tx.update_group(group)
    with store.read() as tx:
        again = tx.get_group(REGION, "g")
    assert again.body["ModelPackageGroupDescription"] == "déjà vu"
    assert again.policy == '{"Version": "2012-10-17"}'


def test_whole_region_and_group_iteration_goes_in_batches_by_key(store: SqlStore) -> None:
    a, b = make_group(store, "a"), make_group(store, "b")
    for i in range(7):
        add_version(store, a if i % 3 else b, 100 + i)
    with store.read() as tx:
        region = [(p.name, p.version) for p in tx.iter_packages(REGION, batch=2)]
        only_a = [p.version for p in tx.iter_packages(REGION, a.id, batch=2)]
        groups = [g.name for g in tx.iter_groups(REGION, batch=1)]
    assert region == [("b", 1), ("a", 1), ("a", 2), ("b", 2), ("a", 3), ("a", 4), ("b", 3)]
    assert only_a == [1, 2, 3, 4]
    assert groups == ["a", "b"]
    if store.is_sqlite:  # each batch is a key range, not a sort of the whole region
        from modelreg.store.sql import _ITER_GROUP_PACKAGES, _ITER_GROUPS, _ITER_PACKAGES

        with store.engine.connect() as conn:
            for stmt, params in (
                (_ITER_PACKAGES, (REGION, 0, 2, 0)),
                (_ITER_GROUP_PACKAGES, (a.id, 0, 2, 0)),
                (_ITER_GROUPS, (REGION, 0, 1, 0)),
            ):
                sql = str(stmt.compile(dialect=store.engine.dialect))
                plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params))
                assert "TEMP B-TREE" not in plan, plan


def test_every_package_listing_reads_an_index_in_its_order(store: SqlStore) -> None:
    if not store.is_sqlite:
        pytest.skip("the plan is SQLite's; PostgreSQL plans by its statistics")
    from itertools import product

    from modelreg.store.sql import _list_packages_stmt

    with store.engine.connect() as conn:
        for by_name, paged, scope, status in product(
            (False, True), (False, True), ("group", "versioned", "unversioned", "all"), (False, True)
        ):
            compiled = _list_packages_stmt(by_name, True, paged, scope, status, False, False, False).compile(
                dialect=store.engine.dialect
            )
            values = compiled.construct_params(
                {
                    "region": REGION,
                    "group_id": 1,
                    "status": "Approved",
                    "limit": 10,
                    "after_0": 1,
                    "after_1": 1,
                }
            )
            plan = " ".join(
                str(r[-1])
                for r in conn.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {compiled}", tuple(values[k] for k in compiled.positiontup or ())
                )
            )
            assert "TEMP B-TREE" not in plan, (by_name, paged, scope, status, plan)


def test_a_write_whose_commit_fails_leaves_the_store_writable(store: SqlStore) -> None:
    """A COMMIT that fails (a full disk, say) fails its write, keeps none of it, and the next
    write and read work: the connection is not left inside the failed transaction."""
    import sqlalchemy as sa

    make_group(store, "before")
    failures = [OSError("disk full")]

    def commit_fails_once(_conn: object) -> None:
        if failures:
            raise failures.pop()

    sa.event.listen(store.engine, "commit", commit_fails_once)
    try:
        with pytest.raises(OSError, match="disk full"):
            make_group(store, "lost")
        make_group(store, "after")
    finally:
        sa.event.remove(store.engine, "commit", commit_fails_once)
    with store.read() as tx:
        assert sorted(g.name for g in tx.iter_groups(REGION)) == ["after", "before"]


def _waiting_for_a_lock(store: SqlStore) -> bool:
    with store.read() as tx:
        return bool(tx.conn.exec_driver_sql("SELECT count(*) FROM pg_locks WHERE NOT granted").scalar())


@pytest.mark.parametrize("kind", ["package", "resource"])
def test_a_row_read_for_update_waits_for_the_writer_holding_it(postgres_database: str, kind: str) -> None:
    """PostgreSQL: two writers that read one package (or named resource) for update take turns, so
    the second sees what the first wrote (an approval never overwrites a concurrent one)."""
    store = open_store(postgres_database)
    assert isinstance(store, SqlStore)
    try:
        if kind == "package":
            arn = add_version(store, make_group(store, "locked"), 1).arn

            def read(tx: Transaction) -> Any:
                return tx.get_package_by_arn(arn, for_update=True)

            def write(tx: Transaction, row: Any) -> None:
                tx.update_package(row)
        else:
            with store.write() as tx:
                tx.insert_resource(
                    NamedResource(region=REGION, kind="rule", name="r", arn="arn:r", created_us=1, body={})
                )

            def read(tx: Transaction) -> Any:
                return tx.get_resource(REGION, "rule", "r", for_update=True)

            def write(tx: Transaction, row: Any) -> None:
                tx.update_resource(row)

        holding, release = threading.Event(), threading.Event()
        second_saw: list[dict[str, Any]] = []

        def first() -> None:
            with store.write() as tx:
                row = read(tx)
                holding.set()
                release.wait(10)
                row.body = {**row.body, "by": "first"}
                write(tx, row)

        def second() -> None:
            with store.write() as tx:
                second_saw.append(read(tx).body)

        writers = [threading.Thread(target=first), threading.Thread(target=second)]
        writers[0].start()
        assert holding.wait(10)
        writers[1].start()
        deadline = time.monotonic() + 10
        while not _waiting_for_a_lock(store) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _waiting_for_a_lock(store) and not second_saw
        release.set()
        for t in writers:
            t.join(10)
        assert second_saw and second_saw[0]["by"] == "first"
    finally:
        store.close()


def test_latest_approved_on_postgresql_reads_the_status_index_even_with_a_generic_plan(
    store: SqlStore,
) -> None:
    """PostgreSQL may run a statement psycopg has prepared with a plan made for any parameters.
    Filtered on its status after the group's index by creation time, the latest approved of a
    group of 20,000 versions whose only approved one is its first took 130 ms here (every version
    read); in the status index, 0.03 ms."""
    if store.is_sqlite:
        pytest.skip("the plan cache is PostgreSQL's")
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    from modelreg.store import schema
    from modelreg.store.sql import _list_packages_stmt

    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # ten groups of 20,000 versions registered in turns, a quarter approved; in the last group
        # only its first version
        groups = schema.model_package_groups
        group_ids = [
            conn.execute(
                sa.insert(groups).returning(groups.c.id),
                {"region": REGION, "key": g, "name": g, "arn": f"arn:{g}", "created_us": 0, "body": "{}"},
            ).scalar_one()
            for g in (f"g{i}" for i in range(10))
        ]
        group_id = group_ids[-1]
        conn.exec_driver_sql(
            "INSERT INTO model_packages (region, group_id, version, name, arn, approval_status, created_us,"
            " body) SELECT %(region)s, g, v, 'g', 'arn:' || g || '/' || v,"
            " CASE WHEN v = 1 OR (g <> %(group_id)s AND v %% 4 = 0) THEN 'Approved'"
            " ELSE 'PendingManualApproval' END, v * 10 + g, '{}'"
            " FROM generate_series(1, 20000) AS v, unnest(%(group_ids)s::int[]) AS g ORDER BY v, g",
            {"region": REGION, "group_id": group_id, "group_ids": group_ids},
        )
        conn.exec_driver_sql("ANALYZE model_packages")
        conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        literals = {"region": f"'{REGION}'", "group_region": f"'{REGION}'", "group_key": "'g9'"}
        literals |= {"group_id": str(group_id), "status": "'Approved'", "limit": "2"}
        for scope in ("group", "group by name"):
            stmt = _list_packages_stmt(False, True, False, scope, True, False, False, False)
            compiled = stmt.compile(dialect=postgresql.dialect(paramstyle="numeric_dollar"))
            conn.exec_driver_sql(f"PREPARE latest AS {compiled}")
            arguments = ", ".join(literals[name] for name in compiled.positiontup or ())
            plan = " ".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN EXECUTE latest({arguments})"))
            conn.exec_driver_sql("DEALLOCATE latest")
            assert "approval_status_created_us" in plan and "Filter: ((approval_status" not in plan, plan
