"""The worker as a real process: the SageMaker container contract over HTTP, readiness, SIGTERM,
load failures and the death of its parent."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import joblib
import numpy as np
import pytest
import xgboost as xgb

from modelreg.serving.worker import WorkerApp
from tests.server import free_port

REPO = Path(__file__).resolve().parents[2]
WORKER = [sys.executable, "-m", "modelreg.serving.worker"]
DEADLINE_SECONDS = 30.0


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    client: httpx.Client
    log: Path

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def wait_ready(client: httpx.Client, process: subprocess.Popen[bytes] | None, log: Path) -> None:
    """Wait until ``GET /ping`` answers 200; fail early when the worker exits."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"the worker exited with {process.returncode}: {log.read_text(errors='replace')}")
        try:
            if client.get("/ping").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    pytest.fail(f"the worker did not answer /ping in {DEADLINE_SECONDS}s")


def start_worker(framework: str, model_dir: Path, log_dir: Path) -> Worker:
    port = free_port()
    log = log_dir / f"worker-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*WORKER, "--framework", framework, "--model-dir", str(model_dir), "--port", str(port)],
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=DEADLINE_SECONDS)
    worker = Worker(process, client, log)
    try:
        wait_ready(client, process, log)
    except BaseException:
        worker.stop()
        raise
    return worker


def is_running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie has exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    return np.random.default_rng(11).normal(size=(300, 45))


@pytest.fixture(scope="module")
def booster(rows: np.ndarray) -> xgb.Booster:
    labels = (rows[:, 0] - rows[:, 7] > 0).astype(float)
    return xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(rows, label=labels), num_boost_round=50)


