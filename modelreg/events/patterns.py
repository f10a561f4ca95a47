"""EventBridge event pattern matching: validate and compile a pattern once, then match events fast.

A pure implementation (no I/O, no third-party matcher) of the EventBridge pattern language as the
EventBridge user guide documents it ("Creating event patterns", "Comparison operators") and as the
engine behind EventBridge (aws/event-ruler, ``JsonRuleCompiler`` and ``rulesForJSONEvent``) behaves.
Validation errors carry EventBridge's own reason text ("prefix match pattern must be a string", ...)
plus the field path where the problem is.

Semantics in brief:

* A pattern is a non-empty JSON object; nested objects follow the event's nesting; every leaf is a
  non-empty array of alternatives (OR); the fields of an object must all match (AND). Keys are joined
  with ``.`` as event-ruler does, so ``{"a": {"b": ...}}`` and ``{"a.b": ...}`` address the same field.
* Alternatives: exact strings, numbers, ``true``/``false``/``null``; ``prefix`` / ``suffix`` (both also
  with ``{"equals-ignore-case": ...}``), ``equals-ignore-case``, ``wildcard``, ``anything-but`` (a value,
  a list of strings or of numbers, or ``prefix`` / ``suffix`` / ``equals-ignore-case`` / ``wildcard``),
  ``numeric``, ``exists`` and ``cidr``. ``$or`` (an array of at least two objects) may appear at any level.
* An event array matches when any element matches. Fields taken from objects inside an array must come
  from the same element (event-ruler's array-consistent matching).
* Numbers compare numerically (``300`` matches ``300.0``), within -5e9..5e9 and to six decimal places;
  a string never matches a number. ``exists`` looks at leaves only: a missing field, an empty array or an
  object-valued field does not "exist"; a ``null`` value does.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any, Final

from modelreg.events.pattern_operands import (
    WILDCARD_COMPLEXITY_LIMIT,
    InvalidEventPatternError,
    _Invalid,
    cidr_range,
    ip_value,
    wildcard,
    wildcard_complexity,
)

__all__ = ["EventPattern", "InvalidEventPatternError"]

_FIVE_BILLION: Final = Decimal(5_000_000_000)
_MAX_BRANCHES: Final = 1000  # modelreg's own guard on the $or expansion (event-ruler expands without one)
_TOO_COMPLEX: Final = (
    "Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences "
    "after a wildcard character"
)
_RESERVED_IN_OR: Final = frozenset(
    {"exactly", "equals-ignore-case", "prefix", "suffix", "anything-but", "exists", "wildcard", "numeric",
     "cidr", "=", "<", "<=", ">", ">=", "regex", "not-wildcard", "not-equals-ignore-case", "date-after",
     "date-on-or-after", "date-before", "date-on-or-before", "in-date-range", "ip-address-in-range",
     "ip-address-not-in-range"}
)  # fmt: skip
_LITERALS: Final = {None: "null", True: "true", False: "false"}
_SCALARS: Final = frozenset({str, int, float, bool, type(None), Decimal})
_ONE_KEY: Final = "Only one key allowed in match expression"
_TOO_MANY: Final = "Too many elements in numeric expression"

Membership = tuple[tuple[int, int], ...]  # (array, element) pairs a leaf value sits in
Leaves = dict[str, list[tuple[Any, Membership]]]


# ---------------------------------------------------------------- JSON in document order, numbers as text


class _Obj(list):  # type: ignore[type-arg]
    """A JSON object as its (key, value) pairs in document order; duplicate keys are kept."""

    __slots__ = ()


class _Num:
    """A JSON number in a pattern: its source text and exact value."""

    __slots__ = ("text", "value")

    def __init__(self, text: str) -> None:
        self.text, self.value = text, Decimal(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"Non-standard token '{name}'")


def _load(text: str | bytes) -> Any:
    hooks: dict[str, Any] = {"parse_float": _Num, "parse_int": _Num, "parse_constant": _no_constant}
    try:
        return json.loads(text, object_pairs_hook=_Obj, **hooks)
    except json.JSONDecodeError as exc:
        raise _Invalid(
            f"Filter is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise _Invalid(f"Filter is not valid JSON: {exc}") from None


def _text(token: Any) -> str:
    """What the JSON parser prints for a token in EventBridge's messages (``...`` is the array's end)."""
    if isinstance(token, _Num | str):
        return token.text if isinstance(token, _Num) else token
    return "{" if isinstance(token, _Obj) else "[" if isinstance(token, list) else _LITERALS.get(token, "]")


def _canon(node: Any) -> str:
    def plain(n: Any) -> Any:
        if isinstance(n, list):
            return [[k, plain(v)] for k, v in n] if isinstance(n, _Obj) else [plain(v) for v in n]
        return ("#", n.text) if isinstance(n, _Num) else n

    return json.dumps(plain(node), separators=(",", ":"))


# ---------------------------------------------------------------- values: numbers, IP addresses, case


def _num_key(value: Decimal) -> tuple[str, Any] | None:
    """Comparable form of a number: micro-units when inside -5e9..5e9 (six decimals), else exact."""
    if not value.is_finite():
        return None
    if -_FIVE_BILLION <= value <= _FIVE_BILLION:
        return ("n", int(value.scaleb(6).to_integral_value(rounding=ROUND_FLOOR)))
    return ("x", value.normalize())


def _event_number(value: Any) -> Decimal | None:
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            return Decimal(value)
        if isinstance(value, float) and math.isfinite(value):
            return Decimal(repr(value))  # the shortest repr: 0.3 stays 0.3
        if isinstance(value, Decimal) and value.is_finite():
            return value
    except (ValueError, InvalidOperation):
        pass
    return None


def _event_key(value: Any) -> tuple[str, Any] | None:
    number = _event_number(value)
    return None if number is None else _num_key(number)


def _range_operand(token: Any, label: str, path: str) -> int:
    if not isinstance(token, _Num):
        raise _Invalid(f"Value of {label} must be numeric", path)
    key = _num_key(token.value)
    if key is None or key[0] != "n":
        raise _Invalid("Value must be between -5.0E9 and 5.0E9, inclusive", path)
    return int(key[1])


def _fold(text: str) -> str:
    """Case-insensitive form, one character for one character (no 'ß' -> 'ss')."""
    if text.isascii():
        return text.lower()
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


# ---------------------------------------------------------------- one field: its alternatives, compiled


class _Field:
    """The compiled alternatives for one field path; ``test`` says whether one leaf value matches."""

    __slots__ = (
        "absent_ok", "any_value", "canon", "cidrs", "folded", "folded_prefixes", "folded_suffixes", "ips",
        "literals", "negations", "numbers", "path", "prefixes", "ranges", "strings", "suffixes", "testable",
        "wildcard_tokens", "wildcards",
    )  # fmt: skip

    def __init__(self, path: str, canon: str) -> None:
        self.path, self.canon = path, canon
        self.absent_ok = self.any_value = self.testable = False  # exists:false / exists:true / has values
        self.strings: set[str] = set()
        self.folded: set[str] = set()  # equals-ignore-case
        self.literals: set[str] = set()  # "null", "true", "false"
        self.numbers: set[tuple[str, Any]] = set()
        self.ips: set[tuple[int, int]] = set()
        self.prefixes: tuple[str, ...] = ()
        self.suffixes: tuple[str, ...] = ()
        self.folded_prefixes: tuple[str, ...] = ()
        self.folded_suffixes: tuple[str, ...] = ()
        self.wildcards: list[re.Pattern[str]] = []
        self.wildcard_tokens: list[tuple[int, ...]] = []
        self.cidrs: list[tuple[int, int, int]] = []
        self.ranges: list[tuple[int | None, bool, int | None, bool]] = []
        self.negations: list[Callable[[Any], bool]] = []  # anything-but

    def test(self, value: Any) -> bool:
        if self.any_value:
            return True
        if isinstance(value, str):
            if value in self.strings or (self.prefixes and value.startswith(self.prefixes)):
                return True
            if self.suffixes and value.endswith(self.suffixes):
                return True
            if self.folded or self.folded_prefixes or self.folded_suffixes:
                folded = _fold(value)
                if folded in self.folded or (
                    self.folded_prefixes and folded.startswith(self.folded_prefixes)
                ):
                    return True
                if self.folded_suffixes and folded.endswith(self.folded_suffixes):
                    return True
            if any(regex.fullmatch(value) for regex in self.wildcards):
                return True
            if (self.ips or self.cidrs) and (address := ip_value(value)) is not None:
                width, n = address
                if address in self.ips or any(w == width and lo <= n <= hi for w, lo, hi in self.cidrs):
                    return True
        elif value is None or value is True or value is False:
            if _LITERALS[value] in self.literals:
                return True
        elif (self.numbers or self.ranges) and (key := _event_key(value)) is not None:
            if key in self.numbers:
                return True
            if key[0] == "n":
                n = key[1]
                for lo, lo_open, hi, hi_open in self.ranges:
                    above = lo is None or n > lo or (n == lo and not lo_open)
                    if above and (hi is None or n < hi or (n == hi and not hi_open)):
                        return True
        return any(negation(value) for negation in self.negations)


def _compile_field(values: list[Any], path: str) -> _Field:
    if not values:
        raise _Invalid("Empty arrays are not allowed", path)
    field = _Field(path, _canon(values))
    for value in values:
        if isinstance(value, _Obj):
            _expression(field, value, path)
            continue
        if isinstance(value, str):
            field.strings.add(value)
            if (address := ip_value(value)) is not None:  # event-ruler matches IP literals as addresses
                field.ips.add(address)
        elif isinstance(value, _Num):
            if (key := _num_key(value.value)) is not None:
                field.numbers.add(key)
        elif value is None or isinstance(value, bool):
            field.literals.add(_LITERALS[value])
        else:
            raise _Invalid("Match value must be String, number, true, false, or null", path)
        field.testable = True
    return field


def _string(operand: Any, name: str, path: str) -> str:
    if not isinstance(operand, str):
        raise _Invalid(f"{name} match pattern must be a string", path)
    return operand


def _ignore_case(operand: _Obj, what: str, path: str) -> str:
    """The ``{"equals-ignore-case": "..."}`` operand of prefix / suffix, folded."""
    if not operand:
        raise _Invalid(f"{what.capitalize()} expression name not found", path)
    if operand[0][0] != "equals-ignore-case":
        raise _Invalid(f"Unsupported {what} pattern: {operand[0][0]}", path)
    text = _string(operand[0][1], "equals-ignore-case", path)
    if len(operand) > 1:
        raise _Invalid(_ONE_KEY, path)
    return _fold(text)


def _expression(field: _Field, expression: _Obj, path: str) -> None:
    """Compile one ``{"operator": operand}`` alternative into ``field``."""
    if not expression:
        raise _Invalid("Match expression name not found", path)
    (name, operand), extra = expression[0], _ONE_KEY
    if name == "prefix" and isinstance(operand, _Obj):
        field.folded_prefixes += (_ignore_case(operand, name, path),)
    elif name == "suffix" and isinstance(operand, _Obj):
        field.folded_suffixes += (_ignore_case(operand, name, path),)
    elif name == "prefix":
        field.prefixes += (_string(operand, name, path),)
    elif name == "suffix":
        field.suffixes += (_string(operand, name, path),)
    elif name == "equals-ignore-case":
        field.folded.add(_fold(_string(operand, name, path)))
    elif name == "wildcard":
        regex, tokens = wildcard(_string(operand, name, path), path)
        field.wildcards.append(regex)
        field.wildcard_tokens.append(tokens)
    elif name == "cidr":
        # sic: EventBridge names the cidr operand "prefix" in its message
        field.cidrs.append(cidr_range(_string(operand, "prefix", path), path))
    elif name == "exists":
        if operand is not True and operand is not False:
            raise _Invalid("exists match pattern must be either true or false.", path)
        if len(expression) > 1:
            raise _Invalid(_ONE_KEY, path)
        field.any_value |= operand
        field.absent_ok |= not operand
        field.testable |= operand
        return
    elif name == "numeric":
        if not isinstance(operand, list) or isinstance(operand, _Obj):
            raise _Invalid("Value of numeric must be an array.", path)
        field.ranges.append(_numeric(operand, path))
        extra = _TOO_MANY
    elif name == "anything-but":
        field.negations.append(_anything_but(operand, path))
        extra = _TOO_MANY
    else:
        raise _Invalid(f"Unrecognized match type {name}", path)
    if len(expression) > 1:
        raise _Invalid(extra, path)
    field.testable = True


def _numeric(items: list[Any], path: str) -> tuple[int | None, bool, int | None, bool]:
    """``["op", n]`` or ``[">"|">=", n, "<"|"<=", m]`` as (low, low_open, high, high_open)."""
    token: Callable[[int], Any] = lambda i: items[i] if i < len(items) else ...  # noqa: E731
    operator = token(0)
    if not isinstance(operator, str):
        raise _Invalid(f"Invalid member in numeric match: {_text(operator)}", path)
    if operator in ("=", "<", "<="):
        value = _range_operand(token(1), "equals" if operator == "=" else operator, path)
        if len(items) > 2:
            raise _Invalid(_TOO_MANY, path)
        return (value, False, value, False) if operator == "=" else (None, False, value, operator == "<")
    if operator not in (">", ">="):
        raise _Invalid(f"Unrecognized numeric range operator: {operator}", path)
    low = _range_operand(token(1), operator, path)
    if len(items) == 2:
        return low, operator == ">", None, False
    upper = token(2)
    if not isinstance(upper, str):
        raise _Invalid(f"Bad value in numeric range: {_text(upper)}", path)
    if upper not in ("<", "<="):
        raise _Invalid(f"Bad numeric range operator: {upper}", path)
    high = _range_operand(token(3), upper, path)
    if len(items) > 4:
        raise _Invalid("Too many terms in numeric range expression", path)
    if high <= low:
        raise _Invalid("Bottom must be less than top", path)
    return low, operator == ">", high, upper == "<"


_AB_NOT_STRING: Final = {
    "equals-ignore-case": "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not "
    "supported.",
    "wildcard": "wildcard match pattern must be a string",
    "prefix": "prefix/suffix match pattern must be a string",
    "suffix": "prefix/suffix match pattern must be a string",
}


def _anything_but(operand: Any, path: str) -> Callable[[Any], bool]:
    """A predicate true for every present value the ``anything-but`` does not exclude."""
    kind, extra = "", False
    if isinstance(operand, _Obj):
        if not operand:
            raise _Invalid("Anything-But expression name not found", path)
        (kind, inner), extra = operand[0], len(operand) > 1
        if kind not in _AB_NOT_STRING:
            raise _Invalid(f"Unsupported anything-but pattern: {kind}", path)
        operand = inner
    is_list = isinstance(operand, list) and not isinstance(operand, _Obj)
    if not (is_list or isinstance(operand, str | _Num)):
        raise _Invalid("Value of anything-but must be an array or single string/number value.", path)
    values = operand if is_list else [operand]
    if not kind:  # a string, a number, or a list of only strings or only numbers
        if any(not isinstance(v, str | _Num) for v in values):
            raise _Invalid("Inside anything but list, start|null|boolean is not supported.", path)
        strings = {v for v in values if isinstance(v, str)}
        numbers = {_range_operand(v, "", path) for v in values if isinstance(v, _Num)}
        if bool(strings) == bool(numbers):
            raise _Invalid("Inside anything but list, either all values are number or string, mixed type is "
                           "not supported", path)  # fmt: skip
        if strings:
            return lambda v: not (isinstance(v, str) and v in strings)
        return lambda v: not ((key := _event_key(v)) is not None and key[0] == "n" and key[1] in numbers)
    for value in values:
        if not isinstance(value, str):
            raise _Invalid(_AB_NOT_STRING[kind], path)
        if not value and kind in ("prefix", "suffix"):
            raise _Invalid("Null prefix/suffix not allowed", path)
    if extra:
        raise _Invalid(_TOO_MANY, path)
    texts = tuple(values)
    if kind == "prefix":
        return lambda v: not (isinstance(v, str) and v.startswith(texts))
    if kind == "suffix":
        return lambda v: not (isinstance(v, str) and v.endswith(texts))
    if kind == "equals-ignore-case":
        folded = {_fold(t) for t in texts}
        return lambda v: not (isinstance(v, str) and _fold(v) in folded)
    regexes = [wildcard(t, path)[0] for t in texts]
    return lambda v: not (isinstance(v, str) and any(r.fullmatch(v) for r in regexes))


# ---------------------------------------------------------------- the pattern: objects, $or, branches


class _Compiler:
    """Walks the pattern in document order into AND-branches, one per $or combination (like event-ruler)."""

    def __init__(self) -> None:
        self.branches: list[dict[str, _Field]] = [{}]

    def object(self, obj: _Obj, keys: tuple[str, ...], in_or: bool) -> None:
        if not obj:
            raise _Invalid("Empty objects are not allowed", ".".join(keys))
        for key, value in obj:
            if key == "$or":
                self.alternatives(value, keys)
                continue
            if in_or and key in _RESERVED_IN_OR:
                raise _Invalid(
                    f"{key} is Ruler reserved fieldName which cannot be used inside $or.", ".".join(keys)
                )
            sub = (*keys, key)
            if isinstance(value, _Obj):
                self.object(value, sub, in_or)
            elif isinstance(value, list):
                field = _compile_field(value, ".".join(sub))
                for branch in self.branches:  # a later mention of the same path wins, as in event-ruler
                    branch[field.path] = field
            else:
                raise _Invalid(f'"{key}" must be an object or an array', ".".join(sub))

    def alternatives(self, value: Any, keys: tuple[str, ...]) -> None:
        where = ".".join(keys)
        if not isinstance(value, list) or isinstance(value, _Obj):
            raise _Invalid("It must be an Array followed with $or.", where)
        before, after = self.branches, []
        for alternative in value:
            if not isinstance(alternative, _Obj):
                raise _Invalid("Only JSON object is allowed in array of $or relationship.", where)
            self.branches = [dict(branch) for branch in before]
            self.object(alternative, keys, in_or=True)
            after.extend(self.branches)
            if len(after) > _MAX_BRANCHES:
                raise _Invalid(
                    f"Rule is too complex - $or expands to more than {_MAX_BRANCHES} combinations", where
                )
        if len(value) < 2:
            raise _Invalid("There must have at least 2 Objects in $or relationship.", where)
        self.branches = after


def _check_wildcard_complexity(branches: list[dict[str, _Field]]) -> None:
    """Sum wildcard prefixes per field machine, machines keyed like event-ruler's sorted name states."""
    machines: dict[tuple[Any, ...], list[tuple[int, ...]]] = {}
    for branch in branches:
        fields = sorted(branch.items())
        for index, (path, field) in enumerate(fields):
            if field.wildcard_tokens:
                before = tuple((p, f.canon) for p, f in fields[:index])
                machines.setdefault((before, path), []).extend(field.wildcard_tokens)
    for (_, path), tokens in machines.items():
        if wildcard_complexity(tokens) > WILDCARD_COMPLEXITY_LIMIT:
            raise _Invalid(_TOO_COMPLEX, path)


