"""Target input rendering: each row is (target settings, event, exact body EventBridge delivers).

Expected bodies follow the EventBridge user guide ("Amazon EventBridge input transformation": its
examples table, predefined variables and common issues) and, where the guide is silent, request/body
pairs recorded against real EventBridge (missing variable -> "" in a value position, nothing inside a
string; aws.events.event without detail and with "detailType"; PutTargets error wording).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from modelreg.events.transform import (
    RESERVED_VARIABLES,
    InputTransformError,
    render_input,
    validate_target_input,
)
from tests.events.documented_event import EVENT, IMAGE, PACKAGE_ARN

RULE_ARN = "arn:aws:events:us-east-2:123456789012:rule/model-approved"
RULE_NAME = "model-approved"
INGESTED = "2021-02-24T17:00:15Z"


def _event_with(**detail: Any) -> dict[str, Any]:
    event = copy.deepcopy(EVENT)
    event["detail"].update(detail)
    return event


# An approval note with characters that need escaping in JSON, and non-ASCII text.
NOTED = _event_with(ApprovalDescription='QA said "ship it"\\ok', Owner="Zoë ✓", Reviewer=None)


def _minified(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _transformer(template: str, **paths: str) -> dict[str, Any]:
    return {"Id": "hook", "Arn": "arn:aws:events:us-east-2:123456789012:api-destination/hook/1",
            "InputTransformer": {"InputPathsMap": paths, "InputTemplate": template}}  # fmt: skip


GROUP = "$.detail.ModelPackageGroupName"
VERSION = "$.detail.ModelPackageVersion"
STATUS = "$.detail.ModelApprovalStatus"
WITHOUT_DETAIL = {
    "id": EVENT["id"], "account": "123456789012", "detailType": "SageMaker Model Package State Change",
    "time": "2021-02-24T17:00:14Z", "source": "aws.sagemaker", "region": "us-east-2",
    "resources": [PACKAGE_ARN], "version": "0",
}  # fmt: skip

CASES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    # --- no input settings: the event itself, minified
    ("event-itself", {"Id": "hook"}, EVENT, _minified(EVENT)),
    ("null-settings-are-absent", {"Id": "hook", "Input": None, "InputPath": None}, EVENT, _minified(EVENT)),
    # --- Input: the constant, verbatim (whitespace and all)
    (
        "input-object",
        {"Id": "hook", "Input": '{"action": "deploy",  "env": "prod"}'},
        EVENT,
        '{"action": "deploy",  "env": "prod"}',
    ),
    ("input-string", {"Id": "hook", "Input": '"redeploy"'}, EVENT, '"redeploy"'),
    ("input-number", {"Id": "hook", "Input": "42"}, EVENT, "42"),
    # --- InputPath: the selection as JSON
    ("path-detail", {"Id": "hook", "InputPath": "$.detail"}, EVENT, _minified(EVENT["detail"])),
    ("path-root", {"Id": "hook", "InputPath": "$"}, EVENT, _minified(EVENT)),
    ("path-string", {"Id": "hook", "InputPath": STATUS}, EVENT, '"Rejected"'),
    ("path-number", {"Id": "hook", "InputPath": VERSION}, EVENT, "2"),
    ("path-boolean", {"Id": "hook", "InputPath": "$.detail.CertifyForMarketplace"}, EVENT, "false"),
    (
        "path-dash-key",
        {"Id": "hook", "InputPath": "$.detail-type"},
        EVENT,
        '"SageMaker Model Package State Change"',
    ),
    ("path-index", {"Id": "hook", "InputPath": "$.resources[0]"}, EVENT, f'"{PACKAGE_ARN}"'),
    (
        "path-nested-index",
        {"Id": "hook", "InputPath": "$.detail.InferenceSpecification.Containers[0].Image"},
        EVENT,
        f'"{IMAGE}"',
    ),
    (
        "path-wildcard-array",
        {"Id": "hook", "InputPath": "$.detail.InferenceSpecification.Containers[*].Image"},
        EVENT,
        f'["{IMAGE}"]',
    ),
    (
        "path-wildcard-object",
        {"Id": "hook", "InputPath": "$.detail.ModelMetrics.ModelQuality.Statistics.*"},
        EVENT,
        '["application/json","s3://.../evaluation.json"]',
    ),
    (
        "path-wildcard-no-match",
        {"Id": "hook", "InputPath": "$.detail.ModelPackageStatusDetails.*[*]"},
        EVENT,
        "[]",
    ),
    (
        "path-empty-array",
        {"Id": "hook", "InputPath": "$.detail.ModelPackageStatusDetails.ValidationStatuses"},
        EVENT,
        "[]",
    ),
    ("path-null", {"Id": "hook", "InputPath": "$.detail.Reviewer"}, NOTED, "null"),
    ("path-missing", {"Id": "hook", "InputPath": "$.detail.ApprovalDescription"}, EVENT, ""),
    ("path-index-out-of-range", {"Id": "hook", "InputPath": "$.resources[1]"}, EVENT, ""),
    ("path-index-on-object", {"Id": "hook", "InputPath": "$.detail[0]"}, EVENT, ""),
    ("path-key-on-string", {"Id": "hook", "InputPath": "$.source.name"}, EVENT, ""),
    # --- JSON templates: bare placeholders become JSON values
    (
        "json-bare-values",
        _transformer('{"group": <g>, "version": <v>, "status": <s>}', g=GROUP, v=VERSION, s=STATUS),
        EVENT,
        '{"group":"versionedmp-p-idy6c3e1fiqj","version":2,"status":"Rejected"}',
    ),
    ("json-quoted-string", _transformer('{"status": "<s>"}', s=STATUS), EVENT, '{"status":"Rejected"}'),
    ("json-quoted-number", _transformer('{"version": "<v>"}', v=VERSION), EVENT, '{"version":"2"}'),
    (
        "json-mixed-and-static",
        _transformer('{"group" : <g>, "state": [ 9, <s>, true ], "Transformed" : "Yes"}', g=GROUP, s=STATUS),
        EVENT,
        '{"group":"versionedmp-p-idy6c3e1fiqj","state":[9,"Rejected",true],"Transformed":"Yes"}',
    ),
    (
        "json-text-with-escaped-quotes",
        _transformer('{"msg": "package <g>/<v> is \\"<s>\\""}', g=GROUP, v=VERSION, s=STATUS),
        EVENT,
        '{"msg":"package versionedmp-p-idy6c3e1fiqj/2 is \\"Rejected\\""}',
    ),
    (
        "json-object-bare",
        _transformer('{"metrics": <m>}', m="$.detail.ModelMetrics"),
        EVENT,
        '{"metrics":{"ModelQuality":{"Statistics":{"ContentType":"application/json",'
        '"S3Uri":"s3://.../evaluation.json"}}}}',
    ),
    (
        "json-object-in-string-loses-quotes",
        _transformer('{"msg": "metrics <m>"}', m="$.detail.ModelMetrics"),
        EVENT,
        '{"msg":"metrics {ModelQuality:{Statistics:{ContentType:application/json,'
        'S3Uri:s3://.../evaluation.json}}}"}',
    ),
    (
        "json-array-bare",
        _transformer('{"arns": <r>}', r="$.resources"),
        EVENT,
        f'{{"arns":["{PACKAGE_ARN}"]}}',
    ),
    (
        "json-array-in-string-loses-quotes",
        _transformer('{"msg": "on <r>"}', r="$.resources"),
        EVENT,
        f'{{"msg":"on [{PACKAGE_ARN}]"}}',
    ),
    (
        "json-wildcard-bare",
        _transformer('{"images": <i>}', i="$.detail.InferenceSpecification.Containers[*].Image"),
        EVENT,
        f'{{"images":["{IMAGE}"]}}',
    ),
    (
        "json-boolean",
        _transformer('{"m": <c>, "t": "m=<c>"}', c="$.detail.CertifyForMarketplace"),
        EVENT,
        '{"m":false,"t":"m=false"}',
    ),
    (
        "json-null",
        _transformer('{"r": <r>, "t": "by <r>"}', r="$.detail.Reviewer"),
        NOTED,
        '{"r":null,"t":"by null"}',
    ),
    (
        "json-missing-is-empty-string",
        _transformer('{"note": <n>, "t": "note: <n>."}', n="$.detail.Nope"),
        EVENT,
        '{"note":"","t":"note: ."}',
    ),
    (
        "json-array-template",
        _transformer('[<v>, "<s>", <s>]', v=VERSION, s=STATUS),
        EVENT,
        '[2,"Rejected","Rejected"]',
    ),
    (
        "json-minified",
        _transformer('{\n  "group" : <g>,\n  "note": "two  spaces\\tkept"\n}\n', g=GROUP),
        EVENT,
        '{"group":"versionedmp-p-idy6c3e1fiqj","note":"two  spaces\\tkept"}',
    ),
    (
        "json-escape-needed-bare",
        _transformer('{"why": <d>}', d="$.detail.ApprovalDescription"),
        NOTED,
        '{"why":"QA said \\"ship it\\"\\\\ok"}',
    ),
    # Values inside a string are not escaped; the broken JSON goes out as filled (not minified).
    (
        "json-escape-needed-in-string-not-escaped",
        _transformer('{"why": "because <d>", "n": 1}', d="$.detail.ApprovalDescription"),
        NOTED,
        '{"why": "because QA said "ship it"\\ok", "n": 1}',
    ),
    (
        "json-unicode",
        _transformer('{"owner": <o>, "t": "by <o>"}', o="$.detail.Owner"),
        NOTED,
        '{"owner":"Zoë ✓","t":"by Zoë ✓"}',
    ),
    (
        "json-lone-angle-bracket-is-text",
        _transformer('{"t": "v<v> < 3", "ok": <v>}', v=VERSION),
        EVENT,
        '{"t":"v2 < 3","ok":2}',
    ),
    # --- reserved variables
    (
        "reserved-in-json",
        _transformer(
            '{"ruleArn": <aws.events.rule-arn>, "ruleName": <aws.events.rule-name>, '
            '"at": <aws.events.event.ingestion-time>}'
        ),
        EVENT,
        f'{{"ruleArn":"{RULE_ARN}","ruleName":"model-approved","at":"{INGESTED}"}}',
    ),
    (
        "reserved-in-string",
        _transformer('"<aws.events.rule-name> triggered at <aws.events.event.ingestion-time>"'),
        EVENT,
        f'"model-approved triggered at {INGESTED}"',
    ),
    (
        "reserved-event-without-detail",
        _transformer('{"status": <s>, "originalEvent": <aws.events.event>}', s=STATUS),
        EVENT,
        f'{{"status":"Rejected","originalEvent":{_minified(WITHOUT_DETAIL)}}}',
    ),
    (
        "reserved-event-json",
        _transformer('{"event": <aws.events.event.json>}'),
        EVENT,
        f'{{"event":{_minified(EVENT)}}}',
    ),
    ("reserved-event-json-alone", _transformer("<aws.events.event.json>"), EVENT, _minified(EVENT)),
    # Reserved JSON variables are never escaped, not even inside a string.
    (
        "reserved-event-json-in-string-unescaped",
        _transformer('"got <aws.events.event>"'),
        EVENT,
        f'"got {_minified(WITHOUT_DETAIL)}"',
    ),
    # --- text templates: delivered as written, values inserted raw
    (
        "text-plain",
        _transformer("Instance <instance> is in <state>", instance="$.detail.ModelPackageArn", state=STATUS),
        EVENT,
        f"Instance {PACKAGE_ARN} is in Rejected",
    ),
    (
        "text-quoted-string",
        _transformer('"Model <g> version <v> is <s>"', g=GROUP, v=VERSION, s=STATUS),
        EVENT,
        '"Model versionedmp-p-idy6c3e1fiqj version 2 is Rejected"',
    ),
    (
        "text-quoted-with-escaped-quotes",
        _transformer('"model \\"<g>\\" is <s>"', g=GROUP, s=STATUS),
        EVENT,
        '"model \\"versionedmp-p-idy6c3e1fiqj\\" is Rejected"',
    ),
    (
        "text-multiline-quoted-lines",
        _transformer('"Package <g> was reviewed."\n"Decision: <s>."', g=GROUP, s=STATUS),
        EVENT,
        '"Package versionedmp-p-idy6c3e1fiqj was reviewed."\n"Decision: Rejected."',
    ),
    ("text-special-start-characters", _transformer('"{[/Check <s>"', s=STATUS), EVENT, '"{[/Check Rejected"'),
    ("text-missing-is-empty", _transformer("note: <n>.", n="$.detail.Nope"), EVENT, "note: ."),
    (
        "text-object-bare-is-json",
        _transformer("metrics <m>", m="$.detail.ModelMetrics.ModelQuality"),
        EVENT,
        'metrics {"Statistics":{"ContentType":"application/json","S3Uri":"s3://.../evaluation.json"}}',
    ),
    (
        "text-unescaped-value",
        _transformer("why: <d>", d="$.detail.ApprovalDescription"),
        NOTED,
        'why: QA said "ship it"\\ok',
    ),
    ("text-whitespace-kept", _transformer("  <s>\n", s=STATUS), EVENT, "  Rejected\n"),
    ("text-constant-without-placeholders", _transformer("ping"), EVENT, "ping"),
]


@pytest.mark.parametrize(("target", "event", "body"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_render_input(target: dict[str, Any], event: dict[str, Any], body: str) -> None:
    validate_target_input(target)
    rendered = render_input(target, event, rule_arn=RULE_ARN, rule_name=RULE_NAME, ingestion_time=INGESTED)
    assert rendered == body.encode()


def test_ingestion_time_defaults_to_the_event_time() -> None:
    target = _transformer('{"at": <aws.events.event.ingestion-time>}')
    assert (
        render_input(target, EVENT, rule_arn=RULE_ARN, rule_name=RULE_NAME)
        == b'{"at":"2021-02-24T17:00:14Z"}'
    )


def test_rendering_leaves_the_event_untouched() -> None:
    event = copy.deepcopy(EVENT)
    render_input(_transformer('{"e": <aws.events.event>}'), event, rule_arn=RULE_ARN, rule_name=RULE_NAME)
    render_input({"Id": "hook", "InputPath": "$.detail"}, event, rule_arn=RULE_ARN, rule_name=RULE_NAME)
    assert event == EVENT


def test_one_hundred_paths_are_allowed() -> None:
    paths = {f"v{i}": STATUS for i in range(100)}
    target = _transformer('{"first": <v0>, "last": "<v99>"}', **paths)
    validate_target_input(target)
    body = render_input(target, EVENT, rule_arn=RULE_ARN, rule_name=RULE_NAME)
    assert body == b'{"first":"Rejected","last":"Rejected"}'


def test_reserved_names_are_the_documented_five() -> None:
    assert frozenset({"aws.events.rule-arn", "aws.events.rule-name", "aws.events.event.ingestion-time",
                      "aws.events.event", "aws.events.event.json"}) == RESERVED_VARIABLES  # fmt: skip


ONE_OF = "Only one of Input, InputPath, or InputTransformer must be provided for target hook."
NOT_JSON = "Input for target hook is not a valid JSON text."
BAD_PATH = "InputPath for target hook is invalid."
INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("input-and-path", {"Id": "hook", "Input": "{}", "InputPath": "$.detail"}, ONE_OF),
    ("path-and-transformer", {**_transformer('"<s>"', s=STATUS), "InputPath": "$.detail"}, ONE_OF),
    ("all-three", {**_transformer('"x"'), "Input": "{}", "InputPath": "$"}, ONE_OF),
    ("input-truncated-json", {"Id": "hook", "Input": '{"a": '}, NOT_JSON),
    ("input-plain-text", {"Id": "hook", "Input": "deploy now"}, NOT_JSON),
    ("input-empty", {"Id": "hook", "Input": ""}, NOT_JSON),
    ("input-nan", {"Id": "hook", "Input": "NaN"}, NOT_JSON),
    (
        "input-too-long",
        {"Id": "hook", "Input": '"' + "x" * 8191 + '"'},
        "Member must have length less than or equal to 8192",
    ),
    ("path-without-dollar", {"Id": "hook", "InputPath": "detail.ModelApprovalStatus"}, BAD_PATH),
    ("path-empty", {"Id": "hook", "InputPath": ""}, BAD_PATH),
    ("path-trailing-dot", {"Id": "hook", "InputPath": "$."}, BAD_PATH),
    ("path-quoted-bracket", {"Id": "hook", "InputPath": "$.detail['ModelApprovalStatus']"}, BAD_PATH),
    ("path-deep-scan", {"Id": "hook", "InputPath": "$..ModelApprovalStatus"}, BAD_PATH),
    ("path-negative-index", {"Id": "hook", "InputPath": "$.resources[-1]"}, BAD_PATH),
    ("path-filter", {"Id": "hook", "InputPath": "$.resources[?(@ == 'x')]"}, BAD_PATH),
    ("path-space-in-key", {"Id": "hook", "InputPath": "$.detail.Model Status"}, BAD_PATH),
    (
        "path-too-long",
        {"Id": "hook", "InputPath": "$." + "a" * 255},
        "Member must have length less than or equal to 256",
    ),
    ("paths-map-bad-path", _transformer('"<s>"', s="detail.ModelApprovalStatus"), BAD_PATH),
    (
        "undefined-placeholder",
        _transformer('"Event of <s> type, with not defined key <notdefinedkey>"', s=STATUS),
        "InputTemplate for target hook contains invalid placeholder notdefinedkey.",
    ),
    (
        "undefined-placeholder-in-json",
        _transformer('{"a": <s>, "b": <typo>}', s=STATUS),
        "InputTemplate for target hook contains invalid placeholder typo.",
    ),
    (
        "empty-placeholder",
        _transformer('"a <> b"'),
        "InputTemplate for target hook contains invalid placeholder .",
    ),
    (
        "html-looks-like-placeholder",
        _transformer('"<b>bold</b>"'),
        "InputTemplate for target hook contains invalid placeholder b.",
    ),
    (
        "placeholder-as-key",
        _transformer('{<s>: "status"}', s=STATUS),
        "InputTemplate for target hook uses placeholder s as an object key",
    ),
    (
        "quoted-placeholder-as-key",
        _transformer('{"<s>" : 1, <s> : 2}', s=STATUS),
        "InputTemplate for target hook uses placeholder s as an object key",
    ),
    (
        "redefine-rule-name",
        _transformer('"<aws.events.rule-name>"', **{"aws.events.rule-name": "$.source"}),
        "InputPathsMap for target hook cannot define the reserved variable aws.events.rule-name.",
    ),
    (
        "redefine-ingestion-time",
        _transformer('"x"', **{"aws.events.event.ingestion-time": "$.time"}),
        "InputPathsMap for target hook cannot define the reserved variable aws.events.event.ingestion-time.",
    ),
    (
        "key-starting-with-aws",
        _transformer('"x"', **{"AWS.mine": "$.time"}),
        "InputPathsMap for target hook cannot define the reserved variable AWS.mine.",
    ),
    (
        "key-with-space",
        _transformer('"x"', **{"my key": "$.time"}),
        "Member must satisfy regular expression pattern: [A-Za-z0-9\\_\\-]+",
    ),
    (
        "too-many-paths",
        _transformer('"x"', **{f"v{i}": "$.time" for i in range(101)}),
        "Member must have length less than or equal to 100",
    ),
    (
        "template-missing",
        {"Id": "hook", "InputTransformer": {"InputPathsMap": {"s": STATUS}}},
        "Member must not be null",
    ),
    ("template-empty", _transformer(""), "Member must have length greater than or equal to 1"),
    (
        "template-too-long",
        _transformer('"' + "x" * 8191 + '"'),
        "Member must have length less than or equal to 8192",
    ),
]


@pytest.mark.parametrize(("target", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_settings_are_rejected(target: dict[str, Any], message: str) -> None:
    with pytest.raises(InputTransformError) as validated:
        validate_target_input(target)
    assert message in str(validated.value)
    with pytest.raises(InputTransformError) as rendered:
        render_input(target, EVENT, rule_arn=RULE_ARN, rule_name=RULE_NAME)
    assert str(rendered.value) == str(validated.value)


def test_input_transform_error_is_a_value_error() -> None:
    assert issubclass(InputTransformError, ValueError)
