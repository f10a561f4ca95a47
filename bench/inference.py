"""Inference benchmark (issue 3): one XGBoost model in-process, behind modelreg, under mlflow serve.

    .venv/bin/python bench/inference.py                # the full run (a few minutes here)
    .venv/bin/python bench/inference.py --quick        # smoke run, small counts (about a minute)
    .venv/bin/python bench/inference.py --requests 5000 --per-client 2000 --json out.json

What is measured, and why. The issue sets three targets for serving a model that modelreg deploys:
modelreg must add under 1 ms at p50 over predicting in-process, answer at least 2x the requests/s
of ``mlflow models serve`` with 8 clients, and take an endpoint from CreateEndpoint to InService in
under 3 s. So in ONE run, on the same model (45 features, 50 trees, ``binary:logistic``, trained
here on synthetic NumPy data), every way of getting a prediction answers the same 1-row requests:

- ``in-process inplace_predict``: ``booster.inplace_predict(row)`` in the client process, one
  thread as modelreg's workers run it: the floor. ``in-process predict(DMatrix)`` beside it.
- ``modelreg boto3``: InvokeEndpoint through the ``sagemaker-runtime`` client (``text/csv``), as
  users call it; SigV4 signing and botocore's parsing are the client's cost, not the server's.
- ``modelreg http``: ``POST /endpoints/{name}/invocations`` over one kept-alive
  ``http.client`` connection per client (the server runs ``--auth none``): the server's own cost.
- ``modelreg worker (uds)``: the same lean client straight to the endpoint's worker processes on
  their Unix sockets, bypassing modelreg's front process: what the front adds is the difference.
- ``mlflow http``: ``mlflow models serve`` (``--env-manager local``, as many uvicorn workers as
  modelreg has instances, ``OMP_NUM_THREADS=1`` as modelreg's workers have) of the same booster
  (``mlflow.xgboost.save_model``), same lean client, in the request format that turned out
  cheapest in a calibration at start (CSV with a header row, ``dataframe_split`` JSON or
  ``inputs`` JSON; the output says which).

Each runs 1 client sequentially and 8 client processes at once (each with its own keep-alive
connection; boto3 too). The systems take turns a round at a time, never loaded together, so a
change in the machine's speed hits them alike (see ``bench/registry.py``). Every answer is checked
against ``inplace_predict`` (within 1e-6): a modelreg answer that differs fails the run. Server CPU
is that of the server's process tree (modelreg's includes its workers); "front" is modelreg's main
process alone. Then: the median CreateEndpoint -> InService time (``describe_endpoint`` every
20 ms) of 3 endpoints created one after another, each deleted before the next.

Servers bind 127.0.0.1 on free ports and are stopped by PID; temp data is removed at the end, also
on error or Ctrl-C. See docs/performance.md ("Inference (issue 3)").
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` and ``modelreg`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import report
from bench.clients import ACCESS_KEY, REGION
from bench.inference_client import (
    BOTO3,
    DMATRIX,
    HTTP,
    INPLACE,
    MLFLOW_ANSWER,
    UDS,
    ClientSpec,
    HttpClient,
    InferencePool,
    save_bodies,
)
from bench.procs import ServerProcess, cpu_seconds, free_port
from bench.registry import _raise_on_sigterm, log, versions
from bench.systems import MLFLOW_ENV, modelreg_server
from bench.workloads import Measurement, Round, split, summarize

FEATURES, TREES, TRAIN_ROWS, TEST_ROWS = 45, 50, 5000, 1000
TOLERANCE = 1e-6
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ENDPOINT = "bench-xgb"
ADDED_LATENCY_MS, MLFLOW_FACTOR, STARTUP_S = 1.0, 2.0, 3.0
POLL_S = 0.02
WORKLOAD = "1-row invoke"

INPROCESS, INPROCESS_DMATRIX = "in-process inplace_predict", "in-process predict(DMatrix)"
MODELREG_BOTO3, MODELREG_HTTP, WORKER_UDS = "modelreg boto3", "modelreg http", "modelreg worker (uds)"
MLFLOW_HTTP = "mlflow http"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="small counts for a smoke run (about a minute)")
    p.add_argument("--requests", type=int, help="requests of the 1-client run (default 2000; --quick 300)")
    p.add_argument(
        "--per-client", type=int, help="requests per client with several clients (default 1000; --quick 150)"
    )
    p.add_argument("--clients", default="1,8", help="client process counts to run (default 1,8)")
    p.add_argument("--rounds", type=int, help="rounds the systems take turns in (default 5; --quick 2)")
    p.add_argument("--instances", type=int, default=2, help="endpoint instances = mlflow workers (default 2)")
    p.add_argument("--startups", type=int, default=3, help="endpoints timed CreateEndpoint -> InService")
    p.add_argument(
        "--time-limit", type=float, default=300.0, help="seconds one system's workload may take (default 300)"
    )
    p.add_argument("--json", type=Path, help="write the raw results to this file")
    args = p.parse_args(argv)
    args.clients = sorted({int(c) for c in args.clients.split(",")})
    if args.requests is None:
        args.requests = 300 if args.quick else 2000
    if args.per_client is None:
        args.per_client = 150 if args.quick else 1000
    if args.rounds is None:
        args.rounds = 2 if args.quick else 5
    return args


# ---------------------------------------------------------------------------------------- the model
@dataclass
class Model:
    """The trained booster, saved three ways, and the rows every system predicts."""

    booster_path: Path  # booster.save_model (UBJSON): what the in-process clients load
    rows_path: Path  # the test rows (.npy)
    tarball: Path  # model.tar.gz holding ``xgboost-model``, for modelreg
    mlflow_path: Path  # mlflow.xgboost.save_model of the same booster
    rows: Any  # np.ndarray (TEST_ROWS, FEATURES), float64 with 4 decimals
    expected: list[float]  # booster.inplace_predict(rows)

    def csv(self, index: int) -> str:
        return ",".join(repr(float(x)) for x in self.rows[index])


def train(folder: Path) -> Model:
    """A binary classifier on synthetic data: 45 features, 50 trees (depth 6, XGBoost's default)."""
    import numpy as np
    import xgboost as xgb

    rng = np.random.default_rng(3)
    x = rng.normal(size=(TRAIN_ROWS, FEATURES))
    signal_ = x[:, 0] + 0.5 * x[:, 1] - x[:, 2] + 0.3 * x[:, 3] * x[:, 4]
    y = (signal_ + rng.normal(scale=0.5, size=TRAIN_ROWS) > 0).astype(float)
    params = {"objective": "binary:logistic", "max_depth": 6, "eta": 0.3, "nthread": 1, "seed": 3}
    booster = xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=TREES)
    rows = np.round(rng.normal(size=(TEST_ROWS, FEATURES)), 4)  # short CSV, exact on every path
    booster_path = folder / "model.ubj"  # packed as ``xgboost-model``, the name the container loads
    booster.save_model(str(booster_path))
    rows_path = folder / "rows.npy"
    np.save(rows_path, rows)
    tarball = folder / "model.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(booster_path, arcname="xgboost-model")
    import mlflow.xgboost

    mlflow_path = folder / "mlflow-model"
    mlflow.xgboost.save_model(booster, str(mlflow_path), pip_requirements=[f"xgboost=={xgb.__version__}"])
    expected = [float(v) for v in booster.inplace_predict(rows)]
    return Model(booster_path, rows_path, tarball, mlflow_path, rows, expected)


