"""EventBridge event pattern matching: validate and compile a pattern once, then match events fast.

A pure implementation (no I/O, no third-party matcher) of the EventBridge pattern language as the
EventBridge user guide documents it ("Creating event patterns", "Comparison operators") and as the
engine behind EventBridge (aws/event-ruler, ``JsonRuleCompiler`` and ``rulesForJSONEvent``) behaves.
Validation errors carry EventBridge's own reason text ("prefix match pattern must be a string", ...)
plus the field path where the problem is.

Semantics in brief:

* A pattern is a non-empty JSON object; nested objects follow the event's nesting; every leaf is a
  non-empty array of alternatives (OR); the fields of an object must all match (AND). Keys are joined
  with ``.`` like event-ruler does, so ``{"a": {"b": ...}}`` and ``{"a.b": ...}`` address the same field.
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
from collections import deque
from collections.abc import Iterable, Mapping
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from ipaddress import IPv6Address
from typing import Any, Final

__all__ = ["EventPattern", "InvalidEventPatternError"]

_OR: Final = "$or"
_FIVE_BILLION: Final = Decimal(5_000_000_000)
_RANGE_ERROR: Final = "Value must be between -5.0E9 and 5.0E9, inclusive"
# Rejecting more than ten simultaneously live wildcard prefixes reproduces every published data point:
# the user guide's "*:*:*:*:*:event-bus/*" is rejected, its "/Users/*/dir/dir/dir/dir/dir/doc.txt" accepted.
_WILDCARD_COMPLEXITY_LIMIT: Final = 10
_COMPLEXITY_SEARCH_BUDGET: Final = 20_000
# modelreg's own guard: $or is expanded into AND-branches (as event-ruler does); past this, refuse.
_MAX_BRANCHES: Final = 1000
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
_IPV4_RE: Final = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_IPV6_RE: Final = re.compile(r"[0-9a-fA-F:]+")
_STAR: Final = -1


class InvalidEventPatternError(ValueError):
    """A pattern EventBridge would reject (PutRule / TestEventPattern ``InvalidEventPatternException``).

    ``reason`` is EventBridge's own wording, ``path`` the dotted field path where it was found ("" when
    the problem is the whole pattern); ``str(error)`` is the full message.
    """

    def __init__(self, reason: str, path: str = "") -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"Event pattern is not valid. Reason: {reason}" + (f", at {path}" if path else ""))


# ---------------------------------------------------------------- JSON in document order, numbers as text


class _Obj(list):  # type: ignore[type-arg]
    """A JSON object as its (key, value) pairs in document order; duplicate keys are kept."""

    __slots__ = ()


class _Num:
    """A JSON number in a pattern: its source text and exact value."""

    __slots__ = ("text", "value")

    def __init__(self, text: str) -> None:
        self.text = text
        self.value = Decimal(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"Non-standard token '{name}'")


def _load(text: str | bytes) -> Any:
    try:
        return json.loads(
            text, object_pairs_hook=_Obj, parse_float=_Num, parse_int=_Num, parse_constant=_no_constant
        )
    except json.JSONDecodeError as exc:
        raise InvalidEventPatternError(
            f"Filter is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise InvalidEventPatternError(f"Filter is not valid JSON: {exc}") from None


def _text(token: Any) -> str:
    """What the JSON parser would print for a token (for EventBridge's messages)."""
    if isinstance(token, _Obj):
        return "{"
    if isinstance(token, list):
        return "["
    if isinstance(token, _Num):
        return token.text
    if isinstance(token, str):
        return token
    return {None: "null", True: "true", False: "false"}.get(token, "]")


def _canon(node: Any) -> str:
    def plain(n: Any) -> Any:
        if isinstance(n, _Obj):
            return [[k, plain(v)] for k, v in n]
        if isinstance(n, list):
            return [plain(v) for v in n]
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
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int):
            return Decimal(value)
        if isinstance(value, float):
            return Decimal(repr(value)) if math.isfinite(value) else None
        if isinstance(value, Decimal):
            return value if value.is_finite() else None
    except (ValueError, InvalidOperation):
        return None
    return None


def _range_operand(token: Any, label: str, path: str) -> int:
    if not isinstance(token, _Num):
        raise InvalidEventPatternError(f"Value of {label} must be numeric", path)
    key = _num_key(token.value)
    if key is None or key[0] != "n":
        raise InvalidEventPatternError(_RANGE_ERROR, path)
    return int(key[1])


