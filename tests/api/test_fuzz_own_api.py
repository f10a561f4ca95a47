"""Generated bad requests to every ``/api`` route: each answer is a 2xx, or a 4xx whose JSON names
the error (``{"error": ..., "message": ...}``), never a 5xx, on SQLite and on PostgreSQL.

Paths, query parameters and bodies are drawn, with a fixed seed, from values that are often wrong:
unknown and odd group names, numbers past any version, parameters of the wrong kind, the NUL
character, JSON that is broken, of the wrong type, or nested past the parser's recursion.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import client, server_on
from tests.server import Server

REQUESTS = 1200
ROUTES = [
    ("GET", "/api/deliveries"),
    ("GET", "/api/deliveries/{n}"),
    ("POST", "/api/deliveries/{n}/redeliver"),
    ("GET", "/api/endpoints/{g}/history"),
    ("GET", "/api/endpoints/{g}/workers"),
    ("POST", "/api/endpoints/{g}/rollback"),
    ("GET", "/api/model-packages/{g}/{n}/deployments"),
    ("GET", "/api/model-packages/{g}/{n}/lineage"),
    ("GET", "/api/model-packages/{g}/{n}/metrics"),
    ("POST", "/api/model-packages/{g}/{n}/metrics/reread"),
    ("GET", "/api/model-packages/{g}/{n}/history"),
    ("GET", "/api/model-package-groups/{g}/compare"),
    ("GET", "/api/model-package-groups/{g}/metrics/{m}"),
    ("GET", "/api/model-package-groups/{g}/model-packages"),
    ("GET", "/api/model-package-groups/{g}/promotion-policy"),
    ("PUT", "/api/model-package-groups/{g}/promotion-policy"),
    ("DELETE", "/api/model-package-groups/{g}/promotion-policy"),
    ("POST", "/api/model-package-groups/{g}/gc"),
    ("PATCH", "/api/model-package-groups/{g}/gc"),  # no such method
    ("GET", "/api/no-such-route/{g}"),
]
GROUPS = ["fuzzed", "nope", "x" * 300, "é✓", "..", "%2F", "a b", "FUZZED", "a%00b"]
NUMBERS = ["1", "2", "0", "999999999", "12"]
METRICS = ["auc", "a/b", "x" * 300, "é", "%00"]
PARAMETERS = [
    "region",
    "status",
    "limit",
    "rule",
    "depth",
    "nextToken",
    "versions",
    "baseline",
    "sort",
    "order",
]
VALUES = [
    "",
    "-1",
    "0",
    "1",
    "abc",
    "1e9",
    "99999999999999999999",
    "x" * 500,
    "é",
    "true",
    "[1]",
    "Approved",
    "auc",
    "desc",
    "first",
    "1,2",
    "1,2,x",
    "eyJ4Ijox",
    "us-east-1",
    "eu-west-1",
    "a\x00b",
]
BODIES = [
    b"",
    b"{",
    b"[]",
    b"null",
    b'{"keepLast": -1}',
    b'{"keepLast": "x"}',
    b'{"keepLast": 1e308}',
    b'{"rejectedOlderThanSeconds": -5}',
    b'{"dryRun": true, "keepLast": 1}',
    b'{"toChange": "x"}',
    b'{"toChange": 99999999999999999999}',
    b'{"gates": []}',
    b'{"gates": [{"metric": "auc", "min": "x"}]}',
    b'{"gates": [{"metric": "auc", "min": 0.5}]}',
    json.dumps({"gates": [{"metric": "a" * 1000, "min": 1}]}).encode(),
    b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b"\xff\xfe",
    b'{"a": "\\u0000"}',
    b'{"a": NaN}',
]


@pytest.fixture(params=["sqlite", "postgresql"], scope="module")
def fuzzed_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with server_on(request.param, tmp_path_factory.mktemp("api-fuzz")) as srv:
        yield srv


def test_generated_bad_requests_to_the_own_api_never_get_a_5xx(fuzzed_server: Server) -> None:
    sm = client(fuzzed_server.url)  # a group with versions, for the generated paths to find
    sm.create_model_package_group(ModelPackageGroupName="fuzzed")
    for _ in range(2):
        sm.create_model_package(
            ModelPackageGroupName="fuzzed", InferenceSpecification={"Containers": [{"Image": "img:1"}]}
        )
    rng = random.Random(20261127)
    failures = []
    with httpx.Client(base_url=fuzzed_server.url, timeout=30) as http:
        for _ in range(REQUESTS):
            method, template = rng.choice(ROUTES)
            path = template.format(g=rng.choice(GROUPS), n=rng.choice(NUMBERS), m=rng.choice(METRICS))
            params = [(rng.choice(PARAMETERS), rng.choice(VALUES)) for _ in range(rng.choice([0, 1, 2, 3]))]
            body = rng.choice(BODIES) if method in ("POST", "PUT", "PATCH") else None
            answer = http.request(method, path, params=params, content=body)
            sent = f"{method} {path[:80]} {params} {(body or b'')[:60]!r}"
            seen = f"{answer.status_code} {sent}: {answer.text[:160]}"
            if answer.status_code >= 500:
                failures.append(seen)
            elif answer.status_code >= 400:
                try:
                    error = answer.json()
                except ValueError:
                    error = None
                if not (isinstance(error, dict) and error.get("error") and error.get("message")):
                    failures.append("not a JSON error: " + seen)
    assert not failures, "\n".join(failures[:20])
