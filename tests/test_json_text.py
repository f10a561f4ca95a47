"""The JSON modelreg writes to its store and the wire is what the standard library would write,
also for what orjson refuses; what it reads from clients is RFC 8259 JSON."""

from __future__ import annotations

import json

import pytest

from modelreg import json_text


@pytest.mark.parametrize(
    "value",
    [
        {"ModelPackageGroupName": "g", "Version": 3, "Time": 1795715016.034917, "Ok": True, "None": None},
        {"text": "Modèle \U0001f680 \u2713", "nested": [[{"a": []}]]},
        {"big": 2**70, "negative": -(2**64)},  # orjson refuses integers beyond 64 bits
        {"deep": json.loads("[" * 300 + "]" * 300)},  # and nesting this deep
    ],
)
def test_written_json_is_the_standard_librarys(value: object) -> None:
    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert json_text.dumps(value) == expected
    assert json_text.dumps_bytes(value) == expected.encode()
    assert json.loads(json_text.dumps(value)) == value
    unordered = {"zeta": {"b": 1, "a": [value]}, **value}  # keys out of order, at two depths
    expected_sorted = json.dumps(unordered, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    assert json_text.dumps_bytes(unordered, sort_keys=True) == expected_sorted.encode()


@pytest.mark.parametrize(
    "text",
    [
        '{"a": NaN}',
        '{"a": -Infinity}',
        '{"a": 1e400}',
        '{"a": "\\ud800"}',
        '["x\\uDC00y"]',
        "{",
        "[" * 5000 + "]" * 5000,  # deeper than the parser's recursion: was a RecursionError
    ],
)
def test_parse_refuses_what_is_not_json_or_cannot_be_stored(text: str) -> None:
    with pytest.raises(ValueError):
        json_text.parse(text)
    with pytest.raises(ValueError):
        json_text.parse(text.encode())


def test_loads_turns_a_value_nested_too_deeply_into_a_value_error() -> None:
    with pytest.raises(ValueError, match="nests too deeply"):
        json_text.loads('{"a": ' + "[" * 5000 + "]" * 5000 + "}")
    assert json_text.loads("[" * 100 + "]" * 100) == json.loads("[" * 100 + "]" * 100)


def test_parse_takes_surrogate_pairs_and_exact_integers() -> None:
    assert json_text.parse(b'{"a": "\\ud83d\\ude80", "n": 123456789012345678901234567890}') == {
        "a": "\U0001f680",
        "n": 123456789012345678901234567890,
    }
