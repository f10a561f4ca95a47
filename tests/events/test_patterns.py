"""EventBridge pattern matching: what a rule written for AWS would match against modelreg's events.

Expected values come from AWS, not from any emulator: the EventBridge user guide ("Creating event
patterns", "Comparison operators", "Arrays", "Null values"), and where the guide is silent, behaviour
recorded against real EventBridge (TestEventPattern) - those rows say "AWS-recorded". Rows where the
guide and recorded AWS behaviour disagree follow AWS and say so.
"""

from __future__ import annotations

import copy
import json
import time
from decimal import Decimal
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelreg.events.patterns import EventPattern, InvalidEventPatternError
from tests.events.documented_event import EVENT, PACKAGE_ARN

# ---------------------------------------------------------------------------------------- events

# WIRE-NOTES section 4: the documented "SageMaker Model Package State Change" event.
SAGEMAKER_PACKAGE_ARN = PACKAGE_ARN
SAGEMAKER_EVENT: dict[str, Any] = EVENT


def sagemaker_event(**detail: Any) -> dict[str, Any]:
    """The documented event with some detail fields replaced."""
    event = copy.deepcopy(SAGEMAKER_EVENT)
    event["detail"].update(detail)
    return event


def fraud(status: str, group: str = "fraud-detection-models") -> dict[str, Any]:
    return sagemaker_event(ModelPackageGroupName=group, ModelApprovalStatus=status)


def ev(**detail: Any) -> dict[str, Any]:
    """A small custom event with the given detail."""
    return {
        "version": "0",
        "id": "1",
        "detail-type": "Test",
        "source": "com.example",
        "account": "123456789012",
        "time": "2017-10-02T18:43:48Z",
        "region": "us-east-1",
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"],
        "detail": detail,
    }


ISSUE_RULE = {
    "source": ["aws.sagemaker"],
    "detail-type": ["SageMaker Model Package State Change"],
    "detail": {"ModelPackageGroupName": ["fraud-detection-models"], "ModelApprovalStatus": ["Approved"]},
}


class Row(NamedTuple):
    name: str
    pattern: dict[str, Any] | str
    event: dict[str, Any]
    expected: bool
    moto_differs: str = ""  # why moto 5's EventPattern disagrees with AWS on this row, if it does


def d(**fields: Any) -> dict[str, Any]:
    """A pattern on detail fields."""
    return {"detail": fields}


# ---------------------------------------------------------------------------------------- matches

