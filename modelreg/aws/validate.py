"""Constraint checks from the botocore input shapes, answered in AWS's own words.

``validate_input(shape, params)`` walks the parsed JSON body of a request along the operation's
input shape. Wrong JSON types raise ``SerializationException`` at once (AWS deserializes before it
validates); constraint failures are collected in one pass and raised together as one
``ValidationException``::

    2 validation errors detected: Value 'x-' at 'modelPackageGroupName' failed to satisfy
    constraint: Member must satisfy regular expression pattern: ...; Value null at
    'inferenceSpecification.containers' failed to satisfy constraint: Member must not be null

Member paths use AWS's spelling: the member name with its first letter lower-cased, nested
members joined with ``.``, list elements as ``<list>.<1-based index>.member``. Maps follow what
AWS answers: when scalar keys or values break their constraints, one error names the map itself
and lists every constraint of the key (or value) shape, e.g. ``Value '{k=v}' at
'customerMetadataProperties' failed to satisfy constraint: Map value must satisfy constraint:
[Member must have length less than or equal to 256, ...]``; structure, list or map values of a
map are walked further with the path ``<map>.<key>``.

Patterns in the models are Java regular expressions matched against the whole string; they are
translated to Python once (``compile_pattern``), and a pattern that cannot be honoured is skipped
rather than allowed to break a request. The per-shape work (member tables, compiled patterns,
message texts) is built once per shape and cached, so a request only pays for the members it
sends plus the required ones.
"""

from __future__ import annotations

import binascii
import logging
import math
import threading
from datetime import datetime
from decimal import Decimal
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

from modelreg.aws.java_regex import compile_pattern
from modelreg.errors import SerializationException, ValidationException

__all__ = ["MAX_ERRORS", "compile_pattern", "prepare", "validate_input"]

log = logging.getLogger(__name__)

MAX_ERRORS = 10  # AWS lists at most this many failures in one message
MAX_REPR = 256  # longer list/map/structure values are cut here and end in '...'

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_OK: tuple[str, ...] = ()


# --------------------------------------------------------------------------- message texts


def _java_double(x: float) -> str:
    """``Double.toString`` as Java prints it: ``1.0``, ``0.25``, ``1.0E-5``, ``1.2345678E7``."""
    if not math.isfinite(x):
        return "NaN" if math.isnan(x) else "Infinity" if x > 0 else "-Infinity"
    if x == 0 or 1e-3 <= abs(x) < 1e7:
        text = repr(x)
        return text if "." in text else text + ".0"
    _, digits, exp = Decimal(repr(abs(x))).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    point = int(exp) + len(digits) - 1
    return f"{'-' if x < 0 else ''}{ds[0]}.{ds[1:] or '0'}E{point}"


def _java_text(v: object, budget: int) -> str:
    """Java's ``toString`` of a JSON value (``{k=v, ..}``, ``[a, b]``), each level cut near budget."""
    if isinstance(v, dict):
        items: Any = (f"{k}={_java_text(x, budget)}" for k, x in v.items())
        opening, closing = "{", "}"
    elif isinstance(v, list):
        items, opening, closing = (_java_text(x, budget) for x in v), "[", "]"
    elif isinstance(v, str):
        return v
    else:
        return _scalar_text(v)
    parts: list[str] = []
    size = 0
    for part in items:
        parts.append(part)
        size += len(part) + 2
        if size > budget:
            break
    return opening + ", ".join(parts) + closing


def _shown(value: object) -> str:
    """The value as AWS prints it: strings whole, containers Java-style and cut at MAX_REPR."""
    if isinstance(value, str):
        return value
    text = _java_text(value, MAX_REPR)
    return text if len(text) <= MAX_REPR else text[:MAX_REPR] + "..."


