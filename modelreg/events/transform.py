"""EventBridge target input: the body a target receives for a matched event.

A pure module (no I/O). A target carries at most one of three input settings:

* none - the matched event itself, as minified JSON;
* ``Input`` - a constant JSON text, delivered verbatim;
* ``InputPath`` - one JSON path; the selected value is delivered as minified JSON;
* ``InputTransformer`` - ``InputPathsMap`` (up to 100 variables, each a JSON path) and an
  ``InputTemplate`` whose ``<name>`` placeholders are filled from the variables and from the
  reserved ones (``aws.events.rule-arn``, ``aws.events.rule-name``,
  ``aws.events.event.ingestion-time``, ``aws.events.event``, ``aws.events.event.json``).

Sources: the EventBridge user guide ("Amazon EventBridge input transformation", its "Predefined
variables", "Input transform examples" and "Common issues" sections, the input transformer
tutorial), the API reference (``Target``, ``InputTransformer``) and the events service model
(lengths, key pattern, 100 entries). Where the docs are silent, request/response pairs recorded
against real EventBridge (published as LocalStack's AWS-validated snapshots) decided.

Placeholder quoting, as EventBridge documents it:

* A placeholder inside a JSON string literal of the template gets the raw text: strings as they
  are (not escaped - "EventBridge doesn't escape values extracted by Input Path"), numbers,
  booleans and null as their JSON text, objects and arrays as JSON with every quote removed
  ("EventBridge removes any internal quotes to ensure a valid string").
* A placeholder outside strings of a JSON template (one starting with ``{`` or ``[``) gets the
  value as JSON: strings are quoted and escaped, objects and arrays are inserted as JSON.
* A template that is not JSON (plain text such as ``Instance <instance> is in <state>``, or a
  quoted string, or several quoted lines) is delivered as written with the values inserted raw.
* ``aws.events.event`` and ``aws.events.event.json`` are always inserted as JSON text,
  unescaped, wherever they stand ("can only be used as a value for a JSON field").
* A variable whose path selects nothing counts as the empty string (recorded: ``"x": ""`` in a
  value position, nothing inside a string).
* A JSON template that is valid JSON after filling is minified ("The JSON that is passed to the
  target is minified"); one made invalid by an unescaped value is delivered as filled.

JSON paths (``InputPath`` and the ``InputPathsMap`` values) use the documented subset: ``$``
followed by ``.key`` (letters, digits, ``-``, ``_``, ``/``), ``[n]`` array indexes and the ``*``
/ ``[*]`` wildcards. A path with a wildcard always selects a (possibly empty) list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from modelreg import json_text

__all__ = [
    "RESERVED_VARIABLES",
    "InputTransformError",
    "render_input",
    "validate_target_input",
]

RULE_ARN: Final = "aws.events.rule-arn"
RULE_NAME: Final = "aws.events.rule-name"
INGESTION_TIME: Final = "aws.events.event.ingestion-time"
EVENT: Final = "aws.events.event"
EVENT_JSON: Final = "aws.events.event.json"
_RESERVED_JSON: Final = frozenset({EVENT, EVENT_JSON})
RESERVED_VARIABLES: Final = frozenset({RULE_ARN, RULE_NAME, INGESTION_TIME}) | _RESERVED_JSON

_MAX_PATHS: Final = 100  # TransformerPaths max
_MAX_PATH_LENGTH: Final = 256  # TargetInputPath max
_MAX_KEY_LENGTH: Final = 256  # InputTransformerPathKey max
_MAX_TEMPLATE_LENGTH: Final = 8192  # TransformerInput max
_MAX_INPUT_LENGTH: Final = 8192  # TargetInput max
_KEY_PATTERN: Final = "[A-Za-z0-9\\_\\-]+"  # InputTransformerPathKey pattern, as the model spells it
_KEY_RE: Final = re.compile(r"[A-Za-z0-9_\-]+")
_PATH_STEP_RE: Final = re.compile(r"\.([A-Za-z0-9_\-/]+)|\[(\d+)\]|\.\*|\[\*\]")
_PLACEHOLDER_RE: Final = re.compile(r"<([^<>]*)>")  # "<" and ">" cannot be escaped
_JSON_WHITESPACE: Final = frozenset(" \t\n\r")
# aws.events.event as recorded from EventBridge: no detail, "detail-type" spelled "detailType".
_EVENT_ENVELOPE_ORDER: Final = ("id", "account", "detail-type", "time", "source", "region", "resources",
                                "version")  # fmt: skip


class InputTransformError(ValueError):
    """Target input settings that EventBridge rejects; the message is EventBridge's where known."""


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Final = _Missing()