def _ip(text: str) -> tuple[int, int] | None:
    """(bit width, value) of an IP literal as EventBridge recognises one, else None."""
    if len(text) > 45:
        return None
    if _IPV4_RE.fullmatch(text):
        value = 0
        for part in text.split("."):
            if len(part.lstrip("0")) > 3 or int(part) > 255:
                return None
            value = value << 8 | int(part)
        return 32, value
    if ":" in text and _IPV6_RE.fullmatch(text):
        try:
            address = IPv6Address(text)
        except ValueError:
            return None
        mapped = address.ipv4_mapped  # Java's InetAddress turns these into IPv4 addresses
        return (32, int(mapped)) if mapped is not None else (128, int(address))
    return None


def _cidr(text: str, path: str) -> tuple[int, int, int]:
    parts = text.split("/")
    while parts and not parts[-1]:  # Java's String.split drops trailing empty strings
        parts.pop()
    if len(parts) != 2:
        raise InvalidEventPatternError("Malformed CIDR, one '/' required", path)
    if not re.fullmatch(r"[+-]?[0-9]{1,10}", parts[1]) or not -(2**31) <= int(parts[1]) < 2**31:
        raise InvalidEventPatternError("Malformed CIDR, mask bits must be an integer", path)
    bits = int(parts[1])
    if bits < 0:
        raise InvalidEventPatternError("Malformed CIDR, mask bits must not be negative", path)
    address = _ip(parts[0])
    if address is None:
        looks_like_ip = _IPV4_RE.fullmatch(parts[0]) or (":" in parts[0] and _IPV6_RE.fullmatch(parts[0]))
        problem = "Invalid IP address" if looks_like_ip else "Nonstandard IP address"
        raise InvalidEventPatternError(f"{problem}: {parts[0]}", path)
    width, value = address
    if bits >= width:
        raise InvalidEventPatternError(f"IPv{4 if width == 32 else 6} mask bits must be < {width}", path)
    # Like event-ruler: the range starts at the address as written, not at the network address.
    return width, value, value | ((1 << (width - bits)) - 1)


def _fold(text: str) -> str:
    """Case-insensitive form, one character for one character (no 'ß' -> 'ss')."""
    if text.isascii():
        return text.lower()
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


# ---------------------------------------------------------------- wildcards


def _wildcard(text: str, path: str) -> tuple[re.Pattern[str], tuple[int, ...]]:
    """Validate like event-ruler (positions count the UTF-8 bytes of the quoted value) and compile."""
    raw = ('"' + text + '"').encode()
    tokens: list[int] = []
    i = 0
    while i < len(raw):
        byte = raw[i]
        if byte == 0x2A:
            if i + 1 < len(raw) and raw[i + 1] == 0x2A:
                raise InvalidEventPatternError(f"Consecutive wildcard characters at pos {i}", path)
            tokens.append(_STAR)
        elif byte == 0x5C:
            if i + 1 < len(raw) and raw[i + 1] in (0x2A, 0x5C):
                tokens.append(raw[i + 1])
                i += 2
                continue
            raise InvalidEventPatternError(f"Invalid escape character at pos {i}", path)
        else:
            tokens.append(byte)
        i += 1
    regex, escaped = [], False
    for char in text:
        if escaped:
            regex.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            regex.append(".*" if char == "*" else re.escape(char))
    return re.compile("".join(regex), re.DOTALL), tuple(tokens)


