"""The alembic chain and the table definitions describe the same schema, on both dialects."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from modelreg.store import migrate
from modelreg.store.schema import metadata
from modelreg.store.sql import create_engine


def test_upgrading_an_empty_database_gives_the_declared_schema(store_url: str) -> None:
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            from alembic import command

            command.upgrade(migrate._config(conn), "head")
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()


def test_a_fresh_database_is_created_and_stamped(store_url: str) -> None:
    engine = create_engine(store_url)
    try:
        migrate.prepare(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
        assert sa.inspect(engine).has_table("model_packages")
        migrate.prepare(engine)  # idempotent at head
    finally:
        engine.dispose()
