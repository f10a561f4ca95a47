"""Random requests to the built-in S3 store, most of them malformed: each answer is a 2xx, 3xx or
4xx in S3's XML (or 501 for what the store does not implement), never another 5xx.

Requests combine methods, paths (odd bucket names and keys), sub-resources and query values,
headers (ranges, preconditions, checksums, aws-chunked framing, copy sources, metadata) and
bodies (chunked, truncated, XML and not), from a fixed seed, on a server of their own.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server import Server

REQUESTS = 2500
AUTH = {
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDS3FUZZ/20261127/us-east-1/s3/aws4_request, "
    "SignedHeaders=host, Signature=" + "0" * 64,
    "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
}
BUCKETS = ["fuzz", "nobucket", "UP", "a", "fu..zz", "1.2.3.4"]
KEYS = ["k", "mp", "nope", "a/b/c", "%FF", "..", "a%2Fb", "x" * 1100, "é", "%00", " "]
QUERIES = [
    "uploads",
    "uploadId={upload}",
    "uploadId=bad",
    "partNumber=1",
    "partNumber=0",
    "partNumber=99999",
    "partNumber=x",
    "list-type=2",
    "max-keys=-1",
    "max-keys=99999999999999999999",
    "delete",
    "tagging",
    "location",
    "versioning",
    "prefix=a",
    "delimiter=/",
    "key-marker=k",
    "upload-id-marker=zz",
    "continuation-token=@@",
    "encoding-type=x",
    "max-uploads=-3",
    "max-uploads=1",
    "start-after=k",
    "response-content-type=text/x",
    "versionId=3",
    "max-parts=x",
]
HEADERS = [
    ("range", "bytes=0-3"),
    ("range", "bytes=5-1"),
    ("range", "bytes=-0"),
    ("range", "bytes=99999-"),
    ("if-match", '"x"'),
    ("if-none-match", "*"),
    ("if-modified-since", "yesterday"),
    ("if-unmodified-since", "Sat, 01 Jan 10000 00:00:00 GMT"),
    ("x-amz-checksum-crc32", "AAAAAA=="),
    ("x-amz-checksum-crc64nvme", "!!"),
    ("x-amz-sdk-checksum-algorithm", "MD5"),
    ("x-amz-checksum-algorithm", "CRC32C"),
    ("content-md5", "bad"),
    ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
    ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
    ("content-encoding", "aws-chunked"),
    ("x-amz-decoded-content-length", "-1"),
    ("x-amz-trailer", "x-amz-checksum-crc32"),
    ("x-amz-copy-source", "/fuzz/k"),
    ("x-amz-copy-source", "fuzz"),
    ("x-amz-metadata-directive", "BOGUS"),
    ("x-amz-meta-a", "b" * 3000),
    ("x-amz-checksum-type", "X"),
    ("x-amz-checksum-mode", "ENABLED"),
    ("x-amz-copy-source-range", "bytes=0-1"),
]
BODIES = [
    b"",
    b"x",
    b"5\r\nhello\r\n0\r\n\r\n",
    b"5\r\nhel",
    b"zz\r\n",
    b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n",
    b"<Delete><Object><Key>k</Key></Object></Delete>",
    b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>",
    b"<CompleteMultipartUpload/>",
    b"<x",
    b"<?xml version='1.0'?><!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>",
    bytes(range(64)),
]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """A server with bucket ``fuzz``, object ``k`` and an unfinished upload of ``mp`` (its id)."""
    server = Server(Path(tmp_path_factory.mktemp("s3fuzz"))).start()
    with httpx.Client(base_url=server.url, headers=AUTH) as http:
        http.put("/fuzz")
        http.put("/fuzz/k", content=b"hello world")
        started = http.post("/fuzz/mp?uploads")
        upload = re.search(r"<UploadId>([^<]+)</UploadId>", started.text)
        assert upload is not None, started.text
        http.put(f"/fuzz/mp?partNumber=1&uploadId={upload[1]}", content=b"x" * 100)
    yield server, upload[1]
    server.stop()


def test_random_requests_never_get_a_5xx(fuzzed: tuple[Server, str]) -> None:
    server, upload = fuzzed
    rng = random.Random(20261127)
    failures = []
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for _ in range(REQUESTS):
            method = rng.choice(["GET", "PUT", "POST", "DELETE", "HEAD", "GET", "PUT"])
            bucket, key = rng.choice(BUCKETS), rng.choice(KEYS)
            path = rng.choice(["/", f"/{bucket}", f"/{bucket}/{key}", f"/{bucket}/{key}", f"/{bucket}/"])
            chosen = rng.sample(QUERIES, rng.choice([0, 1, 1, 2, 3]))
            query = "&".join(q.format(upload=upload) for q in chosen)
            headers = dict(AUTH) | dict(rng.sample(HEADERS, rng.choice([0, 1, 1, 2, 3])))
            body = rng.choice(BODIES) if method in ("PUT", "POST") else b""
            url = f"{path}?{query}" if query else path
            r = http.request(method, url, headers=headers, content=body)
            # POST / is every AWS JSON call's endpoint, with JSON errors (S3 has no POST /)
            json_endpoint = method == "POST" and r.request.url.path == "/"
            if r.status_code >= 500 and r.status_code != 501:
                sent = {name: value[:40] for name, value in headers.items() if name != "Authorization"}
                failures.append(f"{r.status_code} {method} {url} {sent} {body[:60]!r} -> {r.text[:300]}")
            elif r.status_code >= 400 and method != "HEAD" and "<Code>" not in r.text and not json_endpoint:
                failures.append(f"not S3's XML: {r.status_code} {method} {url} -> {r.text[:300]}")
    assert not failures, "\n".join(failures)