def _wildcard_complexity(patterns: Iterable[tuple[int, ...]]) -> int:
    """Most wildcard-pattern prefixes one input can keep alive at once (event-ruler's measure).

    States are (pattern, position); a position right after ``*`` loops on every byte and is also
    entered without consuming one. Explores the reachable state sets, stopping past the limit.
    """
    pats = list(dict.fromkeys(patterns))
    alphabet = {b for p in pats for b in p if b != _STAR} | {256}

    def close(states: set[tuple[int, int]]) -> frozenset[tuple[int, int]]:
        stack = list(states)
        while stack:
            p, i = stack.pop()
            if i < len(pats[p]) and pats[p][i] == _STAR and (p, i + 1) not in states:
                states.add((p, i + 1))
                stack.append((p, i + 1))
        return frozenset(states)

    start = close({(p, 0) for p in range(len(pats))})
    seen, queue, worst = {start}, deque([start]), 0
    while queue:
        current = queue.popleft()
        for byte in alphabet:
            nxt: set[tuple[int, int]] = set()
            for p, i in current:
                toks = pats[p]
                if i and toks[i - 1] == _STAR:
                    nxt.add((p, i))
                if i < len(toks) and toks[i] == byte:
                    nxt.add((p, i + 1))
            if not nxt:
                continue
            state = close(nxt)
            worst = max(worst, sum(1 for _, i in state if i))
            if worst > _WILDCARD_COMPLEXITY_LIMIT or len(seen) > _COMPLEXITY_SEARCH_BUDGET:
                return max(worst, _WILDCARD_COMPLEXITY_LIMIT + 1)
            if state not in seen:
                seen.add(state)
                queue.append(state)
    return worst


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
        self.absent_ok = self.any_value = self.testable = False
        self.strings: set[str] = set()
        self.numbers: set[tuple[str, Any]] = set()
        self.literals: set[object] = set()  # None, True, False (compared by identity)
        self.ips: set[tuple[int, int]] = set()
        self.prefixes: tuple[str, ...] = ()
        self.suffixes: tuple[str, ...] = ()
        self.folded: set[str] = set()
        self.folded_prefixes: tuple[str, ...] = ()
        self.folded_suffixes: tuple[str, ...] = ()
        self.wildcards: list[re.Pattern[str]] = []
        self.wildcard_tokens: list[tuple[int, ...]] = []
        self.cidrs: list[tuple[int, int, int]] = []
        self.ranges: list[tuple[int | None, bool, int | None, bool]] = []
        self.negations: list[Any] = []  # callables: value -> bool

    def test(self, value: Any) -> bool:
        if self.any_value:
            return True
        if isinstance(value, str):
            if value in self.strings:
                return True
            if self.prefixes and value.startswith(self.prefixes):
                return True
            if self.suffixes and value.endswith(self.suffixes):
                return True
            if self.folded or self.folded_prefixes or self.folded_suffixes:
                folded = _fold(value)
                if folded in self.folded:
                    return True
                if self.folded_prefixes and folded.startswith(self.folded_prefixes):
                    return True
                if self.folded_suffixes and folded.endswith(self.folded_suffixes):
                    return True
            if any(regex.fullmatch(value) for regex in self.wildcards):
                return True
            if self.ips or self.cidrs:
                address = _ip(value)
                if address is not None:
                    if address in self.ips:
                        return True
                    width, number = address
                    if any(w == width and lo <= number <= hi for w, lo, hi in self.cidrs):
                        return True
        elif value is None or value is True or value is False:
            if any(value is literal for literal in self.literals):
                return True
        elif self.numbers or self.ranges:
            number = _event_number(value)
            key = _num_key(number) if number is not None else None
            if key is not None:
                if key in self.numbers:
                    return True
                if key[0] == "n":
                    n = key[1]
                    for lo, lo_open, hi, hi_open in self.ranges:
                        if (lo is None or n > lo or (n == lo and not lo_open)) and (
                            hi is None or n < hi or (n == hi and not hi_open)
                        ):
                            return True
        return any(negation(value) for negation in self.negations)


def _compile_field(values: list[Any], path: str) -> _Field:
    if not values:
        raise InvalidEventPatternError("Empty arrays are not allowed", path)
    field = _Field(path, _canon(values))
    for value in values:
        if isinstance(value, _Obj):
            _expression(field, value, path)
            continue
        if isinstance(value, str):
            field.strings.add(value)
            address = _ip(value)
            if address is not None:
                field.ips.add(address)
        elif isinstance(value, _Num):
            key = _num_key(value.value)
            if key is not None:
                field.numbers.add(key)
        elif value is None or isinstance(value, bool):
            field.literals.add(value)
        else:
            raise InvalidEventPatternError("Match value must be String, number, true, false, or null", path)
        field.testable = True
    return field


def _string_operand(operand: Any, message: str, path: str) -> str:
    if not isinstance(operand, str):
        raise InvalidEventPatternError(message, path)
    return operand


