"""A lean S3 client for the benchmark: one that is not the bottleneck on two cores.

The AWS CRT client spends 1.2-1.6 CPU-seconds per GB uploaded on this machine, nearly all of it
on one event-loop thread (a software CRC32 and sends of about 40 KB), so it cannot send faster
than about 0.75-0.9 GB/s to any server (``bench.s3_sink`` shows it). This client moves the same
object with the same protocol and less work per byte, so that the server's own speed shows:

- upload: CreateMultipartUpload, then 8 MiB UploadPart requests from ``threads`` threads, each
  with its own keep-alive connection; a part is read from the file with one ``preadv`` into a
  buffer the thread reuses, its CRC32 computed with ISA-L (sent as ``x-amz-checksum-crc32``,
  which the server checks) and sent with one ``sendall``; requests are signed with SigV4 by
  botocore with an ``UNSIGNED-PAYLOAD`` body hash (as S3 allows); then CompleteMultipartUpload
  with the parts' checksums;
- download: ranged GETs of 8 MiB from ``threads`` threads, each read into a reused buffer and
  dropped (as ``dd`` reads into ``/dev/null``); the byte count is checked.
"""

from __future__ import annotations

import base64
import http.client
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from isal import isal_zlib

PART_SIZE = 8 * 1024 * 1024
THREADS = 8


class LeanClient:
    """Uploads and downloads whole objects at ``url`` (``http://127.0.0.1:PORT``), path-style."""

    def __init__(
        self, url: str, region: str = "us-east-1", key: str = "bench", secret: str = "bench"
    ) -> None:
        self.url = url
        self.host = urlsplit(url).netloc
        self.signer = S3SigV4Auth(Credentials(key, secret), "s3", region)
        self.local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, timeout=120)
        return conn

    def _buffer(self) -> memoryview:
        buffer = getattr(self.local, "buffer", None)
        if buffer is None:
            buffer = self.local.buffer = memoryview(bytearray(PART_SIZE))
        return buffer

    def _send(self, method: str, path: str, headers: dict[str, str], body: memoryview | None = None) -> Any:
        """One signed request on this thread's connection; the response, its body not read."""
        request = AWSRequest(
            method=method,
            url=self.url + path,
            headers={**headers, "x-amz-content-sha256": "UNSIGNED-PAYLOAD"},
        )
        self.signer.add_auth(request)
        conn = self._connection()
        conn.putrequest(method, path, skip_host=False, skip_accept_encoding=True)
        for name, value in request.headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        if body is not None:
            assert conn.sock is not None
            conn.sock.sendall(body)
        return conn.getresponse()

    def _parallel(self, count: int, threads: int, work: Callable[[int], Any]) -> list[Any]:
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(work, range(count)))

    def upload(self, s3: Any, source: str, bucket: str, key: str, threads: int = THREADS) -> None:
        """Multipart upload of the file ``source`` (``s3``: a boto3 client for the two calls
        around the parts)."""
        size = os.path.getsize(source)
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32")["UploadId"]
        fd = os.open(source, os.O_RDONLY)

        def part(index: int) -> dict[str, Any]:
            start = index * PART_SIZE
            body = self._buffer()[: min(PART_SIZE, size - start)]
            if os.preadv(fd, [body], start) != len(body):
                raise RuntimeError(f"{source} changed while it was uploaded")
            checksum = base64.b64encode(isal_zlib.crc32(body).to_bytes(4, "big")).decode()
            path = f"/{bucket}/{key}?partNumber={index + 1}&uploadId={upload_id}"
            headers = {"Content-Length": str(len(body)), "x-amz-checksum-crc32": checksum}
            response = self._send("PUT", path, headers, body)
            answer = response.read()
            if response.status != 200:
                raise RuntimeError(f"UploadPart {index + 1}: HTTP {response.status} {answer[:300]!r}")
            return {"PartNumber": index + 1, "ETag": response.getheader("ETag"), "ChecksumCRC32": checksum}

        try:
            parts = self._parallel(-(-size // PART_SIZE), threads, part)
        finally:
            os.close(fd)
        s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )

    def download(self, s3: Any, bucket: str, key: str, threads: int = THREADS) -> None:
        """Ranged GETs of the whole object, the bytes dropped; raises if any range came short."""
        size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]

        def part(index: int) -> None:
            start = index * PART_SIZE
            end = min(size, start + PART_SIZE) - 1
            response = self._send("GET", f"/{bucket}/{key}", {"Range": f"bytes={start}-{end}"})
            buffer, received = self._buffer(), 0
            while count := response.readinto(buffer):
                received += count
            if response.status != 206 or received != end - start + 1:
                raise RuntimeError(f"GET bytes={start}-{end}: HTTP {response.status}, {received} bytes")

        self._parallel(-(-size // PART_SIZE), threads, part)
