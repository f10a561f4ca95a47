"""Database rows to the Store's row dataclasses (the dataclass fields are the column names), and
back."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from functools import cache
from typing import Any, TypeVar

import sqlalchemy as sa

from modelreg.json_text import dumps
from modelreg.store.base import InvalidCursor
from modelreg.store.rows import Cursor

T = TypeVar("T")

#: columns that hold JSON text, decoded into the dataclass field of the same name
JSON_COLUMNS = frozenset({"body", "target"})


@cache
def _fields(cls: type) -> tuple[tuple[str, bool], ...]:
    return tuple((f.name, f.name in JSON_COLUMNS) for f in dataclasses.fields(cls))


def from_row(cls: type[T], row: Any) -> T:
    """``cls(**row)`` for the columns ``cls`` has, with JSON columns decoded."""
    mapping = row._mapping
    return cls(
        **{name: json.loads(mapping[name]) if is_json else mapping[name] for name, is_json in _fields(cls)}
    )


def column_values(row: Any, **more: Any) -> dict[str, Any]:
    """The columns of a row dataclass for an insert, the inverse of ``from_row``: every field but
    ``id``, JSON columns as text; ``more`` adds columns the dataclass does not carry."""
    values = {
        name: dumps(getattr(row, name)) if is_json else getattr(row, name)
        for name, is_json in _fields(type(row))
        if name != "id"
    }
    values.update(more)
    return values


def keyset(
    columns: Sequence[sa.ColumnElement[Any]], paged: bool, descending: bool
) -> tuple[list[sa.ColumnElement[bool]], list[sa.ColumnElement[Any]]]:
    """WHERE clause continuing after the cursor (bind parameters ``after_0``, ``after_1``, ...)
    and the ORDER BY for ``columns``."""
    where: list[sa.ColumnElement[bool]] = []
    if paged:
        left = sa.tuple_(*columns)
        right = sa.tuple_(*[sa.bindparam(f"after_{i}") for i in range(len(columns))])
        where.append(left < right if descending else left > right)
    order = [c.desc() if descending else c.asc() for c in columns]
    return where, order


def cursor_params(after: Cursor | None, columns: Sequence[sa.ColumnElement[Any]]) -> dict[str, Any]:
    """The bind parameters of ``keyset``'s cursor over ``columns``; ``InvalidCursor`` unless it
    has a value of each column's type for each column (cursors come back from clients)."""
    if after is None:
        return {}
    if len(after) != len(columns) or not all(_fits(v, c) for v, c in zip(after, columns, strict=True)):
        raise InvalidCursor()
    return {f"after_{i}": v for i, v in enumerate(after)}


def _fits(value: Any, column: sa.ColumnElement[Any]) -> bool:
    if isinstance(column.type, sa.Integer):
        return type(value) is int and -(2**63) <= value < 2**63
    if isinstance(column.type, sa.String):
        return isinstance(value, str)
    return False
