"""The big-database run (modelreg only): seed N versions through the store's bulk path, then ask
"latest approved" of groups of N/10 versions each through a live server, in turns with the same
query on a database of 2,000 versions seeded the same way (the baseline of the 1.5x target).

Seeding writes the rows ``modelreg/sagemaker/model_packages.py`` ``_create_version`` writes for a
CreateModelPackage request with the bench's members (``clients.create_model_package_request``):
the package row (indexed columns + body JSON), its history entry, and the group's version counter
(``last_version`` / ``last_created_us``). It uses SQLAlchemy executemany in batches, one
transaction per batch. After the server starts, ``fidelity_check`` registers one more version
through the API and compares it with a seeded one, so a drift between this mirror and modelreg
shows up as a failed check, not as a silently different database.
"""

from __future__ import annotations

import functools
import itertools
import json
import multiprocessing as mp
import os
import random
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bench import clients
from bench.pool import ClientPool, default_sigterm
from bench.systems import Running
from bench.workloads import Counts, Measurement, Round, count_wrong, run_round, summarize, warm_up

ACCOUNT = "123456789012"  # modelreg's default --account-id
GROUPS = 10
SMALL = 2000  # versions in the baseline database the big one is compared with
ROUNDS = 5  # the two databases take turns this many times
APPROVED_FRACTION = 0.25
BATCH = 5000
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
Rows = dict[str, list[dict[str, Any]]]  # table name -> rows
# members that differ between any two versions; everything else must be identical
_PER_VERSION = {
    "ModelPackageVersion",
    "ModelPackageArn",
    "CreationTime",
    "LastModifiedTime",
    "ModelPackageDescription",
    "InferenceSpecification",
    "CustomerMetadataProperties",
    "ModelApprovalStatus",
}


@dataclass
class SeedResult:
    groups: list[str]
    total: int
    per_group: int
    approved: int
    seconds: float
    last_approved: dict[str, int] = field(default_factory=dict)


@dataclass
class BigResult:
    system: str
    seed: SeedResult  # the big database
    small_seed: SeedResult  # the baseline database
    measurements: list[Measurement]  # latest-approved on the big database, per client count
    baseline: list[Measurement]  # the same on the baseline database, interleaved with the above
    spot_checks: int = 0
    spot_wrong: int = 0
    rss_bytes: int = 0
    database_bytes: int = 0
    fidelity_problems: list[str] = field(default_factory=list)


@functools.cache
def _user_context() -> dict[str, Any]:
    """CreatedBy for a request signed with the bench's access key (``--auth none``)."""
    user = clients.ACCESS_KEY
    return {
        "UserProfileName": user,
        "IamIdentity": {"Arn": f"arn:aws:iam::{ACCOUNT}:user/{user}", "PrincipalId": user},
    }


def _arn(group: str, version: int | None = None) -> str:
    from modelreg import arns

    if version is None:
        return arns.model_package_group(clients.REGION, ACCOUNT, group)
    return arns.model_package(clients.REGION, ACCOUNT, group, version)