def _ignore_case_form(operand: _Obj, what: str, path: str) -> str:
    """The ``{"equals-ignore-case": "..."}`` operand of prefix / suffix."""
    if not operand:
        raise InvalidEventPatternError(f"{what.capitalize()} expression name not found", path)
    name, inner = operand[0]
    if name != "equals-ignore-case":
        raise InvalidEventPatternError(f"Unsupported {what} pattern: {name}", path)
    text = _string_operand(inner, "equals-ignore-case match pattern must be a string", path)
    if len(operand) > 1:
        raise InvalidEventPatternError("Only one key allowed in match expression", path)
    return _fold(text)


def _expression(field: _Field, expression: _Obj, path: str) -> None:
    """Compile one ``{"operator": operand}`` alternative into ``field``."""
    if not expression:
        raise InvalidEventPatternError("Match expression name not found", path)
    name, operand = expression[0]
    one_key = "Only one key allowed in match expression"
    extra_message = one_key
    if name in ("prefix", "suffix"):
        if isinstance(operand, _Obj):
            folded = _ignore_case_form(operand, name, path)
            if name == "prefix":
                field.folded_prefixes += (folded,)
            else:
                field.folded_suffixes += (folded,)
        else:
            text = _string_operand(operand, f"{name} match pattern must be a string", path)
            if name == "prefix":
                field.prefixes += (text,)
            else:
                field.suffixes += (text,)
    elif name == "equals-ignore-case":
        field.folded.add(_fold(_string_operand(operand, f"{name} match pattern must be a string", path)))
    elif name == "wildcard":
        regex, tokens = _wildcard(
            _string_operand(operand, f"{name} match pattern must be a string", path), path
        )
        field.wildcards.append(regex)
        field.wildcard_tokens.append(tokens)
    elif name == "cidr":
        field.cidrs.append(
            _cidr(_string_operand(operand, "prefix match pattern must be a string", path), path)
        )
    elif name == "exists":
        if operand is not True and operand is not False:
            raise InvalidEventPatternError("exists match pattern must be either true or false.", path)
        if operand:
            field.any_value = True
        else:
            field.absent_ok = True
            if len(expression) > 1:
                raise InvalidEventPatternError(one_key, path)
            return
    elif name == "numeric":
        if not isinstance(operand, list) or isinstance(operand, _Obj):
            raise InvalidEventPatternError("Value of numeric must be an array.", path)
        field.ranges.append(_numeric(operand, path))
        extra_message = "Too many elements in numeric expression"
    elif name == "anything-but":
        field.negations.append(_anything_but(operand, path))
        extra_message = "Too many elements in numeric expression"
    else:
        raise InvalidEventPatternError(f"Unrecognized match type {name}", path)
    if len(expression) > 1:
        raise InvalidEventPatternError(extra_message, path)
    field.testable = True


def _numeric(items: list[Any], path: str) -> tuple[int | None, bool, int | None, bool]:
    """``["op", n]`` or ``[">"|">=", n, "<"|"<=", m]`` as (low, low_open, high, high_open)."""

    def token(i: int) -> Any:
        return items[i] if i < len(items) else ...

    operator = token(0)
    if not isinstance(operator, str):
        raise InvalidEventPatternError(f"Invalid member in numeric match: {_text(operator)}", path)
    if operator in ("=", "<", "<="):
        value = _range_operand(token(1), "equals" if operator == "=" else operator, path)
        if len(items) > 2:
            raise InvalidEventPatternError("Too many elements in numeric expression", path)
        if operator == "=":
            return value, False, value, False
        return None, False, value, operator == "<"
    if operator not in (">", ">="):
        raise InvalidEventPatternError(f"Unrecognized numeric range operator: {operator}", path)
    low = _range_operand(token(1), operator, path)
    if len(items) == 2:
        return low, operator == ">", None, False
    upper = token(2)
    if not isinstance(upper, str):
        raise InvalidEventPatternError(f"Bad value in numeric range: {_text(upper)}", path)
    if upper not in ("<", "<="):
        raise InvalidEventPatternError(f"Bad numeric range operator: {upper}", path)
    high = _range_operand(token(3), upper, path)
    if len(items) > 4:
        raise InvalidEventPatternError("Too many terms in numeric range expression", path)
    if high <= low:
        raise InvalidEventPatternError("Bottom must be less than top", path)
    return low, operator == ">", high, upper == "<"


