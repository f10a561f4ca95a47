"""Persistence: the Store contract (``base``), its SQL implementation and the schema migrations."""

from __future__ import annotations

from modelreg.store.base import Store
from modelreg.store.migrate import prepare
from modelreg.store.sql import SqlStore


def open_store(url: str) -> Store:
    """Open the database at ``url`` (SQLAlchemy URL), creating a fresh schema if it is empty."""
    store = SqlStore(url)
    try:
        prepare(store.engine)
    except Exception:
        store.close()
        raise
    return store
