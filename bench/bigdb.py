"""The big-database run (modelreg only): seed N versions through the store's bulk path, then ask
"latest approved" of groups of N/10 versions each through a live server.

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
import json
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import clients
from bench.workloads import LATEST_BIG, Counts, Measurement, count_wrong, measure, warm_up

ACCOUNT = "123456789012"  # modelreg's default --account-id
GROUPS = 10
APPROVED_FRACTION = 0.25
BATCH = 5000
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
# members that differ between any two versions; everything else must be identical
_PER_VERSION = {"ModelPackageVersion", "ModelPackageArn", "CreationTime", "LastModifiedTime",
                "ModelPackageDescription", "InferenceSpecification", "CustomerMetadataProperties",
                "ModelApprovalStatus"}


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
    seed: SeedResult
    measurements: list[Measurement]
    spot_checks: int = 0
    spot_wrong: int = 0
    rss_bytes: int = 0
    database_bytes: int = 0
    fidelity_problems: list[str] = field(default_factory=list)


@functools.cache
def _user_context() -> dict[str, Any]:
    """CreatedBy for a request signed with the bench's access key (``--auth none``)."""
    user = clients.ACCESS_KEY
    return {"UserProfileName": user,
            "IamIdentity": {"Arn": f"arn:aws:iam::{ACCOUNT}:user/{user}", "PrincipalId": user}}


def _arn(group: str, version: int | None = None) -> str:
    from modelreg import arns

    if version is None:
        return arns.model_package_group(clients.REGION, ACCOUNT, group)
    return arns.model_package(clients.REGION, ACCOUNT, group, version)


def group_row(name: str, created_us: int, last_version: int, last_created_us: int) -> dict[str, Any]:
    body = {"ModelPackageGroupName": name, "ModelPackageGroupArn": _arn(name),
            "CreationTime": created_us / 1e6, "CreatedBy": _user_context(), "ModelPackageGroupStatus": "Completed",
            "ModelPackageGroupDescription": f"bench group {name}"}
    return {"region": clients.REGION, "key": name.lower(), "name": name, "arn": _arn(name),
            "created_us": created_us, "last_version": last_version, "last_created_us": last_created_us,
            "body": _dumps(body), "policy": None}