def _anything_but(operand: Any, path: str) -> Any:
    """A predicate true for every present value the ``anything-but`` does not exclude."""
    kind, extra = "", False
    if isinstance(operand, _Obj):
        if not operand:
            raise InvalidEventPatternError("Anything-But expression name not found", path)
        kind, inner = operand[0]
        if kind not in ("equals-ignore-case", "prefix", "suffix", "wildcard"):
            raise InvalidEventPatternError(f"Unsupported anything-but pattern: {kind}", path)
        extra, operand = len(operand) > 1, inner
    is_list = isinstance(operand, list) and not isinstance(operand, _Obj)
    if not (is_list or isinstance(operand, str | _Num)):
        raise InvalidEventPatternError(
            "Value of anything-but must be an array or single string/number value.", path
        )
    values = operand if is_list else [operand]
    if not kind:
        strings = {v for v in values if isinstance(v, str)}
        if any(not isinstance(v, str | _Num) for v in values):
            raise InvalidEventPatternError(
                "Inside anything but list, start|null|boolean is not supported.", path
            )
        numbers = {_range_operand(v, "", path) for v in values if isinstance(v, _Num)}
        if bool(strings) == bool(numbers):
            raise InvalidEventPatternError(
                "Inside anything but list, either all values are number or string, "
                "mixed type is not supported",
                path,
            )
        if strings:
            return lambda v: not (isinstance(v, str) and v in strings)

        def not_number(v: Any) -> bool:
            number = _event_number(v)
            key = _num_key(number) if number is not None else None
            return not (key is not None and key[0] == "n" and key[1] in numbers)

        return not_number
    texts: list[str] = []
    for value in values:
        if not isinstance(value, str):
            raise InvalidEventPatternError(
                {
                    "equals-ignore-case": "Inside anything-but/equals-ignore-case list, "
                    "number|start|null|boolean is not supported.",
                    "wildcard": "wildcard match pattern must be a string",
                }.get(kind, "prefix/suffix match pattern must be a string"),
                path,
            )
        if kind in ("prefix", "suffix") and not value:
            raise InvalidEventPatternError("Null prefix/suffix not allowed", path)
        texts.append(value)
    if extra:
        raise InvalidEventPatternError("Too many elements in numeric expression", path)
    if kind == "prefix":
        prefixes = tuple(texts)
        return lambda v: not (isinstance(v, str) and v.startswith(prefixes))
    if kind == "suffix":
        suffixes = tuple(texts)
        return lambda v: not (isinstance(v, str) and v.endswith(suffixes))
    if kind == "equals-ignore-case":
        folded = {_fold(t) for t in texts}
        return lambda v: not (isinstance(v, str) and _fold(v) in folded)
    regexes = [_wildcard(t, path)[0] for t in texts]
    return lambda v: not (isinstance(v, str) and any(r.fullmatch(v) for r in regexes))


# ---------------------------------------------------------------- the pattern: objects, $or, branches


