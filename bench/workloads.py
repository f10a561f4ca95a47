"""The workloads (from the issue) and how they are measured.

On fresh servers: create the groups, then
1. register ``register`` versions round-robin over the groups,
2. describe ``describe`` versions drawn at random,
3. approve ``approve`` distinct versions drawn at random,
4. ask "latest approved version of group X" ``latest`` times (X at random) and check every answer
   against the newest version the bench approved in X.

A measurement is the wall time from the start barrier to the last answer (ops/s), the latency of
every request (p50, p99), and the CPU time the server process tree (and, for PostgreSQL, the
database backends) used during the workload, divided by the number of requests. All systems run
at the same time and take turns, a round at a time (``run_interleaved``).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bench import clients
from bench.pool import BatchResult, ClientPool
from bench.systems import Running

REGISTER, DESCRIBE, APPROVE, LATEST = "register", "describe", "approve", "latest-approved"
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
    client_cpu_ms_per_op: float  # what the client processes (boto3, MlflowClient) spent themselves
    wrong: int | None = None  # wrong answers (latest) or versions handed out twice (register)
    checked: int = 0  # answers checked for ``wrong``
    stopped_at_deadline: bool = False
    error_samples: list[str] = field(default_factory=list)
    #: register on modelreg: CPU (server and database) per version of recording the lineage it
    #: defers, measured by a lineage read after each round (None where nothing is deferred)
    deferred_cpu_ms_per_op: float | None = None

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


@dataclass
class Round:
    """One batch of requests from every client, and the CPU the server (and database) used for it."""

    results: list[BatchResult]
    server_cpu_s: float
    db_cpu_s: float | None

    @property
    def answers(self) -> list[Any]:
        return [out for r in self.results for out in r.outputs]


def run_round(pool: ClientPool, running: Running, op: str, items: list[Any], time_limit: float) -> Round:
    """Make ``items`` requests from the pool's clients; CPU is read just before the clients start
    and just after the last one finished, so only this round's requests are counted."""
    cpu: dict[str, float] = {}

    def read_cpu_before() -> None:
        cpu["server"] = running.server.cpu_seconds()
        cpu["db"] = running.db_cpu() if running.db_cpu else 0.0

    results = pool.run(op, items, time_limit, before=read_cpu_before)
    server_cpu = running.server.cpu_seconds() - cpu["server"]
    db_cpu = running.db_cpu() - cpu["db"] if running.db_cpu else None
    return Round(results, server_cpu, db_cpu)


def measure(
    pool: ClientPool, running: Running, workload: str, op: str, items: list[Any], time_limit: float
) -> tuple[Measurement, list[Any]]:
    """Run one workload on the pool in a single round; returns its measurement and every answer the
    clients got. For ad-hoc runs and profiling: the bench itself interleaves rounds of several
    systems (``run_interleaved``)."""
    one = run_round(pool, running, op, items, time_limit)
    return summarize(running.system, workload, pool.size, [one]), one.answers


