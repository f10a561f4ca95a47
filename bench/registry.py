"""Model registry benchmark: modelreg (SQLite, PostgreSQL) vs moto server vs MLflow, same workload.

    .venv/bin/python bench/registry.py                 # everything (about 25 minutes here)
    .venv/bin/python bench/registry.py --quick         # smoke run, small counts (2-3 minutes)
    .venv/bin/python bench/registry.py --systems modelreg-sqlite,moto --big 0 --json out.json

Every system runs every workload on fresh servers, once with 1 client and once with 8 parallel
client processes; the servers run side by side and take turns, so that the machine's changing
speed hits them alike. Then modelreg alone answers "latest approved" on a database seeded with
``--big`` versions, in turns with one of 2,000. Servers, temp data and PostgreSQL databases are
the bench's own and are removed at the end, also on error or Ctrl-C. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` and ``modelreg`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import bigdb, report
from bench.systems import EXTRA_SYSTEMS, SYSTEMS, PostgresDatabases, Running, launch
from bench.workloads import WORKLOADS, Counts, Measurement, SuiteResult, SystemRun, run_interleaved

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick", action="store_true", help="small counts (200 registrations, big db 20,000) for a smoke run"
    )
    p.add_argument(
        "--systems",
        default=",".join(SYSTEMS),
        help=f"comma-separated, from {', '.join(SYSTEMS + EXTRA_SYSTEMS)} (default: {', '.join(SYSTEMS)})",
    )
    p.add_argument(
        "--big",
        type=int,
        default=None,
        help="versions in the big database (default 1,000,000; --quick 20,000; 0 skips)",
    )
    p.add_argument("--clients", default="1,8", help="client process counts to run (default 1,8)")
    p.add_argument("--json", type=Path, help="write the raw results to this file")
    p.add_argument(
        "--postgres",
        default=os.environ.get("MODELREG_BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
        help="PostgreSQL admin URL; bench databases are created beside it and dropped "
        "[env MODELREG_BENCH_POSTGRES_URL]",
    )
    args = p.parse_args(argv)
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(args.systems) - set(SYSTEMS + EXTRA_SYSTEMS)
    if unknown:
        p.error(f"unknown systems {sorted(unknown)}; choose from {', '.join(SYSTEMS + EXTRA_SYSTEMS)}")
    args.clients = sorted({int(c) for c in args.clients.split(",")})
    if args.big is None:
        args.big = 20_000 if args.quick else 1_000_000
    return args


def counts_for(args: argparse.Namespace) -> Counts:
    if args.quick:
        return Counts(register=200, describe=200, approve=50, latest=50, time_limit=60.0)
    return Counts()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def all_started(systems: list[str], work: Path, pg: PostgresDatabases) -> Iterator[list[Running]]:
    """A fresh server of every system, all running at once; stopped on exit."""
    with contextlib.ExitStack() as stack:
        runnings = []
        for system in systems:
            t0 = time.monotonic()
            running = stack.enter_context(launch(system, work / system, pg))
            log(f"== {system} up in {time.monotonic() - t0:.0f}s (pid {running.server.pid})")
            runnings.append(running)
        yield runnings


def interleaved(runnings: list[Running], n: int, counts: Counts, prefix: str) -> list[SuiteResult]:
    log(f"-- every system, {n} client{'s' if n > 1 else ''} each (rounds taken in turn)")
    runs: list[SystemRun] = []
    try:
        runs += [SystemRun(running, n, counts, prefix) for running in runnings]
        return run_interleaved(runs, counts, log=log)
    finally:
        for run in runs:
            run.close()


def run_peers(
    args: argparse.Namespace, counts: Counts, tmp: Path, pg: PostgresDatabases
) -> list[SuiteResult]:
    """Every selected system, every workload, with each client count. The systems' servers run
    side by side and take turns (see ``run_interleaved``); each client count gets fresh servers,
    so every pass starts from empty registries (--quick keeps one set of servers for both counts,
    with other group names: MLflow alone takes 20-60 s to start its 4 workers here)."""
    suites: list[SuiteResult] = []
    if args.quick:
        with all_started(args.systems, tmp / "quick", pg) as runnings:
            for n in args.clients:
                suites += interleaved(runnings, n, counts, f"c{n}-")
        return suites
    for n in args.clients:
        with all_started(args.systems, tmp / f"clients-{n}", pg) as runnings:
            suites += interleaved(runnings, n, counts, "bench-")
    return suites


def seed_database(
    system: str, total: int, work: Path, pg: PostgresDatabases
) -> tuple[bigdb.SeedResult, str | None]:
    """A database of ``total`` seeded versions for ``system``; returns it and its --store URL (None: SQLite
    in ``work``)."""
    from modelreg.config import Settings

    work.mkdir()
    store_url = pg.create(f"v{total}") if system == "modelreg-postgres" else None
    log(f"== {system}: seeding {total:,} versions")
    seeded = bigdb.seed(Settings(data_dir=work, store_url=store_url).database_url, total, progress=log)
    log(f"   seeded in {seeded.seconds:.0f}s ({seeded.approved:,} approved)")
    return seeded, store_url


def run_big(
    args: argparse.Namespace, counts: Counts, tmp: Path, pg: PostgresDatabases
) -> list[bigdb.BigResult]:
    """modelreg only: seed ``--big`` versions (and 2,000 for the baseline) through the store, then
    query both through servers that take turns."""
    from modelreg.config import Settings

    results = []
    for system in [s for s in args.systems if s in report.MODELREG]:
        small_seed, small_store = seed_database(system, bigdb.SMALL, tmp / f"{system}-small", pg)
        big_seed, big_store = seed_database(system, args.big, tmp / f"{system}-big", pg)
        with (
            launch(system, tmp / f"{system}-small", pg, store_url=small_store) as small,
            launch(system, tmp / f"{system}-big", pg, store_url=big_store) as big,
        ):
            result = bigdb.compare_sizes(
                bigdb.Seeded(small_seed, small), bigdb.Seeded(big_seed, big), counts, args.clients
            )
        big_url = Settings(data_dir=tmp / f"{system}-big", store_url=big_store).database_url
        result.database_bytes = database_bytes(big_url, tmp / f"{system}-big")
        for m in result.baseline + result.measurements:
            log(
                f"   {m.workload} {m.clients} clients: {m.ops_per_s:.1f} ops/s p50 {m.p50_ms:.2f} ms "
                f"cpu {m.cpu_ms_per_op:.2f} ms/op wrong {m.wrong}/{m.checked}"
            )
        log(
            f"   RSS {result.rss_bytes / report.MB:.0f} MB; seed fidelity: {result.fidelity_problems or 'ok'}"
        )
        results.append(result)
    return results


def database_bytes(sqlalchemy_url: str, work: Path) -> int:
    if sqlalchemy_url.startswith("sqlite"):
        return sum(f.stat().st_size for f in work.glob("modelreg.db*"))
    import sqlalchemy as sa

    engine = sa.create_engine(sqlalchemy_url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one())
    finally:
        engine.dispose()


def print_report(args: argparse.Namespace, suites: list[SuiteResult], bigs: list[bigdb.BigResult]) -> None:
    order = {system: i for i, system in enumerate(args.systems)}
    measurements: list[Measurement] = sorted(
        (m for s in suites for m in s.measurements),
        key=lambda m: (order[m.system], m.clients, WORKLOADS.index(m.workload)),
    )
    print("\n## Results\n")
    print(report.results_table(measurements))
    print("\n## Ratios (modelreg/peer ops/s; peer/modelreg CPU per op: higher favours modelreg)\n")
    print(report.ratio_table(measurements, args.clients))
    if bigs:
        print("\n## Latest approved on the big database (modelreg)\n")
        print(report.big_table(bigs))
    print("\n## Correctness and memory\n")
    print("\n".join(f"- {line}" for line in report.correctness_lines(suites, bigs)))
    print("\n## Targets\n")
    print(report.verdict_table(report.verdicts(measurements, bigs, max(args.clients))))


def versions() -> dict[str, str]:
    """What ran: the modelreg commit (``+dirty`` with uncommitted changes) and the peers' versions."""
    import platform
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in ("boto3", "moto", "mlflow", "sqlalchemy", "uvicorn"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    git = subprocess.run(["git", "describe", "--always", "--dirty=+dirty"], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1], check=False)  # fmt: skip
    found["modelreg"] = git.stdout.strip() or "unknown"
    return found


