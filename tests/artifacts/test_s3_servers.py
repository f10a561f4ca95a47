"""The built-in S3 store on servers of its own: ``--auth sigv4``, a ``kill -9`` in the middle of
uploads, and ``--artifact-store s3://...`` turning it off."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.artifacts.s3_helpers import as_over_https, random_file, s3_client, sha256_file, wait_for
from tests.server import Server

MB = 1024 * 1024
ACCESS_KEY, SECRET = "AKIDALICE", "alice-secret"


def error_code(response: httpx.Response) -> str:
    root = ElementTree.fromstring(response.content)
    assert root.tag == "Error", response.text
    return root.findtext("Code") or ""


def signed(
    method: str, url: str, body: bytes = b"", secret: str = SECRET, auth: type = S3SigV4Auth
) -> dict[str, str]:
    """The headers boto3 would send for ``method url`` with ``body``, signed for service s3."""
    request = AWSRequest(method=method, url=url, data=body)
    auth(Credentials(ACCESS_KEY, secret), "s3", "us-east-1").add_auth(request)
    return dict(request.headers.items())


@pytest.fixture(scope="module")
def sigv4(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("sigv4")
    keys = data / "keys.json"
    keys.write_text(json.dumps({"keys": [{"access_key_id": ACCESS_KEY, "secret_access_key": SECRET}]}))
    server = Server(data, args=["--auth", "sigv4", "--keys", str(keys), "--no-serving"]).start()
    yield server
    server.stop()


def test_sigv4_good_keys_work(sigv4: Server, tmp_path: Path) -> None:
    s3 = s3_client(sigv4.url, access_key=ACCESS_KEY, secret=SECRET)
    s3.create_bucket(Bucket="signed")
    s3.put_object(Bucket="signed", Key="a b/ü.json", Body=b"{}")  # payload hash signed and checked
    assert s3.get_object(Bucket="signed", Key="a b/ü.json")["Body"].read() == b"{}"
    path = tmp_path / "m"
    digest = random_file(path, 11 * MB)
    s3.upload_file(str(path), "signed", "multi")  # two signed parts
    as_over_https(s3).upload_file(str(path), "signed", "chunked")  # STREAMING-UNSIGNED-PAYLOAD-TRAILER
    for key in ("multi", "chunked"):
        s3.download_file("signed", key, str(tmp_path / "out"))
        assert sha256_file(tmp_path / "out") == digest
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="signed")["Contents"]] == [
        "a b/ü.json",
        "chunked",
        "multi",
    ]
    presigner = s3_client(sigv4.url, access_key=ACCESS_KEY, secret=SECRET, signature_version="s3v4")
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": "signed", "Key": "a b/ü.json"})
    assert httpx.get(url).content == b"{}"
    r = httpx.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"))
    assert r.status_code == 403 and error_code(r) == "SignatureDoesNotMatch"


def test_sigv4_bad_keys_are_refused_in_s3_xml(sigv4: Server) -> None:
    with pytest.raises(ClientError) as exc:
        s3_client(sigv4.url, access_key=ACCESS_KEY, secret="wrong").list_buckets()
    assert exc.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as exc:
        s3_client(sigv4.url, access_key="AKIDNOBODY", secret=SECRET).put_object(
            Bucket="signed", Key="x", Body=b"x"
        )
    assert exc.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    r = httpx.put(
        f"{sigv4.url}/signed/x",
        content=b"data",
        headers=signed("PUT", f"{sigv4.url}/signed/x", b"data", "bad"),
    )
    assert r.status_code == 403 and error_code(r) == "SignatureDoesNotMatch"
    r = httpx.get(f"{sigv4.url}/signed/x")  # unsigned
    assert r.status_code == 403 and error_code(r) == "AccessDenied"


def test_sigv4_checks_the_signed_payload_hash_while_streaming(sigv4: Server) -> None:
    s3_client(sigv4.url, access_key=ACCESS_KEY, secret=SECRET).create_bucket(Bucket="payload")
    url = f"{sigv4.url}/payload/k"
    headers = signed("PUT", url, b"A" * 1000)
    r = httpx.put(url, content=b"B" * 1000, headers=headers)  # signature fine, body swapped
    assert r.status_code == 400 and error_code(r) == "XAmzContentSHA256Mismatch"
    assert httpx.get(url, headers=signed("GET", url)).status_code == 404
    assert httpx.put(url, content=b"A" * 1000, headers=headers).status_code == 200


def test_sigv4_chunk_signed_uploads_are_accepted_on_the_seed_signature(sigv4: Server) -> None:
    class Streaming(S3SigV4Auth):
        def payload(self, request: Any) -> str:
            return "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"

    s3_client(sigv4.url, access_key=ACCESS_KEY, secret=SECRET).create_bucket(Bucket="chunks")
    url = f"{sigv4.url}/chunks/k"
    data = os.urandom(70000)
    sig = "0" * 64
    body = b"%x;chunk-signature=%s\r\n%s\r\n0;chunk-signature=%s\r\n\r\n" % (
        len(data),
        sig.encode(),
        data,
        sig.encode(),
    )
    request = AWSRequest(
        method="PUT",
        url=url,
        data=body,
        headers={"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(len(data))},
    )
    Streaming(Credentials(ACCESS_KEY, SECRET), "s3", "us-east-1").add_auth(request)
    assert httpx.put(url, content=body, headers=dict(request.headers.items())).status_code == 200
    assert httpx.get(url, headers=signed("GET", url)).content == data
    bad = signed("PUT", url, secret="nope", auth=Streaming)
    assert httpx.put(url, content=body, headers=bad).status_code == 403


# -- a crash in the middle of uploads ---------------------------------------------------------------


def _start_partial_put(server: Server, path: str, total: int, send: int) -> http.client.HTTPConnection:
    """Send the headers and the first ``send`` of ``total`` body bytes of a PUT, then stop."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("PUT", path)
    conn.putheader("Content-Length", str(total))
    conn.endheaders()
    chunk = os.urandom(MB)
    for _ in range(send // MB):
        conn.send(chunk)
    return conn


def _temp_bytes(data_dir: Path) -> int:
    return sum(p.stat().st_size for p in (data_dir / "s3" / ".tmp").iterdir())


def test_kill_9_during_uploads_leaves_nothing_visible(tmp_path: Path) -> None:
    server = Server(tmp_path, args=["--no-serving"]).start()
    try:
        s3 = s3_client(server.url)
        s3.create_bucket(Bucket="crash")
        s3.put_object(Bucket="crash", Key="kept", Body=b"acknowledged")
        uid = s3.create_multipart_upload(Bucket="crash", Key="multi")["UploadId"]
        s3.upload_part(Bucket="crash", Key="multi", UploadId=uid, PartNumber=1, Body=os.urandom(5 * MB))
        single = _start_partial_put(server, "/crash/single", 64 * MB, 12 * MB)
        part = _start_partial_put(server, f"/crash/multi?partNumber=2&uploadId={uid}", 32 * MB, 12 * MB)
        wait_for(lambda: _temp_bytes(tmp_path) >= 16 * MB, what="both partial bodies on disk")
        server.kill()
        single.close()
        part.close()
    finally:
        server.stop()
    assert _temp_bytes(tmp_path) > 0  # the crash left partial files behind ...
    restarted = Server(tmp_path, args=["--no-serving"]).start()
    try:
        assert list((tmp_path / "s3" / ".tmp").iterdir()) == []  # ... the restart removed them
        s3 = s3_client(restarted.url)
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="crash")["Contents"]] == ["kept"]
        assert s3.get_object(Bucket="crash", Key="kept")["Body"].read() == b"acknowledged"
        with pytest.raises(ClientError):
            s3.head_object(Bucket="crash", Key="single")
        assert [
            p["PartNumber"] for p in s3.list_parts(Bucket="crash", Key="multi", UploadId=uid)["Parts"]
        ] == [1]
        s3.abort_multipart_upload(Bucket="crash", Key="multi", UploadId=uid)
        assert list((tmp_path / "s3" / ".uploads").iterdir()) == []
        data_files = [p for p in (tmp_path / "s3" / "crash").rglob("*") if p.is_file()]
        assert len(data_files) == 1 and data_files[0].read_bytes() == b"acknowledged"
    finally:
        restarted.stop()