@pytest.fixture(scope="module")
def model_dir(booster: xgb.Booster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("xgb")
    booster.save_model(directory / "model.json")
    (directory / "model.json").rename(directory / "xgboost-model")
    return directory


@pytest.fixture(scope="module")
def worker(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    started = start_worker("xgboost", model_dir, tmp_path_factory.mktemp("logs"))
    yield started
    started.stop()


def csv(rows: np.ndarray) -> bytes:
    return "\n".join(",".join(repr(float(value)) for value in row) for row in rows).encode()


def test_ping_is_200_and_empty(worker: Worker) -> None:
    response = worker.client.get("/ping")
    assert response.status_code == 200
    assert response.content == b""


def test_invocations_answer_the_boosters_predictions(
    worker: Worker, booster: xgb.Booster, rows: np.ndarray
) -> None:
    response = worker.client.post("/invocations", content=csv(rows[:1]), headers={"Content-Type": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv"
    assert np.allclose(float(response.text), booster.predict(xgb.DMatrix(rows[:1])))

    document = {"instances": rows[:5].tolist()}
    response = worker.client.post(
        "/invocations",
        json=document,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    scores = [entry["score"] for entry in response.json()["predictions"]]
    assert np.allclose(scores, booster.predict(xgb.DMatrix(rows[:5])))

    libsvm = "\n".join("0 " + " ".join(f"{c}:{float(row[c])!r}" for c in range(45)) for row in rows[5:8])
    response = worker.client.post("/invocations", content=libsvm, headers={"Content-Type": "text/libsvm"})
    assert response.status_code == 200
    assert np.allclose([float(v) for v in response.text.split(",")], booster.predict(xgb.DMatrix(rows[5:8])))


def test_keep_alive_serves_many_requests_on_one_connection(worker: Worker, rows: np.ndarray) -> None:
    addresses = set()
    for row in rows[:50]:
        response = worker.client.post(
            "/invocations", content=csv(row[None, :]), headers={"Content-Type": "text/csv"}
        )
        assert response.status_code == 200
        addresses.add(response.extensions["network_stream"].get_extra_info("client_addr"))
    assert len(addresses) == 1


def test_errors_have_their_status_and_a_plain_text_message(worker: Worker) -> None:
    bad = worker.client.post("/invocations", content=b"1,2,3", headers={"Content-Type": "text/csv"})
    assert (bad.status_code, bad.text) == (400, "The text/csv rows have 3 features; the model expects 45.")
    assert bad.headers["content-type"].startswith("text/plain")
    unsupported = worker.client.post("/invocations", content=b"1", headers={"Content-Type": "image/png"})
    assert unsupported.status_code == 415
    assert "'image/png'" in unsupported.text and "text/csv" in unsupported.text
    accept = worker.client.post(
        "/invocations", content=b"1", headers={"Content-Type": "text/csv", "Accept": "application/x-npy"}
    )
    assert accept.status_code == 415
    assert "'application/x-npy'" in accept.text
    assert worker.client.get("/models").status_code == 404
    assert worker.client.get("/invocations").status_code == 405
    assert worker.client.get("/ping").status_code == 200  # still serving after the errors


def test_custom_attributes_are_echoed(worker: Worker, rows: np.ndarray) -> None:
    attributes = "trace_id=abc123,tenant=7"
    ok = worker.client.post(
        "/invocations",
        content=csv(rows[:1]),
        headers={"Content-Type": "text/csv", "X-Amzn-SageMaker-Custom-Attributes": attributes},
    )
    assert ok.headers["x-amzn-sagemaker-custom-attributes"] == attributes
    bad = worker.client.post(
        "/invocations",
        content=b"x",
        headers={"Content-Type": "text/csv", "X-Amzn-SageMaker-Custom-Attributes": attributes},
    )
    assert bad.status_code == 400
    assert bad.headers["x-amzn-sagemaker-custom-attributes"] == attributes
    plain = worker.client.post("/invocations", content=csv(rows[:1]), headers={"Content-Type": "text/csv"})
    assert "x-amzn-sagemaker-custom-attributes" not in plain.headers


class BrokenModel:
    def predict(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        raise RuntimeError(f"model exploded on {body!r}")


def test_a_model_failure_is_500_with_its_message(capsys: pytest.CaptureFixture[str]) -> None:
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"1,2", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/invocations",
        "headers": [(b"content-type", b"text/csv")],
    }
    asyncio.run(WorkerApp(BrokenModel())(scope, receive, send))
    assert sent[0]["status"] == 500
    assert sent[1]["body"] == b"RuntimeError: model exploded on b'1,2'"
    assert "Traceback" in capsys.readouterr().err


class GatedEstimator:
    """A scikit-learn style model whose ``predict`` signals that it started, then holds the request
    until the test creates the release file: a request the test knows to be in flight."""

    def __init__(self, started: Path, release: Path) -> None:
        self.started = started
        self.release = release

    def predict(self, features: np.ndarray) -> np.ndarray:
        self.started.touch()
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not self.release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return features.sum(axis=1)


def test_sigterm_finishes_the_request_in_flight_and_exits_0(tmp_path: Path) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    joblib.dump(GatedEstimator(started, release), tmp_path / "model.joblib")
    worker = start_worker("sklearn", tmp_path, tmp_path)
    answer: list[httpx.Response] = []
    request = threading.Thread(
        target=lambda: answer.append(worker.client.post("/invocations", json=[[1.0, 2.0], [3.0, 4.5]]))
    )
    try:
        request.start()
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert started.exists()
        worker.process.send_signal(signal.SIGTERM)
        assert worker.process.poll() is None  # the request holds it
        release.touch()
        request.join(DEADLINE_SECONDS)
        assert [(r.status_code, r.json()) for r in answer] == [(200, [3.0, 7.5])]
        assert worker.process.wait(timeout=DEADLINE_SECONDS) == 0
    finally:
        release.touch()
        worker.stop()
        request.join(DEADLINE_SECONDS)


def test_a_model_that_does_not_load_exits_3_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"\0")
    result = subprocess.run(
        [*WORKER, "--framework", "xgboost", "--model-dir", str(tmp_path), "--port", str(free_port())],
        cwd=REPO,
        capture_output=True,
        timeout=DEADLINE_SECONDS,
    )
    assert result.returncode == 3
    assert result.stderr.decode().splitlines() == [
        "modelreg-worker: model.tar.gz has no file 'xgboost-model', which the XGBoost container loads "
        "(it holds: model.bin)"
    ]


PARENT = textwrap.dedent(
    """
    import subprocess, sys, time
    child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(child.pid, flush=True)
    time.sleep(120)
    """
)


def test_the_worker_exits_when_its_parent_is_killed(
    model_dir: Path, tmp_path: Path, booster: xgb.Booster, rows: np.ndarray
) -> None:
    socket_path = tmp_path / "worker.sock"
    args = ["--framework", "xgboost", "--model-dir", str(model_dir), "--uds", str(socket_path)]
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, *WORKER, *args], cwd=REPO, stdout=subprocess.PIPE
    )
    worker_pid = None
    client = httpx.Client(transport=httpx.HTTPTransport(uds=str(socket_path)), base_url="http://worker")
    try:
        assert parent.stdout is not None
        readable, _, _ = select.select([parent.stdout], [], [], DEADLINE_SECONDS)
        assert readable, "the parent did not start the worker"
        worker_pid = int(parent.stdout.readline())
        wait_ready(client, None, tmp_path / "no log")
        response = client.post("/invocations", content=csv(rows[:2]), headers={"Content-Type": "text/csv"})
        assert response.status_code == 200
        assert np.allclose(json.loads(f"[{response.text}]"), booster.predict(xgb.DMatrix(rows[:2])))

        parent.kill()
        parent.wait(timeout=DEADLINE_SECONDS)
        deadline = time.monotonic() + DEADLINE_SECONDS
        while is_running(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not is_running(worker_pid), "the worker outlived its parent"
    finally:
        client.close()
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=DEADLINE_SECONDS)
        if worker_pid is not None and is_running(worker_pid):
            os.kill(worker_pid, signal.SIGKILL)