@dataclass(frozen=True, slots=True)
class _RawJson:
    """A reserved value that is inserted as JSON text, unescaped, wherever it stands."""

    text: str


@dataclass(frozen=True, slots=True)
class _Slot:
    """One ``<name>`` occurrence in a template and where it stands."""

    name: str
    in_string: bool
    as_key: bool


# --------------------------------------------------------------------------------------------------
# public API


def render_input(
    target: Mapping[str, Any],
    event: Mapping[str, Any],
    *,
    rule_arn: str,
    rule_name: str,
    ingestion_time: str | None = None,
) -> bytes:
    """The body EventBridge would deliver to this target for this event: the event itself as JSON when the
    target has none of Input / InputPath / InputTransformer; Input verbatim; InputPath's selection as JSON;
    InputTransformer's InputTemplate with placeholders filled from InputPathsMap (and the reserved variables).
    Raises InputTransformError for a path or template that EventBridge would reject.

    ``ingestion_time`` is the ISO-8601 time EventBridge received the event; the event's own ``time`` when
    not given. An ``InputPath`` that selects nothing yields an empty body.
    """
    validate_target_input(target)
    constant = target.get("Input")
    if constant is not None:
        return str(constant).encode()
    input_path = target.get("InputPath")
    if input_path is not None:
        selected = _select(event, _parse_path(input_path))
        return b"" if selected is _MISSING else _dumps(selected).encode()
    transformer = target.get("InputTransformer")
    if transformer is not None:
        variables = _variables(transformer, event, rule_arn, rule_name, ingestion_time)
        return _fill(transformer["InputTemplate"], variables).encode()
    return _dumps(event).encode()


def validate_target_input(target: Mapping[str, Any]) -> None:
    """The static checks EventBridge makes at PutTargets time (at most one of Input/InputPath/
    InputTransformer, valid JSON for Input, valid paths, reserved variable names not redefined, ...).
    Raises InputTransformError with AWS's wording where you can find it."""
    target_id = target.get("Id", "")
    given = [name for name in ("Input", "InputPath", "InputTransformer") if target.get(name) is not None]
    if len(given) > 1:
        raise InputTransformError(
            f"Only one of Input, InputPath, or InputTransformer must be provided for target {target_id}."
        )
    if "Input" in given:
        _check_constant(target_id, target["Input"])
    elif "InputPath" in given:
        _check_path(target_id, target["InputPath"])
    elif "InputTransformer" in given:
        _check_transformer(target_id, target["InputTransformer"])


# --------------------------------------------------------------------------------------------------
# static checks


def _check_constant(target_id: str, constant: Any) -> None:
    if not isinstance(constant, str):
        raise InputTransformError(f"Input for target {target_id} is not a valid JSON text.")
    _check_length("input", constant, _MAX_INPUT_LENGTH)
    try:
        json_text.loads(constant, parse_constant=_reject_constant)
    except ValueError:
        raise InputTransformError(f"Input for target {target_id} is not a valid JSON text.") from None


def _check_path(target_id: str, path: Any) -> None:
    if isinstance(path, str):
        _check_length("inputPath", path, _MAX_PATH_LENGTH)
    if not isinstance(path, str) or _parse_path(path) is None:
        raise InputTransformError(f"InputPath for target {target_id} is invalid.")