# fmt: off
ROWS: list[Row] = [
    # --- the issue's rule and the documented SageMaker event
    Row("issue rule: Approved in the group", ISSUE_RULE, fraud("Approved"), True),
    Row("issue rule: PendingManualApproval", ISSUE_RULE, fraud("PendingManualApproval"), False),
    Row("issue rule: Approved in another group", ISSUE_RULE, fraud("Approved", "churn-models"), False),
    Row("issue rule: case of the status matters", ISSUE_RULE, fraud("approved"), False),
    Row("documented event is Rejected", d(ModelApprovalStatus=["Approved"]), SAGEMAKER_EVENT, False),
    Row("documented event: anything but Approved", d(ModelApprovalStatus=[{"anything-but": "Approved"}]),
        SAGEMAKER_EVENT, True),
    Row("documented event: version >= 2", d(ModelPackageVersion=[{"numeric": [">=", 2]}]),
        SAGEMAKER_EVENT, True),
    Row("documented event: version > 2", d(ModelPackageVersion=[{"numeric": [">", 2]}]),
        SAGEMAKER_EVENT, False),
    Row("resources prefix on the package ARN", {"resources": [{"prefix": "arn:aws:sagemaker:us-east-2:"}]},
        SAGEMAKER_EVENT, True),
    Row("image inside the Containers array of objects",
        d(InferenceSpecification={"Containers": {"Image": [{"wildcard": "*sagemaker-xgboost:*"}]}}),
        SAGEMAKER_EVENT, True, "moto does not look into arrays of objects"),
    Row("CertifyForMarketplace is false", d(CertifyForMarketplace=[False]), SAGEMAKER_EVENT, True),
    Row("CertifyForMarketplace is not 0", d(CertifyForMarketplace=[0]), SAGEMAKER_EVENT, False,
        "moto compares with ==, and False == 0 in Python"),
    Row("empty ValidationStatuses array does not exist",
        d(ModelPackageStatusDetails={"ValidationStatuses": [{"exists": False}]}), SAGEMAKER_EVENT, True,
        "moto counts an empty array as present"),
    Row("metrics S3 URI three levels down",
        d(ModelMetrics={"ModelQuality": {"Statistics": {"S3Uri": [{"suffix": "evaluation.json"}]}}}),
        SAGEMAKER_EVENT, True),
    # --- exact values
    Row("exact string", {"source": ["com.example"]}, ev(), True),
    Row("exact string is case-sensitive", {"source": ["COM.example"]}, ev(), False),
    Row("several values are OR", {"source": ["aws.ec2", "com.example"]}, ev(), True),
    Row("fields are AND: both match", {"source": ["com.example"], "region": ["us-east-1"]}, ev(), True),
    Row("fields are AND: one misses", {"source": ["com.example"], "region": ["eu-west-1"]}, ev(), False),
    Row("missing field never matches a value", d(state=["running"]), ev(), False),
    Row("nesting must be the same", {"state": ["running"]}, ev(state="running"), False),
    Row("nested detail field", d(state=["running"]), ev(state="running"), True),
    Row("deeply nested field", d(a={"b": {"c": ["x"]}}), ev(a={"b": {"c": "x"}}), True),
    Row("deeply nested field, other value", d(a={"b": {"c": ["x"]}}), ev(a={"b": {"c": "y"}}), False),
    Row("number", d(count=[5]), ev(count=5), True),
    Row("number vs the string '5'", d(count=[5]), ev(count="5"), False),
    Row("string '5' vs the number 5", d(count=["5"]), ev(count=5), False),
    Row("300 matches 300.0 (AWS-recorded; the guide says not)", d(n=[300]), ev(n=300.0), True),
    Row("3.0e2 in a pattern matches 300", '{"detail": {"n": [3.0e2]}}', ev(n=300), True),
    Row("a number beyond 5e9 still matches exactly", d(n=[123456789012]), ev(n=123456789012), True),
    Row("null", d(responseElements=[None]), ev(responseElements=None), True),
    Row("null does not match a missing field", d(responseElements=[None]), ev(), False),
    Row("empty string", d(eventVersion=[""]), ev(eventVersion=""), True),
    Row("empty string does not match null", d(eventVersion=[""]), ev(eventVersion=None), False),
    Row("null does not match empty string", d(eventVersion=[None]), ev(eventVersion=""), False),
    Row("true", d(flag=[True]), ev(flag=True), True),
    Row("true vs the string 'true'", d(flag=[True]), ev(flag="true"), False),
    Row("1 does not match true", d(flag=[1]), ev(flag=True), False, "moto: True == 1 in Python"),
    Row("false does not match 0", d(flag=[False]), ev(flag=0), False, "moto: False == 0 in Python"),
    # --- arrays in the event
    Row("event array: any element",
        {"resources": ["arn:x", "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"]},
        ev(), True),
    Row("event array: no common element", {"resources": ["arn:x", "arn:y"]}, ev(), False),
    Row("empty event array vs [null] (AWS-recorded)", {"resources": [None]}, {**ev(), "resources": []},
        False),
    Row("array of objects: fields from one element", d(list={"x": [1], "y": [2]}),
        ev(list=[{"x": 1, "y": 2}, {"x": 3, "y": 4}]), True, "moto does not look into arrays of objects"),
    Row("array of objects: fields from two elements", d(list={"x": [1], "y": [4]}),
        ev(list=[{"x": 1, "y": 2}, {"x": 3, "y": 4}]), False),
    Row("nested arrays are flattened", d(m=[7]), ev(m=[[1, 2], [7]]), True, "moto: no nested arrays"),
    Row("dotted event key matches nested pattern (AWS-recorded)", d(state={"status": ["running"]}),
        ev(**{"state.status": "running"}), True),
    Row("dotted pattern key matches nested event", d(**{"state.status": ["running"]}),
        ev(state={"status": "running"}), True),
    Row("a repeated key: the last one counts",
        '{"detail": {"loc": [{"prefix": "us-"}], "loc": ["eu-central-1"]}}', ev(loc="eu-central-1"), True),
    # --- prefix / suffix / equals-ignore-case
    Row("prefix", d(status=[{"prefix": "Appr"}]), ev(status="Approved"), True),
    Row("prefix is case-sensitive", d(status=[{"prefix": "appr"}]), ev(status="Approved"), False),
    Row("prefix on a number", d(n=[{"prefix": "1"}]), ev(n=12), False),
    Row("prefix on an array", {"resources": [{"prefix": "arn:aws:ec2:"}]}, ev(), True),
    Row("prefix ignoring case", d(status=[{"prefix": {"equals-ignore-case": "appr"}}]),
        ev(status="APPROVED"), True),
    Row("prefix ignoring case, other start", d(status=[{"prefix": {"equals-ignore-case": "apx"}}]),
        ev(status="Approved"), False),
    Row("suffix", d(FileName=[{"suffix": ".png"}]), ev(FileName="a.png"), True),
    Row("suffix is case-sensitive", d(FileName=[{"suffix": ".png"}]), ev(FileName="a.PNG"), False),
    Row("suffix ignoring case", d(FileName=[{"suffix": {"equals-ignore-case": ".png"}}]),
        ev(FileName="a.PNG"), True),
    Row("suffix ignoring case, other end", d(FileName=[{"suffix": {"equals-ignore-case": ".png"}}]),
        ev(FileName="a.PNGX"), False),
    Row("equals-ignore-case", d(name=[{"equals-ignore-case": "alice"}]), ev(name="ALICE"), True),
    Row("equals-ignore-case is not prefix", d(name=[{"equals-ignore-case": "alice"}]), ev(name="alicia"),
        False),
    # --- wildcard
    Row("wildcard", d(svc=[{"wildcard": "Simple*Service"}]), ev(svc="SimpleQueueService"), True),
    Row("wildcard star can match nothing", d(svc=[{"wildcard": "Simple*Service"}]), ev(svc="SimpleService"),
        True),
    Row("wildcard is anchored", d(svc=[{"wildcard": "Simple*Service"}]), ev(svc="SimpleQueueServices"),
        False),
    Row("wildcard with an escaped star", d(k=[{"wildcard": "a\\*b"}]), ev(k="a*b"), True),
    Row("escaped star is literal", d(k=[{"wildcard": "a\\*b"}]), ev(k="axb"), False),
    Row("wildcard with an escaped backslash", d(k=[{"wildcard": "a\\\\*"}]), ev(k="a\\bc"), True),
    Row("wildcard on a number", d(n=[{"wildcard": "1*"}]), ev(n=12), False),
    Row("wildcard on a path", d(key=[{"wildcard": "dir/*.png"}]), ev(key="dir/a/b.png"), True),
    # --- anything-but
    Row("anything-but a string", d(state=[{"anything-but": "initializing"}]), ev(state="running"), True),
    Row("anything-but: the excluded string", d(state=[{"anything-but": "initializing"}]),
        ev(state="initializing"), False),
    Row("anything-but matches null (AWS-recorded)", d(state=[{"anything-but": "initializing"}]),
        ev(state=None), True),
    Row("anything-but never matches a missing field (AWS-recorded)", d(state=[{"anything-but": "x"}]),
        ev(), False),
    Row("anything-but list on an array field: one other element",
        d(s=[{"anything-but": ["stopped", "overloaded"]}]), ev(s=["stopped", "running"]), True),
    Row("anything-but list on an array field: all excluded",
        d(s=[{"anything-but": ["stopped", "overloaded"]}]), ev(s=["stopped", "overloaded"]), False),
    Row("anything-but a number", d(x=[{"anything-but": 123}]), ev(x=124), True),
    Row("anything-but: the excluded number", d(x=[{"anything-but": 123}]), ev(x=123), False),
    Row("anything-but numbers compare numerically", d(x=[{"anything-but": [100, 200]}]), ev(x=200.0), False),
    Row("anything-but numbers: a string is not excluded", d(x=[{"anything-but": [100, 200]}]), ev(x="100"),
        True),
    Row("anything-but prefix", d(region=[{"anything-but": {"prefix": "us-"}}]), ev(region="eu-west-1"), True),
    Row("anything-but prefix: excluded", d(region=[{"anything-but": {"prefix": "us-"}}]),
        ev(region="us-east-1"), False),
    Row("anything-but prefix matches a number (AWS-recorded)",
        d(state=[{"anything-but": {"prefix": "init"}}]),
        ev(state=12), True),
    Row("anything-but prefix list", d(r=[{"anything-but": {"prefix": ["us-", "eu-"]}}]), ev(r="eu-west-1"),
        False),
    Row("anything-but suffix", d(f=[{"anything-but": {"suffix": ".png"}}]), ev(f="a.jpg"), True),
    Row("anything-but suffix: excluded", d(f=[{"anything-but": {"suffix": ".png"}}]), ev(f="a.png"), False),
    Row("anything-but ignoring case", d(s=[{"anything-but": {"equals-ignore-case": "initializing"}}]),
        ev(s="INITIALIZING"), False),
    Row("anything-but ignoring case: other value",
        d(s=[{"anything-but": {"equals-ignore-case": ["a", "b"]}}]),
        ev(s="C"), True),
    Row("anything-but wildcard", d(FilePath=[{"anything-but": {"wildcard": "*/lib/*"}}]),
        ev(FilePath="/usr/bin/x"), True),
    Row("anything-but wildcard: excluded", d(FilePath=[{"anything-but": {"wildcard": "*/lib/*"}}]),
        ev(FilePath="/usr/lib/x"), False),
    # --- numeric
    Row("numeric range, top boundary included", d(c=[{"numeric": [">", 0, "<=", 5]}]), ev(c=5), True),
    Row("numeric range, bottom boundary excluded", d(c=[{"numeric": [">", 0, "<=", 5]}]), ev(c=0), False),
    Row("numeric range, just above the top", d(c=[{"numeric": [">", 0, "<=", 5]}]), ev(c=5.000001), False),
    Row("numeric less-than", d(c=[{"numeric": ["<", 10]}]), ev(c=9.999999), True),
    Row("numeric less-than, equal", d(c=[{"numeric": ["<", 10]}]), ev(c=10), False),
    Row("numeric >= boundary", d(c=[{"numeric": [">=", -1.5]}]), ev(c=-1.5), True),
    Row("numeric equals", '{"detail": {"x": [{"numeric": ["=", 3.018e2]}]}}', ev(x=301.8), True),
    Row("numeric equals, other value", '{"detail": {"x": [{"numeric": ["=", 3.018e2]}]}}', ev(x=301.81),
        False),
    Row("numeric: six decimal places of precision", d(x=[{"numeric": ["=", 5]}]), ev(x=5.0000001), True,
        "moto compares floats exactly"),
    Row("numeric on a numeric string", d(c=[{"numeric": [">", 0]}]), ev(c="5"), False),
    Row("numeric on a boolean", d(c=[{"numeric": [">", 0]}]), ev(c=True), False,
        "moto: True is the number 1"),
    Row("numeric on null", d(c=[{"numeric": [">", 0]}]), ev(c=None), False),
    Row("numeric beyond 5e9 never matches a range", d(c=[{"numeric": [">", 0]}]), ev(c=6e9), False,
        "moto has no range limit"),
    Row("numeric on an array field", d(c=[{"numeric": [">", 10]}]), ev(c=[1, 20]), True),
    # --- exists
    Row("exists true", d(c=[{"exists": True}]), ev(c=1), True),
    Row("exists true, missing", d(c=[{"exists": True}]), ev(), False),
    Row("exists true on null", d(c=[{"exists": True}]), ev(c=None), True),
    Row("exists true on an empty array (AWS-recorded)", {"resources": [{"exists": True}]},
        {**ev(), "resources": []}, False, "moto counts an empty array as present"),
    Row("exists true on an object (leaves only)", d(c=[{"exists": True}]), ev(c={"c1": 100}), False),
    Row("exists true inside an array of objects (AWS-recorded)", d(automations={"id": [{"exists": True}]}),
        ev(automations=[{"k": "v"}, {"id": "x"}]), True, "moto does not look into arrays of objects"),
    Row("exists false, missing", d(c=[{"exists": False}]), ev(), True),
    Row("exists false on null", d(c=[{"exists": False}]), ev(c=None), False),
    Row("exists false on an object (user guide)", d(c=[{"exists": False}]), ev(c={"c1": 100}), True),
    Row("exists false under a string (AWS-recorded)", d(l1={"l2": {"l3": [{"exists": False}]}}),
        ev(l1={"l2": "v"}), True),
    Row("exists false on an array field", {"resources": [{"exists": False}]}, ev(), False),
    Row("exists false or anything-but (AWS-recorded)",
        d(h={"S": [{"anything-but": ["roses"]}, {"exists": False}]}), ev(h={"N": "789"}), True),
    Row("exists false or anything-but, excluded",
        d(h={"S": [{"anything-but": ["roses"]}, {"exists": False}]}), ev(h={"S": "roses"}), False),
    # --- cidr
    Row("cidr IPv4", d(ip=[{"cidr": "10.0.0.0/24"}]), ev(ip="10.0.0.255"), True),
    Row("cidr IPv4, just outside", d(ip=[{"cidr": "10.0.0.0/24"}]), ev(ip="10.0.1.0"), False),
    Row("cidr covers the whole network of the address given", d(ip=[{"cidr": "10.0.0.77/24"}]),
        ev(ip="10.0.0.1"), True, "moto: host bits set make the rule match nothing"),
    Row("cidr IPv6", d(ip=[{"cidr": "2001:db8::/32"}]), ev(ip="2001:db8:ffff::1"), True),
    Row("cidr IPv6, just outside", d(ip=[{"cidr": "2001:db8::/32"}]), ev(ip="2001:db9::"), False),
    Row("cidr on a non-IP string", d(ip=[{"cidr": "10.0.0.0/8"}]), ev(ip="10.example"), False),
    Row("cidr IPv4 vs an IPv6 value", d(ip=[{"cidr": "0.0.0.0/0"}]), ev(ip="::1"), False),
    Row("an IP literal matches the same address", d(ip=["10.0.0.1"]), ev(ip="10.0.0.1"), True),
    # --- $or
    Row("$or: first branch", {"source": ["com.example"], "$or": [d(a=["1"]), d(b=["2"])]}, ev(a="1"), True),
    Row("$or: only the second branch", {"source": ["com.example"], "$or": [d(a=["1"]), d(b=["2"])]},
        ev(b="2"), True),
    Row("$or: neither branch", {"source": ["com.example"], "$or": [d(a=["1"]), d(b=["2"])]}, ev(a="2"),
        False),
    Row("$or: the AND outside still applies", {"source": ["aws.ec2"], "$or": [d(a=["1"]), d(b=["2"])]},
        ev(b="2"), False),
    Row("$or inside detail", d(**{"$or": [{"c": [{"numeric": [">", 5]}]}, {"x": [{"prefix": "y"}]}]}),
        ev(x="yes"), True),
    Row("nested $or",
        d(a=["1"], **{"$or": [{"b": ["2"]}, {"c": ["3"], "$or": [{"e": ["5"]}, {"f": ["6"]}]}]}),
        ev(a="1", c="3", f="6"), True),
    Row("nested $or, inner AND misses",
        d(a=["1"], **{"$or": [{"b": ["2"]}, {"c": ["3"], "$or": [{"e": ["5"]}, {"f": ["6"]}]}]}),
        ev(a="1", c="4", f="6"), False),
    Row("two parallel $or",
        {"$or": [{"source": ["x"]}, {"region": ["us-east-1"]}],
         "detail": {"$or": [{"a": ["1"]}, {"b": ["2"]}]}},
        ev(b="2"), True),
]
# fmt: on


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_matches(row: Row) -> None:
    text = row.pattern if isinstance(row.pattern, str) else json.dumps(row.pattern)
    assert EventPattern.parse(text).matches(row.event) is row.expected


