"""The clients of the inference bench (``bench/inference.py``): one per way of getting a prediction.

Every client answers ``invoke(index) -> (index, prediction)`` for row ``index`` of the bench's test
rows, so ``bench.pool.run_batch`` times any of them alike and the bench can check every answer
against the model's own output. A client is built once per client process, after the process
starts, and keeps its connection alive for every request it makes:

- ``inplace`` / ``dmatrix``: the booster in the client process itself (``inplace_predict`` on a
  NumPy row, or ``predict`` on a one-row ``DMatrix``), one thread as modelreg's workers use: the
  floor no server can beat.
- ``boto3``: the ``sagemaker-runtime`` client's ``invoke_endpoint``, as users call it (SigV4
  signing, botocore's response parsing; its urllib3 pool keeps the connection alive).
- ``http``: one ``http.client.HTTPConnection`` kept alive, a POST with a prebuilt body and the
  response read whole: as little client work as HTTP allows, so the server's time shows.
- ``uds``: the same lean client on a Unix socket, straight to one of modelreg's endpoint workers
  (what modelreg's front process adds is the difference to ``http``).

``InferencePool`` runs N such clients in N processes with ``bench.pool.ClientPool``'s batches,
barrier and deadlines; it only swaps what a process builds (a ``ClientSpec`` instead of a
registry client) and starts processes with ``spawn``, so none inherits the bench's XGBoost or
OpenMP state.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing as mp
import pickle
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bench.clients import ACCESS_KEY, REGION
from bench.pool import _BARRIER_TIMEOUT, BatchResult, ClientPool, default_sigterm, run_batch

INPLACE, DMATRIX, BOTO3, HTTP, UDS = "inplace", "dmatrix", "boto3", "http", "uds"
KINDS = (INPLACE, DMATRIX, BOTO3, HTTP, UDS)
#: how a response body holds the prediction: modelreg (SageMaker XGBoost) answers ``0.123`` for
#: text/csv; ``mlflow models serve`` answers ``{"predictions": [0.123]}``
CSV_ANSWER, MLFLOW_ANSWER = "csv", "mlflow-json"


@dataclass
class ClientSpec:
    """Everything a client process needs to build its client (pickled to a spawned process)."""

    kind: str
    model_path: str = ""  # inplace / dmatrix: the saved booster
    rows_path: str = ""  # inplace / dmatrix: the test rows (.npy)
    url: str = ""  # boto3 (endpoint_url) / http: http://127.0.0.1:PORT
    endpoint: str = ""  # boto3: the endpoint name
    socket_paths: list[str] = field(default_factory=list)  # uds: client i uses socket i % len
    path: str = ""  # http / uds: the request path
    content_type: str = "text/csv"
    bodies_path: str = ""  # boto3 / http / uds: pickled list, the request body of row i
    answer: str = CSV_ANSWER


def save_bodies(path: Path, bodies: list[bytes]) -> str:
    """Write request bodies for clients to load (a spec stays small: a spawned process reads its
    pickled arguments from a pipe, and one that dies before reading them all would block the
    parent's write for good)."""
    path.write_bytes(pickle.dumps(bodies))
    return str(path)


def load_bodies(spec: ClientSpec) -> list[bytes]:
    bodies: list[bytes] = pickle.loads(Path(spec.bodies_path).read_bytes())
    return bodies


class InferenceClient(Protocol):
    def invoke(self, index: int) -> tuple[int, float]: ...


class InProcessClient:
    """The booster in this process, one thread (``nthread`` 1), as a modelreg worker runs it."""

    def __init__(self, spec: ClientSpec) -> None:
        import numpy as np
        import xgboost as xgb

        self.booster = xgb.Booster()
        self.booster.load_model(spec.model_path)
        self.booster.set_param("nthread", 1)
        self.rows = np.load(spec.rows_path)
        self.dmatrix = spec.kind == DMATRIX
        self._xgb = xgb

    def invoke(self, index: int) -> tuple[int, float]:
        row = self.rows[index : index + 1]
        if self.dmatrix:
            return index, float(self.booster.predict(self._xgb.DMatrix(row, nthread=1))[0])
        return index, float(self.booster.inplace_predict(row)[0])


class Boto3Client:
    """``sagemaker-runtime`` InvokeEndpoint with text/csv in and out, as a user calls it."""

    def __init__(self, spec: ClientSpec) -> None:
        import boto3

        self.runtime = boto3.client(
            "sagemaker-runtime",
            endpoint_url=spec.url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key="bench-secret",
        )
        self.endpoint = spec.endpoint
        self.bodies = load_bodies(spec)

    def invoke(self, index: int) -> tuple[int, float]:
        response = self.runtime.invoke_endpoint(
            EndpointName=self.endpoint, ContentType="text/csv", Accept="text/csv", Body=self.bodies[index]
        )
        return index, float(response["Body"].read())


class _UnixHTTPConnection(http.client.HTTPConnection):
    """``HTTPConnection`` on a Unix domain socket (the Host header says ``worker``)."""

    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__("worker", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class HttpClient:
    """One kept-alive HTTP/1.1 connection; each request is a single ``send`` of headers and body
    (``http.client`` joins them when the body is bytes, and sets TCP_NODELAY) and the response read whole."""

    def __init__(self, spec: ClientSpec, client_number: int) -> None:
        if spec.kind == UDS:
            sock = spec.socket_paths[client_number % len(spec.socket_paths)]
            self.conn: http.client.HTTPConnection = _UnixHTTPConnection(sock, timeout=60)
        else:
            host, _, port = spec.url.removeprefix("http://").partition(":")
            self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        self.conn.connect()
        self.path = spec.path
        accept = "text/csv" if spec.answer == CSV_ANSWER else "application/json"
        self.headers = {"Content-Type": spec.content_type, "Accept": accept}
        self.bodies = load_bodies(spec)
        self.mlflow = spec.answer == MLFLOW_ANSWER

    def invoke(self, index: int) -> tuple[int, float]:
        try:
            self.conn.request("POST", self.path, body=self.bodies[index], headers=self.headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()  # the next request opens a new connection
            raise
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {data[:300]!r}")
        if self.mlflow:
            return index, float(json.loads(data)["predictions"][0])
        return index, float(data)


def build(spec: ClientSpec, client_number: int = 0) -> InferenceClient:
    """The client ``spec`` describes (``client_number``: which process of the pool builds it)."""
    if spec.kind in (INPLACE, DMATRIX):
        return InProcessClient(spec)
    if spec.kind == BOTO3:
        return Boto3Client(spec)
    if spec.kind in (HTTP, UDS):
        return HttpClient(spec, client_number)
    raise ValueError(f"unknown client kind {spec.kind!r}; choose from {', '.join(KINDS)}")


def _worker_main(spec: ClientSpec, number: int, inbox: Any, outbox: Any, barrier: Any) -> None:
    """``bench.pool``'s worker loop with an inference client: build it once, run batches."""
    default_sigterm()
    client: InferenceClient | None = None
    connect_error = ""
    while True:
        batch = inbox.get()
        if batch is None:
            return
        if client is None and not connect_error:
            try:
                client = build(spec, number)
            except Exception as exc:
                connect_error = f"{type(exc).__name__}: {exc}"
        try:
            barrier.wait(timeout=_BARRIER_TIMEOUT)
        except threading.BrokenBarrierError:
            outbox.put(BatchResult(errors=len(batch.items), error_samples=["start barrier broken"]))
            continue
        outbox.put(run_batch(client, batch, connect_error))  # type: ignore[arg-type]


class InferencePool(ClientPool):
    """``size`` client processes, each with its own client built from ``spec``; ``run("invoke",
    indices, time_limit)`` and ``close()`` are ``ClientPool``'s."""

    def __init__(self, spec: ClientSpec, size: int) -> None:
        name = f"bench-inference-{spec.kind}"
        self._start(mp.get_context("spawn"), size, name, _worker_main, lambda i, inbox: (spec, i, inbox))
