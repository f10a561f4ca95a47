"""The workloads (from the issue) and how one of them is measured.

On a fresh server: create the groups, then
1. register ``register`` versions round-robin over the groups,
2. describe ``describe`` versions drawn at random,
3. approve ``approve`` distinct versions drawn at random,
4. ask "latest approved version of group X" ``latest`` times (X at random) and check every answer
   against the newest version the bench approved in X.

A measurement is the wall time from the start barrier to the last answer (ops/s), the latency of
every request (p50, p99), and the CPU time the server process tree (and, for PostgreSQL, the
database backends) used during the workload, divided by the number of requests.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bench import clients
from bench.pool import BatchResult, ClientPool
from bench.systems import Running

REGISTER, DESCRIBE, APPROVE, LATEST = "register", "describe", "approve", "latest-approved"
LATEST_BIG = "latest-approved@big"
WORKLOADS = (REGISTER, DESCRIBE, APPROVE, LATEST)


@dataclass
class Counts:
    groups: int = 20
    register: int = 2000
    describe: int = 2000
    approve: int = 500
    latest: int = 500
    time_limit: float = 300.0  # seconds one workload may take before its clients stop


@dataclass
class Measurement:
    system: str
    workload: str
    clients: int
    ops: int  # requests made (answered or failed)
    errors: int
    wall_s: float
    ops_per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms_per_op: float
    db_cpu_ms_per_op: float | None  # PostgreSQL backends, for modelreg-postgres
    wrong: int | None = None  # wrong answers (latest) or versions handed out twice (register)
    checked: int = 0  # answers checked for ``wrong``
    stopped_at_deadline: bool = False
    error_samples: list[str] = field(default_factory=list)

    @property
    def cpu_ms_per_op(self) -> float:
        """Server CPU plus database CPU (when the database is a separate process) per request."""
        return self.server_cpu_ms_per_op + (self.db_cpu_ms_per_op or 0.0)


@dataclass
class SuiteResult:
    system: str
    clients: int
    measurements: list[Measurement]
    spot_checks: int = 0
    spot_wrong: int = 0
    rss_bytes: int = 0  # the server process
    tree_rss_bytes: int = 0  # server plus its workers


def percentile(sorted_values: list[int], q: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(q * len(sorted_values) + 0.5)))
    return float(sorted_values[rank - 1])


def measure(pool: ClientPool, running: Running, workload: str, op: str, items: list[Any],
            time_limit: float) -> tuple[Measurement, list[Any]]:
    """Run one workload on the pool; returns its measurement and every answer the clients got."""
    cpu: dict[str, float] = {}

    def read_cpu_before() -> None:
        cpu["server"] = running.server.cpu_seconds()
        cpu["db"] = running.db_cpu() if running.db_cpu else 0.0

    results = pool.run(op, items, time_limit, before=read_cpu_before)
    server_cpu = running.server.cpu_seconds() - cpu["server"]
    db_cpu = running.db_cpu() - cpu["db"] if running.db_cpu else None
    return summarize(running.system, workload, pool.size, results, server_cpu, db_cpu), \
        [out for r in results for out in r.outputs]


def summarize(system: str, workload: str, n_clients: int, results: list[BatchResult], server_cpu_s: float,
              db_cpu_s: float | None) -> Measurement:
    latencies = sorted(ns for r in results for ns in r.latencies_ns)
    ops = len(latencies)
    wall_s = (max(r.last_end_ns for r in results) - min(r.first_start_ns for r in results)) / 1e9
    per_op = 1000.0 / ops if ops else 0.0
    return Measurement(
        system=system, workload=workload, clients=n_clients, ops=ops, errors=sum(r.errors for r in results),
        wall_s=wall_s, ops_per_s=ops / wall_s if wall_s > 0 else 0.0,
        p50_ms=percentile(latencies, 0.50) / 1e6, p99_ms=percentile(latencies, 0.99) / 1e6,
        server_cpu_ms_per_op=server_cpu_s * per_op,
        db_cpu_ms_per_op=None if db_cpu_s is None else db_cpu_s * per_op,
        stopped_at_deadline=any(r.stopped_at_deadline for r in results),
        error_samples=[s for r in results for s in r.error_samples][:3],
    )


def expected_latest(approved: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Newest approved version number per group."""
    latest: dict[str, int] = {}
    for group, version in approved:
        latest[group] = max(version, latest.get(group, 0))
    return latest


def count_wrong(answers: list[tuple[str, int | None]], expected: dict[str, int]) -> int:
    return sum(1 for group, version in answers if version != expected.get(group))


def warm_up(pool: ClientPool, group: str) -> None:
    """A few untimed reads per client: opens the keep-alive connections and loads the client's
    service model, so neither is counted in the first workload."""
    pool.run("latest_approved", [group] * (3 * pool.size), 60.0)


def run_suite(running: Running, n_clients: int, counts: Counts, seed: int = 42) -> SuiteResult:
    """All four workloads with ``n_clients`` parallel clients on a fresh server."""
    rng = random.Random(seed)
    groups = [f"bench-{i:02d}" for i in range(counts.groups)]
    pool = ClientPool(running.api, running.url, n_clients)
    try:
        admin = clients.connect(running.api, running.url)
        for group in groups:
            admin.create_group(group)
        warm_up(pool, groups[0])
        out: list[Measurement] = []

        register_items = [(groups[i % len(groups)], i) for i in range(counts.register)]
        m, registered = measure(pool, running, REGISTER, "register", register_items, counts.time_limit)
        versions = [(group, version) for group, _, version in registered]
        m.wrong, m.checked = len(versions) - len(set(versions)), len(versions)
        out.append(m)
        refs = {ref: (group, version) for group, ref, version in registered}
        ref_list = list(refs)

        m, _ = measure(pool, running, DESCRIBE, "describe", rng.choices(ref_list, k=counts.describe),
                       counts.time_limit)
        out.append(m)

        to_approve = rng.sample(ref_list, min(counts.approve, len(ref_list)))
        m, approved = measure(pool, running, APPROVE, "approve", to_approve, counts.time_limit)
        out.append(m)
        expected = expected_latest(refs[ref] for ref in approved)

        m, answers = measure(pool, running, LATEST, "latest_approved", rng.choices(groups, k=counts.latest),
                             counts.time_limit)
        m.wrong, m.checked = count_wrong(answers, expected), len(answers)
        out.append(m)

        spot = [admin.latest_approved(group) for group in groups]
        return SuiteResult(running.system, n_clients, out, spot_checks=len(spot),
                           spot_wrong=count_wrong(spot, expected), rss_bytes=running.server.rss_bytes(),
                           tree_rss_bytes=running.server.tree_rss_bytes())
    finally:
        pool.close()


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0
