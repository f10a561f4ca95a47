"""The store contract runs on SQLite always and on PostgreSQL when MODELREG_TEST_POSTGRES_URL is set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelreg.store import open_store
from modelreg.store.sql import SqlStore


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'modelreg.db'}"
    return request.getfixturevalue("postgres_database")


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    s = open_store(store_url)
    assert isinstance(s, SqlStore)
    yield s
    s.close()
