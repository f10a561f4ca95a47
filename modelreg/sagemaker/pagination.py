"""Opaque NextToken values bound to the query that produced them.

A token carries the keyset cursor of the last row returned and a digest of the other request
members: replaying it with a different query is a ValidationException, never a silently wrong page.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from modelreg import json_text
from modelreg.errors import ValidationException
from modelreg.store.base import InvalidCursor

Row = TypeVar("Row")

_IGNORED = {"NextToken", "MaxResults"}


def query_digest(params: dict[str, Any]) -> str:
    canonical = json.dumps(
        {k: v for k, v in params.items() if k not in _IGNORED}, sort_keys=True, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_token(cursor: Sequence[Any], params: dict[str, Any]) -> str:
    raw = json.dumps({"c": list(cursor), "q": query_digest(params)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def invalid_token() -> ValidationException:
    """The error for a NextToken this server did not issue (or that was changed)."""
    return ValidationException("Invalid NextToken: it was not issued by this server.")


def decode_token(token: str | None, params: dict[str, Any]) -> list[Any] | None:
    """The cursor inside ``token`` (None when there is no token); checks it belongs to this query."""
    if not token:
        return None
    try:
        data = json_text.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        cursor, digest = data["c"], data["q"]
        if not isinstance(cursor, list):
            raise TypeError
        if any(isinstance(value, str) and "\x00" in value for value in cursor):
            raise ValueError  # no key holds U+0000 (PostgreSQL cannot even compare with one)
    except (ValueError, KeyError, TypeError):
        raise invalid_token() from None
    if digest != query_digest(params):
        raise ValidationException(
            "Invalid NextToken: it was issued for a different query; "
            "send the same parameters as the first request."
        )
    return cursor


def decode_cursor(params: dict[str, Any], *shape: type) -> list[Any] | None:
    """``decode_token`` of the request's NextToken, whose cursor must hold one value of each type
    of ``shape``: a client can change a token, and a cursor that does not fit is a
    ValidationException, never a failed query."""
    cursor = decode_token(params.get("NextToken"), params)
    if cursor is not None and (
        len(cursor) != len(shape) or not all(type(v) is t for v, t in zip(cursor, shape, strict=True))
    ):
        raise invalid_token()
    return cursor


def decode_offset(params: dict[str, Any]) -> int:
    """The position a NextToken of an offset-paged listing continues from (0 without one)."""
    cursor = decode_cursor(params, int)
    if cursor is None:
        return 0
    if cursor[0] < 0:
        raise invalid_token()
    return cursor[0]


def page(
    params: dict[str, Any],
    fetch: Callable[[list[Any] | None, int], list[Row]],
    cursor_of: Callable[[Row], Sequence[Any]],
    default_limit: int = 10,
    shape: tuple[type, ...] | None = None,
) -> tuple[list[Row], str | None]:
    """One page of rows and the token of the next page (None on the last one). ``fetch`` gets the
    token's cursor: checked against ``shape`` (see ``decode_cursor``) when given, else by the
    store (``InvalidCursor``)."""
    limit = params.get("MaxResults") or default_limit
    cursor = decode_token(params.get("NextToken"), params) if shape is None else decode_cursor(params, *shape)
    try:
        rows = fetch(cursor, limit + 1)
    except InvalidCursor:
        raise invalid_token() from None
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_token(cursor_of(rows[-1]), params)
