"""Java regular expressions (the ``pattern`` constraints of the botocore models) in Python.

``compile_pattern(pattern)`` translates a model pattern once and caches it, for ``fullmatch``:
Java's ASCII-only ``\\w``/``\\d``/``\\s`` and POSIX classes, its ``.`` that stops at every line
terminator, ``\\p{...}`` Unicode categories as explicit ranges, surrogate-pair ranges as astral
ranges, and rewrites of the few model patterns that backtrack exponentially. A construct with no
faithful translation makes the pattern unchecked (logged once), never a failed request.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import cache
from typing import Any

__all__ = ["compile_pattern"]

log = logging.getLogger("modelreg.aws.validate")


Ranges = tuple[tuple[int, int], ...]


class _Untranslatable(ValueError):
    """A Java construct with no faithful Python equivalent."""


# Java's POSIX classes are ASCII-only unless UNICODE_CHARACTER_CLASS is set (it is not here).
_POSIX: dict[str, Ranges] = {
    "Lower": ((0x61, 0x7A),), "Upper": ((0x41, 0x5A),), "ASCII": ((0x00, 0x7F),),
    "Alpha": ((0x41, 0x5A), (0x61, 0x7A)), "Digit": ((0x30, 0x39),),
    "Alnum": ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)),
    "Punct": ((0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)),
    "Graph": ((0x21, 0x7E),), "Print": ((0x20, 0x7E),), "Blank": ((0x09, 0x09), (0x20, 0x20)),
    "Cntrl": ((0x00, 0x1F), (0x7F, 0x7F)), "XDigit": ((0x30, 0x39), (0x41, 0x46), (0x61, 0x66)),
    "Space": ((0x09, 0x0D), (0x20, 0x20)),
}  # fmt: skip
# Java's '.' stops at every line terminator, not only at '\n' as Python's does.
_DOT = r"[^\n\r\x85\u2028\u2029]"

# Planes 4-13 hold no assigned code point and planes 15-16 are private use (Unicode 14 to 16);
# scanning only the rest keeps the one-off category table at about a quarter of a full scan.
_SCANNED = ((0x0, 0x40000), (0xE0000, 0xE1000))
_FIXED = (
    (0x40000, 0xDFFFF, "Cn"), (0xE1000, 0xEFFFF, "Cn"), (0xF0000, 0xFFFFD, "Co"),
    (0xFFFFE, 0xFFFFF, "Cn"), (0x100000, 0x10FFFD, "Co"), (0x10FFFE, 0x10FFFF, "Cn"),
)  # fmt: skip

# Patterns from the models whose nested quantifiers backtrack exponentially on a near-miss
# (Java has the same flaw; a server must not hang on one request). Each rewrite accepts exactly
# the same strings under Java semantics; tests/aws/test_validate.py checks the equivalence.
_REWRITES: dict[str, str] = {
    # '.' excludes the line terminators; [ \r\n\t] lets \r and \n back in: all but \x85 \u2028 \u2029
    ".*(?:[ \\r\\n\\t].*)*": "[^\\x85\\u2028\\u2029]*",
    ".*(?:[ \\r\\n\\t].*)*.*": "[^\\x85\\u2028\\u2029]*",
    # printable runs (which include the space) separated by blanks: tabs and at least one printable
    "^[ \\t]*[\\x20-\\x7E]+([ \\t]+[\\x20-\\x7E]+)*[ \\t]*$": "\\t*+[\\x20-\\x7E][\\t\\x20-\\x7E]*+",
    "^[ \\t]*[^\\x00-\\x1F:\\x7F]+([ \\t]+[^\\x00-\\x1F:\\x7F]+)*[ \\t]*$": (
        "\\t*+[^\\x00-\\x1F:\\x7F][^\\x00-\\x08\\x0A-\\x1F:\\x7F]*+"
    ),
    # 3..1016 groups of 'name-chars then an optional slash': >= 3 name chars, <= 1016 runs
    "https://([.\\-_a-zA-Z0-9]+/?){3,1016}": (
        "https://(?=(?:/?[.\\-_a-zA-Z0-9]){3})[.\\-_a-zA-Z0-9]++(?:/[.\\-_a-zA-Z0-9]++){0,1015}/?"
    ),
    # up to 39 pieces that each end in [a-z0-9] is one such piece or none
    "[a-z0-9]([-a-z0-9]*[a-z0-9]){0,39}?": "[a-z0-9](?:[-a-z0-9]*[a-z0-9])?",
}


@cache
def _category_ranges() -> dict[str, Ranges]:
    """Code point ranges of every two-letter Unicode general category (built once, ~0.1 s)."""
    found: dict[str, list[tuple[int, int]]] = {}
    category = unicodedata.category
    for lo, hi in _SCANNED:
        prev, start = category(chr(lo)), lo
        for cp in range(lo + 1, hi):
            cat = category(chr(cp))
            if cat != prev:
                found.setdefault(prev, []).append((start, cp - 1))
                prev, start = cat, cp
        found.setdefault(prev, []).append((start, hi - 1))
    for lo, hi, cat in _FIXED:
        found.setdefault(cat, []).append((lo, hi))
    return {cat: _merge(runs) for cat, runs in found.items()}


def _merge(ranges: Any) -> Ranges:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return tuple(merged)


def _complement(ranges: Ranges) -> Ranges:
    out, nxt = [], 0
    for lo, hi in ranges:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= 0x10FFFF:
        out.append((nxt, 0x10FFFF))
    return tuple(out)


def _property(name: str) -> Ranges:
    """Ranges of a Java ``\\p{name}``: POSIX names, general categories (``L``, ``IsLu``, ...)."""
    if name in _POSIX:
        return _POSIX[name]
    for prefix in ("general_category=", "gc=", "Is"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    cats = _category_ranges()
    if name in ("LC", "L&"):
        return _merge(r for c in ("Lu", "Ll", "Lt") for r in cats.get(c, ()))
    if len(name) == 1 and name in "LMNPSZC":
        return _merge(r for c, rs in cats.items() if c[0] == name for r in rs)
    if len(name) == 2 and name[0] in "LMNPSZC" and name.isalpha():
        return cats.get(name, ())
    raise _Untranslatable(f"\\p{{{name}}}")


def _esc(cp: int) -> str:
    return f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}"


def _charset(ranges: Ranges, negate: bool, in_class: bool) -> str:
    if negate:
        ranges = _complement(ranges)
    body = "".join(_esc(lo) if lo == hi else f"{_esc(lo)}-{_esc(hi)}" for lo, hi in ranges)
    if in_class:
        return body
    return f"[{body}]" if body else "(?!)"


def _hex(text: str) -> int:
    if not text or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise _Untranslatable(f"bad hex escape {text!r}")
    return int(text, 16)


def _escape(p: str, i: int, in_class: bool) -> tuple[str, int]:
    """Translate the escape at ``p[i] == '\\'``; return its Python text and the next index.

    Handled: ``\\p{..}``/``\\P{..}`` (general categories and POSIX names), ``\\uXXXX`` including
    surrogate pairs, ``\\z``; everything Python reads alike passes through. Java-only escapes
    that no model uses (``\\Q``, ``\\h``, ``\\R``, ``\\G``, ``\\k<..>``, octal ``\\0``, ...) are
    refused, so the pattern is skipped instead of being misread.
    """
    if i + 1 >= len(p):
        raise _Untranslatable("trailing backslash")
    d, j = p[i + 1], i + 2
    if d in "pP":
        if p.startswith("{", j) and p.find("}", j) > 0:
            end = p.find("}", j)
            name, j = p[j + 1 : end], end + 1
        elif j < len(p):
            name, j = p[j], j + 1
        else:
            raise _Untranslatable("bare \\p")
        return _charset(_property(name), d == "P", in_class), j
    if d == "u":
        cp, j = _hex(p[j : j + 4]), j + 4
        if 0xD800 <= cp <= 0xDBFF and p.startswith("\\u", j):  # a surrogate pair: one code point
            low = _hex(p[j + 2 : j + 6])
            if 0xDC00 <= low <= 0xDFFF:
                cp, j = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00), j + 6
        return _esc(cp), j
    if d == "z" and not in_class:
        return "\\Z", j
    if d in "QEhHvVRZGXNkce0" or (d == "x" and p.startswith("{", j)) or p.startswith("b{", j - 1):
        raise _Untranslatable(f"\\{d}")
    return p[i:j], j


_BACKREFERENCE = re.compile(r"\\[1-9]|\\k<")


def _translate(p: str) -> str:
    """Turn a Java regular expression into a Python one (compiled with ``re.ASCII``).

    Capturing groups become non-capturing (nothing reads them and they cost time in ``re``)
    unless the pattern refers back to one.
    """
    out: list[str] = []
    i, n = 0, len(p)
    in_class = False
    capture = _BACKREFERENCE.search(p) is not None
    while i < n:
        c = p[i]
        if c == "\\":
            text, i = _escape(p, i, in_class)
            out.append(text)
            continue
        if in_class:
            if c == "[" or p.startswith("&&", i):
                raise _Untranslatable("nested class, union or intersection")
            if c == "]":
                in_class = False
            out.append("\\" + c if c in "&~|" else c)
        elif c == "[":
            in_class = True
            out.append("[")
            if p.startswith("^", i + 1):
                out.append("^")
                i += 1
        elif c == ".":
            out.append(_DOT)
        elif c == "$" and i + 1 < n and p[i + 1] in "*+?{":
            out.append("(?:$)")  # Java lets a quantifier follow '$'; Python needs a group
        elif p.startswith("(?<", i) and i + 3 < n and p[i + 3] not in "=!":
            out.append("(?P<")
            i += 3
            continue
        elif c == "(" and not capture and not p.startswith("?", i + 1):
            out.append("(?:")
        else:
            out.append(c)
        i += 1
    if in_class:
        raise _Untranslatable("unclosed character class")
    return "".join(out)


@cache
def compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """Compile a botocore (Java) ``pattern`` for use with ``fullmatch``.

    Returns ``None`` when the pattern uses a construct with no faithful Python translation;
    such a pattern is then not checked (logged once) rather than failing requests.
    """
    try:
        source = _REWRITES.get(pattern)
        if source is None:
            source = _translate(pattern)
        return re.compile(source, re.ASCII)
    except (_Untranslatable, re.error, ValueError, OverflowError) as exc:
        log.warning("pattern not checked (no Python equivalent): %r: %s", pattern, exc)
        return None