def write_json(
    path: Path,
    args: argparse.Namespace,
    suites: list[SuiteResult],
    bigs: list[bigdb.BigResult],
    load: tuple[tuple[float, ...], tuple[float, ...]],
    ran: dict[str, str],
) -> None:
    raw = {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "loadavg_start": load[0], "loadavg_end": load[1]},
        "versions": ran,
        "suites": [asdict(s) for s in suites],
        "big": [asdict(b) for b in bigs],
    }
    path.write_text(json.dumps(raw, indent=1))


def _raise_on_sigterm(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    counts = counts_for(args)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)  # so the finally below cleans up
    pg = PostgresDatabases(args.postgres)
    if "modelreg-postgres" in args.systems and (why := pg.available()):
        log(f"skipping modelreg-postgres: PostgreSQL at {args.postgres} is not available ({why})")
        args.systems.remove("modelreg-postgres")
    ran = versions()  # before anything runs: the tree may change while the bench does
    load_start = os.getloadavg()
    log(f"machine: {os.cpu_count()} CPUs, load average {load_start[0]:.2f} at start")
    suites: list[SuiteResult] = []
    bigs: list[bigdb.BigResult] = []
    with tempfile.TemporaryDirectory(prefix="modelreg-bench-") as tmp_name:
        try:
            suites = run_peers(args, counts, Path(tmp_name), pg)
            if args.big > 0:
                bigs = run_big(args, counts, Path(tmp_name), pg)
        finally:
            pg.drop_all()
    print_report(args, suites, bigs)
    load_end = os.getloadavg()
    loads = f"load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end"
    print(f"\nmachine: {os.cpu_count()} CPUs; {loads}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in ran.items()))
    if args.json:
        write_json(args.json, args, suites, bigs, (load_start, load_end), ran)
        print(f"raw results: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
