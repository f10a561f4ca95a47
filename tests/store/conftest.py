"""The store contract runs on SQLite always and on PostgreSQL when MODELREG_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from modelreg.config import Settings
from modelreg.store import open_store
from modelreg.store.sql import SqlStore

POSTGRES_URL = os.environ.get("MODELREG_TEST_POSTGRES_URL")


def _pg_url(url: str) -> str:
    return Settings(store_url=url).database_url


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL store tests need MODELREG_TEST_POSTGRES_URL (CI sets it; "
                    "e.g. postgresql://postgres@127.0.0.1:5432/test)")
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


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:  # noqa: ANN001
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'modelreg.db'}"
    return request.getfixturevalue("postgres_database")


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    s = open_store(store_url)
    assert isinstance(s, SqlStore)
    yield s
    s.close()
