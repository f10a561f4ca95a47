"""Tables, ratios and target verdicts from the measurements (the bench reports; it never asserts)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bench.bigdb import BigResult
from bench.workloads import WORKLOADS, Measurement, SuiteResult

MODELREG = ("modelreg-sqlite", "modelreg-postgres")
PEERS = (("moto", 2.5), ("mlflow", 7.0))  # peer and the throughput factor modelreg should reach
CPU_SHARE_OF_MOTO = 0.25
BIG_FACTOR = 1.5
RSS_LIMIT = 200 * 1024 * 1024
MB = 1024 * 1024


@dataclass
class Verdict:
    target: str
    subject: str
    value: str
    passed: bool | None  # None: not measured in this run

    @property
    def word(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]


def _table(header: list[str], rows: Iterable[list[str]]) -> str:
    """A Markdown table (readable in a terminal and pasteable into docs)."""
    rows = list(rows)
    widths = [max(len(c) for c in col) for col in zip(header, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _times(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}x"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _clients(n: int) -> str:
    return f"{n} client{'s' if n > 1 else ''}"


def find(measurements: list[Measurement], system: str, workload: str, clients: int) -> Measurement | None:
    return next(
        (m for m in measurements if (m.system, m.workload, m.clients) == (system, workload, clients)), None
    )


def _metric(
    measurements: list[Measurement], system: str, workload: str, clients: int, name: str
) -> float | None:
    m = find(measurements, system, workload, clients)
    return None if m is None else getattr(m, name)


def _compare(
    measurements: list[Measurement], a: str, b: str, workload: str, n: int, name: str
) -> float | None:
    """``name`` of system ``a`` divided by the same of system ``b``."""
    return _ratio(_metric(measurements, a, workload, n, name), _metric(measurements, b, workload, n, name))


def results_table(measurements: list[Measurement]) -> str:
    header = [
        "system",
        "workload",
        "clients",
        "ops",
        "ops/s",
        "p50 ms",
        "p99 ms",
        "server CPU ms/op",
        "db CPU ms/op",
        "client CPU ms/op",
        "errors",
        "wrong",
    ]
    rows = [
        [
            m.system,
            m.workload,
            str(m.clients),
            str(m.ops),
            _num(m.ops_per_s, 1),
            _num(m.p50_ms),
            _num(m.p99_ms),
            _num(m.server_cpu_ms_per_op),
            _num(m.db_cpu_ms_per_op),
            _num(m.client_cpu_ms_per_op),
            str(m.errors),
            "-" if m.wrong is None else f"{m.wrong}/{m.checked}",
        ]
        for m in measurements
    ]
    return _table(header, rows)


def ratio_table(measurements: list[Measurement], client_counts: list[int]) -> str:
    """modelreg / peer throughput (x faster) and peer / modelreg CPU per op (x cheaper); the same
    for the floor server when it ran (what a server that does nothing reaches here)."""
    floor = ("floor",) if any(m.system == "floor" for m in measurements) else ()
    pairs = [(mine, peer) for mine in MODELREG + floor for peer, _ in PEERS]
    short = [(m.removeprefix("modelreg-"), p) for m, p in pairs]
    header = (
        ["workload", "clients"] + [f"{m}/{p} ops/s" for m, p in short] + [f"{p}/{m} CPU" for m, p in short]
    )
    rows = []
    for workload in WORKLOADS:
        for n in client_counts:
            speed = [_compare(measurements, m, p, workload, n, "ops_per_s") for m, p in pairs]
            cpu = [_compare(measurements, p, m, workload, n, "cpu_ms_per_op") for m, p in pairs]
            rows.append([workload, str(n)] + [_times(r) for r in speed + cpu])
    return _table(header, rows)


def big_table(bigs: list[BigResult]) -> str:
    header = [
        "store",
        "versions",
        "seed s",
        "db MB",
        "clients",
        "ops/s",
        "p50 ms",
        "p99 ms",
        "CPU ms/op",
        "wrong",
        "p50 vs small",
        "CPU vs small",
        "small p50 ms",
        "small CPU ms/op",
    ]
    rows = []
    for big in bigs:
        for m, small in zip(big.measurements, big.baseline, strict=True):
            rows.append(
                [
                    big.system,
                    f"{big.seed.total:,}",
                    _num(big.seed.seconds, 0),
                    _num(big.database_bytes / MB, 0),
                    str(m.clients),
                    _num(m.ops_per_s, 1),
                    _num(m.p50_ms),
                    _num(m.p99_ms),
                    _num(m.cpu_ms_per_op),
                    f"{m.wrong}/{m.checked}",
                    _times(_ratio(m.p50_ms, small.p50_ms), 2),
                    _times(_ratio(m.cpu_ms_per_op, small.cpu_ms_per_op), 2),
                    _num(small.p50_ms),
                    _num(small.cpu_ms_per_op),
                ]
            )
    return _table(header, rows)


def correctness_lines(suites: list[SuiteResult], bigs: list[BigResult]) -> list[str]:
    lines = [
        f"{s.system} ({_clients(s.clients)}): latest-approved spot checks {s.spot_checks - s.spot_wrong}/"
        f"{s.spot_checks} right; server RSS {s.rss_bytes / MB:.0f} MB "
        f"(with its workers {s.tree_rss_bytes / MB:.0f} MB)"
        for s in suites
    ]
    for s in suites:
        for m in s.measurements:
            if m.deferred_cpu_ms_per_op is not None:
                lines.append(
                    f"{s.system} ({_clients(s.clients)}): recording the lineage its registrations "
                    f"deferred took {m.deferred_cpu_ms_per_op:.2f} ms of CPU per version, measured by "
                    f"a lineage read after each round; register with it: "
                    f"{m.cpu_ms_per_op + m.deferred_cpu_ms_per_op:.2f} ms/op"
                )
    for b in bigs:
        fidelity = (
            "; ".join(b.fidelity_problems) or "the seeded rows match a version registered through the API"
        )
        lines.append(
            f"{b.system} @ {b.seed.total:,}: spot checks {b.spot_checks - b.spot_wrong}/{b.spot_checks} "
            f"right; {fidelity}"
        )
    return lines


def _peer_verdicts(measurements: list[Measurement], mine: str, workload: str, n: int) -> list[Verdict]:
    out = []
    for peer, factor in PEERS:
        r = _compare(measurements, mine, peer, workload, n, "ops_per_s")
        passed = None if r is None else r >= factor
        out.append(
            Verdict(f"{_clients(n)}: ops/s >= {factor}x {peer}", f"{mine} {workload}", _times(r), passed)
        )
    share = _compare(measurements, mine, "moto", workload, n, "cpu_ms_per_op")
    passed = None if share is None else share <= CPU_SHARE_OF_MOTO
    value = "-" if share is None else f"{share:.2f} of moto's"
    m, moto = find(measurements, mine, workload, n), find(measurements, "moto", workload, n)
    if share is not None and m and moto and m.deferred_cpu_ms_per_op is not None:
        with_lineage = (m.cpu_ms_per_op + m.deferred_cpu_ms_per_op) / moto.cpu_ms_per_op
        value += f" ({with_lineage:.2f} with its deferred lineage)"
    out.append(Verdict("server CPU/op <= 1/4 of moto's", f"{mine} {workload} ({_clients(n)})", value, passed))
    return out


def _big_verdicts(big: BigResult) -> list[Verdict]:
    out = []
    for m, small in zip(big.measurements, big.baseline, strict=True):
        p50, cpu = _ratio(m.p50_ms, small.p50_ms), _ratio(m.cpu_ms_per_op, small.cpu_ms_per_op)
        passed = None if p50 is None or cpu is None else p50 <= BIG_FACTOR and cpu <= BIG_FACTOR
        target = f"latest-approved at {big.seed.total:,} within {BIG_FACTOR}x of {big.small_seed.total:,}"
        value = f"p50 {_times(p50, 2)}, CPU/op {_times(cpu, 2)}"
        out.append(Verdict(target, f"{big.system} ({_clients(m.clients)})", value, passed))
    rss = f"{big.rss_bytes / MB:.0f} MB"
    out.append(
        Verdict("server RSS after the big-db queries < 200 MB", big.system, rss, big.rss_bytes < RSS_LIMIT)
    )
    wrong = sum(m.wrong or 0 for m in big.measurements) + big.spot_wrong
    out.append(Verdict("big-db latest-approved answers all right", big.system, f"{wrong} wrong", wrong == 0))
    return out


def verdicts(measurements: list[Measurement], bigs: list[BigResult], clients: int = 8) -> list[Verdict]:
    out = [v for mine in MODELREG for w in WORKLOADS for v in _peer_verdicts(measurements, mine, w, clients)]
    for big in bigs:
        out += _big_verdicts(big)
    for mine in MODELREG:
        checked = [m for m in measurements if m.system == mine and m.wrong is not None]
        if checked:
            wrong = sum(m.wrong or 0 for m in checked)
            target = "no version number twice, no wrong latest-approved answer"
            out.append(Verdict(target, mine, f"{wrong} wrong", wrong == 0))
    return out


def verdict_table(items: list[Verdict]) -> str:
    return _table(
        ["verdict", "target", "subject", "measured"], [[v.word, v.target, v.subject, v.value] for v in items]
    )
