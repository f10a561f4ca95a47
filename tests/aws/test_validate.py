"""validate_input against the real botocore models: the messages a boto3 user would read."""

from __future__ import annotations

import itertools
import random
import re
import time
import unicodedata
import warnings
from typing import Any

import botocore.session
import pytest
from botocore.model import ServiceModel, StructureShape

from modelreg.aws import java_regex as jr
from modelreg.aws.java_regex import compile_pattern
from modelreg.aws.validate import validate_input
from modelreg.errors import SerializationException, ValidationException

_SESSION = botocore.session.get_session()
SM = _SESSION.get_service_model("sagemaker")
EV = _SESSION.get_service_model("events")

ENTITY_NAME = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
ARN_OR_NAME = (
    r"(arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:[a-z\-]*\/)?([a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)"
)
TAG_VALUE = r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)"
META_KEY = r"([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,128}"
META_VALUE = r"([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,256}"
AUTH_HEADER = r"^[ \t]*[^\x00-\x1F:\x7F]+([ \t]+[^\x00-\x1F:\x7F]+)*[ \t]*$"
GROUP_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/churn"


def shape(operation: str, model: ServiceModel = SM) -> StructureShape:
    return model.operation_model(operation).input_shape


def ok(operation: str, params: dict[str, Any], model: ServiceModel = SM) -> None:
    validate_input(shape(operation, model), params)


def invalid(operation: str, params: dict[str, Any], model: ServiceModel = SM) -> str:
    with pytest.raises(ValidationException) as caught:
        validate_input(shape(operation, model), params)
    assert caught.value.code == "ValidationException"
    assert caught.value.status == 400
    return caught.value.message


def malformed(operation: str, params: dict[str, Any], model: ServiceModel = SM) -> str:
    with pytest.raises(SerializationException) as caught:
        validate_input(shape(operation, model), params)
    assert caught.value.code == "SerializationException"
    return caught.value.message


def one(path: str, value: str, constraint: str) -> str:
    return (
        f"1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: {constraint}"
    )


# --------------------------------------------------------------------------- constraints


def test_required_member_missing_or_null() -> None:
    expected = (
        "1 validation error detected: Value null at 'modelPackageGroupName' failed to satisfy "
        "constraint: Member must not be null"
    )
    assert invalid("CreateModelPackageGroup", {}) == expected
    assert invalid("CreateModelPackageGroup", {"ModelPackageGroupName": None}) == expected
    ok("CreateModelPackageGroup", {"ModelPackageGroupName": "churn"})


def test_string_max_length() -> None:
    ok("CreateModelPackageGroup", {"ModelPackageGroupName": "a" * 63})
    assert invalid("CreateModelPackageGroup", {"ModelPackageGroupName": "a" * 64}) == one(
        "modelPackageGroupName", "a" * 64, "Member must have length less than or equal to 63"
    )


def test_string_min_length_is_reported_with_the_pattern() -> None:
    assert invalid("CreateModelPackageGroup", {"ModelPackageGroupName": ""}) == (
        "2 validation errors detected: "
        "Value '' at 'modelPackageGroupName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1; "
        "Value '' at 'modelPackageGroupName' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {ENTITY_NAME}"
    )
    ok("CreateModelPackageGroup", {"ModelPackageGroupName": "a"})


def test_pattern_must_match_the_whole_string() -> None:
    ok("CreateModelPackageGroup", {"ModelPackageGroupName": "churn-model-2"})
    assert invalid("CreateModelPackageGroup", {"ModelPackageGroupName": "bad_name!"}) == one(
        "modelPackageGroupName", "bad_name!", f"Member must satisfy regular expression pattern: {ENTITY_NAME}"
    )
    # a prefix of it matches; search semantics would wrongly accept it
    assert "regular expression" in invalid("CreateModelPackageGroup", {"ModelPackageGroupName": "ok-ok_"})


def test_pattern_with_lookbehind_accepts_names_and_arns() -> None:
    for name in ("abc", "a-b", "a" * 63, GROUP_ARN):
        ok("DescribeModelPackageGroup", {"ModelPackageGroupName": name})
    for name in ("abc-", f"{GROUP_ARN}-", "-abc", "a" * 64):
        assert invalid("DescribeModelPackageGroup", {"ModelPackageGroupName": name}) == one(
            "modelPackageGroupName", name, f"Member must satisfy regular expression pattern: {ARN_OR_NAME}"
        )


