"""Artifacts in S3 (or anything that speaks its API: MinIO, moto, modelreg's built-in subset).

Credentials come from boto3's usual chain (environment, shared files, instance role); the
endpoint from ``Settings.s3_endpoint_url`` (``--s3-endpoint-url``, ``MODELREG_S3_ENDPOINT_URL``),
AWS's own S3 when unset.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from modelreg.artifacts.base import CHUNK, ArtifactNotFound, ArtifactUnreadable, copy_hashing, too_large

T = TypeVar("T")

_NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` as (bucket, key); anything else is ``ArtifactUnreadable``."""
    parts = urlsplit(uri)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    if parts.scheme.lower() != "s3" or not bucket or not key or parts.query or parts.fragment:
        raise ArtifactUnreadable(f"{uri!r} is not an s3://bucket/key URI.")
    return bucket, key


class S3ArtifactStore:
    """Reads ``s3://bucket/key`` objects through one boto3 client, created on first use."""

    def __init__(
        self,
        endpoint_url: str | None = None,
        region: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self._timeouts = (connect_timeout, read_timeout)
        self._client: Any = None
        self._lock = threading.Lock()

    def _s3(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                session = boto3.session.Session()
                config = Config(
                    connect_timeout=self._timeouts[0],
                    read_timeout=self._timeouts[1],
                    retries={"max_attempts": 3, "mode": "standard"},
                    # S3 stand-ins (MinIO, moto, modelreg) answer on one host: path-style addressing
                    s3={"addressing_style": "path"} if self.endpoint_url else {},
                )
                self._client = session.client(
                    "s3",
                    endpoint_url=self.endpoint_url,
                    region_name=session.region_name or self.region or "us-east-1",
                    config=config,
                )
            return self._client

    def _where(self) -> str:
        return f"S3 at {self.endpoint_url}" if self.endpoint_url else "S3"

    def _get(self, uri: str) -> tuple[Any, int]:
        """The streaming body of the object at ``uri`` and its length."""
        response = self._object_call(uri, "get_object")
        return response["Body"], int(response.get("ContentLength") or 0)

    def _object_call(self, uri: str, method: str) -> dict[str, Any]:
        """``get_object`` or ``head_object`` of the object at ``uri``, S3's errors as ours (a HEAD
        answers a missing key with a bare 404, which maps to ArtifactNotFound too)."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        bucket, key = split_s3_uri(uri)
        try:
            return getattr(self._s3(), method)(Bucket=bucket, Key=key)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in _NOT_FOUND:
                what = "bucket" if code == "NoSuchBucket" else "object"
                raise ArtifactNotFound(f"{uri} does not exist in {self._where()} (no such {what}).") from None
            message = error.get("Message") or code
            raise ArtifactUnreadable(
                f"{uri} cannot be read from {self._where()}: {code}: {message}"
            ) from None
        except NoCredentialsError:
            raise ArtifactUnreadable(
                f"{uri} cannot be read: the server has no AWS credentials for {self._where()} "
                "(set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or a profile where modelreg runs)."
            ) from None
        except BotoCoreError as exc:
            raise ArtifactUnreadable(f"{uri} cannot be read from {self._where()}: {exc}") from None

    def read(self, uri: str, *, max_bytes: int | None = None) -> bytes:
        def collect(chunks: Iterator[bytes]) -> bytes:
            data = bytearray()
            for chunk in chunks:
                data += chunk
                if max_bytes is not None and len(data) > max_bytes:
                    raise too_large(uri, max_bytes)  # the object may be larger than its length said
            return bytes(data)

        return self._consume(uri, collect, max_bytes)

    def _consume(self, uri: str, consume: Callable[[Iterator[bytes]], T], max_bytes: int | None = None) -> T:
        """``consume`` the object's bytes in chunks; a read cut off midway is ArtifactUnreadable, an
        object longer than ``max_bytes`` is refused before a byte of it is read."""
        from botocore.exceptions import BotoCoreError

        body, length = self._get(uri)
        if max_bytes is not None and length > max_bytes:
            body.close()
            raise too_large(uri, max_bytes)
        try:
            return consume(body.iter_chunks(CHUNK))
        except (BotoCoreError, OSError) as exc:
            raise ArtifactUnreadable(
                f"{uri} could not be read to the end from {self._where()}: {exc}"
            ) from None
        finally:
            body.close()

    def sha256(self, uri: str) -> str:
        def digest(chunks: Iterator[bytes]) -> str:
            hasher = hashlib.sha256()
            for chunk in chunks:
                hasher.update(chunk)
            return hasher.hexdigest()

        return self._consume(uri, digest)

    def fetch_to_file(self, uri: str, dest: Path) -> str:
        return self._consume(uri, lambda chunks: copy_hashing(chunks, dest))

    def size(self, uri: str) -> int:
        return int(self._object_call(uri, "head_object").get("ContentLength") or 0)

    def delete(self, uri: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        self.size(uri)  # S3 deletes a missing key silently: say it is not there
        bucket, key = split_s3_uri(uri)
        try:
            self._s3().delete_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise ArtifactUnreadable(f"{uri} cannot be deleted from {self._where()}: {exc}") from None