def test_rows_cover_each_rule_both_ways() -> None:
    """Every operator has at least one row that matches and one near miss."""
    for needle in (
        "prefix",
        "suffix",
        "equals-ignore-case",
        "wildcard",
        "anything-but",
        "numeric",
        "exists",
        "cidr",
    ):
        texts = [
            (r.pattern if isinstance(r.pattern, str) else json.dumps(r.pattern), r.expected) for r in ROWS
        ]
        assert {expected for text, expected in texts if needle in text} == {True, False}, needle
    assert {r.expected for r in ROWS if "$or" in json.dumps(r.pattern)} == {True, False}


# ---------------------------------------------------------------------------------------- invalid


class Bad(NamedTuple):
    name: str
    pattern: str
    reason: str
    path: str = ""


TOO_COMPLEX = (
    "Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences "
    "after a wildcard character"
)
STACKS = json.dumps({"id": [{"wildcard": f"*:stack/{n}/*"} for n in ("Shared", "Api", "Data", "Monitoring")]})

# fmt: off
INVALID: list[Bad] = [
    # AWS-recorded reasons (real InvalidEventPatternException messages), then the rest of event-ruler's checks
    Bad("not JSON", "{'bad': 'quotation'}",
        "Filter is not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2"),
    Bad("an array, not an object", '["not", "a", "dict"]', "Filter is not an object"),
    Bad("a string, not an object", '"source"', "Filter is not an object"),
    Bad("an empty array, not an object", "[]", "Filter is not an object"),
    Bad("NaN is not JSON", '{"a": [NaN]}', "Filter is not valid JSON: Non-standard token 'NaN'"),
    Bad("a leaf that is not an array", '{"string": "my-value"}', '"string" must be an object or an array',
        "string"),
    Bad("a number leaf", '{"detail": {"int": 42}}', '"int" must be an object or an array', "detail.int"),
    Bad("empty array", '{"resources": []}', "Empty arrays are not allowed", "resources"),
    Bad("empty pattern", "{}", "Empty objects are not allowed"),
    Bad("empty nested object", '{"source": ["aws.health"], "detail": {}}', "Empty objects are not allowed",
        "detail"),
    Bad("operators are case-sensitive", '{"my_key": [{"EXISTS": true}]}', "Unrecognized match type EXISTS",
        "my_key"),
    Bad("unknown operator", '{"a": [{"contains": "x"}]}', "Unrecognized match type contains", "a"),
    Bad("empty match expression", '{"a": [{}]}', "Match expression name not found", "a"),
    Bad("array inside the value array", '{"a": [["x"]]}',
        "Match value must be String, number, true, false, or null", "a"),
    Bad("prefix must be a string", '{"detail": {"ModelApprovalStatus": [{"prefix": 123}]}}',
        "prefix match pattern must be a string", "detail.ModelApprovalStatus"),
    Bad("prefix list", '{"time": [{"prefix": ["2022-07-13"]}]}', "prefix match pattern must be a string",
        "time"),
    Bad("prefix with another option", '{"a": [{"prefix": {"wildcard": "x"}}]}',
        "Unsupported prefix pattern: wildcard", "a"),
    Bad("suffix must be a string", '{"FileName": [{"suffix": 123}]}', "suffix match pattern must be a string",
        "FileName"),
    Bad("suffix ignoring case, number", '{"f": [{"suffix": {"equals-ignore-case": 1}}]}',
        "equals-ignore-case match pattern must be a string", "f"),
    Bad("equals-ignore-case list", '{"d": [{"equals-ignore-case": ["x"]}]}',
        "equals-ignore-case match pattern must be a string", "d"),
    Bad("equals-ignore-case object", '{"d": [{"equals-ignore-case": {"prefix": "ec2"}}]}',
        "equals-ignore-case match pattern must be a string", "d"),
    Bad("two operators in one object", '{"a": [{"prefix": "a", "suffix": "b"}]}',
        "Only one key allowed in match expression", "a"),
    Bad("exists must be a boolean", '{"a": [{"exists": "yes"}]}',
        "exists match pattern must be either true or false.", "a"),
    Bad("numeric must be an array", '{"a": [{"numeric": 5}]}', "Value of numeric must be an array.", "a"),
    Bad("numeric: two lower bounds", '{"detail": {"c-count": [{"numeric": [">", 0, ">", 0]}]}}',
        "Bad numeric range operator: >", "detail.c-count"),
    Bad("numeric: missing value", '{"detail": {"c-count": [{"numeric": [">", 0, "<"]}]}}',
        "Value of < must be numeric", "detail.c-count"),
    Bad("numeric: upper bound first", '{"a": [{"numeric": ["<", 5, ">", 0]}]}',
        "Too many elements in numeric expression", "a"),
    Bad("numeric: no operator", '{"a": [{"numeric": [5]}]}', "Invalid member in numeric match: 5", "a"),
    Bad("numeric: empty", '{"a": [{"numeric": []}]}', "Invalid member in numeric match: ]", "a"),
    Bad("numeric: unknown operator", '{"a": [{"numeric": ["!=", 5]}]}',
        "Unrecognized numeric range operator: !=", "a"),
    Bad("numeric: value is a string", '{"a": [{"numeric": [">", "5"]}]}', "Value of > must be numeric", "a"),
    Bad("numeric: = without a number", '{"a": [{"numeric": ["="]}]}', "Value of equals must be numeric", "a"),
    Bad("numeric: bottom above top", '{"a": [{"numeric": [">", 10, "<", 5]}]}',
        "Bottom must be less than top",
        "a"),
    Bad("numeric: empty range", '{"a": [{"numeric": [">=", 5, "<=", 5]}]}', "Bottom must be less than top",
        "a"),
    Bad("numeric: five terms", '{"a": [{"numeric": [">", 0, "<", 5, 6]}]}',
        "Too many terms in numeric range expression", "a"),
    Bad("numeric: beyond 5e9", '{"a": [{"numeric": ["=", 6e9]}]}',
        "Value must be between -5.0E9 and 5.0E9, inclusive", "a"),
    Bad("numeric: second key", '{"a": [{"numeric": [">", 1], "x": 1}]}',
        "Too many elements in numeric expression", "a"),
    Bad("anything-but null", '{"a": [{"anything-but": null}]}',
        "Value of anything-but must be an array or single string/number value.", "a"),
    Bad("anything-but mixed list", '{"a": [{"anything-but": ["x", 1]}]}',
        "Inside anything but list, either all values are number or string, mixed type is not supported", "a"),
    Bad("anything-but empty list", '{"a": [{"anything-but": []}]}',
        "Inside anything but list, either all values are number or string, mixed type is not supported", "a"),
    Bad("anything-but list with a boolean", '{"a": [{"anything-but": [true]}]}',
        "Inside anything but list, start|null|boolean is not supported.", "a"),
    Bad("anything-but unknown option", '{"a": [{"anything-but": {"contains": "x"}}]}',
        "Unsupported anything-but pattern: contains", "a"),
    Bad("anything-but empty prefix", '{"a": [{"anything-but": {"prefix": ""}}]}',
        "Null prefix/suffix not allowed", "a"),
    Bad("anything-but prefix number", '{"detail": {"state": [{"anything-but": {"prefix": 123}}]}}',
        "prefix/suffix match pattern must be a string", "detail.state"),
    Bad("anything-but suffix list with a number", '{"f": [{"anything-but": {"suffix": [123, ".txt"]}}]}',
        "prefix/suffix match pattern must be a string", "f"),
    Bad("anything-but ignoring case, number",
        '{"detail": {"state": [{"anything-but": {"equals-ignore-case": 123}}]}}',
        "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.",
        "detail.state"),
    Bad("anything-but wildcard number", '{"f": [{"anything-but": {"wildcard": 123}}]}',
        "wildcard match pattern must be a string", "f"),
    Bad("anything-but prefix ignoring case is not supported",
        '{"f": [{"anything-but": {"prefix": {"equals-ignore-case": "file"}}}]}',
        "Value of anything-but must be an array or single string/number value.", "f"),
    Bad("anything-but with a second key", '{"a": [{"anything-but": "x", "prefix": "y"}]}',
        "Too many elements in numeric expression", "a"),
    Bad("wildcard must be a string", '{"EventBusArn": [{"wildcard": 123}]}',
        "wildcard match pattern must be a string", "EventBusArn"),
    Bad("wildcard: consecutive stars",
        '{"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:**:event-bus/*"}]}',
        "Consecutive wildcard characters at pos 26", "EventBusArn"),
    Bad("wildcard: bad escape", '{"k": [{"wildcard": "a\\\\b"}]}', "Invalid escape character at pos 2", "k"),
    Bad("wildcard: trailing backslash", '{"k": [{"wildcard": "ab\\\\"}]}',
        "Invalid escape character at pos 3",
        "k"),
    Bad("wildcard: too complex (user guide example)",
        '{"EventBusArn": [{"wildcard": "*:*:*:*:*:event-bus/*"}]}',
        TOO_COMPLEX, "EventBusArn"),
    Bad("wildcard: too complex across alternatives", STACKS, TOO_COMPLEX, "id"),
    Bad("cidr without a mask", '{"ip": [{"cidr": "10.0.0.0"}]}', "Malformed CIDR, one '/' required", "ip"),
    Bad("cidr with a bad mask", '{"ip": [{"cidr": "10.0.0.0/x"}]}',
        "Malformed CIDR, mask bits must be an integer", "ip"),
    Bad("cidr with a negative mask", '{"ip": [{"cidr": "10.0.0.0/-1"}]}',
        "Malformed CIDR, mask bits must not be negative", "ip"),
    Bad("cidr not an address", '{"ip": [{"cidr": "xx.11.xx/24"}]}', "Nonstandard IP address: xx.11.xx", "ip"),
    Bad("cidr IPv6 not an address", '{"ip": [{"cidr": "xxxx:db8:1234:1a00::/64"}]}',
        "Nonstandard IP address: xxxx:db8:1234:1a00::", "ip"),
    Bad("cidr address out of range", '{"ip": [{"cidr": "999.0.0.0/8"}]}', "Invalid IP address: 999.0.0.0",
        "ip"),
    Bad("cidr IPv4 mask too wide", '{"ip": [{"cidr": "10.0.0.0/33"}]}', "IPv4 mask bits must be < 32", "ip"),
    Bad("cidr IPv6 mask too wide", '{"ip": [{"cidr": "::/129"}]}', "IPv6 mask bits must be < 128", "ip"),
    Bad("cidr must be a string", '{"detail": {"sourceIPAddress": [{"cidr": ["bad-type"]}]}}',
        "prefix match pattern must be a string", "detail.sourceIPAddress"),
    Bad("$or must be an array", '{"$or": {"a": ["1"]}}', "It must be an Array followed with $or."),
    Bad("$or with one object", '{"detail": {"$or": [{"a": ["1"]}]}}',
        "There must have at least 2 Objects in $or relationship.", "detail"),
    Bad("$or with a non-object", '{"$or": [{"a": ["1"]}, ["b"]]}',
        "Only JSON object is allowed in array of $or relationship."),
    Bad("$or with an operator name as a field", '{"$or": [{"numeric": [1]}, {"b": ["2"]}]}',
        "numeric is Ruler reserved fieldName which cannot be used inside $or."),
    Bad("$or with an empty object", '{"$or": [{}, {"b": ["2"]}]}', "Empty objects are not allowed"),
]
# fmt: on


