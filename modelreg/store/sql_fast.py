"""The store's hot statements, run on the driver's own cursor (sqlite3 or psycopg).

SQLAlchemy compiles each statement once per dialect (its SQL, its parameters and the type
conversions of its parameters and columns); ``run`` then executes it on the transaction's own
driver connection and skips the rest of SQLAlchemy's per-execution work: on SQLite about 15 of
the 20 us a small statement costs, a third of a registration's handler CPU; on PostgreSQL about
55 of 110 us (see docs/performance.md). Results offer what the store uses of SQLAlchemy's:
``first``, ``one``, ``scalar``, ``scalar_one``, iteration, ``rowcount``, rows with attributes and
``_mapping``. A driver error is raised as SQLAlchemy raises it (``IntegrityError`` for a unique-key
collision, ...), and a PostgreSQL connection that dropped is invalidated, as SQLAlchemy does.

Only for statements built once (module constants and cached builders): the compiled form is kept
per dialect, statement object and set of parameter names (which, as in SQLAlchemy, decide the
columns of an INSERT). Statements with "expanding" (IN-list) parameters are refused.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.base import Executable

Processor = Callable[[Any], Any] | None


@dataclass
class _Compiled:
    sql: str
    #: per parameter (in order, for a positional driver): its name, whether the caller must give
    #: it, its value when not given (a literal in the statement), its conversion
    params: list[tuple[str, bool, Any, Processor]]
    #: sqlite3 takes a list of values, psycopg a dict of them by name
    positional: bool
    #: per result column, its conversion; empty when no column needs one
    result_processors: list[Processor]
    #: the namedtuple of result rows, made on the first execution that returns rows (two threads
    #: racing to make it make the same type)
    row_type: Any = None


_COMPILED: dict[tuple[str, int, tuple[str, ...]], tuple[Executable, _Compiled]] = {}


def _compile(dialect: Dialect, stmt: Executable, keys: tuple[str, ...]) -> _Compiled:
    found = _COMPILED.get((dialect.name, id(stmt), keys))
    if found is not None:
        return found[1]
    compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
    binds = compiled.binds
    if any(b.expanding or b.literal_execute for b in binds.values()):
        raise ValueError(
            f"sql_fast cannot run statements with IN-list or literal-execute parameters: {compiled.string}"
        )
    positional = compiled.positiontup is not None
    params = []
    for name in compiled.positiontup if positional else binds:
        bind = binds[name]
        default = None if bind.required else bind.effective_value
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        params.append((name, bind.required, default, process))
    columns = getattr(stmt, "exported_columns", ())
    processors = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
    if all(p is None for p in processors):
        processors = []
    entry = _Compiled(compiled.string, params, positional, processors)
    _COMPILED[(dialect.name, id(stmt), keys)] = (stmt, entry)  # holding it keeps its id from reuse
    return entry


def _values(compiled: _Compiled, given: Mapping[str, Any]) -> list[Any] | dict[str, Any]:
    values = []
    for name, required, default, process in compiled.params:
        value = given[name] if required else given.get(name, default)
        values.append(process(value) if process is not None and value is not None else value)
    if compiled.positional:
        return values
    return {p[0]: value for p, value in zip(compiled.params, values, strict=True)}


def _raise_as_sqlalchemy(conn: Connection, sql: str, values: Any, exc: Exception) -> NoReturn:
    """Raise the driver's ``exc`` as SQLAlchemy would have, invalidating a dropped connection."""
    dialect = conn.dialect
    dbapi_error = dialect.loaded_dbapi.Error
    if not isinstance(exc, dbapi_error):
        raise exc
    dropped = dialect.is_disconnect(exc, conn.connection.dbapi_connection, None)
    if dropped:
        conn.invalidate(exc)
    raise sa.exc.DBAPIError.instance(
        sql, values, exc, dbapi_error, connection_invalidated=dropped, dialect=dialect
    ) from exc


def _row_type(description: Sequence[Any]) -> Any:
    base = namedtuple("Row", [d[0] for d in description], rename=True)  # type: ignore[misc]

    class Row(base):  # type: ignore[valid-type, misc]
        __slots__ = ()

        @property
        def _mapping(self) -> dict[str, Any]:
            return dict(zip(self._fields, self, strict=True))

    return Row


class Rows:
    """The result of one execution (see the module docstring for what it offers)."""

    def __init__(self, cursor: Any, compiled: _Compiled) -> None:
        self._cursor = cursor
        self._compiled = compiled
        self.rowcount = cursor.rowcount

    def _row(self, raw: tuple[Any, ...]) -> Any:
        compiled = self._compiled
        if compiled.row_type is None:
            compiled.row_type = _row_type(self._cursor.description)
        processors = compiled.result_processors
        if processors:
            raw = tuple(p(v) if p is not None else v for p, v in zip(processors, raw, strict=False))
        return compiled.row_type._make(raw)

    def first(self) -> Any:
        raw = self._cursor.fetchone()
        return None if raw is None else self._row(raw)

    def one(self) -> Any:
        row = self.first()
        if row is None:
            raise sa.exc.NoResultFound("No row was found when one was required")
        return row

    def scalar(self) -> Any:
        row = self.first()
        return None if row is None else row[0]

    def scalar_one(self) -> Any:
        return self.one()[0]

    def __iter__(self) -> Iterator[Any]:
        for raw in self._cursor.fetchall():
            yield self._row(raw)


def run(conn: Connection, stmt: Executable, params: Mapping[str, Any] | None = None) -> Rows:
    """Execute ``stmt`` with ``params`` in ``conn``'s transaction."""
    given = params or {}
    compiled = _compile(conn.dialect, stmt, tuple(sorted(given)))
    values = _values(compiled, given)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(compiled.sql, values)
    except Exception as exc:
        _raise_as_sqlalchemy(conn, compiled.sql, values, exc)
    return Rows(cursor, compiled)


def run_many(conn: Connection, stmt: Executable, rows: Sequence[Mapping[str, Any]]) -> None:
    """Execute ``stmt`` once per parameter set in ``rows`` (no result)."""
    if not rows:
        return
    compiled = _compile(conn.dialect, stmt, tuple(sorted(rows[0])))
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(compiled.sql, [_values(compiled, row) for row in rows])
    except Exception as exc:
        _raise_as_sqlalchemy(conn, compiled.sql, None, exc)
