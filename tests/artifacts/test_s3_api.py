"""The built-in S3 store through boto3, the AWS CLI and raw HTTP, as users reach it with
``AWS_ENDPOINT_URL`` pointing at modelreg."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import socket
import subprocess
import sys
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
from botocore.exceptions import ClientError

from modelreg.artifacts import open_artifacts
from modelreg.artifacts.checksums import checksum_of
from modelreg.config import Settings
from tests.artifacts.s3_helpers import S3NS, as_over_https, random_file, s3_client, sha256_file, wait_for
from tests.server import Server

MB = 1024 * 1024


@pytest.fixture(scope="module")
def s3(server: Server) -> Any:
    return s3_client(server.url)


@pytest.fixture
def bucket(s3: Any, unique: str) -> str:
    s3.create_bucket(Bucket=unique)
    return unique


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def status(exc: pytest.ExceptionInfo[ClientError]) -> int:
    return int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"])


def xml_error(response: httpx.Response) -> dict[str, str]:
    return xml_error_of(response.content)


def xml_error_of(body: bytes) -> dict[str, str]:
    root = ElementTree.fromstring(body)
    assert root.tag == "Error"
    return {child.tag: child.text or "" for child in root}


# -- buckets ------------------------------------------------------------------------------------


def test_bucket_lifecycle(s3: Any, unique: str) -> None:
    s3.create_bucket(Bucket=unique)
    s3.head_bucket(Bucket=unique)
    assert unique in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=unique)
    assert (code(exc), status(exc)) == ("BucketAlreadyOwnedByYou", 409)
    s3.put_object(Bucket=unique, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=unique)
    assert (code(exc), status(exc)) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=unique, Key="k")
    s3.delete_bucket(Bucket=unique)
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=unique)
    assert status(exc) == 404
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=unique)
    assert (code(exc), status(exc)) == ("NoSuchBucket", 404)
    assert unique not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_bucket_with_location_constraint_and_location(s3: Any, unique: str) -> None:
    s3.create_bucket(Bucket=unique, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert s3.get_bucket_location(Bucket=unique)["LocationConstraint"] is None  # us-east-1


@pytest.mark.parametrize("name", ["ab", "UPPER", "under_score", "-dash", "a..b", "192.168.1.1", "x" * 64])
def test_invalid_bucket_names(s3: Any, name: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name)
    assert (code(exc), status(exc)) == ("InvalidBucketName", 400)


# -- objects ------------------------------------------------------------------------------------


def test_put_get_head_delete(s3: Any, bucket: str) -> None:
    body = b"hello, registry"
    put = s3.put_object(
        Bucket=bucket,
        Key="dir/hello.txt",
        Body=body,
        ContentType="text/plain",
        Metadata={"owner": "alice"},
        CacheControl="max-age=60",
    )
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert put["ChecksumCRC32"] == checksum_of("CRC32", body)  # boto3 sent it; modelreg checked it
    got = s3.get_object(Bucket=bucket, Key="dir/hello.txt")
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"owner": "alice"}
    assert got["CacheControl"] == "max-age=60"
    assert got["ETag"] == put["ETag"]
    head = s3.head_object(Bucket=bucket, Key="dir/hello.txt")
    assert head["ContentLength"] == len(body) and head["ETag"] == put["ETag"]
    s3.delete_object(Bucket=bucket, Key="dir/hello.txt")
    s3.delete_object(Bucket=bucket, Key="dir/hello.txt")  # deleting nothing succeeds, as in S3
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="dir/hello.txt")
    assert (code(exc), status(exc)) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="dir/hello.txt")
    assert status(exc) == 404


def test_errors_are_s3_xml(server: Server, bucket: str) -> None:
    r = httpx.get(f"{server.url}/{bucket}/no/such/key.json")
    assert r.status_code == 404 and r.headers["content-type"] == "application/xml"
    error = xml_error(r)
    assert error["Code"] == "NoSuchKey" and error["Key"] == "no/such/key.json"
    assert error["Message"] == "The specified key does not exist."
    assert error["RequestId"] == r.headers["x-amz-request-id"]
    error = xml_error(httpx.get(f"{server.url}/no-such-bucket-anywhere/key"))
    assert error["Code"] == "NoSuchBucket" and error["BucketName"] == "no-such-bucket-anywhere"


def test_keys_are_any_utf8_and_stay_inside_the_bucket(s3: Any, bucket: str, server: Server) -> None:
    keys = ["../../escape.txt", "/leading", "a//b", "sp ace+plus%25", "ünï/cødé/🚀", "x" * 1024, "..", "."]
    for i, key in enumerate(keys):
        s3.put_object(Bucket=bucket, Key=key, Body=str(i).encode())
    for i, key in enumerate(keys):
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == str(i).encode()
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(keys, key=lambda k: k.encode())
    assert not (server.data_dir / "escape.txt").exists()
    assert not (server.data_dir.parent / "escape.txt").exists()
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="x" * 1025, Body=b"")
    assert code(exc) == "KeyTooLongError"


def test_range_reads(s3: Any, bucket: str) -> None:
    body = bytes(range(256)) * 4
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    got = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert got["Body"].read() == body[10:20]
    assert got["ContentRange"] == f"bytes 10-19/{len(body)}"
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=1000-")["Body"].read() == body[1000:]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-5")["Body"].read() == body[-5:]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=1020-5000")["Body"].read() == body[1020:]
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="r", Range=f"bytes={len(body)}-")
    assert (code(exc), status(exc)) == ("InvalidRange", 416)


def test_conditional_reads(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"v1")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"v1"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert (code(exc), status(exc)) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert status(exc) == 304
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="c", Body=b"v2", IfNoneMatch="*")
    assert (code(exc), status(exc)) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"v1"


def test_date_conditions_and_dates_that_are_not_dates(s3: Any, bucket: str, server: Server) -> None:
    s3.put_object(Bucket=bucket, Key="d", Body=b"v1")
    long_ago, to_come = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    assert s3.get_object(Bucket=bucket, Key="d", IfModifiedSince=long_ago)["Body"].read() == b"v1"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="d", IfModifiedSince=to_come)
    assert status(exc) == 304
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="d", IfUnmodifiedSince=long_ago)
    assert (code(exc), status(exc)) == ("PreconditionFailed", 412)
    unsigned = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20261126/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=" + "0" * 64,
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
    }
    for header in ("If-Modified-Since", "If-Unmodified-Since"):
        for date in ("garbage", "Mon, 01 Jan 99999 00:00:00 GMT"):  # not a date: the condition is ignored
            r = httpx.get(f"{server.url}/{bucket}/d", headers={**unsigned, header: date})
            assert (r.status_code, r.content) == (200, b"v1"), (header, date, r.text)


def test_list_objects_v2_with_delimiter_and_pagination(s3: Any, bucket: str) -> None:
    keys = ["a.txt", "b/1", "b/2", "b/c/3", "c/1", "d.txt", "e/1", "e/2", "f.txt"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 2}
        )
    )
    assert len(pages) == 3  # a.txt b/ | c/ d.txt | e/ f.txt
    assert [o["Key"] for p in pages for o in p.get("Contents", [])] == ["a.txt", "d.txt", "f.txt"]
    assert [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])] == ["b/", "c/", "e/"]
    assert all(p["KeyCount"] <= 2 for p in pages)
    under_b = s3.list_objects_v2(Bucket=bucket, Prefix="b/", Delimiter="/")
    assert [o["Key"] for o in under_b["Contents"]] == ["b/1", "b/2"]
    assert [c["Prefix"] for c in under_b["CommonPrefixes"]] == ["b/c/"]
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="c/1")
    assert [o["Key"] for o in after["Contents"]] == ["d.txt", "e/1", "e/2", "f.txt"]
    flat = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 4}))
    assert [o["Key"] for p in flat for o in p["Contents"]] == keys
    assert [p["IsTruncated"] for p in flat] == [True, True, False]
    v1 = list(s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 3}))
    assert [o["Key"] for p in v1 for o in p["Contents"]] == keys
    assert s3.list_objects_v2(Bucket=bucket, MaxKeys=0)["KeyCount"] == 0
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="not-a-token")
    assert (code(exc), status(exc)) == ("InvalidArgument", 400)


def test_copy_object(s3: Any, bucket: str, unique: str) -> None:
    s3.put_object(
        Bucket=bucket, Key="src", Body=b"payload", ContentType="application/json", Metadata={"a": "1"}
    )
    other = unique + "-other"
    s3.create_bucket(Bucket=other)
    copied = s3.copy_object(Bucket=other, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"payload").hexdigest()}"'
    got = s3.get_object(Bucket=other, Key="dst")
    assert (got["Body"].read(), got["ContentType"], got["Metadata"]) == (
        b"payload",
        "application/json",
        {"a": "1"},
    )
    s3.copy_object(
        Bucket=bucket,
        Key="src",
        CopySource=f"{bucket}/src",
        MetadataDirective="REPLACE",
        ContentType="text/plain",
        Metadata={"b": "2"},
    )
    head = s3.head_object(Bucket=bucket, Key="src")
    assert (head["ContentType"], head["Metadata"]) == ("text/plain", {"b": "2"})
    s3.delete_object(Bucket=bucket, Key="src")  # the copy does not share its fate
    assert s3.get_object(Bucket=other, Key="dst")["Body"].read() == b"payload"
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=other, Key="dst", CopySource={"Bucket": other, "Key": "dst"})
    assert code(exc) == "InvalidRequest"
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=other, Key="x", CopySource={"Bucket": bucket, "Key": "missing"})
    assert code(exc) == "NoSuchKey"


def test_delete_objects(s3: Any, bucket: str) -> None:
    for key in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    result = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "nope"}]}
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == ["a", "b", "nope"]
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "c"}], "Quiet": True})
    assert "Deleted" not in quiet and "Errors" not in quiet
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


# -- checksums ----------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA1", "SHA256"])
def test_checksums_boto3_sends_are_checked_stored_and_returned(s3: Any, bucket: str, algorithm: str) -> None:
    body = os.urandom(3000)
    s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumAlgorithm=algorithm)
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["Body"].read() == body  # botocore validated the returned checksum while reading
    assert got[f"Checksum{algorithm}"] == checksum_of(algorithm, body)
    assert got["ResponseMetadata"]["HTTPHeaders"]["x-amz-checksum-type"] == "FULL_OBJECT"


def test_crc32c_and_crc64nvme_given_by_the_client(s3: Any, bucket: str) -> None:
    body = b"model bytes" * 100
    for algorithm in ("CRC32C", "CRC64NVME"):
        value = checksum_of(algorithm, body)
        s3.put_object(Bucket=bucket, Key=algorithm, Body=body, **{f"Checksum{algorithm}": value})
        head = s3.head_object(Bucket=bucket, Key=algorithm, ChecksumMode="ENABLED")
        assert head[f"Checksum{algorithm}"] == value
    # the CRC-64/NVME check value
    assert base64.b64decode(checksum_of("CRC64NVME", b"123456789")).hex() == "ae8b14860a799888"


def test_a_wrong_checksum_is_bad_digest_and_stores_nothing(s3: Any, bucket: str) -> None:
    for argument in (
        {"ChecksumCRC32": checksum_of("CRC32", b"other")},
        {"ContentMD5": "AAAAAAAAAAAAAAAAAAAAAA=="},
    ):
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=bucket, Key="bad", Body=b"payload", **argument)
        assert (code(exc), status(exc)) == ("BadDigest", 400)
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="bad")
    assert status(exc) == 404


def test_aws_chunked_uploads_with_a_trailing_checksum(server: Server, bucket: str, tmp_path: Path) -> None:
    """What boto3 sends over HTTPS: aws-chunked bodies, the CRC32 in a trailer."""
    s3 = as_over_https(s3_client(server.url))
    seen: list[dict[str, str]] = []
    s3.meta.events.register(
        "before-send.s3.PutObject",
        lambda request, **_: seen.append(  # names lower-cased: botocore's CRT signer sends them so
            {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        ),
    )
    body = os.urandom(3 * MB + 17)
    s3.put_object(Bucket=bucket, Key="chunked", Body=body)
    assert seen[0]["content-encoding"] == "aws-chunked"
    assert seen[0]["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    got = s3.get_object(Bucket=bucket, Key="chunked", ChecksumMode="ENABLED")
    assert got["Body"].read() == body and "ContentEncoding" not in got
    path = tmp_path / "f"
    digest = random_file(path, 12 * MB)
    s3.upload_file(str(path), bucket, "multi")  # two parts, each aws-chunked
    assert hashlib.sha256(s3.get_object(Bucket=bucket, Key="multi")["Body"].read()).hexdigest() == digest


def test_a_wrong_trailing_checksum_is_bad_digest(server: Server, bucket: str) -> None:
    body = b"0123456789" * 10
    wrong = base64.b64encode(zlib.crc32(b"nope").to_bytes(4, "big")).decode()
    chunked = b"%x\r\n%s\r\n0\r\nx-amz-checksum-crc32:%s\r\n\r\n" % (len(body), body, wrong.encode())
    headers = {
        "Content-Encoding": "aws-chunked",
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-decoded-content-length": str(len(body)),
    }
    r = httpx.put(f"{server.url}/{bucket}/trailer", content=chunked, headers=headers)
    assert r.status_code == 400 and xml_error(r)["Code"] == "BadDigest"
    good = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    r = httpx.put(
        f"{server.url}/{bucket}/trailer",
        content=chunked.replace(wrong.encode(), good.encode()),
        headers=headers,
    )
    assert r.status_code == 200
    assert httpx.get(f"{server.url}/{bucket}/trailer").content == body
    r = httpx.put(f"{server.url}/{bucket}/trailer", content=b"zz\r\nshort", headers=headers)
    assert r.status_code == 400 and xml_error(r)["Code"] == "IncompleteBody"


# -- multipart ----------------------------------------------------------------------------------


def test_200_mb_upload_and_download_round_trip(s3: Any, bucket: str, tmp_path: Path) -> None:
    source, target = tmp_path / "model.tar.gz", tmp_path / "downloaded"
    digest = random_file(source, 200 * MB)
    s3.upload_file(str(source), bucket, "models/v1/model.tar.gz")
    head = s3.head_object(Bucket=bucket, Key="models/v1/model.tar.gz", ChecksumMode="ENABLED")
    assert head["ContentLength"] == 200 * MB
    assert head["ETag"].endswith('-25"')  # 25 parts of 8 MB
    assert head["ChecksumCRC32"].endswith("-25")  # composite, as S3
    s3.download_file(bucket, "models/v1/model.tar.gz", str(target))
    assert sha256_file(target) == digest
    target.unlink()
    source.unlink()


def test_a_body_sent_in_many_small_pieces_is_stored_whole(s3: Any, bucket: str, server: Server) -> None:
    """The server collects the pieces of a request body as they arrive (several between two reads
    by the app, and more than its 64 KiB flow-control mark): they reach the object in order."""
    data = os.urandom(3 * MB + 12345)
    pieces = [data[i : i + 1000] for i in range(0, len(data), 1000)]
    r = httpx.put(
        f"{server.url}/{bucket}/trickled",
        content=iter(pieces),
        headers={"Content-Length": str(len(data))},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="trickled")["Body"].read() == data


def _aws_chunked(payload: bytes, chunk: int, signed: bool) -> bytes:
    ext = b";chunk-signature=" + b"0" * 64 if signed else b""
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big"))
    framed = [
        b"%x%s\r\n%s\r\n" % (len(payload[i : i + chunk]), ext, payload[i : i + chunk])
        for i in range(0, len(payload), chunk)
    ]
    return b"".join(framed) + b"0%s\r\nx-amz-checksum-crc32:%s\r\n\r\n" % (ext, crc)


def _chunked_headers(body: bytes, payload: bytes) -> dict[str, str]:
    return {
        "Content-Length": str(len(body)),
        "Content-Encoding": "aws-chunked",
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-decoded-content-length": str(len(payload)),
    }


@pytest.mark.parametrize(("chunk", "signed"), [(7001, False), (65536, True), (8 * MB, False)])
def test_large_aws_chunked_bodies_in_any_chunk_size_and_the_connection_after(
    server: Server, bucket: str, chunk: int, signed: bool
) -> None:
    """Large bodies are read straight from the socket, past the aws-chunked framing (the CRT
    client sends one chunk per part, boto3 1 MiB chunks): stored whole, and the connection serves
    the next request."""
    payload = os.urandom(5 * MB + 99)
    body = _aws_chunked(payload, chunk, signed)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("PUT", f"/{bucket}/chunked-{chunk}", body=body, headers=_chunked_headers(body, payload))
    response = conn.getresponse()
    assert response.status == 200, response.read()
    response.read()
    assert response.getheader("x-amz-checksum-crc32") == checksum_of("CRC32", payload)
    assert response.getheader("connection") is None  # the body was read: the connection goes on
    conn.request("GET", f"/{bucket}/chunked-{chunk}")
    response = conn.getresponse()
    assert response.status == 200 and response.read() == payload
    conn.close()


def test_a_large_body_with_broken_framing_stores_nothing_and_closes_the_connection(
    server: Server, s3: Any, bucket: str
) -> None:
    payload = os.urandom(4 * MB)
    body = bytearray(_aws_chunked(payload, MB, False))
    broken = 2 * (MB + 9)  # the CRLF after the second chunk's data
    body[broken : broken + 2] = b"XX"
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request("PUT", f"/{bucket}/broken", body=bytes(body), headers=_chunked_headers(body, payload))
    except (ConnectionResetError, BrokenPipeError):
        pass  # a slow client: the server answered and closed before the rest of the body was sent
    else:
        response = conn.getresponse()
        assert response.status == 400 and response.getheader("connection") == "close"
        assert xml_error_of(response.read())["Code"] == "IncompleteBody"
    conn.close()
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="broken")


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_announced_past_5_gb_is_refused_before_it_is_sent(
    server: Server, bucket: str, chunked: bool
) -> None:
    size = 5 * 1024**3 + 1
    headers = (
        b"Content-Length: 10\r\nContent-Encoding: aws-chunked\r\nx-amz-decoded-content-length: %d\r\n" % size
        if chunked
        else b"Content-Length: %d\r\n" % size
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(
            b"PUT /%s/huge HTTP/1.1\r\nHost: x\r\n%sExpect: 100-continue\r\n\r\n" % (bucket.encode(), headers)
        )
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"HTTP/1.1 400 ")
        head = {}
        while (line := reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            head[name.strip().lower()] = value.strip()
        assert head["connection"] == "close"
        error = xml_error_of(reader.read(int(head["content-length"])))
    assert error["Code"] == "EntityTooLarge" and error["MaxSizeAllowed"] == str(5 * 1024**3)
    assert error["ProposedSize"] == str(size)


def test_a_client_gone_mid_body_leaves_nothing_behind(server: Server, s3: Any, bucket: str) -> None:
    temp = server.data_dir / "s3" / ".tmp"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(
            b"PUT /%s/gone HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (bucket.encode(), 16 * MB)
        )
        sock.sendall(os.urandom(6 * MB))
        wait_for(lambda: any(temp.iterdir()), what="the upload's temp file")
    wait_for(lambda: not any(temp.iterdir()), what="the temp file to go")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="gone")
    s3.put_object(Bucket=bucket, Key="after", Body=b"fine")  # the server goes on


def test_multipart_calls_and_errors(s3: Any, bucket: str) -> None:
    part1, part2 = os.urandom(5 * MB), os.urandom(1000)
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key="mp", ContentType="application/x-tar", ChecksumAlgorithm="SHA256"
    )
    uid = upload["UploadId"]
    e1 = s3.upload_part(
        Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=part1, ChecksumAlgorithm="SHA256"
    )
    e2 = s3.upload_part(
        Bucket=bucket, Key="mp", UploadId=uid, PartNumber=2, Body=part2, ChecksumAlgorithm="SHA256"
    )
    listed = s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)
    assert [(p["PartNumber"], p["Size"]) for p in listed["Parts"]] == [(1, 5 * MB), (2, 1000)]
    parts = [
        {"PartNumber": 1, "ETag": e1["ETag"], "ChecksumSHA256": e1["ChecksumSHA256"]},
        {"PartNumber": 2, "ETag": e2["ETag"], "ChecksumSHA256": e2["ChecksumSHA256"]},
    ]
    for bad, expected in (
        ([parts[1], parts[0]], "InvalidPartOrder"),
        ([{**parts[0], "ETag": '"00000000000000000000000000000000"'}, parts[1]], "InvalidPart"),
        ([parts[0], {"PartNumber": 3, "ETag": e2["ETag"]}], "InvalidPart"),
    ):
        with pytest.raises(ClientError) as exc:
            s3.complete_multipart_upload(
                Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": bad}
            )
        assert code(exc) == expected
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": parts}
    )
    # S3's multipart ETag: the MD5 of the part ETags' bytes, then "-<parts>" (a part's ETag here is a
    # digest of its checksum: only an MD5 the client sent makes the server compute one)
    part_etags = b"".join(bytes.fromhex(e["ETag"].strip('"')) for e in (e1, e2))
    assert done["ETag"] == f'"{hashlib.md5(part_etags).hexdigest()}-2"'
    assert e1["ETag"] != e2["ETag"]
    got = s3.get_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert got["Body"].read() == part1 + part2 and got["ContentType"] == "application/x-tar"
    assert s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={5 * MB - 2}-{5 * MB + 1}")[
        "Body"
    ].read() == (part1[-2:] + part2[:2])
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=3, Body=b"late")
    assert (code(exc), status(exc)) == ("NoSuchUpload", 404)
    # a too-small first part; then abort
    uid = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    small = [
        {
            "PartNumber": n,
            "ETag": s3.upload_part(Bucket=bucket, Key="small", UploadId=uid, PartNumber=n, Body=b"x")["ETag"],
        }
        for n in (1, 2)
    ]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="small", UploadId=uid, MultipartUpload={"Parts": small}
        )
    assert code(exc) == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=uid)
    with pytest.raises(ClientError) as exc:
        s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=uid)
    assert code(exc) == "NoSuchUpload"
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="mp", UploadId="x" * 64, PartNumber=0, Body=b"x")
    assert status(exc) == 400


def test_full_object_crc32_multipart(s3: Any, bucket: str) -> None:
    parts = [os.urandom(5 * MB), os.urandom(123)]
    uid = s3.create_multipart_upload(
        Bucket=bucket, Key="full", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT"
    )["UploadId"]
    listed = [
        {
            "PartNumber": n,
            "ETag": s3.upload_part(Bucket=bucket, Key="full", UploadId=uid, PartNumber=n, Body=p)["ETag"],
        }
        for n, p in enumerate(parts, 1)
    ]
    whole = b"".join(parts)
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="full",
        UploadId=uid,
        MultipartUpload={"Parts": listed},
        ChecksumCRC32=checksum_of("CRC32", whole),
    )
    got = s3.get_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"] == checksum_of("CRC32", whole)  # combined from the parts' CRCs
    assert got["Body"].read() == whole  # and botocore validated it


def test_get_and_head_one_part_of_an_object(s3: Any, bucket: str) -> None:
    parts = [os.urandom(5 * MB), os.urandom(5 * MB), os.urandom(777)]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="parts")["UploadId"]
    etags = [
        s3.upload_part(Bucket=bucket, Key="parts", UploadId=uid, PartNumber=n, Body=p)["ETag"]
        for n, p in enumerate(parts, 1)
    ]
    listed = [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, 1)]
    s3.complete_multipart_upload(Bucket=bucket, Key="parts", UploadId=uid, MultipartUpload={"Parts": listed})
    whole_etag = s3.head_object(Bucket=bucket, Key="parts")["ETag"]
    for number, data in enumerate(parts, 1):
        got = s3.get_object(Bucket=bucket, Key="parts", PartNumber=number)
        start = sum(len(p) for p in parts[: number - 1])
        assert got["Body"].read() == data
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["ContentRange"] == f"bytes {start}-{start + len(data) - 1}/{sum(map(len, parts))}"
        assert (got["PartsCount"], got["ETag"]) == (3, whole_etag)
    head = s3.head_object(Bucket=bucket, Key="parts", PartNumber=2)
    assert (head["ContentLength"], head["PartsCount"]) == (5 * MB, 3)

    s3.put_object(Bucket=bucket, Key="single", Body=b"one piece")
    single = s3.get_object(Bucket=bucket, Key="single", PartNumber=1)
    assert single["Body"].read() == b"one piece" and "PartsCount" not in single

    for key, number in (("parts", 4), ("single", 2)):
        with pytest.raises(ClientError) as caught:
            s3.get_object(Bucket=bucket, Key=key, PartNumber=number)
        assert caught.value.response["Error"]["Code"] == "InvalidPart"
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="parts", PartNumber=1, Range="bytes=0-9")
    assert caught.value.response["Error"]["Code"] == "InvalidRequest"


def test_list_multipart_uploads(s3: Any, server: Server, bucket: str) -> None:
    started = {}
    for key in ("models/a.tar.gz", "models/b.tar.gz", "models/b.tar.gz", "runs/1/x", "runs/2/y", "top"):
        upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32")
        started.setdefault(key, []).append(upload["UploadId"])
    done = s3.create_multipart_upload(Bucket=bucket, Key="models/done")["UploadId"]
    s3.abort_multipart_upload(Bucket=bucket, Key="models/done", UploadId=done)

    listed = s3.list_multipart_uploads(Bucket=bucket)
    assert [(u["Key"], u["UploadId"]) for u in listed["Uploads"]] == [
        (key, upload_id) for key in sorted(started) for upload_id in started[key]
    ]
    first = listed["Uploads"][0]
    assert (first["ChecksumAlgorithm"], first["StorageClass"], listed["IsTruncated"]) == (
        "CRC32",
        "STANDARD",
        False,
    )
    assert first["Initiated"].year >= 2026 and first["Initiator"]["ID"]

    # every upload once, two at a time, through the markers (two uploads share a key)
    paginator = s3.get_paginator("list_multipart_uploads")
    pages = list(paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 2}))
    assert [len(p.get("Uploads", [])) for p in pages] == [2, 2, 2]
    assert [u["UploadId"] for p in pages for u in p["Uploads"]] == [u["UploadId"] for u in listed["Uploads"]]

    rolled = s3.list_multipart_uploads(Bucket=bucket, Prefix="runs/", Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == [
        "runs/1/",
        "runs/2/",
    ] and "Uploads" not in rolled
    only = s3.list_multipart_uploads(Bucket=bucket, Prefix="models/b")
    assert [u["UploadId"] for u in only["Uploads"]] == started["models/b.tar.gz"]
    after = s3.list_multipart_uploads(
        Bucket=bucket, KeyMarker="models/b.tar.gz", UploadIdMarker=started["models/b.tar.gz"][0]
    )
    assert [u["Key"] for u in after["Uploads"]][:2] == ["models/b.tar.gz", "runs/1/x"]
    # one entry a page with a delimiter: a rolled-up prefix is not listed again after its marker
    rolled_pages = list(paginator.paginate(Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1}))
    entries = [
        [p["Prefix"] for p in page.get("CommonPrefixes", [])] + [u["Key"] for u in page.get("Uploads", [])]
        for page in rolled_pages
    ]
    assert entries == [["models/"], ["runs/"], ["top"]]
    with pytest.raises(ClientError) as caught:
        s3.list_multipart_uploads(Bucket="no-such-bucket-here")
    assert caught.value.response["Error"]["Code"] == "NoSuchBucket"
    s3.create_multipart_upload(Bucket=bucket, Key="z space/é")
    encoded = httpx.get(f"{server.url}/{bucket}?uploads&encoding-type=url&prefix=z%20")
    assert "<Key>z%20space/%C3%A9</Key>" in encoded.text and "<Prefix>z%20</Prefix>" in encoded.text
    for bad in ("-3", "many"):  # boto3 sends only integers: sent raw
        r = httpx.get(f"{server.url}/{bucket}?uploads&max-uploads={bad}")
        assert (r.status_code, xml_error(r)["Code"]) == (400, "InvalidArgument")


# -- tools, routing, and what other parts of the server see ---------------------------------------


def test_aws_cli_cp_and_ls(server: Server, bucket: str, tmp_path: Path) -> None:
    source = tmp_path / "metrics.json"
    source.write_text(json.dumps({"auc": 0.93}))
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "cli",
        "AWS_SECRET_ACCESS_KEY": "cli",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    aws = [str(Path(sys.executable).parent / "aws"), "--endpoint-url", server.url, "s3"]

    def run(*args: str) -> str:
        done = subprocess.run([*aws, *args], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("cp", str(source), f"s3://{bucket}/eval/metrics.json")
    assert "metrics.json" in run("ls", f"s3://{bucket}/eval/")
    assert "PRE eval/" in run("ls", f"s3://{bucket}")
    assert json.loads(run("cp", f"s3://{bucket}/eval/metrics.json", "-")) == {"auc": 0.93}
    # the server reads it straight from its files (no S3 endpoint configured)
    artifacts = open_artifacts(Settings(data_dir=server.data_dir))
    assert json.loads(artifacts.read(f"s3://{bucket}/eval/metrics.json")) == {"auc": 0.93}
    assert (
        artifacts.sha256(f"s3://{bucket}/eval/metrics.json")
        == hashlib.sha256(source.read_bytes()).hexdigest()
    )


def test_routing_keeps_modelreg_paths_and_answers_unsigned_s3(server: Server, bucket: str) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    r = httpx.get(f"{server.url}/")  # unsigned GET / is ListBuckets
    names = [n.text for n in ElementTree.fromstring(r.content).iter(f"{S3NS}Name")]
    assert bucket in names
    assert httpx.get(f"{server.url}/api/no-such-thing").headers.get("x-amz-request-id") is None


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/{b}/%FF%FE", 400),  # not UTF-8
        ("GET", "/{b}?list-type=2&max-keys=many", 400),
        ("GET", "/{b}?list-type=2&encoding-type=base64", 400),
        ("GET", "/{b}?acl", 501),
        ("PUT", "/{b}/k?tagging", 501),
        ("POST", "/{b}?delete", 400),  # no body: MalformedXML
        ("PUT", "/{b}/k?partNumber=0&uploadId=abc", 400),
        ("PUT", "/{b}/k?partNumber=1&uploadId=abc", 404),
        ("PUT", "/{b}/k?partNumber=%C2%B2&uploadId=abc", 400),  # '²': a digit to str.isdigit
        ("GET", "/{b}/k?partNumber=0", 400),
        ("GET", "/{b}/k?partNumber=10001", 400),
        ("GET", "/{b}/k?versionId=3", 400),
        ("DELETE", "/", 405),
    ],
)
def test_bad_input_is_never_a_5xx_that_botocore_retries(
    server: Server, bucket: str, method: str, path: str, expected: int
) -> None:
    r = httpx.request(method, server.url + path.format(b=bucket))
    assert r.status_code == expected, r.text
    assert xml_error(r)["Code"]


def test_numbers_in_unicode_digits_are_refused_not_a_500(s3: Any, server: Server, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="digits")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="digits", UploadId=uid, PartNumber=1, Body=b"x")["ETag"]
    part = f"<Part><PartNumber>\u00b2</PartNumber><ETag>{etag}</ETag></Part>"
    done = f"<CompleteMultipartUpload>{part}</CompleteMultipartUpload>"
    r = httpx.post(f"{server.url}/{bucket}/digits?uploadId={uid}", content=done.encode())
    assert r.status_code == 400 and xml_error(r)["Code"] == "MalformedXML"
    body = b"3\r\nabc\r\n0\r\n\r\n"
    r = httpx.put(
        f"{server.url}/{bucket}/chunked-digits",
        content=body,
        headers={
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": "\u00b3".encode("latin-1"),
        },
    )
    assert r.status_code == 200  # an unreadable decoded length is not checked, as before
    assert s3.get_object(Bucket=bucket, Key="chunked-digits")["Body"].read() == b"abc"


def test_a_part_sent_with_content_md5_gets_its_md5_as_etag(s3: Any, bucket: str) -> None:
    body = os.urandom(5 * MB)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="md5")["UploadId"]
    sent = s3.upload_part(
        Bucket=bucket, Key="md5", UploadId=uid, PartNumber=1, Body=body,
        ContentMD5=base64.b64encode(hashlib.md5(body).digest()).decode(),
    )  # fmt: skip
    assert sent["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    with pytest.raises(ClientError) as exc:
        s3.upload_part(
            Bucket=bucket, Key="md5", UploadId=uid, PartNumber=2, Body=body,
            ContentMD5=base64.b64encode(hashlib.md5(b"other").digest()).decode(),
        )  # fmt: skip
    assert code(exc) == "BadDigest"
    s3.abort_multipart_upload(Bucket=bucket, Key="md5", UploadId=uid)