@pytest.mark.parametrize("bad", INVALID, ids=[b.name for b in INVALID])
def test_invalid(bad: Bad) -> None:
    with pytest.raises(InvalidEventPatternError) as caught:
        EventPattern.parse(bad.pattern)
    error = caught.value
    assert (error.reason, error.path) == (bad.reason, bad.path)
    where = f", at {bad.path}" if bad.path else ""
    assert str(error) == f"Event pattern is not valid. Reason: {bad.reason}{where}"
    assert isinstance(error, ValueError)


VALID = [
    # the user guide's simplified forms of its too-complex examples
    '{"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}',
    '{"FileName": [{"wildcard": "/Users/*/dir/dir/dir/dir/dir/doc.txt"}]}',
    json.dumps({"id": [{"wildcard": f"*:stack/{n}/*"} for n in ("Shared", "Api", "Data")]}),
    json.dumps({"key": [{"wildcard": f"*.{e}"} for e in ("bif", "tiff", "tif", "svs")]}),
    '{"a": [{"exists": true}, {"exists": false}]}',
    '{"numeric": [1]}',  # operator names are ordinary field names outside $or
    '{"a": [{"numeric": [">=", -5e9, "<=", 5e9]}]}',
    '{"a": [{"anything-but": {"wildcard": ["*.png", "*.jpg"]}}]}',
    '{"ip": [{"cidr": "10.0.0.0/24/"}]}',  # like Java's String.split, a trailing "/" is dropped
]


