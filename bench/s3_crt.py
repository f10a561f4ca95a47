"""The AWS Common Runtime's S3 client as a bench client that is not the bottleneck.

``awscrt`` (the ``bench`` extra; the same pin as ``botocore[crt]``) is AWS's C S3 client: AWS CLI
v2 transfers with it and boto3 does through s3transfer's CRT transfer manager. It is used here
as those set it up (``s3transfer.crt.create_s3_crt_client`` defaults: 8 MiB parts, a 10 Gb/s
throughput target that decides how many connections it opens, one event-loop thread per
core), over plain HTTP and path-style, signed with SigV4:

- upload: ``PUT_OBJECT`` from the file (multipart, parts in parallel), each part aws-chunked
  with a CRC32 trailer, exactly what s3transfer asks the CRT for;
- download: ``GET_OBJECT`` (ranged part GETs in parallel) into ``/dev/null``, as ``dd`` reads
  the disk into ``/dev/null``: writing a 1 GB file costs the client more CPU than receiving it.
  The bytes are checked separately (untimed) by :func:`sha256_of_object`.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

#: what s3transfer.crt.create_s3_crt_client uses when boto3 or the AWS CLI leave it unset
PART_SIZE = 8 * 1024 * 1024
TARGET_GBPS = 10.0


def available() -> str | None:
    """None when awscrt can be imported, else why not."""
    try:
        import awscrt.s3  # noqa: F401
    except ImportError as exc:
        return f"awscrt is not installed ({exc}); pip install -e '.[bench]'"
    return None


class CrtClient:
    """One CRT S3 client for the server at ``url`` (``http://127.0.0.1:PORT``)."""

    def __init__(
        self, url: str, region: str = "us-east-1", key: str = "bench", secret: str = "bench"
    ) -> None:
        from awscrt.auth import AwsCredentialsProvider
        from awscrt.io import ClientBootstrap, DefaultHostResolver, EventLoopGroup
        from awscrt.s3 import S3Client, S3RequestTlsMode

        self.host = urlsplit(url).netloc
        loops = EventLoopGroup()
        bootstrap = ClientBootstrap(loops, DefaultHostResolver(loops))
        self.client = S3Client(
            bootstrap=bootstrap,
            region=region,
            credential_provider=AwsCredentialsProvider.new_static(key, secret),
            tls_mode=S3RequestTlsMode.DISABLED,
            part_size=PART_SIZE,
            throughput_target_gbps=TARGET_GBPS,
        )

    def _request(self, method: str, path: str, headers: list[tuple[str, str]]) -> Any:
        from awscrt.http import HttpHeaders, HttpRequest

        return HttpRequest(method, path, HttpHeaders([("host", self.host), *headers]))

    def _run(self, what: str, timeout: float, **kwargs: Any) -> None:
        done = threading.Event()
        outcome: dict[str, Any] = {}

        def on_done(**result: Any) -> None:
            outcome.update(result)
            done.set()

        request = self.client.make_request(on_done=on_done, **kwargs)
        if not done.wait(timeout):
            request.cancel()
            done.wait(30)
            raise TimeoutError(f"CRT {what} did not finish within {timeout:.0f} s")
        error = outcome.get("error")
        if error is not None:
            status = outcome.get("status_code")
            body = (outcome.get("error_body") or b"")[:300]
            raise RuntimeError(f"CRT {what} failed: {error!r} (HTTP {status}) {body!r}")

    def upload(self, source: Path, bucket: str, key: str, timeout: float = 600) -> None:
        """``PutObject`` of ``source``: multipart, aws-chunked parts with a CRC32 trailer."""
        from awscrt.s3 import S3ChecksumAlgorithm, S3ChecksumConfig, S3ChecksumLocation, S3RequestType

        size = source.stat().st_size
        self._run(
            "upload",
            timeout,
            type=S3RequestType.PUT_OBJECT,
            request=self._request("PUT", f"/{bucket}/{key}", [("Content-Length", str(size))]),
            send_filepath=str(source),
            checksum_config=S3ChecksumConfig(
                algorithm=S3ChecksumAlgorithm.CRC32, location=S3ChecksumLocation.TRAILER
            ),
        )

    def download(self, bucket: str, key: str, target: str = os.devnull, timeout: float = 600) -> None:
        """``GetObject`` into ``target`` (ranged part GETs in parallel)."""
        from awscrt.s3 import S3RequestType

        self._run(
            "download",
            timeout,
            type=S3RequestType.GET_OBJECT,
            request=self._request("GET", f"/{bucket}/{key}", [("Content-Length", "0")]),
            recv_filepath=target,
        )


def sha256_of_object(s3: Any, bucket: str, key: str) -> str:
    """SHA-256 of an object read with one plain boto3 GetObject (the untimed check)."""
    digest = hashlib.sha256()
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    for chunk in body.iter_chunks(8 * 1024 * 1024):
        digest.update(chunk)
    return digest.hexdigest()