def _iso(us: int) -> str:
    """EventBridge's event time format."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(us // 1_000_000))


def event_row(
    arn: str, detail_type: str, body: dict[str, Any], change: dict[str, Any], at_us: int, n: int
) -> dict[str, Any]:
    """The outbox row of a change (``modelreg/events/outbox.py``): the first event of ``arn``,
    already dispatched, as on a server whose delivery worker has caught up."""
    event_id = f"00000000-0000-4000-8000-{n:012x}"
    detail = {**body, "modelreg": {**change, "sequence": 1}}
    for member in ("CreationTime", "LastModifiedTime"):
        if isinstance(detail.get(member), float):
            detail[member] = _iso(int(detail[member] * 1_000_000))
    event = {"version": "0", "id": event_id, "detail-type": detail_type, "source": "aws.sagemaker",
             "account": ACCOUNT, "time": _iso(at_us), "region": clients.REGION, "resources": [arn],
             "detail": detail}  # fmt: skip
    return {"event_id": event_id, "region": clients.REGION, "source": "aws.sagemaker",
            "detail_type": detail_type, "resource_arn": arn, "sequence": 1, "created_us": at_us,
            "dispatched": True, "body": _dumps(event)}  # fmt: skip


def group_rows(name: str, n: int, created_us: int, last_version: int, last_created_us: int) -> Rows:
    """What CreateModelPackageGroup writes, with the version counter already at ``last_version``."""
    arn = _arn(name)
    body = {"ModelPackageGroupName": name, "ModelPackageGroupArn": arn, "CreationTime": created_us / 1e6,
            "CreatedBy": _user_context(), "ModelPackageGroupStatus": "Completed",
            "ModelPackageGroupDescription": f"bench group {name}"}  # fmt: skip
    group = {"region": clients.REGION, "key": name.lower(), "name": name, "arn": arn,
             "created_us": created_us, "last_version": last_version, "last_created_us": last_created_us,
             "body": _dumps(body), "policy": None}  # fmt: skip
    change = {"change": "Created", "operation": "CreateModelPackageGroup", "principal": clients.ACCESS_KEY,
              "requestId": f"bench-seed-group-{n}"}  # fmt: skip
    event = event_row(arn, "SageMaker Model Package Group State Change", body, change, created_us, n)
    return {"model_package_groups": [group], "events": [event]}


def package_rows(group: str, group_id: int, version: int, seq: int, created_us: int, status: str) -> Rows:
    """What CreateModelPackage writes: the package row, its history entry and its outbox event."""
    arn = _arn(group, version)
    request_id = f"bench-seed-{seq:08d}"
    body = dict(clients.create_model_package_request(group, seq, status))
    body.setdefault("CertifyForMarketplace", False)
    body["ModelPackageStatus"] = "Completed"
    body["ModelPackageStatusDetails"] = {"ValidationStatuses": [], "ImageScanStatuses": []}
    body["CreatedBy"] = _user_context()
    body.update({"ModelPackageName": group, "ModelPackageGroupName": group, "ModelPackageVersion": version,
                 "ModelPackageArn": arn, "CreationTime": created_us / 1e6,
                 "LastModifiedTime": created_us / 1e6, "ModelApprovalStatus": status})  # fmt: skip
    package = {"region": clients.REGION, "group_id": group_id, "version": version, "key": None,
               "name": group, "arn": arn, "approval_status": status, "created_us": created_us,
               "body": _dumps(body)}  # fmt: skip
    history = {"arn": arn, "at_us": created_us, "principal": clients.ACCESS_KEY,
               "field": "ModelApprovalStatus", "old_value": None, "new_value": status, "reason": None,
               "request_id": request_id}  # fmt: skip
    change = {"change": "Created", "operation": "CreateModelPackage", "principal": clients.ACCESS_KEY,
              "requestId": request_id, "previousModelApprovalStatus": None,
              "previousModelLifeCycle": None}  # fmt: skip
    event = event_row(arn, "SageMaker Model Package State Change", body, change, created_us, GROUPS + seq)
    return {"model_packages": [package], "history": [history], "events": [event]}


def _bulk_engine(sqlalchemy_url: str) -> Any:
    """modelreg's engine for this URL, with commits that do not wait for the disk (a bulk load is
    simply redone if the machine dies): several times faster on this machine's slow fsync."""
    import sqlalchemy as sa

    from modelreg.store.sql import create_engine

    engine = create_engine(sqlalchemy_url)
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _no_fsync(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA synchronous=OFF")  # not allowed inside a transaction
    else:

        @sa.event.listens_for(engine, "begin")
        def _async_commit(conn: Any) -> None:
            conn.exec_driver_sql("SET LOCAL synchronous_commit = off")

    return engine


@dataclass(frozen=True)
class Layout:
    """Where each seeded version goes: version ``seq`` (0-based, in creation order) is version
    ``seq // GROUPS + 1`` of group ``seq % GROUPS``, created at ``base_us + seq`` ms."""

    names: list[str]
    ids: list[int]  # group row ids, in the order of ``names``
    total: int
    base_us: int
    seed: int

    def created_us(self, seq: int) -> int:
        return self.base_us + seq * 1000

    def place(self, seq: int) -> tuple[str, int, int]:
        """(group name, group id, version number) of version ``seq``."""
        g = seq % len(self.names)
        return self.names[g], self.ids[g], seq // len(self.names) + 1


@dataclass
class Batch:
    rows: Rows  # table name -> rows to insert
    versions: int
    approved: list[int]  # seq numbers of the approved versions


def _add(into: Rows, rows: Rows) -> None:
    for table, more in rows.items():
        into.setdefault(table, []).extend(more)


def build_batch(layout: Layout, start: int) -> Batch:
    """The rows of versions ``start`` .. ``start + BATCH`` (runs in a builder process)."""
    rng = random.Random(layout.seed * 1_000_003 + start)  # the same statuses whichever process builds it
    batch = Batch({}, 0, [])
    for seq in range(start, min(start + BATCH, layout.total)):
        status = clients.APPROVED if rng.random() < APPROVED_FRACTION else clients.PENDING
        if status == clients.APPROVED:
            batch.approved.append(seq)
        group, group_id, version = layout.place(seq)
        _add(batch.rows, package_rows(group, group_id, version, seq, layout.created_us(seq), status))
        batch.versions += 1
    return batch


def built_batches(layout: Layout, processes: int) -> Iterator[Batch]:
    """Every batch, in order, built by ``processes`` forked builders, at most two each in flight
    (building the JSON bodies costs as much CPU as inserting them)."""
    starts = iter(range(0, layout.total, BATCH))
    with mp.get_context("fork").Pool(processes, initializer=default_sigterm) as pool:
        pending = deque(
            pool.apply_async(build_batch, (layout, s)) for s in itertools.islice(starts, 2 * processes)
        )
        while pending:
            batch = pending.popleft().get(timeout=600)
            pending.extend(pool.apply_async(build_batch, (layout, s)) for s in itertools.islice(starts, 1))
            yield batch


def _insert(conn: Any, rows: Rows) -> None:
    """One executemany per table, parents first."""
    from modelreg.store import schema

    for table in schema.metadata.sorted_tables:
        if rows.get(table.name):
            conn.execute(table.insert(), rows[table.name])


def _insert_groups(engine: Any, names: list[str], per_group: int, base_us: int, total: int) -> list[int]:
    """The group rows (counters set to their last seeded version); returns their ids."""
    from modelreg.store import schema

    rows: Rows = {}
    for g, name in enumerate(names):
        last_created = base_us + (total - len(names) + g) * 1000
        _add(rows, group_rows(name, g, base_us - 1000, per_group, last_created))
    G = schema.model_package_groups
    with engine.begin() as conn:
        _insert(conn, rows)
        ids = dict(conn.execute(G.select().with_only_columns(G.c.key, G.c.id)).all())
    return [ids[name.lower()] for name in names]


def seed(
    sqlalchemy_url: str, total: int, progress: Callable[[str], None] = print, seed: int = 7
) -> SeedResult:
    """Create the schema at ``sqlalchemy_url`` and insert ``total`` versions over ``GROUPS`` groups.

    Versions are interleaved across groups in creation order, 1 ms apart and all in the past, so a
    version registered later through the API is the newest; a quarter of them are Approved."""
    from modelreg.store import open_store

    per_group = total // GROUPS
    total = per_group * GROUPS
    names = [f"big-{i:02d}" for i in range(GROUPS)]
    base_us = time.time_ns() // 1000 - (total + 1000) * 1000
    started = time.monotonic()
    open_store(sqlalchemy_url).close()  # creates and stamps the schema, as a server start would
    engine = _bulk_engine(sqlalchemy_url)
    try:
        layout = Layout(names, _insert_groups(engine, names, per_group, base_us, total), total, base_us, seed)
        engine.dispose()  # no open connection is inherited by the builder processes
        last_approved: dict[str, int] = {}
        approved = done = 0
        for batch in built_batches(layout, processes=max(1, min(2, os.cpu_count() or 1))):
            with engine.begin() as conn:
                _insert(conn, batch.rows)
            for seq in batch.approved:
                group, _, version = layout.place(seq)
                last_approved[group] = max(version, last_approved.get(group, 0))
            approved += len(batch.approved)
            done += batch.versions
            if done % (40 * BATCH) == 0:
                progress(f"  seeded {done:,} / {total:,} versions ({time.monotonic() - started:.0f}s)")
        if done != total:
            raise RuntimeError(f"seeding stopped after {done:,} of {total:,} versions")
        if engine.dialect.name == "postgresql":
            # planner statistics, as autovacuum keeps them on a database that grew over time
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()
    return SeedResult(names, total, per_group, approved, time.monotonic() - started, last_approved)


def fidelity_check(admin: clients.SageMakerClient, seeded: SeedResult) -> list[str]:
    """Register one version through the API and compare it with a seeded one; [] when they agree."""
    group = seeded.groups[0]
    _, ref, version = admin.register(group, seeded.total)
    problems = []
    if version != seeded.per_group + 1:
        problems.append(f"the API gave version {version} after {seeded.per_group} seeded versions")
    fresh = admin.describe_body(ref)
    old = admin.describe_body(_arn(group, seeded.per_group))
    if set(fresh) != set(old):
        problems.append(
            f"members differ: API-only {sorted(set(fresh) - set(old))}, "
            f"seed-only {sorted(set(old) - set(fresh))}"
        )
    for member in set(fresh) & set(old) - _PER_VERSION:
        if fresh[member] != old[member]:
            problems.append(f"{member} differs: API {fresh[member]!r}, seeded {old[member]!r}")
    if (
        fresh.get("CreationTime") is not None
        and old.get("CreationTime") is not None
        and not fresh["CreationTime"] > old["CreationTime"]
    ):
        problems.append("the API-registered version is not newer than the seeded ones")
    return problems


@dataclass
class Seeded:
    """A seeded database and the server answering on it."""

    seed: SeedResult
    running: Running


def measure_sizes(
    small: Seeded, big: Seeded, counts: Counts, client_counts: list[int], rounds: int = ROUNDS, seed: int = 43
) -> tuple[list[Measurement], list[Measurement]]:
    """latest-approved on the small and the big database, one measurement per client count each.

    The two servers take turns in ``rounds`` rounds (alternating which goes first), so a change in
    the machine's load during the run hits both alike and their ratio stays meaningful."""
    rng = random.Random(seed)
    both = (small, big)
    out: tuple[list[Measurement], list[Measurement]] = ([], [])
    per_round = max(1, counts.latest // rounds)
    for n in client_counts:
        pools = [ClientPool(s.running.api, s.running.url, n) for s in both]
        try:
            for pool, s in zip(pools, both, strict=True):
                warm_up(pool, s.seed.groups[0])
            taken: tuple[list[Round], list[Round]] = ([], [])
            for r in range(rounds):
                for i in (0, 1) if r % 2 == 0 else (1, 0):
                    items = rng.choices(both[i].seed.groups, k=per_round)
                    taken[i].append(
                        run_round(pools[i], both[i].running, "latest_approved", items, counts.time_limit)
                    )
            for i, s in enumerate(both):
                m = summarize(s.running.system, f"latest-approved@{s.seed.total:,}", n, taken[i])
                answers = [a for one in taken[i] for a in one.answers]
                m.wrong, m.checked = count_wrong(answers, s.seed.last_approved), len(answers)
                out[i].append(m)
        finally:
            for pool in pools:
                pool.close()
    return out


def compare_sizes(small: Seeded, big: Seeded, counts: Counts, client_counts: list[int]) -> BigResult:
    """The big-database result: interleaved measurements, spot checks, server RSS, seed fidelity."""
    baseline, measurements = measure_sizes(small, big, counts, client_counts)
    admin = clients.SageMakerClient(big.running.url)
    spot = [admin.latest_approved(group) for group in big.seed.groups]
    result = BigResult(
        big.running.system,
        big.seed,
        small.seed,
        measurements,
        baseline,
        spot_checks=len(spot),
        spot_wrong=count_wrong(spot, big.seed.last_approved),
        rss_bytes=big.running.server.rss_bytes(),
    )
    result.fidelity_problems = fidelity_check(admin, big.seed)
    return result
