"""Schema creation and upgrades (alembic, one chain for SQLite and PostgreSQL).

A fresh database gets the current schema and is stamped at the head revision. A database at an
older revision is refused at start-up until ``modelreg db upgrade`` runs, which backs SQLite up first.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from modelreg.store.schema import metadata


class SchemaOutOfDate(Exception):
    """The database was made by an older modelreg; ``modelreg db upgrade`` brings it forward."""


def _config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "modelreg.store:migrations")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def prepare(engine: Engine) -> None:
    """Create and stamp a fresh database; accept one at head; refuse an out-of-date one."""
    with engine.begin() as conn:
        revision = MigrationContext.configure(conn).get_current_revision()
        has_tables = sa.inspect(conn).has_table("model_packages")
        if revision is None and not has_tables:
            metadata.create_all(conn)
            command.stamp(_config(conn), "head")
            return
    if revision != head_revision():
        raise SchemaOutOfDate(
            f"the database is at schema revision {revision or 'none'}, this modelreg needs "
            f"{head_revision()}: run `modelreg db upgrade` first"
        )


def upgrade(engine: Engine, sqlite_path: Path | None = None) -> str | None:
    """Bring the schema to head; back the SQLite file up first when it holds a schema that
    changes (not when it is empty or already at head). Returns the backup path, if any."""
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        empty = current is None and not sa.inspect(conn).has_table("model_packages")
    if current == head_revision():
        return None
    backup = None
    if sqlite_path is not None and not empty and sqlite_path.exists():
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        backup = f"{sqlite_path}.{time.strftime('%Y%m%d-%H%M%S')}.bak"
        shutil.copy2(sqlite_path, backup)
    with engine.begin() as conn:
        if empty:
            metadata.create_all(conn)
            command.stamp(_config(conn), "head")
        else:
            command.upgrade(_config(conn), "head")
    return backup
