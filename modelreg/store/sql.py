"""The one Store implementation: SQLAlchemy Core on SQLite (embedded default) or PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from modelreg.json_text import dumps
from modelreg.store import schema
from modelreg.store import sql_fast as fast
from modelreg.store.base import DuplicateKey, StoreBusy
from modelreg.store.pg_statistics import StatisticsKeeper
from modelreg.store.rows import Cursor, GroupQuery, GroupRow, PackageQuery, PackageRow, TakenVersion
from modelreg.store.sql_appends import Appends
from modelreg.store.sql_endpoints import EndpointQueries
from modelreg.store.sql_events import EventQueries
from modelreg.store.sql_ledger import LedgerQueries
from modelreg.store.sql_lineage import LineageQueries
from modelreg.store.sql_metrics import MetricsQueries
from modelreg.store.sql_rows import cursor_params, from_row, keyset
from modelreg.store.sql_tags import TagQueries
from modelreg.store.sqlite_checkpoints import BACKSTOP_FRAMES, TARGET_FRAMES, Checkpointer

G = schema.model_package_groups
P = schema.model_packages
R = schema.named_resources

_b = sa.bindparam

# Statements on the hot paths are built once: building a SQLAlchemy statement costs several times
# more than executing a cached one.
_GET_GROUP = G.select().where(G.c.region == _b("region"), G.c.key == _b("key"))
_INSERT_GROUP = G.insert().returning(G.c.id)
_UPDATE_GROUP = G.update().where(G.c.id == _b("gid")).values(body=_b("body"), policy=_b("policy"))
_NEXT_VERSION_OF = (
    G.update()
    .where(G.c.region == _b("in_region"), G.c.key == _b("group_key"))
    .values(
        last_version=G.c.last_version + 1,
        last_created_us=sa.case(
            (G.c.last_created_us < _b("now_us"), _b("now_us")), else_=G.c.last_created_us + 1
        ),
    )
    .returning(*G.columns)
)
# PostgreSQL's: the same, with the body of the group's named resource of ``resource_kind`` and an
# id for the new package from the sequence of the serial column (the id an insert would have
# taken, so rows inserted with and without one never collide). Not for SQLite, whose RETURNING
# names the updated table's columns unqualified, which a subquery would take for its own.
_NEXT_VERSION_RESERVING_ID = _NEXT_VERSION_OF.returning(
    sa.select(R.c.body)
    .where(R.c.region == G.c.region, R.c.kind == _b("resource_kind"), R.c.name == G.c.key)
    .correlate(G)
    .scalar_subquery()
    .label("resource_body"),
    sa.literal_column(f"nextval('{P.name}_id_seq')", sa.Integer).label("package_id"),
)
_INSERT_PACKAGE = P.insert().returning(P.c.id)
_GET_PACKAGE_BY_ARN = P.select().where(P.c.arn == _b("arn"))
# the group's named resource of a kind, for a package row of the same statement
_GROUP_RESOURCE_BODY = (
    sa.select(R.c.body)
    .select_from(G.join(R, sa.and_(R.c.region == G.c.region, R.c.name == G.c.key)))
    .where(G.c.id == P.c.group_id, R.c.kind == _b("resource_kind"))
    .correlate(P)
    .scalar_subquery()
)
_GET_PACKAGE_AND_GROUP_RESOURCE = sa.select(*P.columns, _GROUP_RESOURCE_BODY.label("resource_body")).where(
    P.c.arn == _b("arn")
)
# PostgreSQL locks the rows of every table the statement reads unless told which
_LOCK_PACKAGE_AND_READ_GROUP_RESOURCE = _GET_PACKAGE_AND_GROUP_RESOURCE.with_for_update(of=P)
_GET_PACKAGE_BY_KEY = P.select().where(P.c.region == _b("region"), P.c.key == _b("key"))
_GET_PACKAGE_VERSION = P.select().where(P.c.group_id == _b("gid"), P.c.version == _b("version"))


def _region_by_id(table: sa.Table) -> sa.Select[Any]:
    """A batch of a whole-region scan, by primary key. Given ``region = ?`` a planner without
    statistics (SQLite, always) picks the region's index and sorts every row of the region by id
    for each batch: a scan of n rows per 500 (Search over 200,000 versions took 40 s).
    ``region || ''`` hides that index."""
    return (
        table.select()
        .where(table.c.region.concat(sa.literal_column("''")) == _b("region"), table.c.id > _b("last"))
        .order_by(table.c.id)
        .limit(_b("limit"))
    )


_ITER_GROUPS = _region_by_id(G)
_ITER_PACKAGES = _region_by_id(P)
_ITER_GROUP_PACKAGES = (
    P.select()
    .where(P.c.group_id == _b("gid"), P.c.version > _b("last"))
    .order_by(P.c.version)
    .limit(_b("limit"))
)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@cache
def _locking(stmt: sa.Select[Any]) -> sa.Select[Any]:
    return stmt.with_for_update()


def _group_order(by_name: bool) -> list[sa.ColumnElement[Any]]:
    return [G.c.name, G.c.id] if by_name else [G.c.created_us, G.c.id]


def _package_order(by_name: bool) -> list[sa.ColumnElement[Any]]:
    return [P.c.name, P.c.id] if by_name else [P.c.created_us, P.c.id]


@cache
def _list_groups_stmt(
    by_name: bool, descending: bool, paged: bool, name_contains: bool, after: bool, before: bool
) -> sa.Select[Any]:
    where, order = keyset(_group_order(by_name), paged, descending)
    stmt = G.select().where(G.c.region == _b("region"), *where)
    if name_contains:
        stmt = stmt.where(G.c.key.like(_b("pattern"), escape="\\"))
    if after:
        stmt = stmt.where(G.c.created_us > _b("created_after"))
    if before:
        stmt = stmt.where(G.c.created_us < _b("created_before"))
    return stmt.order_by(*order).limit(_b("limit"))


@cache
def _list_packages_stmt(
    by_name: bool,
    descending: bool,
    paged: bool,
    scope: str,
    status: bool,
    name_contains: bool,
    after: bool,
    before: bool,
) -> sa.Select[Any]:
    where, order = keyset(_package_order(by_name), paged, descending)
    stmt = P.select().where(*where)
    # A group's packages are in its region. A group's listing by status and creation time (latest
    # approved) must not test the region: PostgreSQL, planning a statement psycopg prepared for any
    # parameters, then preferred the group's index by region and creation time and filtered the
    # status, reading every version of a group whose latest approved one is old. The other
    # listings read an index that starts with the region.
    if not (scope in ("group", "group by name") and status and not by_name):
        stmt = stmt.where(P.c.region == _b("region"))
    if scope == "group":
        stmt = stmt.where(P.c.group_id == _b("group_id"))
    elif scope == "group by name":
        group_id = sa.select(G.c.id).where(G.c.region == _b("group_region"), G.c.key == _b("group_key"))
        stmt = stmt.where(P.c.group_id == group_id.scalar_subquery())
    elif scope == "versioned":
        stmt = stmt.where(P.c.group_id.is_not(None))
    elif scope == "unversioned":
        stmt = stmt.where(P.c.group_id.is_(None))
    if status:
        stmt = stmt.where(P.c.approval_status == _b("status"))
    if name_contains:
        stmt = stmt.where(sa.func.lower(P.c.name).like(_b("pattern"), escape="\\"))
    if after:
        stmt = stmt.where(P.c.created_us > _b("created_after"))
    if before:
        stmt = stmt.where(P.c.created_us < _b("created_before"))
    return stmt.order_by(*order).limit(_b("limit"))


def _package_values(row: PackageRow) -> dict[str, Any]:
    """The ``model_packages`` columns of ``row`` but its id."""
    return {
        "region": row.region,
        "group_id": row.group_id,
        "version": row.version,
        "key": row.key,
        "name": row.name,
        "arn": row.arn,
        "approval_status": row.approval_status,
        "created_us": row.created_us,
        "body": dumps(row.body),
        "last_event_sequence": row.last_event_sequence,
    }


def _resource_body(row: Any) -> dict[str, Any] | None:
    """The decoded ``resource_body`` column of a result row (a group's named resource; None for
    none)."""
    body = row.resource_body
    return None if body is None else json.loads(body)


class SqlTransaction(
    TagQueries, LedgerQueries, EventQueries, EndpointQueries, MetricsQueries, LineageQueries
):
    """``Transaction`` over one SQLAlchemy connection (see ``modelreg.store.base``)."""

    def __init__(self, conn: Connection, *, lock_rows: bool) -> None:
        self._conn = conn
        self._lock_rows = lock_rows  # SELECT ... FOR UPDATE is PostgreSQL only
        # a new version's package id comes from a sequence on PostgreSQL, with its number
        self._reserve_ids = conn.dialect.name == "postgresql"
        self._appends = Appends(conn)

    @property
    def conn(self) -> Connection:
        """The connection, for a statement: the appends held back are sent first, so that every
        statement sees them (``modelreg.store.sql_appends``)."""
        self._appends.flush()
        return self._conn

    def flush(self) -> None:
        """Send the appends held back; the store calls it before COMMIT."""
        self._appends.flush()

    def _one(self, stmt: sa.Select[Any], params: dict[str, Any], for_update: bool) -> Any:
        return fast.run(self.conn, _locking(stmt) if for_update and self._lock_rows else stmt, params).first()

    # groups -------------------------------------------------------------------------------
    def insert_group(self, row: GroupRow) -> GroupRow:
        try:
            row.id = self.conn.execute(
                _INSERT_GROUP,
                {
                    "region": row.region,
                    "key": row.key,
                    "name": row.name,
                    "arn": row.arn,
                    "created_us": row.created_us,
                    "body": dumps(row.body),
                    "policy": row.policy,
                    "last_version": 0,
                    "last_created_us": 0,
                },
            ).scalar_one()
        except sa.exc.IntegrityError as exc:
            raise DuplicateKey(row.name) from exc
        return row

    def get_group(self, region: str, name: str, *, for_update: bool = False) -> GroupRow | None:
        row = self._one(_GET_GROUP, {"region": region, "key": name.lower()}, for_update)
        return from_row(GroupRow, row) if row else None

    def update_group(self, row: GroupRow) -> None:
        self.conn.execute(_UPDATE_GROUP, {"gid": row.id, "body": dumps(row.body), "policy": row.policy})

    def delete_group(self, group_id: int) -> None:
        self.conn.execute(G.delete().where(G.c.id == group_id))

    def group_has_packages(self, group_id: int) -> bool:
        return (
            self.conn.execute(sa.select(P.c.id).where(P.c.group_id == group_id).limit(1)).first() is not None
        )

    def list_groups(self, query: GroupQuery, after: Cursor | None, limit: int) -> list[GroupRow]:
        stmt = _list_groups_stmt(
            query.sort_by == "Name",
            query.descending,
            after is not None,
            bool(query.name_contains),
            query.created_after_us is not None,
            query.created_before_us is not None,
        )
        params = {
            "region": query.region,
            "limit": limit,
            "created_after": query.created_after_us,
            "created_before": query.created_before_us,
            **cursor_params(after, _group_order(query.sort_by == "Name")),
        }
        if query.name_contains:
            params["pattern"] = f"%{_like_escape(query.name_contains.lower())}%"
        return [from_row(GroupRow, r) for r in fast.run(self.conn, stmt, params)]

    def group_cursor(self, row: GroupRow, query: GroupQuery) -> Cursor:
        return [getattr(row, c.key) for c in _group_order(query.sort_by == "Name")]

    def iter_groups(self, region: str, batch: int = 500) -> Iterator[GroupRow]:
        last = 0
        while True:
            rows = self.conn.execute(_ITER_GROUPS, {"region": region, "last": last, "limit": batch}).all()
            yield from (from_row(GroupRow, r) for r in rows)
            if len(rows) < batch:
                return
            last = rows[-1].id

    # packages -----------------------------------------------------------------------------
    def next_version_of(
        self, region: str, name: str, now_us: int, *, resource_kind: str | None = None
    ) -> TakenVersion | None:
        # One UPDATE: it takes the row lock (PostgreSQL) or runs under the database write lock
        # (SQLite, BEGIN IMMEDIATE) and holds it until commit, so numbers and times never interleave.
        params = {"in_region": region, "group_key": name.lower(), "now_us": now_us}
        if self._reserve_ids:  # one round trip
            found = fast.run(
                self.conn, _NEXT_VERSION_RESERVING_ID, {**params, "resource_kind": resource_kind}
            )
            row = found.first()
            if row is None:
                return None
            return TakenVersion(from_row(GroupRow, row), _resource_body(row), row.package_id)
        row = fast.run(self.conn, _NEXT_VERSION_OF, params).first()
        if row is None:
            return None
        group = from_row(GroupRow, row)
        resource = None if resource_kind is None else self.get_resource(region, resource_kind, group.key)
        return TakenVersion(group, None if resource is None else resource.body, None)

    def insert_package(self, row: PackageRow) -> PackageRow:
        if row.id is not None:
            self._appends.add(P, {"id": row.id, **_package_values(row)})
            return row
        try:
            row.id = fast.run(self.conn, _INSERT_PACKAGE, _package_values(row)).scalar_one()
        except sa.exc.IntegrityError as exc:
            raise DuplicateKey(row.arn) from exc
        return row

    def _one_package(
        self, stmt: sa.Select[Any], params: dict[str, Any], for_update: bool
    ) -> PackageRow | None:
        row = self._one(stmt, params, for_update)
        return from_row(PackageRow, row) if row else None

    def get_package_by_arn(self, arn: str, *, for_update: bool = False) -> PackageRow | None:
        return self._one_package(_GET_PACKAGE_BY_ARN, {"arn": arn}, for_update)

    def get_package_and_group_resource(
        self, arn: str, resource_kind: str, *, for_update: bool = False
    ) -> tuple[PackageRow, dict[str, Any] | None] | None:
        locked = for_update and self._lock_rows
        stmt = _LOCK_PACKAGE_AND_READ_GROUP_RESOURCE if locked else _GET_PACKAGE_AND_GROUP_RESOURCE
        found = fast.run(self.conn, stmt, {"arn": arn, "resource_kind": resource_kind}).first()
        if found is None:
            return None
        return from_row(PackageRow, found), _resource_body(found)

    def get_package_by_name(self, region: str, name: str, *, for_update: bool = False) -> PackageRow | None:
        return self._one_package(_GET_PACKAGE_BY_KEY, {"region": region, "key": name.lower()}, for_update)

    def get_package_version(
        self, group_id: int, version: int, *, for_update: bool = False
    ) -> PackageRow | None:
        return self._one_package(_GET_PACKAGE_VERSION, {"gid": group_id, "version": version}, for_update)

    def update_package(self, row: PackageRow) -> None:
        assert row.id is not None
        values = {
            "approval_status": row.approval_status,
            "body": dumps(row.body),
            "last_event_sequence": row.last_event_sequence,
        }
        self._appends.update(P, row.id, values)

    def delete_package(self, package_id: int) -> None:
        self.conn.execute(P.delete().where(P.c.id == package_id))

    def list_packages(self, query: PackageQuery, after: Cursor | None, limit: int) -> list[PackageRow]:
        if query.group_id is not None:
            scope = "group"
        elif query.group_name is not None:
            scope = "group by name"
        else:
            scope = {True: "versioned", False: "unversioned", None: "all"}[query.versioned]
        stmt = _list_packages_stmt(
            query.sort_by == "Name",
            query.descending,
            after is not None,
            scope,
            query.approval_status is not None,
            bool(query.name_contains),
            query.created_after_us is not None,
            query.created_before_us is not None,
        )
        group_region, group_name = query.group_name or (None, "")
        params = {
            "region": query.region,
            "limit": limit,
            "group_id": query.group_id,
            "group_region": group_region,
            "group_key": group_name.lower(),
            "status": query.approval_status,
            "created_after": query.created_after_us,
            "created_before": query.created_before_us,
            **cursor_params(after, _package_order(query.sort_by == "Name")),
        }
        if query.name_contains:
            params["pattern"] = f"%{_like_escape(query.name_contains.lower())}%"
        return [from_row(PackageRow, r) for r in fast.run(self.conn, stmt, params)]

    def package_cursor(self, row: PackageRow, query: PackageQuery) -> Cursor:
        return [getattr(row, c.key) for c in _package_order(query.sort_by == "Name")]

    def iter_packages(
        self, region: str, group_id: int | None = None, batch: int = 500
    ) -> Iterator[PackageRow]:
        if group_id is not None:  # by version, along the group's (group_id, version) index
            stmt, params, key = _ITER_GROUP_PACKAGES, {"gid": group_id}, "version"
        else:
            stmt, params, key = _ITER_PACKAGES, {"region": region}, "id"
        last = 0
        while True:
            rows = self.conn.execute(stmt, {**params, "last": last, "limit": batch}).all()
            yield from (from_row(PackageRow, r) for r in rows)
            if len(rows) < batch:
                return
            last = getattr(rows[-1], key)


@contextmanager
def _transaction(conn: Connection, *, lock_rows: bool) -> Iterator[SqlTransaction]:
    """A ``SqlTransaction`` on ``conn``; its held-back appends are sent when the block ends cleanly
    (before the caller's COMMIT)."""
    tx = SqlTransaction(conn, lock_rows=lock_rows)
    yield tx
    tx.flush()


@contextmanager
def _kept_transaction(conn: Connection) -> Iterator[SqlTransaction]:
    """A SQLite transaction on a connection the store keeps between transactions (the writer, a
    kept reader); one left in a transaction (its BEGIN, COMMIT or ROLLBACK failed) is discarded,
    and the store opens a fresh one next time."""
    try:
        with conn.begin(), _transaction(conn, lock_rows=False) as tx:
            yield tx
    except BaseException:
        # after a failed COMMIT SQLAlchemy has let go of the transaction, but SQLite may still be
        # in it: closing would return the connection to the pool mid-transaction
        raw = None if conn.invalidated else conn.connection.dbapi_connection
        if conn.in_transaction() or (raw is not None and raw.in_transaction):
            conn.invalidate()
        raise


class SqlStore:
    """A ``Store`` on one database URL. SQLite runs in WAL mode with foreign keys and a busy
    timeout; its write transactions start with ``BEGIN IMMEDIATE`` and are serialised in-process,
    so writers queue instead of failing with "database is locked". Its checkpoints run in a thread
    of their own, about every ``checkpoint_frames`` WAL pages (``sqlite_checkpoints``). On
    PostgreSQL a thread keeps the planner's statistics of modelreg's tables current as writes
    change them (``pg_statistics``)."""

    def __init__(
        self, url: str, *, engine: Engine | None = None, checkpoint_frames: int = TARGET_FRAMES
    ) -> None:
        self.url = url
        self._checkpoint_frames = checkpoint_frames
        self.engine = engine or create_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self.local = self.is_sqlite
        self._write_lock = threading.Lock() if self.is_sqlite else None
        # SQLite writes take turns under the lock: they share one connection rather than each
        # checking one out of the pool (made on first use, closed by ``close``)
        self._writer: Connection | None = None
        # SQLite reads with ``keep_connection`` (the event loop's): a connection per thread, kept;
        # checking one out of the pool and wrapping it cost half of an empty read
        self._kept_readers: dict[int, Connection] = {}
        self._commit_listeners: list[Callable[[], None]] = []
        self._checkpointer: Checkpointer | None = None  # SQLite: started by the first write
        self._statistics: StatisticsKeeper | None = None  # PostgreSQL: started by the first write
        self._statistics_lock = threading.Lock()

    @contextmanager
    def read(self, *, keep_connection: bool = False) -> Iterator[SqlTransaction]:
        kept = self._kept_reader() if keep_connection and self.is_sqlite else None
        if kept is not None:
            with _kept_transaction(kept) as tx:
                yield tx
        elif self.is_sqlite:  # one snapshot for every statement of the read
            with self.engine.connect() as conn, conn.begin(), _transaction(conn, lock_rows=False) as tx:
                yield tx
        else:  # READ COMMITTED gives each statement its own snapshot anyway: skip BEGIN and COMMIT
            with (
                self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
                _transaction(conn, lock_rows=True) as tx,
            ):
                yield tx

    def _kept_reader(self) -> Connection | None:
        """The calling thread's kept read connection (made on first use); None while it is in a
        transaction already (a nested read takes one from the pool)."""
        thread = threading.get_ident()
        conn = self._kept_readers.get(thread)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._kept_readers[thread] = self.engine.connect()
        return None if conn.in_transaction() else conn

    @contextmanager
    def write(self, *, timeout: float | None = None) -> Iterator[SqlTransaction]:
        if self._write_lock is None:
            with self.engine.connect() as conn, conn.begin(), _transaction(conn, lock_rows=True) as tx:
                yield tx
            self._statistics_keeper().committed()
        else:
            if not self._write_lock.acquire(timeout=-1 if timeout is None else timeout):
                raise StoreBusy()
            try:
                if self._writer is None or self._writer.closed or self._writer.invalidated:
                    self._writer = self.engine.connect().execution_options(sqlite_write=True)
                if self._checkpointer is not None and self._checkpointer.catch_up_due:
                    self._checkpointer.catch_up(self._writer.connection.dbapi_connection)
                with _kept_transaction(self._writer) as tx:
                    yield tx
                if self._checkpointer is None:
                    self._checkpointer = Checkpointer(self.engine, self._checkpoint_frames)
                self._checkpointer.committed()
            finally:
                self._write_lock.release()
        for listener in self._commit_listeners:
            listener()

    def _statistics_keeper(self) -> StatisticsKeeper:
        with self._statistics_lock:
            if self._statistics is None:
                self._statistics = StatisticsKeeper(self.engine)
            return self._statistics

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every write transaction that commits (in the committing thread)."""
        self._commit_listeners.append(listener)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        if self._statistics is not None:
            self._statistics.close()
        if self._writer is not None:
            self._writer.close()
        for conn in list(self._kept_readers.values()):
            conn.close()
        self._kept_readers.clear()
        self.engine.dispose()


def create_engine(url: str) -> Engine:
    """An engine with the connection settings modelreg relies on for each dialect."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=False)

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives a crash of the process (kill -9); only an OS
            # crash or power loss may lose the last transactions. MODELREG_SQLITE_SYNCHRONOUS=FULL
            # trades speed for that too.
            cur.execute(f"PRAGMA synchronous={_sqlite_synchronous()}")
            # Checkpoints run in a thread of their own (sqlite_checkpoints); SQLite's own only if
            # that thread falls far behind
            cur.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_FRAMES}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("sqlite_write", False)
            # on the driver's connection: through exec_driver_sql, BEGIN cost a tenth of a small
            # read and 4% of a registration
            conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")  # type: ignore[union-attr]

        return engine
    # No pre-ping: it costs a round trip per checkout (two per write). A connection that died with
    # the server fails its request once (a 500, which botocore retries) and is then replaced.
    return sa.create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=False, pool_recycle=3600)


def _sqlite_synchronous() -> str:
    from modelreg.config import env

    value = (env("SQLITE_SYNCHRONOUS", "NORMAL") or "NORMAL").upper()
    return value if value in {"OFF", "NORMAL", "FULL", "EXTRA"} else "NORMAL"