def _consistent(groups: list[set[Membership]], index: int, chosen: dict[int, int]) -> bool:
    """Can one candidate per field be chosen so that no two sit in different elements of one array?"""
    if index == len(groups):
        return True
    for membership in groups[index]:
        if all(chosen.get(array, element) == element for array, element in membership):
            added = [array for array, _ in membership if array not in chosen]
            chosen.update(membership)
            if _consistent(groups, index + 1, chosen):
                return True
            for array in added:
                del chosen[array]
    return False


def _branch_matches(fields: tuple[_Field, ...], leaves: Leaves) -> bool:
    groups: list[set[Membership]] = []
    for field in fields:
        found = leaves.get(field.path)
        if not found or not field.testable:
            if not found and field.absent_ok:
                continue
            return False
        candidates: set[Membership] = set()
        for value, membership in found:
            if field.test(value):
                if not membership:  # outside any array: compatible with every other choice
                    break
                candidates.add(membership)
        else:
            if not candidates:
                return False
            groups.append(candidates)
    return len(groups) < 2 or _consistent(sorted(groups, key=len), 0, {})


class EventPattern:
    """A validated, compiled EventBridge event pattern; immutable and safe to share between threads.

    >>> rule = EventPattern.parse('{"source": ["aws.sagemaker"], "detail": {"State": ["Approved"]}}')
    >>> rule.matches({"source": "aws.sagemaker", "detail": {"State": "Approved"}})
    True
    """

    __slots__ = ("_branches", "_children", "_fields", "_text")

    def __init__(self, text: str, branches: list[tuple[_Field, ...]]) -> None:
        self._text = text
        self._branches = branches
        self._fields = frozenset(field.path for branch in branches for field in branch)
        # For each object path on the way to a field, the event keys that can lead on: "a.b.c" is reached
        # through {"a": {"b": {"c"}}}, {"a.b": {"c"}}, {"a": {"b.c"}} or {"a.b.c"}, as in event-ruler.
        children: dict[str, set[str]] = {}
        for path in self._fields:
            cuts = [-1, *(i for i, char in enumerate(path) if char == "."), len(path)]
            for n, start in enumerate(cuts[:-1]):
                for end in cuts[n + 1 :]:
                    children.setdefault(path[: max(start, 0)], set()).add(path[start + 1 : end])
        self._children = {parent: tuple(keys) for parent, keys in children.items()}

    @classmethod
    def parse(cls, text: str) -> EventPattern:
        """Parse and validate a pattern (the JSON string given to PutRule / TestEventPattern).

        Raises InvalidEventPatternError for anything EventBridge rejects, with EventBridge's reason and
        the field path, e.g. 'Event pattern is not valid. Reason: prefix match pattern must be a string,
        at detail.ModelApprovalStatus'.
        """
        if not isinstance(text, str | bytes):
            raise _Invalid(f"Filter is not valid JSON: expected a string, got {type(text).__name__}")
        document = _load(text)
        if not isinstance(document, _Obj):
            raise _Invalid("Filter is not an object")
        compiler = _Compiler()
        try:
            compiler.object(document, (), in_or=False)
        except RecursionError:
            raise _Invalid("Filter is nested too deeply") from None
        _check_wildcard_complexity(compiler.branches)
        unique: dict[tuple[int, ...], tuple[_Field, ...]] = {}
        for branch in compiler.branches:  # shallow, exact fields first: the envelope usually decides
            fields = tuple(sorted(branch.values(), key=lambda f: (f.path.count("."), not f.strings, f.path)))
            unique.setdefault(tuple(id(f) for f in fields), fields)
        return cls(text if isinstance(text, str) else text.decode(), list(unique.values()))

    @property
    def text(self) -> str:
        """The pattern exactly as given to ``parse`` (what DescribeRule returns)."""
        return self._text

    def matches(self, event: Mapping[str, Any]) -> bool:
        """True when the event (a dict: version, id, detail-type, source, account, time, region,
        resources, detail) matches."""
        if not isinstance(event, Mapping):
            return False
        leaves: Leaves = {}
        arrays = 0
        stack: list[tuple[Any, str, Membership]] = [(event, "", ())]
        while stack:  # gather the leaves at the pattern's paths, each with the array elements it sits in
            node, path, membership = stack.pop()
            kind = type(node)
            if kind is dict or (kind not in _SCALARS and isinstance(node, Mapping)):
                for key in self._children.get(path, ()):
                    if (value := node.get(key, _Obj)) is not _Obj:
                        stack.append((value, f"{path}.{key}" if path else key, membership))
            elif kind is list or (kind not in _SCALARS and isinstance(node, list | tuple)):
                arrays += 1
                stack.extend((element, path, (*membership, (arrays, i))) for i, element in enumerate(node))
            elif path in self._fields:
                leaves.setdefault(path, []).append((node, membership))
        return any(_branch_matches(branch, leaves) for branch in self._branches)

    def __repr__(self) -> str:
        return f"EventPattern.parse({self._text!r})"