def _scalar_text(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "null" if v is None else _java_double(v) if isinstance(v, float) else str(v)


def _msg(shown: str | None, path: str, constraint: str) -> str:
    if shown is None:  # sensitive members: AWS leaves the value out
        return f"Value at '{path}' failed to satisfy constraint: {constraint}"
    return f"Value '{shown}' at '{path}' failed to satisfy constraint: {constraint}"


def _null(path: str) -> str:
    return f"Value null at '{path}' failed to satisfy constraint: Member must not be null"


def _add(errs: list[str], message: str) -> None:
    if len(errs) < MAX_ERRORS:
        errs.append(message)


def _token(value: object) -> str:
    if value is True:
        return "TRUE_VALUE"
    if value is False:
        return "FALSE_VALUE"
    if isinstance(value, int):
        return "NUMBER_VALUE"
    if isinstance(value, float):
        return "DECIMAL_VALUE"
    return "STRING_VALUE"


def _mismatch(value: object, target: str | None) -> SerializationException:
    """AWS's words for a JSON value of the wrong type (``target`` None: a container expected)."""
    if isinstance(value, dict):
        return SerializationException("Start of structure or map found where not expected")
    if isinstance(value, list):
        return SerializationException("Start of list found where not expected")
    if target is None:
        return SerializationException("Unexpected field type")
    return SerializationException(f"{_token(value)} can not be converted to {target}")


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


# --------------------------------------------------------------------------- compiled shapes


class _Node:
    """One compiled shape; ``check`` validates a value that is present (not None)."""

    __slots__ = ("sensitive",)
    scalar = False

    def __init__(self, shape: Shape) -> None:
        self.sensitive = bool(shape.metadata.get("sensitive"))

    def check(self, value: Any, path: str, errs: list[str]) -> None:
        raise NotImplementedError

    def failures(self, value: Any) -> tuple[str, ...]:
        """Scalars: the constraints ``value`` breaks (raises on a wrong JSON type)."""
        raise NotImplementedError

    def report(self, value: Any, path: str, bad: tuple[str, ...], errs: list[str]) -> None:
        shown = self.shown(value)
        for constraint in bad:
            _add(errs, _msg(shown, path, constraint))

    def constraints(self) -> list[str]:
        """Every constraint of the shape, in AWS's order (listed for map keys and values)."""
        return []

    def shown(self, value: Any) -> str | None:
        return None if self.sensitive else _shown(value)

    def size_failures(self, n: int) -> tuple[str, ...]:
        return _OK


class _Sized(_Node):
    """Min/max on a length (strings, blobs, lists, maps)."""

    __slots__ = ("c_max", "c_min", "max", "min")

    def __init__(self, shape: Shape) -> None:
        super().__init__(shape)
        md = shape.metadata
        self.min: int | None = md.get("min")
        self.max: int | None = md.get("max")
        self.c_min = f"Member must have length greater than or equal to {self.min}"
        self.c_max = f"Member must have length less than or equal to {self.max}"

    def size_failures(self, n: int) -> tuple[str, ...]:
        if self.max is not None and n > self.max:
            return (self.c_max,)
        if self.min is not None and n < self.min:
            return (self.c_min,)
        return _OK

    def size_constraints(self) -> list[str]:
        return [c for c, b in ((self.c_max, self.max), (self.c_min, self.min)) if b is not None]


class _Scalar(_Node):
    __slots__ = ()
    scalar = True

    def check(self, value: Any, path: str, errs: list[str]) -> None:
        bad = self.failures(value)
        if bad:
            self.report(value, path, bad, errs)


#: modelreg extensions to AWS patterns, by shape name: model data may also live on the server's own
#: disk (``file:///abs/path``), next to ``s3://`` and ``https://``.
PATTERN_EXTENSIONS = {"Url": "file:///.*"}
#: modelreg's one constraint on every string: PostgreSQL cannot store U+0000 in a text column, and
#: a registry must read back on either store what it accepted
C_NO_NUL = "Member must not contain the NUL character (U+0000)"


class _String(_Scalar, _Sized):
    __slots__ = ("c_enum", "c_pattern", "enum", "match", "regex")

    def __init__(self, shape: Shape) -> None:
        super().__init__(shape)
        pattern = shape.metadata.get("pattern")
        extension = PATTERN_EXTENSIONS.get(shape.name)
        accepted = f"(?:{pattern})|(?:{extension})" if pattern and extension else pattern
        self.regex = compile_pattern(accepted) if accepted else None
        self.match = self.regex.fullmatch if self.regex is not None else None
        self.c_pattern = f"Member must satisfy regular expression pattern: {pattern}"
        enum = shape.enum
        self.enum = frozenset(enum) if enum else None
        self.c_enum = f"Member must satisfy enum value set: [{', '.join(enum)}]"

    def failures(self, value: Any) -> tuple[str, ...]:
        if type(value) is not str and not isinstance(value, str):
            raise _mismatch(value, "a String")
        n = len(value)
        if self.max is not None and n > self.max:
            # an over-long string is not also run through the pattern: that bounds regex work
            bad: tuple[str, ...] = (self.c_max,)
        else:
            bad = (self.c_min,) if self.min is not None and n < self.min else _OK
            if self.match is not None and self.match(value) is None:
                bad = (*bad, self.c_pattern)
        if self.enum is not None and value not in self.enum:
            bad = (*bad, self.c_enum)
        if "\x00" in value:
            bad = (*bad, C_NO_NUL)
        return bad

    def constraints(self) -> list[str]:
        out = self.size_constraints()
        if self.regex is not None:
            out.append(self.c_pattern)
        if self.enum is not None:
            out.append(self.c_enum)
        return out


class _Number(_Scalar):
    __slots__ = ("c_max", "c_min", "hi", "lo", "max", "min", "target")

    def __init__(self, shape: Shape) -> None:
        super().__init__(shape)
        md = shape.metadata
        self.min, self.max = md.get("min"), md.get("max")
        self.c_min = f"Member must have value greater than or equal to {self.bound(self.min)}"
        self.c_max = f"Member must have value less than or equal to {self.bound(self.max)}"
        self.target = {"integer": "an Integer", "long": "a Long", "float": "a Float"}.get(
            shape.type_name, "a Double"
        )
        self.lo, self.hi = _INT32 if shape.type_name == "integer" else _INT64

    def bound(self, b: float | None) -> str:
        return "" if b is None else str(int(b)) if float(b).is_integer() else _java_double(float(b))

    def range_failures(self, value: float) -> tuple[str, ...]:
        if self.max is not None and value > self.max:
            return (self.c_max,)
        if self.min is not None and value < self.min:
            return (self.c_min,)
        return _OK

    def failures(self, value: Any) -> tuple[str, ...]:
        if type(value) is not int and (isinstance(value, bool) or not isinstance(value, int)):
            raise _mismatch(value, self.target)
        if not self.lo <= value <= self.hi:
            raise SerializationException(f"NUMBER_VALUE can not be converted to {self.target}")
        return self.range_failures(value)

    def constraints(self) -> list[str]:
        return [c for c, b in ((self.c_max, self.max), (self.c_min, self.min)) if b is not None]

    def shown(self, value: Any) -> str | None:
        return None if self.sensitive else str(value)


class _Float(_Number):
    __slots__ = ()

    def bound(self, b: float | None) -> str:
        return "" if b is None else _java_double(float(b))

    def failures(self, value: Any) -> tuple[str, ...]:
        kind = type(value)
        if (kind is not float and kind is not int) and (
            isinstance(value, bool) or not isinstance(value, (int, float))
        ):
            raise _mismatch(value, self.target)
        if kind is float and not math.isfinite(value):
            raise SerializationException(f"DECIMAL_VALUE can not be converted to {self.target}")
        return self.range_failures(value)

    def shown(self, value: Any) -> str | None:
        return None if self.sensitive else _java_double(float(value))


class _Boolean(_Scalar):
    __slots__ = ()

    def failures(self, value: Any) -> tuple[str, ...]:
        if value is True or value is False:
            return _OK
        raise _mismatch(value, "a Boolean")


class _Timestamp(_Scalar):
    """Epoch seconds (JSON number), an ISO-8601 string, or an already parsed datetime."""

    __slots__ = ()

    def failures(self, value: Any) -> tuple[str, ...]:
        kind = type(value)
        if kind is int or kind is float or isinstance(value, datetime):
            return _OK
        if isinstance(value, str):
            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise SerializationException("STRING_VALUE can not be converted to a Timestamp") from None
            return _OK
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return _OK
        raise _mismatch(value, "a Timestamp")


class _Blob(_Scalar, _Sized):
    """Base64 text on the wire (bytes are accepted too); length constraints count bytes."""

    __slots__ = ()

    def failures(self, value: Any) -> tuple[str, ...]:
        if isinstance(value, (bytes, bytearray)):
            return self.size_failures(len(value))
        if isinstance(value, (dict, list)):
            raise _mismatch(value, None)
        if not isinstance(value, str):
            raise SerializationException("only base-64-encoded strings are convertible to bytes")
        if len(value) % 4:
            raise SerializationException(
                f"Base64 encoded length is expected a multiple of 4 bytes but found: {len(value)}"
            )
        try:
            raw = binascii.a2b_base64(value, strict_mode=True)
        except (binascii.Error, ValueError):
            raise SerializationException("Invalid Base64 character detected") from None
        return self.size_failures(len(raw))

    def shown(self, value: Any) -> str | None:
        if self.sensitive:
            return None
        return value if isinstance(value, str) else _shown(list(value))

    def constraints(self) -> list[str]:
        return self.size_constraints()


class _Document(_Scalar):
    """A Smithy document (any JSON value), or a shape type this module does not know."""

    __slots__ = ()

    def failures(self, value: Any) -> tuple[str, ...]:
        return _OK


class _Structure(_Node):
    __slots__ = ("members", "required")

    def __init__(self, shape: Shape) -> None:
        super().__init__(shape)
        # wire name -> (path name, node, scalar?, bound node.failures or node.check)
        self.members: dict[str, tuple[str, _Node, bool, Any]] = {}
        self.required: tuple[tuple[str, str], ...] = ()

    def check(self, value: Any, path: str, errs: list[str]) -> None:
        if type(value) is not dict and not isinstance(value, dict):
            raise _mismatch(value, None)
        prefix = path + "." if path else ""
        members = self.members
        for key, v in value.items():
            member = members.get(key)
            if member is None or v is None:  # unknown members are ignored, as AWS does
                continue
            name, node, scalar, run = member
            if scalar:
                bad = run(v)
                if bad:
                    node.report(v, prefix + name, bad, errs)
            else:
                run(v, prefix + name, errs)
        for key, name in self.required:
            if value.get(key) is None:
                _add(errs, _null(prefix + name))


class _List(_Sized):
    __slots__ = ("member",)

    def __init__(self, shape: Shape) -> None:
        super().__init__(shape)
        self.member: _Node = _Document(shape)

    def check(self, value: Any, path: str, errs: list[str]) -> None:
        if type(value) is not list and not isinstance(value, list):
            raise _mismatch(value, None)
        for constraint in self.size_failures(len(value)):
            _add(errs, _msg(self.shown(value), path, constraint))
        node = self.member
        if node.scalar:
            for i, v in enumerate(value, 1):
                if v is None:
                    _add(errs, _null(f"{path}.{i}.member"))
                    continue
                bad = node.failures(v)
                if bad:
                    node.report(v, f"{path}.{i}.member", bad, errs)
        else:
            for i, v in enumerate(value, 1):
                if v is None:
                    _add(errs, _null(f"{path}.{i}.member"))
                else:
                    node.check(v, f"{path}.{i}.member", errs)


class _Map(_Sized):
    __slots__ = ("key", "value")

    def __init__(self, shape: Shape) -> None:
        super().__init__(shape)
        self.key: _Node = _Document(shape)
        self.value: _Node = self.key

    def check(self, value: Any, path: str, errs: list[str]) -> None:
        if type(value) is not dict and not isinstance(value, dict):
            raise _mismatch(value, None)
        for constraint in self.size_failures(len(value)):
            _add(errs, _msg(self.shown(value), path, constraint))
        key, node = self.key, self.value
        bad_key = bad_value = has_null = False
        broken: set[str] = set()  # what the keys and values break, beyond the shapes' own constraints
        for k, v in value.items():
            failed = key.failures(k)
            if failed:
                bad_key = True
                broken.update(failed)
            if v is None:
                has_null = True
            elif node.scalar:
                failed = node.failures(v)
                if failed:
                    bad_value = True
                    broken.update(failed)
            else:
                node.check(v, f"{path}.{k}", errs)
        extra = [C_NO_NUL] if C_NO_NUL in broken else []
        if bad_key:
            self.report(value, path, "Map keys", key.constraints() + extra, errs)
        if bad_value or has_null:
            listed = node.constraints() + extra if bad_value else []
            if has_null:
                listed = ["Member must not be null", *listed]
            self.report(value, path, "Map value", listed, errs)

    def report(self, value: Any, path: str, what: str, listed: list[str], errs: list[str]) -> None:
        sensitive = self.sensitive or self.key.sensitive or self.value.sensitive
        shown = None if sensitive else _shown(value)
        _add(errs, _msg(shown, path, f"{what} must satisfy constraint: [{', '.join(listed)}]"))


_SCALARS: dict[str, type[_Scalar]] = {
    "string": _String,
    "integer": _Number,
    "long": _Number,
    "float": _Float,
    "double": _Float,
    "boolean": _Boolean,
    "timestamp": _Timestamp,
    "blob": _Blob,
}


def _build(shape: Shape, memo: dict[str, _Node]) -> _Node:
    """Compile ``shape`` (and what it reaches) once; recursive shapes share their node."""
    node = memo.get(shape.name)
    if node is not None:
        return node
    if isinstance(shape, StructureShape) and not shape.metadata.get("document"):
        struct = _Structure(shape)
        memo[shape.name] = struct  # before the members, so recursion finds it
        for key, member in shape.members.items():
            node = _build(member, memo)
            run = node.failures if node.scalar else node.check
            struct.members[key] = (_lower_first(key), node, node.scalar, run)
        struct.required = tuple((k, _lower_first(k)) for k in shape.required_members)
        return struct
    if isinstance(shape, ListShape):
        lst = _List(shape)
        memo[shape.name] = lst
        lst.member = _build(shape.member, memo)
        return lst
    if isinstance(shape, MapShape):
        mp = _Map(shape)
        memo[shape.name] = mp
        mp.key = _build(shape.key, memo)
        mp.value = _build(shape.value, memo)
        return mp
    scalar = _SCALARS.get(shape.type_name)
    node = scalar(shape) if scalar is not None else _Document(shape)
    memo[shape.name] = node
    return node


_TOP: dict[int, tuple[Shape, _Node]] = {}  # id(input shape) -> (shape kept alive, node)
_MEMOS: dict[int, tuple[object, dict[str, _Node]]] = {}  # id(resolver) -> (resolver, by name)
_LOCK = threading.Lock()


def _node_for(shape: Shape) -> _Node:
    hit = _TOP.get(id(shape))
    if hit is not None and hit[0] is shape:
        return hit[1]
    with _LOCK:
        # shape names are unique within one service model: share nodes across its operations
        resolver = getattr(shape, "_shape_resolver", None)
        if resolver is None:
            memo: dict[str, _Node] = {}
        else:
            entry = _MEMOS.get(id(resolver))
            if entry is None or entry[0] is not resolver:
                entry = _MEMOS[id(resolver)] = (resolver, {})
            memo = entry[1]
        node = _build(shape, memo)
        if len(_TOP) >= 4096:  # callers that build fresh shape objects must not grow this forever
            _TOP.clear()
        _TOP[id(shape)] = (shape, node)
    return node


def prepare(shape: StructureShape) -> None:
    """Compile ``shape`` ahead of the first request (optional; ``validate_input`` does it lazily)."""
    _node_for(shape)


def validate_input(shape: StructureShape, params: dict) -> None:
    """Check ``params`` (the parsed JSON body of a request) against the botocore input ``shape``.

    Raises ``SerializationException`` when a member has the wrong JSON type, worded as AWS does
    (``Start of structure or map found where not expected``, ``Start of list found where not
    expected``, ``Unexpected field type`` for a scalar where a structure, list or map belongs,
    ``STRING_VALUE can not be converted to an Integer``; booleans are never numbers). Raises
    ``ValidationException`` for constraint failures (required, length, pattern, enum, range),
    all found in one pass, at most ``MAX_ERRORS`` of them: ``<n> validation error(s) detected:
    <failure>; <failure>``. Each failure reads ``Value '<value>' at '<path>' failed to satisfy
    constraint: <constraint>`` (``Value null at`` for a missing required member, ``Value at`` for
    sensitive members). Paths: ``modelPackageGroupName``, ``tags.1.member.value``; maps as
    described in the module docstring. Unknown members and null optional members are ignored.
    """
    node = _node_for(shape)
    errs: list[str] = []
    try:
        node.check(params, "", errs)
    except RecursionError:
        raise SerializationException("Request nesting is too deep") from None
    if errs:
        n = len(errs)
        plural = "error" if n == 1 else "errors"
        raise ValidationException(f"{n} validation {plural} detected: " + "; ".join(errs))
