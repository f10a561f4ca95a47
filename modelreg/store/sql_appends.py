"""Appends a transaction holds back and sends together: rows whose insert returns nothing the
caller needs (history entries, outbox events, client tokens, the lineage backlog).

On PostgreSQL every statement is a round trip that costs the server about as much CPU as the
work it asks for, and a registration ended with four such inserts. ``Appends`` keeps them until
the transaction runs its next statement or commits, and then sends them: on PostgreSQL as one
statement (a multi-row INSERT per table, all but one in data-modifying ``WITH`` clauses), on SQLite
one by one, as before. A transaction therefore reads what it appended, and nothing is written
unless it commits.

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

#: rows per combined statement (PutEvents appends up to 10 events at once)
_PER_STATEMENT = 8
#: tables whose unique-key collision is ``DuplicateKey`` for the caller, and the member naming the key
_DUPLICATE_KEY_MEMBER = {schema.client_tokens.name: "token"}

#: per table, in the order of its first row: its name, its columns and how many rows it gets
Shape = tuple[tuple[str, tuple[str, ...], int], ...]


@cache
def _insert(table_name: str) -> sa.Insert:
    return schema.metadata.tables[table_name].insert()


@cache
def _combined(shape: Shape) -> sa.Insert:
    """One statement that inserts the rows of ``shape``: a multi-row INSERT per table, all but the
    last in a ``WITH`` clause. The parameters of the n-th row are named ``a<n>_<column>``.

    PostgreSQL runs the parts of such a statement in no promised order, so a table's rows share one
    INSERT, whose VALUES are numbered in the order given (history is read back in that order)."""
    inserts = []
    n = 0
    for table_name, columns, count in shape:
        table = schema.metadata.tables[table_name]
        rows = []
        for _ in range(count):
            rows.append({c: sa.bindparam(f"a{n}_{c}", type_=table.c[c].type) for c in columns})
            n += 1
        inserts.append(table.insert().values(rows))
    *first, last = inserts
    return last.add_cte(*(stmt.cte(f"append_{i}") for i, stmt in enumerate(first)))


class Appends:
    """The appends of one transaction not sent yet (see the module docstring)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._combine = conn.dialect.name == "postgresql"
        self._rows: list[tuple[str, dict[str, Any]]] = []

    def add(self, table: sa.Table, values: dict[str, Any]) -> None:
        """Insert ``values`` into ``table`` with the transaction's next statement or its commit.
        Every row of a table names the same columns (they share one INSERT)."""
        self._rows.append((table.name, values))

    def pending(self, table: sa.Table) -> Iterator[dict[str, Any]]:
        """The values of the rows for ``table`` not sent yet."""
        return (values for name, values in self._rows if name == table.name)

    def flush(self) -> None:
        """Send every pending append (nothing when there is none)."""
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        if not self._combine:
            for table_name, values in rows:
                self._send([(table_name, values)], _insert(table_name), values)
            return
        for start in range(0, len(rows), _PER_STATEMENT):
            chunk = rows[start : start + _PER_STATEMENT]
            if len(chunk) == 1:
                self._send(chunk, _insert(chunk[0][0]), chunk[0][1])
                continue
            by_table: dict[str, list[dict[str, Any]]] = {}
            for table_name, values in chunk:
                by_table.setdefault(table_name, []).append(values)
            shape = tuple((name, tuple(values[0]), len(values)) for name, values in by_table.items())
            ordered = [values for table_rows in by_table.values() for values in table_rows]
            params = {f"a{n}_{c}": v for n, values in enumerate(ordered) for c, v in values.items()}
            self._send(chunk, _combined(shape), params)

    def _send(self, rows: list[tuple[str, dict[str, Any]]], stmt: sa.Insert, params: dict[str, Any]) -> None:
        try:
            fast.run(self._conn, stmt, params)
        except sa.exc.IntegrityError as exc:
            duplicate = _duplicate_key(rows, exc)
            if duplicate is None:
                raise
            raise DuplicateKey(duplicate) from exc


def _duplicate_key(rows: list[tuple[str, dict[str, Any]]], exc: sa.exc.IntegrityError) -> str | None:
    """The key to report as ``DuplicateKey`` if ``exc`` is a collision the caller may expect."""
    # PostgreSQL names the table; on SQLite ``rows`` is the one statement that failed
    diagnosis = getattr(exc.orig, "diag", None)
    table_name = getattr(diagnosis, "table_name", None)
    for name, values in rows:
        member = _DUPLICATE_KEY_MEMBER.get(name)
        if member is not None and (table_name is None or table_name == name):
            return str(values[member])
    return None
