"""The evaluation core of SageMaker ``Search``: compile a SearchExpression into a predicate.

Pure: no store, no wire. The caller loads resource records (plain dicts shaped exactly like the
``SearchRecord`` members a client receives: DescribeModelPackage / DescribeModelPackageGroup output
plus ``Tags``), filters them with the predicate from :func:`compile_expression` and orders them with
:func:`sort_key`.

Property names are PascalCase dotted paths into a record:

- ``ModelApprovalStatus``, ``CreationTime``: top-level members;
- ``InferenceSpecification.Containers.Image``: lists on the way are flattened, any element may match;
- ``CustomerMetadataProperties.auc``: a map key (keys may themselves contain dots);
- ``Tags.Team``: the Value of the tag whose Key is ``Team`` (Tags is a Key/Value list, addressed as a map);
- ``ModelMetrics.auc`` (modelreg extension): a number from the caller's ``record["__metrics__"]`` dict;
  paths the real ``ModelMetrics`` structure has (``ModelMetrics.ModelQuality...``) still read the record.

Keys that start with ``__`` are never addressable by a filter.

Typing of a property comes from the botocore shapes (``SearchRecord.<Resource>`` and
``Describe<Resource>`` output): for timestamp, numeric and boolean properties the filter Value is
parsed and checked once, at compile time. Everything else is compared by what the record holds:
numbers numerically, strings as strings (ordering operators compare numerically when both sides are
decimal numbers, lexicographically otherwise), booleans against ``true`` / ``false``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from botocore.model import ListShape, Shape, StructureShape

from modelreg.aws import spec
from modelreg.errors import SerializationException, ValidationException

Predicate = Callable[[Mapping[str, Any]], bool]

#: Filter operators, in the order of the botocore ``Operator`` enum.
OPERATORS: tuple[str, ...] = (
    "Equals",
    "NotEquals",
    "GreaterThan",
    "GreaterThanOrEqualTo",
    "LessThan",
    "LessThanOrEqualTo",
    "Contains",
    "Exists",
    "NotExists",
    "In",
)
BOOLEAN_OPERATORS: tuple[str, ...] = ("And", "Or")
#: Key under which the caller may put a record's numeric metrics ({"auc": 0.91}).
METRICS_KEY = "__metrics__"
#: Most Filters, NestedFilters and SubExpressions (counted recursively) one expression may hold.
MAX_ELEMENTS = 50
MAX_LIST_MEMBERS = 20
MAX_NAME_LENGTH = 255
MAX_VALUE_LENGTH = 1024

_METRICS_PREFIX = "ModelMetrics."
_NO_VALUE = frozenset({"Exists", "NotExists"})
_ORDERING = {
    "GreaterThan": lambda c: c > 0,
    "GreaterThanOrEqualTo": lambda c: c >= 0,
    "LessThan": lambda c: c < 0,
    "LessThanOrEqualTo": lambda c: c <= 0,
}
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

# property kinds whose Value is parsed at compile time
_TIMESTAMP, _NUMBER, _BOOLEAN, _METRIC = "timestamp", "number", "boolean", "metric"
_NUMERIC_SHAPES = frozenset({"integer", "long", "float", "double"})


# ----------------------------------------------------------------------------- public API


def compile_expression(expression: dict | None, resource: str) -> Predicate:
    """Validate a SearchExpression for ``resource`` and return a predicate over its records.

    ``None`` matches every record. Raises ``ValidationException`` (AWS wording) for a constraint the
    botocore model states (list sizes, enums, lengths, at most 50 elements in all), an empty
    expression, an operator without the Value it needs, a Value given to Exists / NotExists, a Value
    that is not a valid timestamp / number / boolean for a property of that type, and a nested
    filter whose Name is not under its NestedPropertyName; ``SerializationException`` for members of
    the wrong JSON type.
    """
    _property_kinds(resource)  # rejects a resource Search does not know
    if expression is None:
        return _always
    _check_size(expression)
    return _compile_expression(expression, resource, "searchExpression")


def sort_key(record: Mapping[str, Any], sort_by: str) -> tuple:
    """Key for sorting records by the property path ``sort_by``.

    Present values sort before missing ones, so records lacking the property come last in ascending
    order and first in descending order (a plain ``reverse=True``). Numbers, timestamps, booleans and
    strings that are decimal numbers sort numerically, before other strings; of a multi-valued
    property the first sortable value counts. Ties are the caller's to break.
    """
    for value in lookup(record, sort_by):
        key = _scalar_sort_key(value)
        if key is not None:
            return (0, *key)
    return (1,)


def lookup(record: Mapping[str, Any], path: str) -> list[Any]:
    """All non-null values at the property path ``path`` of ``record``.

    Lists met on the way are flattened, ``Tags`` (a Key/Value list) is addressed as a map, a map key
    may contain dots, empty lists and maps count as absent, keys starting with ``__`` are hidden, and
    ``ModelMetrics.<name>`` reads ``record["__metrics__"][name]`` when the caller supplied it.
    """
    if not path:
        return []
    if path.startswith(_METRICS_PREFIX):
        metrics = record.get(METRICS_KEY)
        name = path[len(_METRICS_PREFIX) :]
        if isinstance(metrics, Mapping) and name in metrics:
            value = metrics[name]
            return [] if value is None or _is_nan(value) else [value]
    out: list[Any] = []
    _collect(record, path.split("."), out)
    return out


# ----------------------------------------------------------------------------- property access


def _collect(node: Any, segments: list[str], out: list[Any]) -> None:
    if node is None:
        return
    if isinstance(node, list | tuple):
        for item in node:
            _collect(item, segments, out)
        return
    if not segments:
        if not (isinstance(node, Mapping) and not node):
            out.append(node)
        return
    if not isinstance(node, Mapping):
        return
    whole = ".".join(segments)
    if len(segments) > 1 and whole in node and not whole.startswith("__"):
        _collect(node[whole], [], out)  # a map key that contains dots
        return
    key = segments[0]
    if key.startswith("__") or key not in node:
        return
    child = node[key]
    if key == "Tags" and len(segments) > 1 and isinstance(child, list | tuple):
        child = {t["Key"]: t.get("Value") for t in child if isinstance(t, Mapping) and "Key" in t}
    _collect(child, segments[1:], out)


def _relative_getter(path: str) -> Callable[[Any], list[Any]]:
    """Values at ``path`` below one element of a nested list ('' = the element itself)."""
    if not path:
        return lambda element: [element] if element is not None else []
    segments = path.split(".")

    def get(element: Any) -> list[Any]:
        out: list[Any] = []
        _collect(element, segments, out)
        return out

    return get


# ----------------------------------------------------------------------------- property types


@cache
def _property_kinds(resource: str) -> tuple[dict[str, str], frozenset[str]]:
    """(typed leaf path -> kind, every structure member path) of ``resource`` from the shapes."""
    model = spec.service_model("sagemaker")
    record_shape = model.shape_for("SearchRecord")
    if resource not in record_shape.members:
        raise ValidationException(f"Search does not support the resource '{resource}'.")
    shapes: list[Shape] = [record_shape.members[resource]]
    describe = f"Describe{resource}"
    if describe in model.operation_names:
        output = model.operation_model(describe).output_shape
        if output is not None:
            shapes.append(output)
    kinds: dict[str, str] = {}
    paths: set[str] = set()
    for shape in shapes:
        _walk_shape(shape, "", kinds, paths, frozenset())
    return kinds, frozenset(paths)


def _walk_shape(
    shape: Shape, path: str, kinds: dict[str, str], paths: set[str], seen: frozenset[str]
) -> None:
    if isinstance(shape, StructureShape):
        if shape.name in seen:
            return
        for name, member in shape.members.items():
            sub = f"{path}.{name}" if path else name
            paths.add(sub)
            _walk_shape(member, sub, kinds, paths, seen | {shape.name})
    elif isinstance(shape, ListShape):
        _walk_shape(shape.member, path, kinds, paths, seen)
    elif shape.type_name == "timestamp":
        kinds[path] = _TIMESTAMP
    elif shape.type_name in _NUMERIC_SHAPES:
        kinds[path] = _NUMBER
    elif shape.type_name == "boolean":
        kinds[path] = _BOOLEAN


def _kind_of(name: str, resource: str) -> str | None:
    kinds, paths = _property_kinds(resource)
    if name in kinds:
        return kinds[name]
    if resource == "ModelPackage" and name.startswith(_METRICS_PREFIX):
        first = name[len(_METRICS_PREFIX) :].split(".", 1)[0]
        if _METRICS_PREFIX + first not in paths:
            return _METRIC
    return None


# ----------------------------------------------------------------------------- values


@dataclass(frozen=True)
class _Operand:
    text: str
    number: float | None  # the text read as a decimal number
    numeric: float | None  # what numeric record values compare with: number, or ISO-8601 epoch seconds


def _parse_number(text: str) -> float | None:
    if not _DECIMAL.fullmatch(text.strip()):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def _parse_instant(text: str) -> float | None:
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _operand(text: str, kind: str | None, name: str) -> _Operand:
    number = _parse_number(text)
    numeric = number if number is not None else _parse_instant(text)
    if kind == _TIMESTAMP and numeric is None:
        raise ValidationException(
            f"Value '{text}' for filter '{name}' is not a valid timestamp: use epoch seconds or an "
            "ISO 8601 date-time such as 2024-01-31T12:00:00Z."
        )
    if kind in (_NUMBER, _METRIC) and number is None:
        raise ValidationException(f"Value '{text}' for filter '{name}' is not a valid number.")
    if kind == _BOOLEAN and text.strip().lower() not in ("true", "false"):
        raise ValidationException(
            f"Value '{text}' for filter '{name}' is not a valid boolean: use true or false."
        )
    return _Operand(text, number, numeric)


def _sign(a: Any, b: Any) -> int:
    return (a > b) - (a < b)


def _compare(value: Any, operand: _Operand, *, ordering: bool) -> int | None:
    """Sign of (record value - operand), or None when they cannot be compared."""
    if isinstance(value, bool):
        text = operand.text.strip().lower()
        return _sign(value, text == "true") if text in ("true", "false") else None
    if isinstance(value, datetime):
        value = value.timestamp()
    if isinstance(value, int | float):
        if operand.numeric is None or _is_nan(value):
            return None
        return _sign(value, operand.numeric)
    if isinstance(value, str):
        if ordering and operand.number is not None:
            number = _parse_number(value)
            if number is not None:
                return _sign(number, operand.number)
        return _sign(value, operand.text)
    return None


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _scalar_sort_key(value: Any) -> tuple | None:
    if isinstance(value, datetime):
        return (0, value.timestamp())
    if isinstance(value, int | float):
        return None if _is_nan(value) else (0, float(value))
    if isinstance(value, str):
        number = _parse_number(value)
        return (0, number) if number is not None else (1, value)
    return None


# ----------------------------------------------------------------------------- compiling


def _always(record: Mapping[str, Any]) -> bool:
    return True


def _check_size(expression: Any) -> None:
    """Count Filters, NestedFilters (with their filters) and SubExpressions; stop past the maximum."""
    count = 0
    stack = [expression]
    while stack:
        node = stack.pop()
        if not isinstance(node, Mapping):
            continue
        for member in ("Filters", "NestedFilters", "SubExpressions"):
            items = node.get(member)
            if not isinstance(items, list):
                continue
            count += len(items)
            if member == "NestedFilters":
                count += sum(
                    len(n["Filters"])
                    for n in items
                    if isinstance(n, Mapping) and isinstance(n.get("Filters"), list)
                )
            elif member == "SubExpressions":
                stack.extend(items)
            if count > MAX_ELEMENTS:
                raise ValidationException(
                    "The maximum number of recursive SubExpressions, NestedFilters, and Filters "
                    f"in a SearchExpression is {MAX_ELEMENTS}."
                )


def _compile_expression(expression: Any, resource: str, where: str) -> Predicate:
    _require_type(expression, Mapping, where, "a structure")
    operator = expression.get("Operator", "And")
    if operator is None:
        operator = "And"
    _require_type(operator, str, f"{where}.operator", "a string")
    if operator not in BOOLEAN_OPERATORS:
        raise _constraint(
            operator,
            f"{where}.operator",
            f"Member must satisfy enum value set: [{', '.join(BOOLEAN_OPERATORS)}]",
        )
    parts: list[Predicate] = []
    for i, raw in enumerate(_members(expression, "Filters", f"{where}.filters"), 1):
        parts.append(_compile_filter(raw, resource, f"{where}.filters.{i}.member", None))
    for i, raw in enumerate(_members(expression, "NestedFilters", f"{where}.nestedFilters"), 1):
        parts.append(_compile_nested(raw, resource, f"{where}.nestedFilters.{i}.member"))
    for i, raw in enumerate(_members(expression, "SubExpressions", f"{where}.subExpressions"), 1):
        parts.append(_compile_expression(raw, resource, f"{where}.subExpressions.{i}.member"))
    if not parts:
        raise ValidationException(
            f"The SearchExpression at '{where}' must contain at least one subexpression, filter, "
            "or nested filter."
        )
    if len(parts) == 1:
        return parts[0]
    combine = all if operator == "And" else any
    return lambda record: combine(part(record) for part in parts)


def _compile_nested(raw: Any, resource: str, where: str) -> Predicate:
    _require_type(raw, Mapping, where, "a structure")
    prefix = _string_member(raw, "NestedPropertyName", f"{where}.nestedPropertyName", MAX_NAME_LENGTH)
    if raw.get("Filters") is None:
        raise _constraint(None, f"{where}.filters", "Member must not be null")
    element_tests = [
        _compile_filter(f, resource, f"{where}.filters.{i}.member", prefix)
        for i, f in enumerate(_members(raw, "Filters", f"{where}.filters"), 1)
    ]

    def nested(record: Mapping[str, Any]) -> bool:
        return any(all(test(element) for test in element_tests) for element in lookup(record, prefix))

    return nested


def _compile_filter(raw: Any, resource: str, where: str, nested_prefix: str | None) -> Callable[[Any], bool]:
    _require_type(raw, Mapping, where, "a structure")
    name = _string_member(raw, "Name", f"{where}.name", MAX_NAME_LENGTH)
    operator = raw.get("Operator")
    value = raw.get("Value")
    if operator is not None:
        _require_type(operator, str, f"{where}.operator", "a string")
        if operator not in OPERATORS:
            raise _constraint(
                operator, f"{where}.operator", f"Member must satisfy enum value set: [{', '.join(OPERATORS)}]"
            )
    if value is not None:
        value = _string_member(raw, "Value", f"{where}.value", MAX_VALUE_LENGTH)
    if operator is None:  # Value alone means Equals; neither means "the property exists"
        operator = "Equals" if value is not None else "Exists"
    if operator in _NO_VALUE and value is not None:
        raise ValidationException(f"Filter '{name}' with operator '{operator}' must not have a Value.")
    if operator not in _NO_VALUE and value is None:
        raise ValidationException(f"Filter '{name}' with operator '{operator}' requires a Value.")

    if nested_prefix is None:

        def get(record: Any) -> list[Any]:
            return lookup(record, name)
    elif name == nested_prefix or name.startswith(nested_prefix + "."):
        get = _relative_getter(name[len(nested_prefix) + 1 :])
    else:
        raise ValidationException(
            f"Filter name '{name}' in NestedFilters must be under the NestedPropertyName "
            f"'{nested_prefix}' (for example '{nested_prefix}.<property>')."
        )

    test = _value_test(operator, value, _kind_of(name, resource), name)
    return lambda record: test(get(record))


def _value_test(operator: str, value: str | None, kind: str | None, name: str) -> Callable[[list[Any]], bool]:
    """How one filter judges the values found at its property."""
    if operator == "Exists":
        return bool
    if operator == "NotExists":
        return lambda values: not values
    assert value is not None
    if operator == "Contains":
        return lambda values: any(isinstance(v, str) and value in v for v in values)
    if operator == "In":
        items = [item.strip() for item in value.split(",") if item.strip()]
        if not items:
            raise ValidationException(
                f"Value '{value}' for filter '{name}' with operator 'In' must be a comma-separated "
                "list of values."
            )
        operands = [_operand(item, kind, name) for item in items]
        return lambda values: any(_compare(v, o, ordering=False) == 0 for v in values for o in operands)
    operand = _operand(value, kind, name)
    if operator == "Equals":
        return lambda values: any(_compare(v, operand, ordering=False) == 0 for v in values)
    if operator == "NotEquals":
        return lambda values: not any(_compare(v, operand, ordering=False) == 0 for v in values)
    accept = _ORDERING[operator]

    def ordered(values: list[Any]) -> bool:
        for v in values:
            sign = _compare(v, operand, ordering=True)
            if sign is not None and accept(sign):
                return True
        return False

    return ordered


# ----------------------------------------------------------------------------- member checks


def _members(container: Mapping[str, Any], member: str, where: str) -> Sequence[Any]:
    items = container.get(member)
    if items is None:
        return ()
    _require_type(items, list, where, "a list")
    if len(items) < 1:
        raise _constraint(items, where, "Member must have length greater than or equal to 1")
    if len(items) > MAX_LIST_MEMBERS:
        raise _constraint(items, where, f"Member must have length less than or equal to {MAX_LIST_MEMBERS}")
    return items


def _string_member(container: Mapping[str, Any], member: str, where: str, max_length: int) -> str:
    value = container.get(member)
    if value is None:
        raise _constraint(None, where, "Member must not be null")
    _require_type(value, str, where, "a string")
    if len(value) < 1:
        raise _constraint(value, where, "Member must have length greater than or equal to 1")
    if len(value) > max_length:
        raise _constraint(value, where, f"Member must have length less than or equal to {max_length}")
    return value


def _require_type(value: Any, expected: type | tuple[type, ...], where: str, described: str) -> None:
    if not isinstance(value, expected) or isinstance(value, bool):
        raise SerializationException(f"Value at '{where}' must be {described}.")


def _constraint(value: Any, where: str, constraint: str) -> ValidationException:
    shown = "null" if value is None else f"'{_show(value)}'"
    return ValidationException(
        f"1 validation error detected: Value {shown} at '{where}' failed to satisfy constraint: {constraint}"
    )


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= 200 else text[:197] + "..."