def test_enum_lists_values_in_model_order() -> None:
    ok("ListModelPackages", {"ModelApprovalStatus": "Approved"})
    assert invalid("ListModelPackages", {"ModelApprovalStatus": "approved"}) == one(
        "modelApprovalStatus",
        "approved",
        "Member must satisfy enum value set: [Approved, Rejected, PendingManualApproval]",
    )


def test_integer_range() -> None:
    ok("ListModelPackages", {"MaxResults": 1})
    ok("ListModelPackages", {"MaxResults": 100})
    assert invalid("ListModelPackages", {"MaxResults": 101}) == one(
        "maxResults", "101", "Member must have value less than or equal to 100"
    )
    assert invalid("ListModelPackages", {"MaxResults": 0}) == one(
        "maxResults", "0", "Member must have value greater than or equal to 1"
    )


def test_float_range_prints_java_doubles() -> None:
    variant = {"VariantName": "AllTraffic", "ModelName": "m"}
    ok("CreateEndpointConfig", {"EndpointConfigName": "c", "ProductionVariants": [variant]})
    for weight in (0, 0.0, 2, 1.5):
        params = {
            "EndpointConfigName": "c",
            "ProductionVariants": [{**variant, "InitialVariantWeight": weight}],
        }
        ok("CreateEndpointConfig", params)
    params = {"EndpointConfigName": "c", "ProductionVariants": [{**variant, "InitialVariantWeight": -0.5}]}
    assert invalid("CreateEndpointConfig", params) == one(
        "productionVariants.1.member.initialVariantWeight",
        "-0.5",
        "Member must have value greater than or equal to 0.0",
    )


def test_list_length() -> None:
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    ok("CreateModelPackageGroup", {"ModelPackageGroupName": "g", "Tags": tags[:50]})
    shown = "[" + ", ".join(f"{{Key=k{i}, Value=v}}" for i in range(51)) + "]"
    assert invalid("CreateModelPackageGroup", {"ModelPackageGroupName": "g", "Tags": tags}) == one(
        "tags", shown[:256] + "...", "Member must have length less than or equal to 50"
    )
    assert invalid("CreateModelPackage", {"AdditionalInferenceSpecifications": []}) == one(
        "additionalInferenceSpecifications", "[]", "Member must have length greater than or equal to 1"
    )


def test_map_length() -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/1"
    ok("UpdateModelPackage", {"ModelPackageArn": arn, "CustomerMetadataProperties": {"team": "growth"}})
    assert invalid("UpdateModelPackage", {"ModelPackageArn": arn, "CustomerMetadataProperties": {}}) == one(
        "customerMetadataProperties", "{}", "Member must have length greater than or equal to 1"
    )


def test_map_keys_and_values_name_the_map_and_list_every_constraint() -> None:
    ok("CreateModelPackage", {"CustomerMetadataProperties": {"Größe": "groß 1", "a.b/c=d": "x+y@z"}})
    assert invalid("CreateModelPackage", {"CustomerMetadataProperties": {"bad!key": "v"}}) == one(
        "customerMetadataProperties",
        "{bad!key=v}",
        "Map keys must satisfy constraint: [Member must have length less than or equal to 128, "
        "Member must have length greater than or equal to 1, "
        f"Member must satisfy regular expression pattern: {META_KEY}]",
    )
    assert invalid(
        "CreateModelPackage", {"CustomerMetadataProperties": {"a": "ok", "b": "tab\there"}}
    ) == one(
        "customerMetadataProperties",
        "{a=ok, b=tab\there}",
        "Map value must satisfy constraint: [Member must have length less than or equal to 256, "
        "Member must have length greater than or equal to 1, "
        f"Member must satisfy regular expression pattern: {META_VALUE}]",
    )
    assert invalid("CreateModelPackage", {"CustomerMetadataProperties": {"team": None}}) == one(
        "customerMetadataProperties",
        "{team=null}",
        "Map value must satisfy constraint: [Member must not be null]",
    )