class _Compiler:
    """Walks the pattern in document order into AND-branches (one per $or combination)."""

    def __init__(self) -> None:
        self.branches: list[dict[str, _Field]] = [{}]

    def object(self, obj: _Obj, keys: tuple[str, ...], in_or: bool) -> None:
        if not obj:
            raise InvalidEventPatternError("Empty objects are not allowed", ".".join(keys))
        for key, value in obj:
            if key == _OR:
                self.alternatives(value, keys)
                continue
            if in_or and key in _RESERVED_IN_OR:
                raise InvalidEventPatternError(
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
                raise InvalidEventPatternError(f'"{key}" must be an object or an array', ".".join(sub))

    def alternatives(self, value: Any, keys: tuple[str, ...]) -> None:
        where = ".".join(keys)
        if not isinstance(value, list) or isinstance(value, _Obj):
            raise InvalidEventPatternError("It must be an Array followed with $or.", where)
        before, after = self.branches, []
        for alternative in value:
            if not isinstance(alternative, _Obj):
                raise InvalidEventPatternError(
                    "Only JSON object is allowed in array of $or relationship.", where
                )
            self.branches = [dict(branch) for branch in before]
            self.object(alternative, keys, in_or=True)
            after.extend(self.branches)
            if len(after) > _MAX_BRANCHES:
                raise InvalidEventPatternError(f"Rule is too complex - $or expands to more than "
                                               f"{_MAX_BRANCHES} combinations", where)  # fmt: skip
        if len(value) < 2:
            raise InvalidEventPatternError("There must have at least 2 Objects in $or relationship.", where)
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
        if _wildcard_complexity(tokens) > _WILDCARD_COMPLEXITY_LIMIT:
            raise InvalidEventPatternError(_TOO_COMPLEX, path)


_Leaves = dict[str, list[tuple[Any, tuple[tuple[int, int], ...]]]]


def _consistent(groups: list[set[tuple[tuple[int, int], ...]]], index: int, chosen: dict[int, int]) -> bool:
    """Can one candidate per field be chosen so that no two sit in different elements of one array?"""
    if index == len(groups):
        return True
    for membership in groups[index]:
        if all(chosen.get(array, element) == element for array, element in membership):
            added = [array for array, element in membership if array not in chosen]
            chosen.update(membership)
            if _consistent(groups, index + 1, chosen):
                return True
            for array in added:
                del chosen[array]
    return False


def _branch_matches(fields: tuple[_Field, ...], leaves: _Leaves) -> bool:
    groups: list[set[tuple[tuple[int, int], ...]]] = []
    for field in fields:
        found = leaves.get(field.path)
        if not found:
            if field.absent_ok:
                continue
            return False
        if not field.testable:
            return False
        candidates: set[tuple[tuple[int, int], ...]] = set()
        for value, membership in found:
            if field.test(value):
                if not membership:  # outside any array: compatible with every other choice
                    break
                candidates.add(membership)
        else:
            if not candidates:
                return False
            groups.append(candidates)
    if len(groups) < 2:
        return True
    return _consistent(sorted(groups, key=len), 0, {})


class EventPattern:
    """A validated, compiled EventBridge event pattern.

    >>> rule = EventPattern.parse('{"source": ["aws.sagemaker"], "detail": {"State": ["Approved"]}}')
    >>> rule.matches({"source": "aws.sagemaker", "detail": {"State": "Approved"}})
    True
    """

    __slots__ = ("_branches", "_fields", "_text", "_wanted")

    def __init__(self, text: str, branches: list[tuple[_Field, ...]]) -> None:
        self._text = text
        self._branches = branches
        self._fields = frozenset(field.path for branch in branches for field in branch)
        self._wanted = self._fields | {
            path[:i] for path in self._fields for i, char in enumerate(path) if char == "."
        }

    @classmethod
    def parse(cls, text: str) -> EventPattern:
        """Parse and validate a pattern (the JSON string given to PutRule / TestEventPattern).

        Raises InvalidEventPatternError for anything EventBridge rejects, with EventBridge's reason and
        the field path, e.g. 'Event pattern is not valid. Reason: prefix match pattern must be a string,
        at detail.ModelApprovalStatus'.
        """
        if not isinstance(text, str | bytes):
            raise InvalidEventPatternError(
                f"Filter is not valid JSON: expected a string, got {type(text).__name__}"
            )
        document = _load(text)
        if not isinstance(document, _Obj):
            raise InvalidEventPatternError("Filter is not an object")
        compiler = _Compiler()
        compiler.object(document, (), in_or=False)
        _check_wildcard_complexity(compiler.branches)
        unique: dict[tuple[int, ...], tuple[_Field, ...]] = {}
        for branch in compiler.branches:
            # Cheap, selective fields first: exact top-level envelope fields usually decide.
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
        leaves: _Leaves = {}
        self._collect(event, "", (), leaves, [0])
        return any(_branch_matches(branch, leaves) for branch in self._branches)

    def _collect(
        self,
        node: Any,
        path: str,
        membership: tuple[tuple[int, int], ...],
        leaves: _Leaves,
        arrays: list[int],
    ) -> None:
        """Gather the leaf values at the pattern's field paths, each with the array elements it sits in."""
        if isinstance(node, Mapping):
            for key, value in node.items():
                sub = f"{path}.{key}" if path else str(key)
                if sub in self._wanted:
                    self._collect(value, sub, membership, leaves, arrays)
        elif isinstance(node, list | tuple):
            arrays[0] += 1
            array = arrays[0]
            for index, element in enumerate(node):
                self._collect(element, path, (*membership, (array, index)), leaves, arrays)
        elif path in self._fields:
            leaves.setdefault(path, []).append((node, membership))

    def __repr__(self) -> str:
        return f"EventPattern.parse({self._text!r})"
