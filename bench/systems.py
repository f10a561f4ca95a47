"""The systems under test: how each server is started, which client API it speaks, and where its CPU goes.

| system            | server                                                        | client    |
|-------------------|---------------------------------------------------------------|-----------|
| modelreg-sqlite   | ``modelreg serve`` on SQLite in a temp dir                    | boto3     |
| modelreg-postgres | ``modelreg serve --store postgresql://.../<fresh database>``  | boto3     |
| moto              | ``python -m moto.server`` (in memory)                         | boto3     |
| mlflow            | ``mlflow server --backend-store-uri sqlite:///...`` (defaults) | MlflowClient |
| floor (on request) | ``bench/floor_server.py``: dicts in memory on modelreg's HTTP stack | boto3 |

Every server is the system's default configuration, bound to 127.0.0.1 on a free port. MLflow
keeps its default 4 uvicorn workers; its job-execution runner (GenAI jobs, not the model
registry) and its telemetry are switched off so neither runs beside the requests measured.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.procs import ServerProcess, cpu_seconds, free_port

SYSTEMS = ("modelreg-sqlite", "modelreg-postgres", "moto", "mlflow")
#: systems run only when ``--systems`` names them
EXTRA_SYSTEMS = ("floor",)
MLFLOW_ENV = {
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
}


class PostgresDatabases:
    """Fresh PostgreSQL databases for the bench, all dropped by ``drop_all`` (call it in a finally)."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []

    def _admin(self):
        import psycopg

        return psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5)

    def available(self) -> str | None:
        """None when the server answers, else why not."""
        try:
            with self._admin():
                return None
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"

    def create(self, label: str) -> str:
        """A new empty database; returns its ``postgresql://`` URL."""
        name = f"modelreg_bench_{label}_{uuid.uuid4().hex[:8]}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.url_of(name)

    def url_of(self, name: str) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def backend_cpu_seconds(self, url: str) -> float:
        """CPU time used so far by the PostgreSQL backends connected to ``url``'s database."""
        from sqlalchemy.engine import make_url

        with self._admin() as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (make_url(url).database,)
            ).fetchall()
        return cpu_seconds(pid for (pid,) in rows)

    def drop_all(self) -> None:
        """Drop every database this object created (``WITH (FORCE)`` ends leftover sessions)."""
        while self.created:
            name = self.created.pop()
            try:
                with self._admin() as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:
                print(f"warning: could not drop PostgreSQL database {name}: {exc}", file=sys.stderr)


@dataclass
class Running:
    """A started server plus what the bench needs to measure it."""

    system: str
    api: str  # client API: "sagemaker" or "mlflow"
    server: ServerProcess
    db_cpu: Callable[[], float] | None = None  # CPU of a database that runs outside the server

    @property
    def defers_lineage(self) -> bool:
        """modelreg records a version's lineage after its registration (a lineage read catches up)."""
        return self.system.startswith("modelreg")

    def cpu_seconds(self) -> float:
        """Server CPU plus database CPU (when the database is a separate process) so far."""
        return self.server.cpu_seconds() + (self.db_cpu() if self.db_cpu else 0.0)

    @property
    def url(self) -> str:
        return self.server.url


def modelreg_server(name: str, data_dir: Path, store_url: str | None) -> ServerProcess:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "modelreg.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]
    if store_url:
        argv += ["--store", store_url]
    return ServerProcess(
        name, argv, port, "/healthz", data_dir / "server.log", data_dir, env={"PYTHONUNBUFFERED": "1"}
    )


def _moto_server(work: Path) -> ServerProcess:
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    return ServerProcess("moto", argv, port, "/moto-api/", work / "server.log", work)


def _mlflow_server(work: Path) -> ServerProcess:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{work / 'mlflow.db'}",
        "--default-artifact-root",
        str(work / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    return ServerProcess("mlflow", argv, port, "/health", work / "server.log", work, env=MLFLOW_ENV)


def _floor_server(work: Path) -> ServerProcess:
    port = free_port()
    argv = [sys.executable, str(Path(__file__).with_name("floor_server.py")), str(port)]
    return ServerProcess("floor", argv, port, "/healthz", work / "server.log", work)


@contextlib.contextmanager
def launch(system: str, work: Path, pg: PostgresDatabases, store_url: str | None = None) -> Iterator[Running]:
    """Start ``system`` with its data under ``work`` (a fresh directory) and stop it on exit.

    For modelreg, ``store_url`` reuses an existing database (the big-database run); otherwise
    modelreg-postgres gets a fresh database."""
    work.mkdir(parents=True, exist_ok=True)
    db_cpu = None
    if system == "modelreg-sqlite":
        server = modelreg_server(system, work, store_url)
    elif system == "modelreg-postgres":
        url = store_url or pg.create("run")
        server = modelreg_server(system, work, url)
        db_cpu = lambda: pg.backend_cpu_seconds(url)  # noqa: E731
    elif system == "moto":
        server = _moto_server(work)
    elif system == "mlflow":
        os.environ.update(MLFLOW_ENV)  # the client side (forked workers inherit it)
        server = _mlflow_server(work)
    elif system == "floor":
        server = _floor_server(work)
    else:
        raise ValueError(f"unknown system {system!r}; choose from {', '.join(SYSTEMS + EXTRA_SYSTEMS)}")
    try:
        server.start(timeout=240)
        yield Running(system, "mlflow" if system == "mlflow" else "sagemaker", server, db_cpu)
    finally:
        server.stop()