# ---------------------------------------------------------------------------------------- servers
def modelreg_process(work: Path) -> ServerProcess:
    server = modelreg_server("modelreg", work, None)
    server.argv += ["--auth", "none"]
    return server


def mlflow_process(work: Path, model: Model, workers: int) -> ServerProcess:
    """``mlflow models serve`` of the model; OpenMP gets one thread per worker, as modelreg's workers do."""
    port = free_port()
    argv = [
        str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m", str(model.mlflow_path),
        "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "--workers", str(workers),
    ]  # fmt: skip
    # mlflow runs ``uvicorn`` from PATH: the venv's, as with an activated venv
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**MLFLOW_ENV, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "PATH": path}
    return ServerProcess("mlflow-serve", argv, port, "/ping", work / "mlflow.log", work, env=env)


@contextlib.contextmanager
def started(server: ServerProcess) -> Iterator[ServerProcess]:
    """The server, running (``start`` waits for its health path); stopped by PID on exit."""
    server.cwd.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    try:
        server.start(timeout=240)
        log(f"== {server.name} up in {time.monotonic() - t0:.1f}s (pid {server.pid})")
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------- endpoints
class Deployment:
    """The model registered and deployed in modelreg through boto3, as a user does it."""

    def __init__(self, url: str, model: Model, instances: int) -> None:
        import boto3

        keys = {"region_name": REGION, "aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": "bench"}
        self.url = url
        self.sm = boto3.client("sagemaker", endpoint_url=url, **keys)
        self.runtime = boto3.client("sagemaker-runtime", endpoint_url=url, **keys)
        self.model = model
        self.instances = instances
        self.config = f"{ENDPOINT}-config"

    def register(self) -> None:
        """Group, Approved version (the xgboost container, ``file://`` model data), model, config."""
        self.sm.create_model_package_group(ModelPackageGroupName="bench-inference")
        arn = self.sm.create_model_package(
            ModelPackageGroupName="bench-inference",
            InferenceSpecification={
                "Containers": [{"Image": XGBOOST_IMAGE, "ModelDataUrl": self.model.tarball.as_uri()}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            ModelApprovalStatus="Approved",
        )["ModelPackageArn"]
        self.sm.create_model(ModelName=ENDPOINT, Containers=[{"ModelPackageName": arn}])
        self.sm.create_endpoint_config(
            EndpointConfigName=self.config,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": ENDPOINT,
                    "InitialInstanceCount": self.instances,
                    "InstanceType": "ml.m5.large",
                }
            ],
        )

    def create(self, name: str, timeout: float = 60.0) -> float:
        """CreateEndpoint, then DescribeEndpoint every 20 ms; seconds until it said InService."""
        t0 = time.perf_counter()
        self.sm.create_endpoint(EndpointName=name, EndpointConfigName=self.config)
        while time.perf_counter() - t0 < timeout:
            described = self.sm.describe_endpoint(EndpointName=name)
            status = described["EndpointStatus"]
            if status == "InService":
                return time.perf_counter() - t0
            if status == "Failed":
                raise RuntimeError(f"endpoint {name} failed: {described.get('FailureReason')}")
            time.sleep(POLL_S)
        raise RuntimeError(f"endpoint {name} not InService within {timeout:.0f}s (still {status})")

    def delete(self, name: str, timeout: float = 60.0) -> None:
        """DeleteEndpoint, and wait (bounded) until DescribeEndpoint no longer finds it."""
        from botocore.exceptions import ClientError

        self.sm.delete_endpoint(EndpointName=name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.sm.describe_endpoint(EndpointName=name)
            except ClientError:
                return
            time.sleep(POLL_S)
        raise RuntimeError(f"endpoint {name} still there {timeout:.0f}s after DeleteEndpoint")

    def time_startups(self, count: int) -> list[float]:
        times = []
        for i in range(count):
            name = f"{ENDPOINT}-startup-{i + 1}"
            times.append(self.create(name))
            log(f"   {name}: CreateEndpoint -> InService {times[-1]:.2f}s")
            self.delete(name)
        return times

    def check(self, indices: range) -> None:
        """Predictions through boto3 equal ``inplace_predict``, or the bench stops here."""
        for i in indices:
            body = self.runtime.invoke_endpoint(
                EndpointName=ENDPOINT, ContentType="text/csv", Accept="text/csv", Body=self.model.csv(i)
            )["Body"].read()
            if abs(float(body) - self.model.expected[i]) > TOLERANCE:
                raise SystemExit(
                    f"WRONG ANSWER: modelreg predicted {body!r} for row {i}; "
                    f"inplace_predict says {self.model.expected[i]!r}"
                )

    def worker_sockets(self) -> list[str]:
        with urllib.request.urlopen(f"{self.url}/api/endpoints/{ENDPOINT}/workers", timeout=10) as r:
            return [w["address"] for w in json.load(r)["workers"]]


# ---------------------------------------------------------------------------------------- mlflow
def mlflow_bodies(model: Model) -> dict[str, tuple[str, list[bytes]]]:
    """Each request format ``mlflow models serve`` accepts for a row: (content type, bodies)."""
    columns = [f"f{i}" for i in range(FEATURES)]
    header = ",".join(columns)
    rows = [row.tolist() for row in model.rows]
    return {
        "text/csv with a header row": (
            "text/csv",
            [f"{header}\n{model.csv(i)}\n".encode() for i in range(len(rows))],
        ),
        "application/json dataframe_split": (
            "application/json",
            [json.dumps({"dataframe_split": {"columns": columns, "data": [r]}}).encode() for r in rows],
        ),
        "application/json inputs": (
            "application/json",
            [json.dumps({"inputs": [r]}).encode() for r in rows],
        ),
    }


def pick_mlflow_format(
    url: str, model: Model, samples: int, folder: Path
) -> tuple[ClientSpec, dict[str, float]]:
    """The cheapest request format (lowest median of ``samples`` sequential requests, untimed in
    the results); every format's answers must be right to be picked."""
    medians: dict[str, float] = {}
    specs: dict[str, ClientSpec] = {}
    for i, (name, (content_type, bodies)) in enumerate(mlflow_bodies(model).items()):
        saved = save_bodies(folder / f"mlflow-bodies-{i}.pickle", bodies)
        spec = ClientSpec(HTTP, url=url, path="/invocations", content_type=content_type, bodies_path=saved,
                          answer=MLFLOW_ANSWER)  # fmt: skip
        client = HttpClient(spec, 0)
        times = []
        try:
            for i in range(samples):
                t0 = time.perf_counter_ns()
                index, value = client.invoke(i % len(bodies))
                times.append(time.perf_counter_ns() - t0)
                if abs(value - model.expected[index]) > TOLERANCE:
                    raise RuntimeError(
                        f"mlflow answered {value} for row {index}, not {model.expected[index]}"
                    )
        except Exception as exc:
            log(f"   mlflow format {name}: not usable ({type(exc).__name__}: {str(exc)[:200]})")
            continue
        finally:
            client.conn.close()
        medians[name] = statistics.median(times[samples // 5 :]) / 1e6  # the first fifth warms up
        specs[name] = spec
        log(f"   mlflow format {name}: median {medians[name]:.2f} ms")
    if not medians:
        raise RuntimeError("mlflow models serve answered no request format correctly")
    best = min(medians, key=medians.__getitem__)
    return specs[best], medians


# ---------------------------------------------------------------------------------------- measuring
@dataclass
class System:
    """One way of getting predictions: its client, and whose CPU it costs."""

    name: str
    spec: ClientSpec
    server: ServerProcess | None = None  # the server process tree measured for CPU
    front: bool = False  # also measure the server's main process alone (modelreg)


@dataclass
class Result:
    """A measurement plus the front process's CPU (modelreg) and the checked answers."""

    measurement: Measurement
    front_cpu_ms_per_op: float | None = None
    wrong_samples: list[str] = field(default_factory=list)


class Runner:
    """One system's client pool for one client count, its rounds and their answers."""

    def __init__(self, system: System, n_clients: int, model: Model) -> None:
        self.system = system
        self.model = model
        self.pool = InferencePool(system.spec, n_clients)
        self.rounds: list[Round] = []
        self.front_cpu_s = 0.0

    def _cpu(self) -> tuple[float, float]:
        server = self.system.server
        if server is None:
            return 0.0, 0.0
        front = cpu_seconds([server.pid]) if self.system.front else 0.0
        return server.cpu_seconds(), front

    def warm_up(self, per_client: int) -> None:
        """Untimed requests: build the clients (first time), (re)open their connections."""
        self.pool.run("invoke", list(range(per_client * self.pool.size)), 120.0)

    def run(self, items: list[int], time_limit: float) -> None:
        before: dict[str, tuple[float, float]] = {}
        results = self.pool.run("invoke", items, time_limit, before=lambda: before.update(cpu=self._cpu()))
        tree, front = self._cpu()
        self.rounds.append(Round(results, tree - before["cpu"][0], None))
        self.front_cpu_s += front - before["cpu"][1]

    def finish(self) -> Result:
        m = summarize(self.system.name, WORKLOAD, self.pool.size, self.rounds)
        answers = [a for r in self.rounds for a in r.answers]
        wrong = [(i, v) for i, v in answers if abs(v - self.model.expected[i]) > TOLERANCE]
        m.wrong, m.checked = len(wrong), len(answers)
        samples = [f"row {i}: {v!r}, expected {self.model.expected[i]!r}" for i, v in wrong[:3]]
        front = self.front_cpu_s * 1000 / m.ops if self.system.front and m.ops else None
        return Result(m, front, samples)

    def close(self) -> None:
        self.pool.close()


def measure(
    systems: list[System], n: int, total: int, rounds: int, time_limit: float, model: Model
) -> list[Result]:
    """Every system with ``n`` clients making ``total`` requests, in ``rounds`` rounds where the
    systems take turns (the first to go rotates); each round starts with a few untimed requests per
    client, so idle connections closed during the other systems' turns are not timed."""
    log(f"-- {n} client{'s' if n > 1 else ''}: {total} requests per system in {rounds} rounds")
    items = [i % TEST_ROWS for i in range(total)]
    chunks = split(items, rounds)
    runners: list[Runner] = []
    try:
        for system in systems:
            runners.append(Runner(system, n, model))
        for runner in runners:
            runner.warm_up(20)
        for r in range(rounds):
            for k in range(len(runners)):
                runner = runners[(r + k) % len(runners)]
                runner.warm_up(3)
                runner.run(chunks[r], time_limit / rounds)
        results = [runner.finish() for runner in runners]
    finally:
        for runner in runners:
            runner.close()
    for res in results:
        m = res.measurement
        log(f"   {m.system:28} {m.ops_per_s:8.1f} req/s  p50 {m.p50_ms:6.3f} ms  p99 {m.p99_ms:6.3f} ms  "
            f"errors {m.errors}  wrong {m.wrong}/{m.checked}")  # fmt: skip
        for sample in m.error_samples + res.wrong_samples:
            log(f"     ! {sample}")
    return results


# ---------------------------------------------------------------------------------------- report
def find(results: list[Result], system: str, clients: int) -> Measurement | None:
    return report.find([r.measurement for r in results], system, WORKLOAD, clients)


def compare(results: list[Result], a: str, b: str, clients: int, name: str) -> float | None:
    """``name`` of system ``a`` divided by the same of system ``b``."""
    return report._compare([r.measurement for r in results], a, b, WORKLOAD, clients, name)


def results_table(results: list[Result], inprocess: set[str]) -> str:
    header = ["system", "clients", "requests", "req/s", "p50 ms", "p99 ms", "server CPU ms/req",
              "front CPU ms/req", "client CPU ms/req", "errors", "wrong"]  # fmt: skip
    rows = []
    for res in results:
        m = res.measurement
        server = "-" if m.system in inprocess else report._num(m.server_cpu_ms_per_op, 3)
        rows.append([
            m.system, str(m.clients), str(m.ops), report._num(m.ops_per_s, 0), report._num(m.p50_ms, 3),
            report._num(m.p99_ms, 3), server, report._num(res.front_cpu_ms_per_op, 3),
            report._num(m.client_cpu_ms_per_op, 3), str(m.errors), f"{m.wrong}/{m.checked}",
        ])  # fmt: skip
    return report._table(header, rows)


def ratio_table(results: list[Result], clients: list[int]) -> str:
    """Per client count: modelreg's req/s over mlflow's, mlflow's server CPU per request over
    modelreg's (what the servers would do with the cores to themselves, no clients beside them),
    and modelreg's p50 over the in-process floor."""
    header = ["clients"]
    header += [f"{mine} / mlflow req/s" for mine in ("http", "boto3")]
    header += ["mlflow / modelreg server CPU per req"]
    header += [f"{mine} p50 - in-process p50" for mine in ("http", "boto3", "worker (uds)")]
    rows = []
    for n in clients:
        floor = find(results, INPROCESS, n)
        row = [str(n)]
        for mine in (MODELREG_HTTP, MODELREG_BOTO3):
            row.append(report._times(compare(results, mine, MLFLOW_HTTP, n, "ops_per_s"), 2))
        cpu = compare(results, MLFLOW_HTTP, MODELREG_HTTP, n, "server_cpu_ms_per_op")
        row.append(report._times(cpu, 2))
        for mine in (MODELREG_HTTP, MODELREG_BOTO3, WORKER_UDS):
            m = find(results, mine, n)
            row.append("-" if m is None or floor is None else f"{m.p50_ms - floor.p50_ms:+.3f} ms")
        rows.append(row)
    return report._table(header, rows)


def breakdown(results: list[Result]) -> list[str]:
    """Where a 1-client request's p50 goes, from the floor up (differences of p50s)."""
    steps = [(INPROCESS, "the model itself (in-process inplace_predict)"),
             (WORKER_UDS, "+ worker: HTTP over its Unix socket, CSV parsing, response"),
             (MODELREG_HTTP, "+ modelreg front: TCP, routing, proxying to the worker"),
             (MODELREG_BOTO3, "+ boto3: SigV4 signing, botocore request and response handling")]  # fmt: skip
    lines, previous = [], 0.0
    for system, what in steps:
        m = find(results, system, 1)
        if m is None:
            continue
        lines.append(f"{what}: {m.p50_ms - previous:+.3f} ms (p50 {m.p50_ms:.3f} ms)")
        previous = m.p50_ms
    return lines


def verdicts(results: list[Result], startups: list[float], clients: list[int]) -> list[report.Verdict]:
    out = []
    floor, http = find(results, INPROCESS, 1), find(results, MODELREG_HTTP, 1)
    added = None if floor is None or http is None else http.p50_ms - floor.p50_ms
    out.append(report.Verdict(f"added latency at p50 < {ADDED_LATENCY_MS:g} ms (1 client)",
                              "modelreg http p50 - in-process p50", report._num(added, 3) + " ms",
                              None if added is None else added < ADDED_LATENCY_MS))  # fmt: skip
    # the same client on both sides; with boto3 clients the client's own CPU decides (the ratios
    # table shows boto3 / mlflow too)
    n = max(clients)
    ratio = compare(results, MODELREG_HTTP, MLFLOW_HTTP, n, "ops_per_s")
    out.append(report.Verdict(f"req/s >= {MLFLOW_FACTOR:g}x mlflow models serve ({report._clients(n)})",
                              f"{MODELREG_HTTP} / {MLFLOW_HTTP}", report._times(ratio, 2),
                              None if ratio is None else ratio >= MLFLOW_FACTOR))  # fmt: skip
    median = statistics.median(startups) if startups else None
    out.append(report.Verdict(f"CreateEndpoint -> InService < {STARTUP_S:g} s",
                              f"median of {len(startups)} endpoints", report._num(median, 2) + " s",
                              None if median is None else median < STARTUP_S))  # fmt: skip
    for prefix in ("modelreg", "mlflow"):
        ours = [r.measurement for r in results if r.measurement.system.startswith(prefix)]
        wrong, checked = sum(m.wrong or 0 for m in ours), sum(m.checked for m in ours)
        target = f"every answer = inplace_predict within {TOLERANCE:g}"
        passed = wrong == 0 if checked else None
        out.append(report.Verdict(target, f"{prefix} (all runs)", f"{wrong} wrong of {checked}", passed))
    return out


def machine() -> dict[str, Any]:
    model_name = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), "unknown",
    )  # fmt: skip
    return {"cpus": os.cpu_count(), "cpu": model_name, "loadavg": Path("/proc/loadavg").read_text().strip()}


def systems_to_measure(
    model: Model,
    folder: Path,
    modelreg: ServerProcess,
    worker_sockets: list[str],
    mlflow: ServerProcess,
    mlflow_spec: ClientSpec,
) -> list[System]:
    csv = save_bodies(folder / "csv-bodies.pickle", [model.csv(i).encode() for i in range(TEST_ROWS)])
    local = ClientSpec(INPLACE, model_path=str(model.booster_path), rows_path=str(model.rows_path))
    invocations = f"/endpoints/{ENDPOINT}/invocations"
    boto3 = ClientSpec(BOTO3, url=modelreg.url, endpoint=ENDPOINT, bodies_path=csv)
    http = ClientSpec(HTTP, url=modelreg.url, path=invocations, bodies_path=csv)
    uds = ClientSpec(UDS, socket_paths=worker_sockets, path="/invocations", bodies_path=csv)
    return [
        System(INPROCESS, local),
        System(INPROCESS_DMATRIX, replace(local, kind=DMATRIX)),
        System(MODELREG_BOTO3, boto3, modelreg, front=True),
        System(MODELREG_HTTP, http, modelreg, front=True),
        System(WORKER_UDS, uds, modelreg, front=True),
        System(MLFLOW_HTTP, mlflow_spec, mlflow),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)  # so the finally blocks below clean up
    import xgboost

    ran = {**versions(), "xgboost": xgboost.__version__}
    start = machine()
    log(f"machine: {start['cpus']} CPUs ({start['cpu']}), load average {start['loadavg']} at start")
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="modelreg-bench-inference-") as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.monotonic()
        model = train(tmp)
        log(f"== model trained and saved in {time.monotonic() - t0:.1f}s")
        with (
            started(modelreg_process(tmp / "modelreg")) as modelreg,
            started(mlflow_process(tmp / "mlflow", model, args.instances)) as mlflow,
        ):
            deployment = Deployment(modelreg.url, model, args.instances)
            deployment.register()
            log(f"-- CreateEndpoint -> InService, {args.startups} endpoints one after another")
            startups = deployment.time_startups(args.startups)
            serving_s = deployment.create(ENDPOINT)
            log(f"   {ENDPOINT} (the one measured): InService in {serving_s:.2f}s")
            deployment.check(range(50))
            log(f"   answers checked; workers on {', '.join(deployment.worker_sockets())}")
            log("-- mlflow request formats (sequential, untimed in the results)")
            samples = 100 if args.quick else 300
            mlflow_spec, mlflow_formats = pick_mlflow_format(mlflow.url, model, samples, tmp)
            mlflow_format = min(mlflow_formats, key=mlflow_formats.__getitem__)
            systems = systems_to_measure(
                model, tmp, modelreg, deployment.worker_sockets(), mlflow, mlflow_spec
            )
            for n in args.clients:
                total = args.requests if n == 1 else args.per_client * n
                results += measure(systems, n, total, args.rounds, args.time_limit, model)
            rss = {"modelreg": modelreg.tree_rss_bytes(), "mlflow": mlflow.tree_rss_bytes()}
    end = machine()
    inprocess = {INPROCESS, INPROCESS_DMATRIX}
    print(f"\n## Inference: 1-row requests, model of {FEATURES} features and {TREES} trees\n")
    print(results_table(results, inprocess))
    tried = ", ".join(f"{k} {v:.2f} ms" for k, v in mlflow_formats.items())
    print(f"\nmlflow request format: {mlflow_format} (cheapest by sequential median of: {tried})")
    print(f"instances: modelreg InitialInstanceCount={args.instances}; mlflow --workers {args.instances}")
    print("\n## Ratios\n")
    print(ratio_table(results, args.clients))
    print("\n## Where a 1-client request's p50 goes\n")
    print("\n".join(f"- {line}" for line in breakdown(results)))
    print("\n## CreateEndpoint -> InService\n")
    print(f"- {', '.join(f'{s:.2f}s' for s in startups)} (median {statistics.median(startups):.2f}s); "
          f"the endpoint measured above: {serving_s:.2f}s")  # fmt: skip
    print("- memory after the run, server with its workers: "
          + ", ".join(f"{k} {v / report.MB:.0f} MB" for k, v in rss.items()))  # fmt: skip
    print("\n## Targets\n")
    print(report.verdict_table(verdicts(results, startups, args.clients)))
    print(f"\nmachine: {start['cpus']} CPUs ({start['cpu']}); load average {start['loadavg']} at start, "
          f"{end['loadavg']} at end")  # fmt: skip
    print("versions: " + ", ".join(f"{k} {v}" for k, v in ran.items()))
    if args.json:
        raw = {
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "machine": {"start": start, "end": end},
            "versions": ran,
            "results": [asdict(r) for r in results],
            "startup_s": startups,
            "serving_endpoint_startup_s": serving_s,
            "mlflow_formats_median_ms": mlflow_formats,
            "mlflow_format": mlflow_format,
            "rss_bytes": rss,
        }
        args.json.write_text(json.dumps(raw, indent=1))
        print(f"raw results: {args.json}")
    wrong = sum(r.measurement.wrong or 0 for r in results if r.measurement.system.startswith("modelreg"))
    if wrong:
        print(f"\nFAILED: modelreg answered {wrong} requests unlike inplace_predict", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
