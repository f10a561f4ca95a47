"""Shared fixtures: a live modelreg server and boto3 clients pointed at it, as users do."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest
import sqlalchemy as sa
from botocore.config import Config

from modelreg.config import Settings
from tests.artifacts.moto_server import MotoServer
from tests.server import Server

REGION = "us-east-1"
POSTGRES_URL = os.environ.get("MODELREG_TEST_POSTGRES_URL")


def client(
    url: str,
    service: str = "sagemaker",
    *,
    access_key: str = "AKIDTESTUSER",
    secret: str = "secret",
    region: str = REGION,
    retries: int = 1,
) -> object:
    """A boto3 client exactly as a user builds one, with ``endpoint_url`` pointing at modelreg."""
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": retries, "mode": "standard"}),
    )


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("modelreg")).start()
    yield srv
    srv.stop()


@pytest.fixture
def sm(server: Server):
    return client(server.url)


_counter = itertools.count()


def _pg_url(url: str) -> str:
    return Settings(store_url=url).database_url


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    with fresh_postgres_database() as url:
        yield url


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (its SQLAlchemy URL) while the block runs, dropped
    afterwards; the calling test skips when no PostgreSQL is configured."""
    if not POSTGRES_URL:
        pytest.skip(
            "PostgreSQL store tests need MODELREG_TEST_POSTGRES_URL (CI sets it; "
            "e.g. postgresql://postgres@127.0.0.1:5432/test)"
        )
    admin = sa.create_engine(_pg_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    name = f"modelreg_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(_pg_url(POSTGRES_URL)).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def server_on(store: str, data_dir: Path) -> Iterator[Server]:
    """A ``modelreg serve`` of its own while the block runs: on SQLite in ``data_dir`` (``store``
    "sqlite"), or on a fresh PostgreSQL database ("postgresql"; the test skips without one)."""
    if store == "sqlite":
        srv = Server(data_dir).start()
        try:
            yield srv
        finally:
            srv.stop()
        return
    with fresh_postgres_database() as url:
        srv = Server(data_dir, args=["--store", url]).start()
        try:
            yield srv
        finally:
            srv.stop()


@pytest.fixture
def unique() -> str:
    """A name no other test uses: tests share one server."""
    return f"t{next(_counter)}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto")).start()
    yield server
    server.stop()