def test_no_string_may_hold_the_nul_character() -> None:
    # PostgreSQL cannot store U+0000 in text: refused on every store, even where AWS's pattern allows it
    package = "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1"
    nul = "Member must not contain the NUL character (U+0000)"
    approval = {"ModelPackageArn": package, "ApprovalDescription": "a\x00b"}
    assert invalid("UpdateModelPackage", approval) == one("approvalDescription", "a\x00b", nul)
    assert invalid(
        "PutEvents", {"Entries": [{"Source": "s\x00", "DetailType": "d", "Detail": "{}"}]}, EV
    ) == one("entries.1.member.source", "s\x00", nul)
    # in a map, the constraint is listed after the shape's own
    assert invalid(
        "CreateModel", {"ModelName": "m", "PrimaryContainer": {"Image": "i", "Environment": {"K": "a\x00b"}}}
    ) == one(
        "primaryContainer.environment",
        "{K=a\x00b}",
        "Map value must satisfy constraint: [Member must have length less than or equal to 1024, "
        "Member must have length greater than or equal to 0, "
        f"Member must satisfy regular expression pattern: [\\S\\s]*, {nul}]",
    )
    ok("UpdateModelPackage", {"ModelPackageArn": package, "ApprovalDescription": "a\\u0000b is fine as text"})


def test_map_of_structures_is_walked_with_the_key_in_the_path() -> None:
    params = {
        "TrialComponentName": "t",
        "Parameters": {"lr": {"NumberValue": 0.1}, "opt": {"StringValue": "x"}},
    }
    ok("CreateTrialComponent", params)
    params["Parameters"]["opt"] = {"StringValue": "x" * 2501}
    assert invalid("CreateTrialComponent", params) == one(
        "parameters.opt.stringValue", "x" * 2501, "Member must have length less than or equal to 2500"
    )


