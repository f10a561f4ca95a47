"""The operands of EventBridge patterns that need parsing of their own: IP addresses and CIDR
ranges (``cidr``), and ``wildcard`` strings with event-ruler's complexity limit.

Split from :mod:`modelreg.events.patterns`, which compiles whole patterns; the error type lives
here so both modules raise the same ``InvalidEventPatternError``.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from ipaddress import IPv6Address
from typing import Final

# Rejecting more than ten simultaneously live wildcard prefixes reproduces every published data point:
# the user guide's "*:*:*:*:*:event-bus/*" is rejected, its "/Users/*/dir/dir/dir/dir/dir/doc.txt" accepted.
WILDCARD_COMPLEXITY_LIMIT: Final = 10
_COMPLEXITY_SEARCH_BUDGET: Final = 20_000
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


_Invalid = InvalidEventPatternError


def ip_value(text: str) -> tuple[int, int] | None:
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


def cidr_range(text: str, path: str) -> tuple[int, int, int]:
    parts = text.split("/")
    while parts and not parts[-1]:  # Java's String.split drops trailing empty strings
        parts.pop()
    if len(parts) != 2:
        raise _Invalid("Malformed CIDR, one '/' required", path)
    if not re.fullmatch(r"[+-]?[0-9]{1,10}", parts[1]) or not -(2**31) <= int(parts[1]) < 2**31:
        raise _Invalid("Malformed CIDR, mask bits must be an integer", path)
    bits = int(parts[1])
    if bits < 0:
        raise _Invalid("Malformed CIDR, mask bits must not be negative", path)
    address = ip_value(parts[0])
    if address is None:
        looks_like_ip = _IPV4_RE.fullmatch(parts[0]) or (":" in parts[0] and _IPV6_RE.fullmatch(parts[0]))
        raise _Invalid(f"{'Invalid' if looks_like_ip else 'Nonstandard'} IP address: {parts[0]}", path)
    width, value = address
    if bits >= width:
        raise _Invalid(f"IPv{4 if width == 32 else 6} mask bits must be < {width}", path)
    host = (1 << (width - bits)) - 1  # /32 and /128 are refused above, as event-ruler refuses them
    return width, value & ~host, value | host


def wildcard(text: str, path: str) -> tuple[re.Pattern[str], tuple[int, ...]]:
    """Validate like event-ruler (positions count the UTF-8 bytes of the quoted value) and compile."""
    raw, tokens, i = ('"' + text + '"').encode(), [], 0
    while i < len(raw):
        byte = raw[i]
        if byte == 0x2A:  # *
            if i + 1 < len(raw) and raw[i + 1] == 0x2A:
                raise _Invalid(f"Consecutive wildcard characters at pos {i}", path)
            byte = _STAR
        elif byte == 0x5C:  # backslash: only \* and \\ are escapes
            if i + 1 >= len(raw) or raw[i + 1] not in (0x2A, 0x5C):
                raise _Invalid(f"Invalid escape character at pos {i}", path)
            i += 1
            byte = raw[i]
        tokens.append(byte)
        i += 1
    regex = re.sub(r"\\(.)|(\*)|(.)", lambda m: ".*" if m[2] else re.escape(m[1] or m[3]), text, flags=re.S)
    return re.compile(regex, re.DOTALL), tuple(tokens)


def wildcard_complexity(patterns: Iterable[tuple[int, ...]]) -> int:
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
            step = {(p, i) for p, i in current if i and pats[p][i - 1] == _STAR}
            step |= {(p, i + 1) for p, i in current if i < len(pats[p]) and pats[p][i] == byte}
            if not step:
                continue
            state = close(step)
            worst = max(worst, sum(1 for _, i in state if i))
            if worst > WILDCARD_COMPLEXITY_LIMIT or len(seen) > _COMPLEXITY_SEARCH_BUDGET:
                return max(worst, WILDCARD_COMPLEXITY_LIMIT + 1)
            if state not in seen:
                seen.add(state)
                queue.append(state)
    return worst
