"""Helpers for the built-in S3 tests: boto3 S3 clients as users build them, files of random
bytes, and waiting on conditions with a deadline."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

S3NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def s3_client(url: str, *, access_key: str = "AKIDTESTUSER", secret: str = "secret", **config: Any) -> Any:
    """boto3's S3 client pointed at ``url`` (path-style, as for any endpoint on an IP address)."""
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, **config),
    )


def as_over_https(client: Any) -> Any:
    """Make ``client`` send PutObject and UploadPart bodies as boto3 does over HTTPS:
    ``Content-Encoding: aws-chunked``, ``x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER``
    and the checksum in a trailer (botocore picks that location only for https URLs)."""

    def to_trailer(params: dict[str, Any], **_: Any) -> None:
        algorithm = params.get("context", {}).get("checksum", {}).get("request_algorithm")
        if isinstance(algorithm, dict):
            algorithm["in"] = "trailer"

    for op in ("PutObject", "UploadPart"):
        client.meta.events.register(f"before-call.s3.{op}", to_trailer)
    return client


def random_file(path: Path, size: int, chunk: int = 8 * 1024 * 1024) -> str:
    """Write ``size`` random bytes to ``path`` in chunks; their SHA-256."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            data = os.urandom(min(chunk, left))
            digest.update(data)
            f.write(data)
            left -= len(data)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