def test_nested_list_paths_are_one_based() -> None:
    containers = [{"Image": "repo/img:1"}, {"Image": "has space"}]
    assert invalid("CreateModelPackage", {"InferenceSpecification": {"Containers": containers}}) == one(
        "inferenceSpecification.containers.2.member.image",
        "has space",
        r"Member must satisfy regular expression pattern: [\S]+",
    )
    tags = [{"Key": "team", "Value": "growth"}, {"Key": "k", "Value": "a|b"}]
    assert invalid("CreateModelPackageGroup", {"ModelPackageGroupName": "g", "Tags": tags}) == one(
        "tags.2.member.value", "a|b", f"Member must satisfy regular expression pattern: {TAG_VALUE}"
    )
    assert invalid("CreateModelPackageGroup", {"ModelPackageGroupName": "g", "Tags": [{"Value": "v"}]}) == (
        "1 validation error detected: Value null at 'tags.1.member.key' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_null_list_element() -> None:
    spec = {"Containers": [{"Image": "img"}], "SupportedContentTypes": ["text/csv", None]}
    assert invalid("CreateModelPackage", {"InferenceSpecification": spec}) == (
        "1 validation error detected: Value null at 'inferenceSpecification.supportedContentTypes.2.member' "
        "failed to satisfy constraint: Member must not be null"
    )


def test_several_failures_in_one_message() -> None:
    params = {"ModelPackageGroupName": "bad_name!", "ModelPackageGroupDescription": "d" * 1025}
    assert invalid("CreateModelPackageGroup", params) == (
        "2 validation errors detected: "
        "Value 'bad_name!' at 'modelPackageGroupName' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {ENTITY_NAME}; "
        f"Value '{'d' * 1025}' at 'modelPackageGroupDescription' failed to satisfy constraint: "
        "Member must have length less than or equal to 1024"
    )
    # missing required members come after the members that were sent
    assert invalid("CreateModelPackage", {"InferenceSpecification": {}, "ModelApprovalStatus": "Nope"}) == (
        "2 validation errors detected: "
        "Value null at 'inferenceSpecification.containers' failed to satisfy constraint: "
        "Member must not be null; "
        "Value 'Nope' at 'modelApprovalStatus' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Approved, Rejected, PendingManualApproval]"
    )


def test_at_most_ten_failures_are_listed() -> None:
    tags = [{"Value": "v"} for _ in range(12)]
    message = invalid("CreateModelPackageGroup", {"ModelPackageGroupName": "g", "Tags": tags})
    assert message.startswith("10 validation errors detected: Value null at 'tags.1.member.key' ")
    assert message.count("; ") == 9
    assert message.endswith(
        "Value null at 'tags.10.member.key' failed to satisfy constraint: Member must not be null"
    )


def test_unknown_members_are_ignored() -> None:
    ok(
        "CreateModelPackageGroup",
        {"ModelPackageGroupName": "g", "Bogus": {"x": [1]}, "modelPackageGroupName": 5},
    )
    ok(
        "CreateModelPackageGroup",
        {"ModelPackageGroupName": "g", "Tags": [{"Key": "k", "Value": "v", "Extra": 1}]},
    )


def test_sensitive_values_are_not_echoed() -> None:
    params = {
        "Name": "conn",
        "AuthorizationType": "API_KEY",
        "AuthParameters": {"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "s3cr\x01t"}},
    }
    assert invalid("CreateConnection", params, EV) == (
        "1 validation error detected: Value at 'authParameters.apiKeyAuthParameters.apiKeyValue' failed to "
        f"satisfy constraint: Member must satisfy regular expression pattern: {AUTH_HEADER}"
    )
    params["AuthParameters"]["ApiKeyAuthParameters"]["ApiKeyValue"] = " secret value\t"
    ok("CreateConnection", params, EV)


def test_events_rule_name() -> None:
    ok("PutRule", {"Name": "model-approved.v1_x"}, EV)
    assert invalid("PutRule", {"Name": "model approved", "State": "ON"}, EV) == (
        "2 validation errors detected: "
        "Value 'model approved' at 'name' failed to satisfy constraint: "
        r"Member must satisfy regular expression pattern: [\.\-_A-Za-z0-9]+; "
        "Value 'ON' at 'state' failed to satisfy constraint: Member must satisfy enum value set: "
        "[ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]"
    )


# --------------------------------------------------------------------------- JSON types


@pytest.mark.parametrize(
    ("operation", "params", "message"),
    [
        ("CreateModelPackage", {"InferenceSpecification": "x"}, "Unexpected field type"),
        ("CreateModelPackage", {"InferenceSpecification": []}, "Start of list found where not expected"),
        ("CreateModelPackage", {"Tags": {"Key": "k"}}, "Start of structure or map found where not expected"),
        ("CreateModelPackage", {"Tags": "k=v"}, "Unexpected field type"),
        (
            "CreateModelPackage",
            {"CustomerMetadataProperties": ["a"]},
            "Start of list found where not expected",
        ),
        (
            "CreateModelPackage",
            {"CustomerMetadataProperties": {"a": 1}},
            "NUMBER_VALUE can not be converted to a String",
        ),
        (
            "CreateModelPackageGroup",
            {"ModelPackageGroupName": {}},
            "Start of structure or map found where not expected",
        ),
        (
            "CreateModelPackageGroup",
            {"ModelPackageGroupName": ["g"]},
            "Start of list found where not expected",
        ),
        (
            "CreateModelPackageGroup",
            {"ModelPackageGroupName": 5},
            "NUMBER_VALUE can not be converted to a String",
        ),
        (
            "CreateModelPackageGroup",
            {"ModelPackageGroupName": 5.5},
            "DECIMAL_VALUE can not be converted to a String",
        ),
        (
            "CreateModelPackageGroup",
            {"ModelPackageGroupName": True},
            "TRUE_VALUE can not be converted to a String",
        ),
        ("ListModelPackages", {"MaxResults": "10"}, "STRING_VALUE can not be converted to an Integer"),
        ("ListModelPackages", {"MaxResults": 10.5}, "DECIMAL_VALUE can not be converted to an Integer"),
        ("ListModelPackages", {"MaxResults": 2**31}, "NUMBER_VALUE can not be converted to an Integer"),
        (
            "ListModelPackages",
            {"CreationTimeAfter": "yesterday"},
            "STRING_VALUE can not be converted to a Timestamp",
        ),
        (
            "ListModelPackages",
            {"CreationTimeAfter": False},
            "FALSE_VALUE can not be converted to a Timestamp",
        ),
        (
            "CreateModelPackage",
            {"CertifyForMarketplace": 1},
            "NUMBER_VALUE can not be converted to a Boolean",
        ),
        (
            "CreateModelPackage",
            {"CertifyForMarketplace": "true"},
            "STRING_VALUE can not be converted to a Boolean",
        ),
    ],
)
def test_wrong_json_types(operation: str, params: dict[str, Any], message: str) -> None:
    assert malformed(operation, params) == message


def test_bool_is_not_an_integer() -> None:
    assert (
        malformed("ListModelPackages", {"MaxResults": True})
        == "TRUE_VALUE can not be converted to an Integer"
    )
    assert (
        malformed("ListModelPackages", {"MaxResults": False})
        == "FALSE_VALUE can not be converted to an Integer"
    )
    variant = {"VariantName": "v", "ModelName": "m", "InitialVariantWeight": True}
    assert (
        malformed("CreateEndpointConfig", {"EndpointConfigName": "c", "ProductionVariants": [variant]})
        == "TRUE_VALUE can not be converted to a Float"
    )


def test_timestamps_accept_epoch_seconds_and_iso_8601() -> None:
    for when in (1704067200, 1704067200.5, "2024-01-01T00:00:00Z", "2024-01-01T00:00:00.123+02:00"):
        ok("ListModelPackages", {"CreationTimeAfter": when})


def test_a_type_error_wins_over_constraint_failures() -> None:
    # AWS deserializes the whole body before it validates anything
    params = {"ModelPackageGroupName": "bad_name!", "Tags": [{"Key": "k", "Value": 1}]}
    assert malformed("CreateModelPackageGroup", params) == "NUMBER_VALUE can not be converted to a String"


def test_deep_nesting_is_a_client_error() -> None:
    expression: dict[str, Any] = {"Operator": "And"}
    for _ in range(5000):
        expression = {"SubExpressions": [expression]}
    assert malformed("Search", {"Resource": "ModelPackage", "SearchExpression": expression}) == (
        "Request nesting is too deep"
    )
    ok("Search", {"Resource": "ModelPackage", "SearchExpression": {"SubExpressions": [{"Operator": "Or"}]}})


TOY = ServiceModel(
    {
        "metadata": {
            "protocol": "json",
            "apiVersion": "2024-01-01",
            "jsonVersion": "1.1",
            "targetPrefix": "Toy",
        },
        "operations": {
            "Put": {"name": "Put", "http": {"method": "POST", "requestUri": "/"}, "input": {"shape": "In"}}
        },
        "shapes": {
            "In": {
                "type": "structure",
                "members": {
                    "Data": {"shape": "Data"},
                    "Ratio": {"shape": "Ratio"},
                    "Tiny": {"shape": "Tiny"},
                    "Big": {"shape": "Big"},
                    "Doc": {"shape": "Doc"},
                },
            },
            "Data": {"type": "blob", "min": 2, "max": 4},
            "Ratio": {"type": "double", "min": 0.25, "max": 12345678.9},
            "Tiny": {"type": "double", "min": 0.00001},
            "Big": {"type": "long", "max": 10**12},
            "Doc": {"type": "structure", "members": {}, "document": True},
        },
    },
    service_name="toy",
)


def test_blob_double_long_and_document_shapes() -> None:
    ok("Put", {"Data": "AAAA", "Ratio": 0.25, "Big": 10**12, "Doc": {"any": ["json", 1, None]}}, TOY)
    ok("Put", {"Doc": "text"}, TOY)
    assert invalid("Put", {"Data": "AA=="}, TOY) == one(
        "data", "AA==", "Member must have length greater than or equal to 2"
    )
    assert invalid("Put", {"Data": "AAAAAAAA"}, TOY) == one(
        "data", "AAAAAAAA", "Member must have length less than or equal to 4"
    )
    assert (
        malformed("Put", {"Data": "AAAAA"}, TOY)
        == "Base64 encoded length is expected a multiple of 4 bytes but found: 5"
    )
    assert malformed("Put", {"Data": "AA*A"}, TOY) == "Invalid Base64 character detected"
    assert malformed("Put", {"Data": 12}, TOY) == "only base-64-encoded strings are convertible to bytes"
    assert invalid("Put", {"Ratio": 0.2}, TOY) == one(
        "ratio", "0.2", "Member must have value greater than or equal to 0.25"
    )
    assert invalid("Put", {"Ratio": 2e7}, TOY) == one(
        "ratio", "2.0E7", "Member must have value less than or equal to 1.23456789E7"
    )
    assert invalid("Put", {"Tiny": 0}, TOY) == one(
        "tiny", "0.0", "Member must have value greater than or equal to 1.0E-5"
    )
    assert malformed("Put", {"Ratio": float("nan")}, TOY) == "DECIMAL_VALUE can not be converted to a Double"
    assert invalid("Put", {"Big": 10**12 + 1}, TOY) == one(
        "big", str(10**12 + 1), "Member must have value less than or equal to 1000000000000"
    )
    assert malformed("Put", {"Big": 2**63}, TOY) == "NUMBER_VALUE can not be converted to a Long"


# --------------------------------------------------------------------------- patterns


def _model_patterns() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for model in (SM, EV):
        for name in model.shape_names:
            pattern = model.shape_for(name).metadata.get("pattern")
            if pattern:
                found.setdefault(pattern, []).append(f"{model.service_name}.{name}")
    return found


PATTERNS = _model_patterns()


def test_every_model_pattern_compiles_without_warnings() -> None:
    assert len(PATTERNS) > 250
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        skipped = [p for p in PATTERNS if compile_pattern.__wrapped__(p) is None]
    assert skipped == []


@pytest.mark.parametrize(
    ("pattern", "good", "bad"),
    [
        (r"[\p{L}\p{M}\p{Z}\p{S}\p{N}\p{P}]*", ["Größe €5 (approx.) 日本語 ½", ""], ["tab\there", "nl\n"]),
        (r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$", ["É 1_a"], ["a!b"]),
        (
            r"arn:[\p{Alnum}\-]+:lambda:[\p{Alnum}\-]+:[0-9]{12}:function:.*",
            ["arn:aws:lambda:us-east-1:123456789012:function:f"],
            ["arn:awsé:lambda:x:123456789012:function:f"],
        ),
        (
            r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*",
            ["tab\t ok 😀 \U0010fffd"],
            ["\x01", "\n"],
        ),
        (META_KEY, ["a", "a b:c"], ["a!"]),
        (r".*", ["any thing"], ["a\nb", "a\rb", "a\u2028b", "a\x85b"]),
        (r"[\w:]+", ["a_1:b"], ["é"]),  # Java's \w is ASCII-only
        (r"\d+", ["123"], ["١٢٣"]),  # Java's \d is ASCII-only
        (r"[a-z]+", ["abc"], ["abc1", "1abc"]),  # whole-string match
        (r"(Mon|Tue):([01]\d|2[0-3])", ["Mon:23"], ["Mon:24", "Mon:2"]),
    ],
)
def test_java_pattern_translation(pattern: str, good: list[str], bad: list[str]) -> None:
    regex = compile_pattern(pattern)
    assert regex is not None
    for text in good:
        assert regex.fullmatch(text), text
    for text in bad:
        assert regex.fullmatch(text) is None, text


@pytest.mark.parametrize(
    "pattern", [r"[a-z&&[^b]]", r"[a[b]]", r"\Qa.b\E", r"\h+", r"(", r"\p{IsLatin}", "[a-z"]
)
def test_untranslatable_patterns_are_skipped_not_raised(pattern: str) -> None:
    assert compile_pattern(pattern) is None


def test_a_skipped_pattern_does_not_fail_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    model = ServiceModel(
        {
            "metadata": {"protocol": "json", "apiVersion": "2024-01-01"},
            "operations": {
                "Op": {"name": "Op", "http": {"method": "POST", "requestUri": "/"}, "input": {"shape": "In"}}
            },
            "shapes": {
                "In": {"type": "structure", "members": {"Name": {"shape": "Name"}}},
                "Name": {"type": "string", "max": 3, "pattern": r"[\p{InGreek}]+"},
            },
        }
    )
    ok("Op", {"Name": "abc"}, model)
    assert invalid("Op", {"Name": "abcd"}, model) == one(
        "name", "abcd", "Member must have length less than or equal to 3"
    )


def test_unicode_category_table_matches_a_full_scan() -> None:
    table = jr._category_ranges()
    for cp in itertools.chain(
        range(0, 0x110000, 97), [0x3134A, 0x40000, 0xE0001, 0xE0100, 0xF0000, 0x10FFFF]
    ):
        category = unicodedata.category(chr(cp))
        assert any(lo <= cp <= hi for lo, hi in table[category]), hex(cp)


def _strings(alphabet: str, longest: int) -> list[str]:
    out = [""]
    for n in range(1, longest + 1):
        out.extend("".join(t) for t in itertools.product(alphabet, repeat=n))
    rng = random.Random(7)
    out.extend("".join(rng.choice(alphabet) for _ in range(rng.randint(5, 14))) for _ in range(3000))
    return out


@pytest.mark.parametrize(
    ("pattern", "prefix", "alphabet", "longest"),
    [
        (r".*(?:[ \r\n\t].*)*", "", " \t\r\na\x85\u2028\u2029\x01", 4),
        (r".*(?:[ \r\n\t].*)*.*", "", " \t\r\na\x85\u2028\u2029\x01", 4),
        (r"^[ \t]*[\x20-\x7E]+([ \t]+[\x20-\x7E]+)*[ \t]*$", "", " \ta~\x01\x7f:\né", 4),
        (AUTH_HEADER, "", " \ta~\x01\x7f:\né", 4),
        (r"https://([.\-_a-zA-Z0-9]+/?){3,1016}", "https://", "a./-!_", 6),
        (r"[a-z0-9]([-a-z0-9]*[a-z0-9]){0,39}?", "", "a0-A!", 6),
    ],
)
def test_rewritten_patterns_accept_exactly_what_the_originals_accept(
    pattern: str, prefix: str, alphabet: str, longest: int
) -> None:
    assert pattern in jr._REWRITES
    original = re.compile(jr._translate(pattern), re.ASCII)
    rewritten = compile_pattern(pattern)
    assert rewritten is not None
    for text in _strings(alphabet, longest):
        text = prefix + text
        assert bool(original.fullmatch(text)) == bool(rewritten.fullmatch(text)), repr(text)


def _seconds(regex: re.Pattern[str], text: str) -> float:
    began = time.perf_counter()
    regex.fullmatch(text)
    return time.perf_counter() - began


def test_no_model_pattern_backtracks_catastrophically() -> None:
    # Near-misses of 20 repeated units: exponential patterns take >50 ms here (seconds at 24),
    # polynomial ones well under 1 ms. A slow match is timed twice to rule out a scheduler hiccup.
    pumps = [" ", "a", "a ", " a", "a-", "-a", "a/", "a.", "a\t", "aa", "a_", "a:", "0.", "x-0"]
    ends = ["\x00", "!", "\u2028", "-", " \x01", "//"]
    starts = ["", "https://", "arn:aws:sagemaker:us-east-1:123456789012:"]
    slow = {}
    for pattern in PATTERNS:
        regex = compile_pattern(pattern)
        assert regex is not None
        for start, pump, end in itertools.product(starts, pumps, ends):
            text = start + pump * 20 + end
            if _seconds(regex, text) > 0.02 and _seconds(regex, text) > 0.02:
                slow[pattern] = text
                break
    assert slow == {}


def test_rewritten_pattern_answers_a_hostile_header_value_quickly() -> None:
    value = "a " * 23 + "\x01"  # the model's own pattern needs seconds for this one
    params = {
        "Name": "c",
        "AuthorizationType": "API_KEY",
        "AuthParameters": {"ApiKeyAuthParameters": {"ApiKeyName": value, "ApiKeyValue": "v"}},
    }
    began = time.perf_counter()
    assert invalid("CreateConnection", params, EV) == one(
        "authParameters.apiKeyAuthParameters.apiKeyName",
        value,
        f"Member must satisfy regular expression pattern: {AUTH_HEADER}",
    )
    assert time.perf_counter() - began < 0.1


@pytest.mark.parametrize("model", [SM, EV], ids=["sagemaker", "events"])
def test_every_operation_input_compiles_and_validates_an_empty_body(model: ServiceModel) -> None:
    for name in model.operation_names:
        input_shape = model.operation_model(name).input_shape
        if input_shape is None:
            continue
        try:
            validate_input(input_shape, {})
        except ValidationException as exc:
            assert "Member must not be null" in exc.message