def summarize(system: str, workload: str, n_clients: int, rounds: list[Round]) -> Measurement:
    """One measurement over one or more rounds (wall time is the sum of the rounds' wall times)."""
    results = [r for one in rounds for r in one.results]
    latencies = sorted(ns for r in results for ns in r.latencies_ns)
    ops = len(latencies)
    wall_s = sum(
        (max(r.last_end_ns for r in one.results) - min(r.first_start_ns for r in one.results)) / 1e9
        for one in rounds
    )
    per_op = 1000.0 / ops if ops else 0.0
    db_cpu = None if rounds[0].db_cpu_s is None else sum(one.db_cpu_s or 0.0 for one in rounds)
    return Measurement(
        system=system,
        workload=workload,
        clients=n_clients,
        ops=ops,
        errors=sum(r.errors for r in results),
        wall_s=wall_s,
        ops_per_s=ops / wall_s if wall_s > 0 else 0.0,
        p50_ms=percentile(latencies, 0.50) / 1e6,
        p99_ms=percentile(latencies, 0.99) / 1e6,
        server_cpu_ms_per_op=sum(one.server_cpu_s for one in rounds) * per_op,
        client_cpu_ms_per_op=sum(r.client_cpu_s for r in results) * per_op,
        db_cpu_ms_per_op=None if db_cpu is None else db_cpu * per_op,
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


OPS = {REGISTER: "register", DESCRIBE: "describe", APPROVE: "approve", LATEST: "latest_approved"}


def split(items: list[Any], parts: int) -> list[list[Any]]:
    """``items`` in ``parts`` consecutive chunks of (nearly) equal size."""
    size, extra = divmod(len(items), parts)
    bounds = [i * size + min(i, extra) for i in range(parts + 1)]
    return [items[a:b] for a, b in itertools.pairwise(bounds)]


class SystemRun:
    """One system during one pass over the workloads: its clients, and what the bench registered
    and approved there (to build the next workload's requests and check the answers)."""

    def __init__(self, running: Running, n_clients: int, counts: Counts, prefix: str, seed: int = 42) -> None:
        self.running = running
        self.counts = counts
        self.rng = random.Random(seed)  # every system draws the same indices
        self.groups = [f"{prefix}{i:02d}" for i in range(counts.groups)]
        self.pool = ClientPool(running.api, running.url, n_clients)
        self.admin = clients.connect(running.api, running.url)
        self.rounds: list[Round] = []
        self.measurements: list[Measurement] = []
        self.refs: dict[str, tuple[str, int]] = {}  # ref -> (group, version) of what was registered
        self.expected: dict[str, int] = {}  # group -> newest approved version
        self.deferred_cpu_s = 0.0  # recording the lineage of this workload's registrations

    def setup(self) -> None:
        for group in self.groups:
            self.admin.create_group(group)
        warm_up(self.pool, self.groups[0])

    def items(self, workload: str) -> list[Any]:
        """The requests of ``workload``, drawn from what the previous workloads did."""
        refs = list(self.refs)
        if workload == REGISTER:
            return [(self.groups[i % len(self.groups)], i) for i in range(self.counts.register)]
        if workload == DESCRIBE:
            return self.rng.choices(refs, k=self.counts.describe)
        if workload == APPROVE:
            return self.rng.sample(refs, min(self.counts.approve, len(refs)))
        return self.rng.choices(self.groups, k=self.counts.latest)

    def run(self, workload: str, items: list[Any], time_limit: float) -> None:
        self.rounds.append(run_round(self.pool, self.running, OPS[workload], items, time_limit))
        if workload == REGISTER and self.running.defers_lineage:
            assert isinstance(self.admin, clients.SageMakerClient)
            # record the round's lineage now, and count it, rather than let the server's background
            # recorder do it later in another round (of this system or, in the gaps, of a peer)
            before = self.running.cpu_seconds()
            self.admin.read_lineage()
            self.deferred_cpu_s += self.running.cpu_seconds() - before

    def finish(self, workload: str) -> Measurement:
        """The measurement of ``workload`` over its rounds, with its answers checked."""
        m = summarize(self.running.system, workload, self.pool.size, self.rounds)
        answers = [a for one in self.rounds for a in one.answers]
        self.rounds = []
        if workload == REGISTER:
            if self.running.defers_lineage and m.ops:
                m.deferred_cpu_ms_per_op = self.deferred_cpu_s * 1000 / m.ops
            self.refs = {ref: (group, version) for group, ref, version in answers}
            versions = [(group, version) for group, _, version in answers]
            m.wrong, m.checked = len(versions) - len(set(versions)), len(versions)
        elif workload == APPROVE:
            self.expected = expected_latest(self.refs[ref] for ref in answers)
        elif workload == LATEST:
            m.wrong, m.checked = count_wrong(answers, self.expected), len(answers)
        self.measurements.append(m)
        return m

    def result(self) -> SuiteResult:
        spot = [self.admin.latest_approved(group) for group in self.groups]
        server = self.running.server
        return SuiteResult(self.running.system, self.pool.size, self.measurements, spot_checks=len(spot),
                           spot_wrong=count_wrong(spot, self.expected), rss_bytes=server.rss_bytes(),
                           tree_rss_bytes=server.tree_rss_bytes())  # fmt: skip

    def close(self) -> None:
        self.pool.close()


def run_interleaved(
    runs: list[SystemRun], counts: Counts, rounds: int = 5, log: Callable[[str], None] = print
) -> list[SuiteResult]:
    """Every workload on every system, in ``rounds`` rounds per workload in which the systems take
    turns (the first to go rotates), so a change in the machine's speed during the run hits every
    system alike: on a shared 2-core machine it does, by tens of percent within seconds."""
    for run in runs:
        run.setup()
    for workload in WORKLOADS:
        chunks = [split(run.items(workload), rounds) for run in runs]
        for r in range(rounds):
            for i in [(r + k) % len(runs) for k in range(len(runs))]:
                runs[i].run(workload, chunks[i][r], counts.time_limit / rounds)
        for run in runs:
            m = run.finish(workload)
            log(f"   {m.system:17} {m.workload:15} {m.ops_per_s:8.1f} ops/s  p50 {m.p50_ms:7.2f} ms  "
                f"cpu {m.cpu_ms_per_op:6.2f} ms/op  errors {m.errors}  wrong {m.wrong}")  # fmt: skip
            for sample in m.error_samples:
                log(f"      error: {sample}")
    return [run.result() for run in runs]