def _check_transformer(target_id: str, transformer: Any) -> None:
    if not isinstance(transformer, Mapping):
        raise InputTransformError(f"InputTransformer for target {target_id} must be an object.")
    template = transformer.get("InputTemplate")
    if template is None:
        raise InputTransformError(
            "1 validation error detected: Value null at 'inputTransformer.inputTemplate' failed to satisfy "
            "constraint: Member must not be null"
        )
    if not isinstance(template, str) or not template:
        raise InputTransformError(
            f"Value '{template}' at 'inputTransformer.inputTemplate' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1"
        )
    _check_length("inputTransformer.inputTemplate", template, _MAX_TEMPLATE_LENGTH)
    paths = transformer.get("InputPathsMap") or {}
    if not isinstance(paths, Mapping):
        raise InputTransformError(f"InputPathsMap for target {target_id} must be an object.")
    if len(paths) > _MAX_PATHS:
        raise InputTransformError(
            f"1 validation error detected: Value at 'inputTransformer.inputPathsMap' failed to satisfy "
            f"constraint: Member must have length less than or equal to {_MAX_PATHS}"
        )
    for key, path in paths.items():
        if not isinstance(key, str):
            raise InputTransformError(f"InputPathsMap for target {target_id} has a key that is not a string.")
        if key in RESERVED_VARIABLES or key.upper().startswith("AWS."):
            raise InputTransformError(
                f"InputPathsMap for target {target_id} cannot define the reserved variable {key}."
            )
        if not 1 <= len(key) <= _MAX_KEY_LENGTH or not _KEY_RE.fullmatch(key):
            raise InputTransformError(
                f"1 validation error detected: Value '{key}' at 'inputTransformer.inputPathsMap' failed "
                f"to satisfy constraint: Map keys must satisfy constraint: [Member must have length less "
                f"than or equal to {_MAX_KEY_LENGTH}, Member must have length greater than or equal to 1, "
                f"Member must satisfy regular expression pattern: {_KEY_PATTERN}]"
            )
        _check_path(target_id, path)
    json_template = _is_json_template(template)
    for part in _scan(template):
        if not isinstance(part, _Slot):
            continue
        if part.name not in paths and part.name not in RESERVED_VARIABLES:
            raise InputTransformError(
                f"InputTemplate for target {target_id} contains invalid placeholder {part.name}."
            )
        if json_template and part.as_key:
            raise InputTransformError(
                f"InputTemplate for target {target_id} uses placeholder {part.name} as an object key; "
                "a placeholder cannot be used as an object key."
            )


def _check_length(member: str, value: str, maximum: int) -> None:
    if len(value) > maximum:
        raise InputTransformError(
            f"1 validation error detected: Value at '{member}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {maximum}"
        )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# --------------------------------------------------------------------------------------------------
# JSON paths

_Step = tuple[str, str | int | None]


def _parse_path(path: str) -> tuple[_Step, ...] | None:
    """Parse the documented subset; ``None`` when the path is outside it."""
    if not path.startswith("$"):
        return None
    steps: list[_Step] = []
    position = 1
    while position < len(path):
        match = _PATH_STEP_RE.match(path, position)
        if match is None:
            return None
        if match.group(1) is not None:
            steps.append(("key", match.group(1)))
        elif match.group(2) is not None:
            steps.append(("index", int(match.group(2))))
        else:
            steps.append(("all", None))
        position = match.end()
    return tuple(steps)


def _select(document: Any, steps: tuple[_Step, ...] | None) -> Any:
    """The value the path selects, a list when the path has a wildcard, or ``_MISSING``."""
    if steps is None:
        return _MISSING
    values = [document]
    indefinite = False
    for kind, argument in steps:
        selected: list[Any] = []
        for value in values:
            if kind == "key":
                if isinstance(value, Mapping) and argument in value:
                    selected.append(value[argument])
            elif kind == "index":
                if _is_array(value) and isinstance(argument, int) and argument < len(value):
                    selected.append(value[argument])
            elif isinstance(value, Mapping):
                selected.extend(value.values())
            elif _is_array(value):
                selected.extend(value)
        indefinite = indefinite or kind == "all"
        values = selected
        if not values and not indefinite:
            return _MISSING
    return values if indefinite else values[0]


