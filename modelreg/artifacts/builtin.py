"""``s3://bucket/key`` read straight from the built-in S3 store's files, with no HTTP hop.

When the server runs its built-in S3 store and no ``--s3-endpoint-url`` is set, the artifacts its
users upload through the S3 API live in ``<data_dir>/s3``; the server reads them from there.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

from modelreg.artifacts.base import CHUNK, ArtifactNotFound, ArtifactUnreadable, copy_hashing, too_large
from modelreg.artifacts.blobs import S3Error
from modelreg.artifacts.buckets import BucketStore, ObjectReader
from modelreg.artifacts.s3 import split_s3_uri


class BuiltinArtifactStore:
    """Reads objects of the built-in store under ``root`` (``<data_dir>/s3``); opens its index
    on first use."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._store: BucketStore | None = None
        self._lock = threading.Lock()

    def _bucket_store(self, uri: str) -> BucketStore:
        with self._lock:
            if self._store is None:
                try:
                    self._store = BucketStore(self.root)
                except OSError as exc:
                    raise ArtifactUnreadable(
                        f"{uri} cannot be read: the built-in S3 store at {self.root} cannot be opened "
                        f"({exc.strerror or exc})."
                    ) from None
            return self._store

    def _open(self, uri: str) -> ObjectReader:
        bucket, key = split_s3_uri(uri)
        store = self._bucket_store(uri)
        with _as_artifact_errors(uri):
            _, reader = store.open(bucket, key)
        return reader

    def read(self, uri: str, *, max_bytes: int | None = None) -> bytes:
        with self._open(uri) as reader:
            if max_bytes is not None and reader.length > max_bytes:
                raise too_large(uri, max_bytes)
            try:
                return reader.read_all()
            except OSError as exc:
                raise ArtifactUnreadable(f"{uri} cannot be read: {exc.strerror or exc}.") from None

    def sha256(self, uri: str) -> str:
        digest = hashlib.sha256()
        with self._open(uri) as reader:
            try:
                for chunk in reader.chunks(CHUNK):
                    digest.update(chunk)
            except OSError as exc:
                raise ArtifactUnreadable(f"{uri} cannot be read: {exc.strerror or exc}.") from None
        return digest.hexdigest()

    def fetch_to_file(self, uri: str, dest: Path) -> str:
        with self._open(uri) as reader:
            try:
                return copy_hashing(reader.chunks(CHUNK), dest)
            except OSError as exc:
                raise ArtifactUnreadable(
                    f"{uri} cannot be copied to {dest}: {exc.strerror or exc}."
                ) from None

    def size(self, uri: str) -> int:
        with self._open(uri) as reader:
            return reader.length

    def delete(self, uri: str) -> None:
        bucket, key = split_s3_uri(uri)
        store = self._bucket_store(uri)
        with _as_artifact_errors(uri):
            store.head(bucket, key)  # the S3 API deletes a missing key silently: say it is not there
            store.delete(bucket, key)


@contextlib.contextmanager
def _as_artifact_errors(uri: str) -> Iterator[None]:
    """The built-in store's S3 errors as ArtifactStore errors."""
    try:
        yield
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchBucket", "InvalidBucketName"):
            what = "bucket" if exc.code != "NoSuchKey" else "object"
            raise ArtifactNotFound(
                f"{uri} does not exist in the built-in S3 store (no such {what})."
            ) from None
        raise ArtifactUnreadable(f"{uri} cannot be read from the built-in S3 store: {exc.message}") from None
    except OSError as exc:
        raise ArtifactUnreadable(f"{uri} cannot be read: {exc.strerror or exc}.") from None
