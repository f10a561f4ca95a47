"""Generated bad input for every implemented operation: each answer is a 2xx or an AWS-shaped 4xx,
never a 5xx (botocore would retry a 5xx, and the user would see an opaque failure).

The inputs follow each operation's input shape from the botocore model, with values that are
often wrong: of the wrong JSON type, empty, very long, out of every range, unknown enum values,
ARNs of resources that do or do not exist, and unknown members. The seed is fixed, so a failure
repeats; the server is one of its own, so the resources the fuzzing creates stay out of other
tests' listings. Both stores are fuzzed: a value PostgreSQL cannot hold (a number past 64 bits,
say) fails differently there than on SQLite.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import httpx
import pytest
from botocore.model import Shape

import modelreg.app  # noqa: F401  (registers every handler, as the server does)
from modelreg.aws import dispatch, spec
from modelreg.sagemaker import pagination
from tests.conftest import server_on
from tests.server import Server

#: generated requests per operation and store
PER_OPERATION = 40
HEADERS = {
    "Content-Type": "application/x-amz-json-1.1",
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDFUZZ/20261127/us-east-1/sagemaker/aws4_request, "
    "SignedHeaders=host, Signature=" + "0" * 64,
}
_ARN = "arn:aws:sagemaker:us-east-1:123456789012"
STRINGS = [
    "g",
    "",
    "x" * 3000,
    "y" * 200,  # longer than most name columns hold, within most free-text limits
    "é✓𝄞",
    "{",
    "g/1",
    "s3://bucket/key",
    "*",
    "%_",
    "a'b\"c\\",
    "a\x00b",
    f"{_ARN}:model-package/g/1",
    f"{_ARN}:model-package/g/0",
    f"{_ARN}:model-package/g/99999999999999999999",
    f"{_ARN}:model-package-group/g",
    f"{_ARN}:model-package/unversioned",
    f"{_ARN}:endpoint/e",
    "arn:aws:sagemaker:eu-west-1:123456789012:model-package/g/1",
]
#: more strings, used where they satisfy the member's length and pattern
PLAIN_STRINGS = [
    "fraud-detection",
    "Approved",
    "PendingManualApproval",
    "text/csv",
    "ml.m5.large",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgb:1",
    "s3://bucket/model.tar.gz",
    '{"Version": "2012-10-17", "Statement": []}',
    "2026-01-01T00:00:00Z",
    "ModelPackageGroupName",
    "CreationTime",
    "Equals",
    "0123456789abcdef" * 4,
]
WRONG_TYPES: list[Any] = [None, 1, -1, "s", [], {}, [1], {"a": 1}, True, 1.5, 10**30]
NUMBERS = [0, 1, -1, 100, 2**31, 2**63, 10**25, -(10**25), 1e308, 0.5]
TIMESTAMPS: list[Any] = [0, -1, 1_700_000_000, 1e12, 253_402_300_800, "2026-01-01T00:00:00Z", "soon"]


class Inputs:
    """Values for botocore shapes, from one seeded random source."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def of(self, shape: Shape, depth: int = 0) -> Any:
        rng = self.rng
        if rng.random() < 0.03:
            return rng.choice(WRONG_TYPES)
        kind = shape.type_name
        if kind == "structure":
            return self._structure(shape, depth)
        if kind == "list":
            count = rng.choice([0, 1, 1, 2, 60]) if depth < 4 else 0
            return [self.of(shape.member, depth + 1) for _ in range(count)]  # type: ignore[attr-defined]
        if kind == "map":
            return {
                str(self.of(shape.key, depth + 1)): self.of(shape.value, depth + 1)  # type: ignore[attr-defined]
                for _ in range(rng.choice([0, 1, 2]))
            }
        if kind == "string":
            enum = shape.enum  # type: ignore[attr-defined]
            if enum and rng.random() < 0.85:
                return rng.choice(enum)
            fitting = _fitting_strings(shape)
            return rng.choice(fitting) if fitting and rng.random() < 0.85 else rng.choice(STRINGS)
        if kind in ("integer", "long", "float", "double"):
            return rng.choice(NUMBERS)
        if kind == "boolean":
            return rng.choice([True, False])
        if kind == "timestamp":
            return rng.choice(TIMESTAMPS)
        return rng.choice(["aGVsbG8=", "!!!", ""])  # blob

    def _structure(self, shape: Shape, depth: int) -> dict[str, Any]:
        if depth > 4:
            return {}
        required = shape.required_members  # type: ignore[attr-defined]
        members = shape.members  # type: ignore[attr-defined]
        out = {
            name: self.of(member, depth + 1)
            for name, member in members.items()
            if name in required or self.rng.random() < 0.25
        }
        if self.rng.random() < 0.05:
            out["NoSuchMember"] = 1
        return out