def _is_array(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


# --------------------------------------------------------------------------------------------------
# templates


def _variables(
    transformer: Mapping[str, Any],
    event: Mapping[str, Any],
    rule_arn: str,
    rule_name: str,
    ingestion_time: str | None,
) -> dict[str, Any]:
    variables: dict[str, Any] = {
        name: _select(event, _parse_path(path))
        for name, path in (transformer.get("InputPathsMap") or {}).items()
    }
    # Reserved names win: they cannot be defined in InputPathsMap and ingestion-time "can't be overwritten".
    variables[RULE_ARN] = rule_arn
    variables[RULE_NAME] = rule_name
    variables[INGESTION_TIME] = ingestion_time if ingestion_time is not None else event.get("time", "")
    variables[EVENT] = _RawJson(_dumps(_event_envelope(event)))
    variables[EVENT_JSON] = _RawJson(_dumps(event))
    return variables


def _event_envelope(event: Mapping[str, Any]) -> dict[str, Any]:
    """``aws.events.event``: the event without ``detail``, shaped as EventBridge delivers it."""
    envelope = {
        ("detailType" if key == "detail-type" else key): event[key]
        for key in _EVENT_ENVELOPE_ORDER
        if key in event
    }
    for key, value in event.items():
        if key not in _EVENT_ENVELOPE_ORDER and key != "detail":
            envelope[key] = value
    return envelope


def _is_json_template(template: str) -> bool:
    return template.lstrip()[:1] in ("{", "[")


def _scan(template: str) -> list[str | _Slot]:
    """Split a template into literal text and placeholders, noting which placeholders stand inside a JSON
    string literal (double quotes, backslash escapes) and which stand where an object key belongs."""
    parts: list[str | _Slot] = []
    literal: list[str] = []
    in_string = False
    position = 0
    while position < len(template):
        char = template[position]
        if char == "<" and (match := _PLACEHOLDER_RE.match(template, position)) is not None:
            if literal:
                parts.append("".join(literal))
                literal = []
            as_key = not in_string and template[match.end() :].lstrip()[:1] == ":"
            parts.append(_Slot(match.group(1), in_string, as_key))
            position = match.end()
            continue
        literal.append(char)
        position += 1
        if in_string and char == "\\" and position < len(template) and template[position] != "<":
            literal.append(template[position])
            position += 1
        elif char == '"':
            in_string = not in_string
    if literal:
        parts.append("".join(literal))
    return parts


def _fill(template: str, variables: Mapping[str, Any]) -> str:
    json_template = _is_json_template(template)
    pieces = [
        part if isinstance(part, str) else _render(variables[part.name], part, json_template)
        for part in _scan(template)
    ]
    filled = "".join(pieces)
    return _minify(filled) if json_template else filled


def _render(value: Any, slot: _Slot, json_template: bool) -> str:
    if isinstance(value, _RawJson):
        return value.text
    if value is _MISSING:
        value = ""
    if slot.in_string:
        if isinstance(value, str):
            return value
        text = _dumps(value)
        return text.replace('"', "") if isinstance(value, Mapping) or _is_array(value) else text
    if json_template or not isinstance(value, str):
        return _dumps(value)
    return value


def _minify(text: str) -> str:
    """Drop the whitespace between JSON tokens, keeping every token as written; text that is not valid
    JSON is returned unchanged."""
    try:
        json_text.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return text
    out: list[str] = []
    in_string = escaped = False
    for char in text:
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char not in _JSON_WHITESPACE:
            out.append(char)
            in_string = char == '"'
    return "".join(out)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