@pytest.mark.parametrize("text", VALID)
def test_valid(text: str) -> None:
    EventPattern.parse(text)


def test_input_that_is_not_text_or_nests_too_deeply() -> None:
    with pytest.raises(InvalidEventPatternError, match="expected a string, got dict"):
        EventPattern.parse({"source": ["x"]})  # type: ignore[arg-type]
    with pytest.raises(InvalidEventPatternError, match="Filter is"):
        EventPattern.parse('{"a": ' * 5000 + '["x"]' + "}" * 5000)
    assert EventPattern.parse(b'{"source": ["x"]}').matches({"source": "x"})


def test_or_expansion_is_bounded() -> None:
    """Fifteen independent $or pairs would be 32768 branches: refused rather than expanded."""
    pattern = {f"k{i}": {"$or": [{"a": ["1"]}, {"b": ["2"]}]} for i in range(15)}
    with pytest.raises(InvalidEventPatternError, match="Rule is too complex"):
        EventPattern.parse(json.dumps(pattern))


# ---------------------------------------------------------------------------------------- behaviour


def test_text_round_trips_and_non_dict_events_do_not_match() -> None:
    text = json.dumps(ISSUE_RULE)
    pattern = EventPattern.parse(text)
    assert pattern.text == text
    assert pattern.matches(fraud("Approved"))
    assert not pattern.matches(["not", "an", "event"])  # type: ignore[arg-type]