def package_rows(group: str, group_id: int, version: int, seq: int, created_us: int, status: str
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The package row and the history row one CreateModelPackage writes."""
    arn = _arn(group, version)
    body = dict(clients.create_model_package_request(group, seq, status))
    body.setdefault("CertifyForMarketplace", False)
    body["ModelPackageStatus"] = "Completed"
    body["ModelPackageStatusDetails"] = {"ValidationStatuses": [], "ImageScanStatuses": []}
    body["CreatedBy"] = _user_context()
    body.update({"ModelPackageName": group, "ModelPackageGroupName": group, "ModelPackageVersion": version,
                 "ModelPackageArn": arn, "CreationTime": created_us / 1e6, "LastModifiedTime": created_us / 1e6,
                 "ModelApprovalStatus": status})
    package = {"region": clients.REGION, "group_id": group_id, "version": version, "key": None, "name": group,
               "arn": arn, "approval_status": status, "created_us": created_us, "body": _dumps(body)}
    history = {"arn": arn, "at_us": created_us, "principal": clients.ACCESS_KEY, "field": "ModelApprovalStatus",
               "old_value": None, "new_value": status, "reason": None, "request_id": f"bench-seed-{seq:08d}"}
    return package, history


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


def _batches(names: list[str], ids: list[int], total: int, created: Callable[[int], int], seed: int,
             out: queue.Queue[tuple[list[dict[str, Any]], list[dict[str, Any]], list[int]] | None]) -> None:
    """Producer: build the rows batch by batch (approved versions listed in the third item)."""
    rng = random.Random(seed)
    try:
        for start in range(0, total, BATCH):
            packages, history, approved = [], [], []
            for i in range(start, min(start + BATCH, total)):
                g, version = i % len(names), i // len(names) + 1
                status = clients.APPROVED if rng.random() < APPROVED_FRACTION else clients.PENDING
                if status == clients.APPROVED:
                    approved.append(i)
                package, entry = package_rows(names[g], ids[g], version, i, created(i), status)
                packages.append(package)
                history.append(entry)
            out.put((packages, history, approved))
    finally:
        out.put(None)


def seed(sqlalchemy_url: str, total: int, progress: Callable[[str], None] = print, seed: int = 7) -> SeedResult:
    """Create the schema at ``sqlalchemy_url`` and insert ``total`` versions over ``GROUPS`` groups.

    Versions are interleaved across groups in creation order, 1 ms apart and all in the past, so a
    version registered later through the API is the newest; a quarter of them are Approved. A
    producer thread builds the next batch while the database inserts this one (both drivers let
    other threads run while the database works)."""
    from modelreg.store import open_store, schema

    per_group = total // GROUPS
    total = per_group * GROUPS
    names = [f"big-{i:02d}" for i in range(GROUPS)]
    base_us = time.time_ns() // 1000 - (total + 1000) * 1000
    created = lambda i: base_us + i * 1000  # noqa: E731  (version i of the whole database)
    started = time.monotonic()
    open_store(sqlalchemy_url).close()  # creates and stamps the schema, as a server start would
    engine = _bulk_engine(sqlalchemy_url)
    try:
        with engine.begin() as conn:
            ids = [conn.execute(schema.model_package_groups.insert().returning(schema.model_package_groups.c.id),
                                group_row(name, base_us - 1000, per_group, created(total - GROUPS + g))
                                ).scalar_one() for g, name in enumerate(names)]
        batches: queue.Queue[Any] = queue.Queue(maxsize=2)
        producer = threading.Thread(target=_batches, args=(names, ids, total, created, seed, batches), daemon=True)
        producer.start()
        last_approved: dict[str, int] = {}
        approved = done = 0
        while (batch := batches.get(timeout=600)) is not None:
            packages, history, approved_rows = batch
            with engine.begin() as conn:
                conn.execute(schema.model_packages.insert(), packages)
                conn.execute(schema.history.insert(), history)
            for i in approved_rows:
                last_approved[names[i % GROUPS]] = i // GROUPS + 1
            approved += len(approved_rows)
            done += len(packages)
            if done % (40 * BATCH) == 0:
                progress(f"  seeded {done:,} / {total:,} versions ({time.monotonic() - started:.0f}s)")
        producer.join(timeout=60)
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
        problems.append(f"members differ: API-only {sorted(set(fresh) - set(old))}, "
                        f"seed-only {sorted(set(old) - set(fresh))}")
    for member in set(fresh) & set(old) - _PER_VERSION:
        if fresh[member] != old[member]:
            problems.append(f"{member} differs: API {fresh[member]!r}, seeded {old[member]!r}")
    if fresh.get("CreationTime") is not None and old.get("CreationTime") is not None \
            and not fresh["CreationTime"] > old["CreationTime"]:
        problems.append("the API-registered version is not newer than the seeded ones")
    return problems


def measure_big(running: Any, seeded: SeedResult, counts: Counts, client_counts: list[int],
                seed: int = 43) -> BigResult:
    """The latest-approved query on the seeded database with each number of clients, checked."""
    from bench.pool import ClientPool

    rng = random.Random(seed)
    out: list[Measurement] = []
    for n in client_counts:
        pool = ClientPool(running.api, running.url, n)
        try:
            warm_up(pool, seeded.groups[0])
            m, answers = measure(pool, running, LATEST_BIG, "latest_approved",
                                 rng.choices(seeded.groups, k=counts.latest), counts.time_limit)
            m.wrong, m.checked = count_wrong(answers, seeded.last_approved), len(answers)
            out.append(m)
        finally:
            pool.close()
    admin = clients.SageMakerClient(running.url)
    spot = [admin.latest_approved(group) for group in seeded.groups]
    result = BigResult(running.system, seeded, out, spot_checks=len(spot),
                       spot_wrong=count_wrong(spot, seeded.last_approved), rss_bytes=running.server.rss_bytes())
    result.fidelity_problems = fidelity_check(admin, seeded)
    return result