@cache
def _fitting_strings(shape: Shape) -> list[str]:
    """The sample strings that meet ``shape``'s length and pattern (where Python reads its regex)."""
    metadata = shape.metadata
    try:
        pattern = re.compile(metadata.get("pattern", ".*"), re.DOTALL)
    except re.error:
        pattern = re.compile(".*", re.DOTALL)
    low, high = metadata.get("min", 0), metadata.get("max", 1 << 30)
    return [s for s in STRINGS + PLAIN_STRINGS if low <= len(s) <= high and pattern.fullmatch(s)]


def _targets() -> Iterator[tuple[str, Shape]]:
    prefixes = {service: prefix for prefix, service in spec.TARGET_PREFIXES.items()}
    for service, name in sorted(dispatch.implemented()):
        op = spec.operation_model(service, name)
        if op is not None and op.input_shape is not None:
            yield f"{prefixes[service]}.{name}", op.input_shape


@pytest.fixture(params=["sqlite", "postgresql"], scope="module")
def fuzzed_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with server_on(request.param, tmp_path_factory.mktemp("fuzz")) as srv:
        yield srv


def test_generated_bad_input_never_gets_a_5xx(fuzzed_server: Server) -> None:
    inputs = Inputs(seed=20261127)
    failures = []
    with httpx.Client(base_url=fuzzed_server.url, headers=HEADERS, timeout=30) as http:
        # something for the generated ARNs and names to find
        group = json.dumps({"ModelPackageGroupName": "g"})
        made = http.post("/", headers={"X-Amz-Target": "SageMaker.CreateModelPackageGroup"}, content=group)
        assert made.status_code == 200, made.text
        answered = 0
        for target, shape in _targets():
            for _ in range(PER_OPERATION):
                body = json.dumps(inputs.of(shape))
                r = http.post("/", content=body, headers={"X-Amz-Target": target})
                answered += 1
                if r.status_code >= 500:
                    failures.append(f"{r.status_code} {target} {body[:300]} -> {r.text[:200]}")
                elif r.status_code >= 400:
                    error = r.json()
                    typed = error.get("__type") and r.headers.get("x-amzn-errortype")
                    if not (typed and error.get("message")):
                        failures.append(f"unshaped {r.status_code} {target} {body[:300]} -> {r.text[:200]}")
    assert answered > 50 * PER_OPERATION  # every implemented operation took part
    assert not failures, "\n".join(failures)


#: what the listings need besides a NextToken, and the sort orders whose cursors differ
LISTING_PARAMS = {
    "ListRuleNamesByTarget": [{"TargetArn": "arn:aws:events:us-east-1:123456789012:api-destination/d/x"}],
    "ListTargetsByRule": [{"Rule": "r"}],
    "ListTags": [{"ResourceArn": f"{_ARN}:model-package-group/g"}],
    "Search": [{"Resource": "ModelPackage"}, {"Resource": "ModelPackageGroup", "SortBy": "Name"}],
    "ListModelPackages": [{}, {"SortBy": "Name"}, {"ModelPackageGroupName": "g"}],
    "ListModelPackageGroups": [{}, {"SortBy": "Name"}],
    "ListAssociations": [{}, {"SortBy": "SourceArn"}],
}
#: cursor values no server issued: past 64 bits, of every JSON type, long, empty, or holding U+0000
CURSOR_VALUES: list[Any] = [
    10**30,
    -(2**63) - 1,
    1.5,
    1e308,
    None,
    True,
    [1],
    {"a": 1},
    "",
    "x" * 5000,
    "a\x00b",
]


def _made_up_tokens(params: dict[str, Any]) -> Iterator[str]:
    """NextTokens for the query ``params`` whose cursors hold ``CURSOR_VALUES``, 1 to 3 values long."""
    for size, value in itertools.product((1, 2, 3), CURSOR_VALUES):
        for cursor in ([value] + [1] * (size - 1), ["a"] * (size - 1) + [value]):
            made_up = json.dumps({"c": cursor, "q": pagination.query_digest(params)})
            yield base64.urlsafe_b64encode(made_up.encode()).decode().rstrip("=")


def test_made_up_next_tokens_never_get_a_5xx(fuzzed_server: Server) -> None:
    """A NextToken is base64 JSON with a digest of the query, which a client can compute: every
    listing must refuse a cursor that does not fit it, on either store."""
    failures = []
    prefixes = {service: prefix for prefix, service in spec.TARGET_PREFIXES.items()}
    with httpx.Client(base_url=fuzzed_server.url, headers=HEADERS, timeout=30) as http:
        for service, name in sorted(dispatch.implemented()):
            op = spec.operation_model(service, name)
            if op is None or op.input_shape is None or "NextToken" not in op.input_shape.members:
                continue
            target = f"{prefixes[service]}.{name}"
            for params in LISTING_PARAMS.get(name, [{}]):
                for token in _made_up_tokens(params):
                    body = json.dumps({**params, "NextToken": token})
                    r = http.post("/", content=body, headers={"X-Amz-Target": target})
                    if r.status_code >= 500:
                        failures.append(f"{r.status_code} {target} {body[:200]} -> {r.text[:200]}")
    assert not failures, "\n".join(failures)
