"""sql_fast runs statements on the driver's cursor (sqlite3, psycopg) and must answer and fail
exactly as SQLAlchemy does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from modelreg.store import schema
from modelreg.store import sql_fast as fast
from modelreg.store.sql import create_engine

E = schema.events
G = schema.model_package_groups
_b = sa.bindparam

INSERT_EVENT = E.insert().returning(E.c.id)
CLAIM = E.select().where(E.c.dispatched.is_(False)).order_by(E.c.id).limit(_b("limit"))
NEXT_SEQUENCE = sa.select(sa.func.coalesce(sa.func.max(E.c.sequence), 0) + 1).where(
    E.c.resource_arn == _b("arn")
)
BY_EVENT_IDS = E.select().where(E.c.event_id.in_(_b("ids", expanding=True)))


@pytest.fixture
def engine(store_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(store_url)
    schema.metadata.create_all(engine)
    yield engine
    engine.dispose()


def event(n: int, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "event_id": f"e{n}",
        "region": "us-east-1",
        "source": "aws.sagemaker",
        "detail_type": "t",
        "resource_arn": "arn:x",
        "sequence": n,
        "created_us": n,
        "dispatched": False,
        "body": "{}",
    }
    row.update(overrides)
    return row


def test_rows_match_what_sqlalchemy_returns(engine: sa.Engine) -> None:
    with engine.connect() as conn, conn.begin():
        ids = [fast.run(conn, INSERT_EVENT, event(n)).scalar_one() for n in (1, 2, 3)]
        fast.run_many(conn, E.insert(), [event(4, dispatched=True), event(5)])
        fast_rows = list(fast.run(conn, CLAIM, {"limit": 10}))
        core_rows = list(conn.execute(CLAIM, {"limit": 10}))
        assert ids == [1, 2, 3]
        assert [tuple(r) for r in fast_rows] == [tuple(r) for r in core_rows]
        assert [r._mapping for r in fast_rows] == [dict(r._mapping) for r in core_rows]
        assert all(r.dispatched is False for r in fast_rows)  # the Boolean column's conversion
        assert [r.event_id for r in fast_rows] == ["e1", "e2", "e3", "e5"]
        # literals inside the statement (coalesce(..., 0) + 1) are bound by themselves
        assert fast.run(conn, NEXT_SEQUENCE, {"arn": "arn:x"}).scalar_one() == 6
        assert fast.run(conn, NEXT_SEQUENCE, {"arn": "arn:none"}).scalar_one() == 1
        assert fast.run(conn, CLAIM, {"limit": 0}).first() is None


def test_a_collision_is_sqlalchemys_integrity_error(engine: sa.Engine) -> None:
    with engine.connect() as conn, conn.begin():
        fast.run(conn, INSERT_EVENT, event(1))
    for collide in (
        lambda conn: fast.run(conn, INSERT_EVENT, event(1)),
        lambda conn: fast.run_many(conn, E.insert(), [event(2), event(2)]),
    ):
        with engine.connect() as conn, conn.begin(), pytest.raises(sa.exc.IntegrityError):
            collide(conn)


def test_a_dropped_postgresql_connection_is_invalidated(engine: sa.Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no connection to drop")
    with engine.connect() as conn:
        pid = fast.run(conn, sa.select(sa.func.pg_backend_pid())).scalar_one()
        with engine.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        with pytest.raises(sa.exc.OperationalError) as raised:
            fast.run(conn, CLAIM, {"limit": 1})
        assert raised.value.connection_invalidated
        assert conn.invalidated
    with engine.connect() as conn:  # the pool hands out a live connection again
        assert fast.run(conn, CLAIM, {"limit": 1}).first() is None


def test_a_missing_parameter_and_an_in_list_are_refused(engine: sa.Engine) -> None:
    with engine.connect() as conn, conn.begin():
        with pytest.raises(KeyError):
            fast.run(conn, NEXT_SEQUENCE, {})
        with pytest.raises(ValueError, match="IN-list"):
            fast.run(conn, BY_EVENT_IDS, {"ids": ["e1"]})


def test_inserts_name_only_the_columns_given_as_sqlalchemy_does(engine: sa.Engine) -> None:
    """Leaving out a column with a server default keeps the default (not NULL)."""
    with engine.connect() as conn, conn.begin():
        row = {"region": "r", "key": "g", "name": "g", "arn": "arn:g", "created_us": 1, "body": "{}"}
        gid = fast.run(conn, G.insert().returning(G.c.id), row).scalar_one()
        got = fast.run(conn, G.select().where(G.c.id == _b("gid")), {"gid": gid}).one()
    assert (got.last_version, got.last_created_us, got.policy) == (0, 0, None)
