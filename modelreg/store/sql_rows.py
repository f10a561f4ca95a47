"""Database rows to the Store's row dataclasses (the dataclass fields are the column names), and
back."""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from typing import Any, TypeVar

from modelreg.store.base import NamedResource

T = TypeVar("T")

#: JSON text of a column: compact, and not ASCII-escaped
dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

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


def resource_values(resource: NamedResource) -> dict[str, Any]:
    """The ``named_resources`` columns of ``resource`` (all but its id)."""
    return {
        "region": resource.region,
        "kind": resource.kind,
        "name": resource.name,
        "arn": resource.arn,
        "created_us": resource.created_us,
        "body": dumps(resource.body),
    }