def test_events_with_decimal_and_tuple_values() -> None:
    pattern = EventPattern.parse('{"detail": {"v": [{"numeric": [">", 1.5]}], "tags": ["b"]}}')
    assert pattern.matches(ev(v=Decimal("1.6"), tags=("a", "b")))
    assert not pattern.matches(ev(v=Decimal("1.5"), tags=("a", "b")))


def test_matching_is_fast_enough_for_every_rule_on_every_event() -> None:
    pattern = EventPattern.parse(json.dumps(ISSUE_RULE))
    events = [fraud("Approved"), fraud("PendingManualApproval")]
    start = time.perf_counter()
    for _ in range(2000):
        for event in events:
            pattern.matches(event)
    assert time.perf_counter() - start < 2.0  # ~10 us a match here; generous for a loaded CI machine


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=12), st.text(max_size=12))
def test_wildcard_without_stars_is_exact_match(value: str, other: str) -> None:
    literal = value.replace("\\", "\\\\").replace("*", "\\*")
    pattern = EventPattern.parse(json.dumps({"k": [{"wildcard": literal}]}))
    assert pattern.matches({"k": value})
    assert pattern.matches({"k": other}) is (other == value)


@settings(max_examples=60, deadline=None)
@given(
    st.decimals(min_value=-1000, max_value=1000, places=3),
    st.decimals(min_value=-1000, max_value=1000, places=3),
)
def test_numeric_bounds_agree_with_decimal_comparison(bound: Decimal, value: Decimal) -> None:
    for op, holds in (
        (">", value > bound),
        (">=", value >= bound),
        ("<", value < bound),
        ("<=", value <= bound),
    ):
        pattern = EventPattern.parse(f'{{"n": [{{"numeric": ["{op}", {bound}]}}]}}')
        assert pattern.matches({"n": float(value)}) is holds, (op, bound, value)


