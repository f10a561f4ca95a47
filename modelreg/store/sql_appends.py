"""Writes a transaction holds back and sends together: appends, rows whose insert returns nothing the
caller needs (history entries, outbox events, client tokens, the lineage backlog, metrics files to
read, a new version whose id was reserved), and updates of rows by id whose statement returns
nothing (a package's status and body).

On PostgreSQL every statement is a round trip that costs the server about as much CPU as the
work it asks for, and a registration ended with four such inserts. ``Appends`` keeps them until
the transaction runs its next statement or commits, and then sends them: on PostgreSQL as one
statement (a multi-row INSERT per table and an UPDATE per row, all but one in data-modifying
``WITH`` clauses), on SQLite one by one, as before. A transaction therefore reads what it wrote,
and nothing is written unless it commits.

An append that collides with a unique key fails when it is sent; ``flush`` raises that as
``DuplicateKey`` when the table names its key as a duplicate the caller may expect (a client token
taken by a concurrent request), else as SQLAlchemy's ``IntegrityError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelreg.store import schema
from modelreg.store import sql_fast as fast
from modelreg.store.base import DuplicateKey

#: rows per combined statement: a registration's rows (its package, metrics files, history,
#: backlog entry, event and client token) and PutEvents' 10 events fit in one
_PER_STATEMENT = 12
#: tables whose unique-key collision is ``DuplicateKey`` for the caller, and the member naming the key
_DUPLICATE_KEY_MEMBER = {schema.client_tokens.name: "token"}

_INSERT, _UPDATE = "insert", "update"

#: per part of a combined statement: its kind (insert or update), its table, the columns it names
#: and how many rows it gets (an update gets one)
Shape = tuple[tuple[str, str, tuple[str, ...], int], ...]


@cache
def _insert(table_name: str) -> sa.Insert:
    return schema.metadata.tables[table_name].insert()


def _bind(table: sa.Table, n: int, column: str) -> sa.BindParameter[Any]:
    return sa.bindparam(f"a{n}_{column}", type_=table.c[column].type)


@cache
def _combined(shape: Shape) -> sa.Insert | sa.Update:
    """One statement that writes the rows of ``shape``: a multi-row INSERT per table and an UPDATE
    per updated row (by its ``id``), all but the last in a ``WITH`` clause. The parameters of the
    n-th row are named ``a<n>_<column>``.

    PostgreSQL runs the parts of such a statement in no promised order, and none of them sees the
    rows another writes. So a table's new rows share one INSERT, whose VALUES are numbered in the
    order given (history is read back in that order), and an update must not be of a row inserted
    in the same statement (``Appends.update`` says so)."""
    parts: list[sa.Insert | sa.Update] = []
    n = 0
    for kind, table_name, columns, count in shape:
        table = schema.metadata.tables[table_name]
        if kind == _UPDATE:
            values = {c: _bind(table, n, c) for c in columns if c != "id"}
            parts.append(table.update().where(table.c.id == _bind(table, n, "id")).values(values))
            n += 1
            continue
        rows = []
        for _ in range(count):
            rows.append({c: _bind(table, n, c) for c in columns})
            n += 1
        parts.append(table.insert().values(rows))
    *first, last = parts
    return last.add_cte(*(part.cte(f"append_{i}") for i, part in enumerate(first))) if first else last


class Appends:
    """The writes of one transaction not sent yet (see the module docstring)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._combine = conn.dialect.name == "postgresql"
        #: (kind, table name, values); an update's values hold the row's ``id``
        self._rows: list[tuple[str, str, dict[str, Any]]] = []

    def add(self, table: sa.Table, values: dict[str, Any]) -> None:
        """Insert ``values`` into ``table`` with the transaction's next statement or its commit.
        Every row of a table names the same columns (they share one INSERT)."""
        self._rows.append((_INSERT, table.name, values))

    def update(self, table: sa.Table, row_id: int, values: dict[str, Any]) -> None:
        """Set ``values`` on the row of ``table`` whose ``id`` is ``row_id`` with the transaction's
        next statement or its commit. An update of a row not sent yet is merged into what is held
        for it: into its insert (a row inserted with its ``id`` given), or into its first update
        (one statement can neither update a row it inserts nor update a row twice)."""
        for _kind, table_name, held in self._rows:
            if table_name == table.name and held.get("id") == row_id:
                held.update(values)
                return
        self._rows.append((_UPDATE, table.name, {"id": row_id, **values}))

    def pending(self, table: sa.Table) -> Iterator[dict[str, Any]]:
        """The values of the rows to insert into ``table`` not sent yet."""
        return (values for kind, name, values in self._rows if kind == _INSERT and name == table.name)

    def flush(self) -> None:
        """Send every pending write (nothing when there is none)."""
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        if not self._combine:
            for row in rows:
                self._send_one(row)
            return
        for start in range(0, len(rows), _PER_STATEMENT):
            chunk = rows[start : start + _PER_STATEMENT]
            if len(chunk) == 1:
                self._send_one(chunk[0])
                continue
            self._send_combined(chunk)

    def _send_one(self, row: tuple[str, str, dict[str, Any]]) -> None:
        kind, table_name, values = row
        if kind == _INSERT:
            self._send([row], _insert(table_name), values)
        else:
            shape = ((kind, table_name, tuple(values), 1),)
            self._send([row], _combined(shape), {f"a0_{c}": v for c, v in values.items()})

    def _send_combined(self, chunk: list[tuple[str, str, dict[str, Any]]]) -> None:
        # the updates first, so that the statement ends with an INSERT; then each table's inserts
        updates = [(table_name, values) for kind, table_name, values in chunk if kind == _UPDATE]
        inserts: dict[str, list[dict[str, Any]]] = {}
        for kind, table_name, values in chunk:
            if kind == _INSERT:
                inserts.setdefault(table_name, []).append(values)
        shape = tuple((_UPDATE, name, tuple(values), 1) for name, values in updates) + tuple(
            (_INSERT, name, tuple(rows[0]), len(rows)) for name, rows in inserts.items()
        )
        ordered = [values for _, values in updates] + [values for rows in inserts.values() for values in rows]
        params = {f"a{n}_{c}": v for n, values in enumerate(ordered) for c, v in values.items()}
        self._send(chunk, _combined(shape), params)

    def _send(
        self, rows: list[tuple[str, str, dict[str, Any]]], stmt: sa.Insert | sa.Update, params: dict[str, Any]
    ) -> None:
        try:
            fast.run(self._conn, stmt, params)
        except sa.exc.IntegrityError as exc:
            duplicate = _duplicate_key(rows, exc)
            if duplicate is None:
                raise
            raise DuplicateKey(duplicate) from exc


def _duplicate_key(rows: list[tuple[str, str, dict[str, Any]]], exc: sa.exc.IntegrityError) -> str | None:
    """The key to report as ``DuplicateKey`` if ``exc`` is a collision the caller may expect."""
    # PostgreSQL names the table; on SQLite ``rows`` is the one statement that failed
    diagnosis = getattr(exc.orig, "diag", None)
    table_name = getattr(diagnosis, "table_name", None)
    for _kind, name, values in rows:
        member = _DUPLICATE_KEY_MEMBER.get(name)
        if member is not None and (table_name is None or table_name == name):
            return str(values[member])
    return None