# -- --artifact-store ----------------------------------------------------------------------------


def test_artifact_store_s3_turns_the_built_in_store_off(tmp_path: Path) -> None:
    server = Server(tmp_path, args=["--no-serving", "--artifact-store", "s3://models/registry"]).start()
    try:
        s3 = s3_client(server.url)
        with pytest.raises(ClientError) as exc:
            s3.create_bucket(Bucket="models")
        assert exc.value.response["Error"]["Code"] == "NotImplemented"
        assert "s3://models/registry" in exc.value.response["Error"]["Message"]
        for _ in range(2):  # a refused body (Expect: 100-continue) leaves the next call intact
            with pytest.raises(ClientError) as exc:
                s3.put_object(Bucket="models", Key="k", Body=b"x" * 1000)
            assert exc.value.response["Error"]["Code"] == "NotImplemented"
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        assert not (tmp_path / "s3").exists()
    finally:
        server.stop()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelreg.cli",
            "serve",
            "--data-dir",
            str(tmp_path),
            "--artifact-store",
            "minio",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--artifact-store" in done.stderr


def test_payload_of_a_put_is_what_was_acknowledged(tmp_path: Path) -> None:
    """An acknowledged single PUT is durable: the data file holds exactly the bytes sent."""
    server = Server(tmp_path, args=["--no-serving"]).start()
    try:
        s3 = s3_client(server.url)
        s3.create_bucket(Bucket="durable")
        body = os.urandom(5 * MB + 3)
        s3.put_object(Bucket="durable", Key="k", Body=body)
        server.kill()
    finally:
        server.stop()
    files = [p for p in (tmp_path / "s3" / "durable").rglob("*") if p.is_file()]
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in files] == [hashlib.sha256(body).hexdigest()]