# ---------------------------------------------------------------------------------------- moto cross-check


def _moto_event_pattern() -> Any:
    try:
        from moto.events.models import EventPattern as MotoEventPattern
    except ImportError:  # moto is a bench extra, not a test dependency
        return None
    return MotoEventPattern


@pytest.mark.parametrize(
    "row", [r for r in ROWS if not r.moto_differs], ids=[r.name for r in ROWS if not r.moto_differs]
)
def test_moto_agrees(row: Row) -> None:
    """Cross-check against moto where it implements the same rule; the table's values come from AWS."""
    moto_pattern = _moto_event_pattern()
    if moto_pattern is None:
        pytest.skip("moto is not installed")
    text = row.pattern if isinstance(row.pattern, str) else json.dumps(row.pattern)
    assert moto_pattern.load(text).matches_event(row.event) is row.expected


def test_moto_differences_are_real() -> None:
    """Keep the moto_differs notes honest: each flagged row really gets another answer from moto."""
    moto_pattern = _moto_event_pattern()
    if moto_pattern is None:
        pytest.skip("moto is not installed")
    for row in ROWS:
        if row.moto_differs:
            text = row.pattern if isinstance(row.pattern, str) else json.dumps(row.pattern)
            try:
                answer = moto_pattern.load(text).matches_event(row.event)
            except Exception:  # moto's parser rejects a pattern AWS accepts
                continue
            assert answer is not row.expected, row.name
