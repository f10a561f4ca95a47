"""The built-in S3 store on disk: buckets, objects and multipart uploads under ``<data_dir>/s3``.

Layout::

    <data_dir>/s3/
      .index.db                 SQLite (WAL): buckets, objects, uploads, parts - the only truth
      .tmp/                     uploads in flight (temp files; removed at start-up)
      .uploads/<upload id>/     parts of unfinished multipart uploads
      <bucket>/<xx>/<data id>   an object's bytes (one file), or a folder of part files

Keys never touch the file system: an object's bytes live under a random data id, and its key,
size, ETag, checksums and metadata in the index. So any UTF-8 key of up to 1024 bytes works,
and none can reach outside its bucket's folder. Bucket names are checked against S3's rules
(lowercase letters, digits, dots and hyphens), so none can name ``.tmp`` or ``..``.

A write is: stream to a temp file (:class:`~modelreg.artifacts.blobs.BlobWriter`), fsync,
rename under the bucket, fsync the folder, commit the index row; only the commit makes the
object visible, and the data it replaced is removed after the commit. A crash at any point
leaves the old object or the new one, never a mix; :meth:`BucketStore.recover` (run once when
the server starts) removes temp files and data no row points to. Data files are never changed
once written, so CopyObject hard-links them and readers keep reading an object that is
replaced or deleted while they stream it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.artifacts.blobs import Blob, BlobWriter, S3Error, fsync_dir
from modelreg.artifacts.direct_io import DirectReads, open_read

MAX_KEY_BYTES = 1024
#: largest single PUT (and part), as S3
MAX_OBJECT_SIZE = 5 * 1024**3
READ_CHUNK = 1024 * 1024

_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_RE = re.compile(r"\d+\.\d+\.\d+\.\d+")
UPLOAD_ID_RE = re.compile(r"[A-Za-z0-9_-]{20,100}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL, key TEXT NOT NULL, data_id TEXT NOT NULL, size INTEGER NOT NULL,
    etag TEXT NOT NULL, modified REAL NOT NULL, meta TEXT NOT NULL,
    PRIMARY KEY (bucket, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL,
    created REAL NOT NULL, meta TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL, number INTEGER NOT NULL, file TEXT NOT NULL, size INTEGER NOT NULL,
    etag TEXT NOT NULL, checksum TEXT, modified REAL NOT NULL,
    PRIMARY KEY (upload_id, number)) WITHOUT ROWID;
"""


def check_bucket_name(name: str) -> None:
    """Raise ``InvalidBucketName`` unless ``name`` follows S3's bucket naming rules."""
    if not _BUCKET_RE.fullmatch(name) or ".." in name or _IP_RE.fullmatch(name):
        raise S3Error("InvalidBucketName", "The specified bucket is not valid.", 400, BucketName=name)


def check_key(key: str) -> None:
    if not key:
        raise S3Error("InvalidArgument", "The object key must not be empty.", 400)
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise S3Error("KeyTooLongError", "Your key is too long", 400)


def _no_bucket(name: str) -> S3Error:
    return S3Error("NoSuchBucket", "The specified bucket does not exist", 404, BucketName=name)


def _no_key(key: str) -> S3Error:
    return S3Error("NoSuchKey", "The specified key does not exist.", 404, Key=key)


def no_upload(upload_id: str) -> S3Error:
    return S3Error(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may "
        "have been aborted or completed.",
        404,
        UploadId=upload_id,
    )


@dataclass(frozen=True)
class ObjectInfo:
    """One object as the index knows it.

    ``meta`` holds ``content_type``, ``user`` (``x-amz-meta-*``, names lower case), ``headers``
    (Content-Encoding, Cache-Control, ...), ``checksum`` (``{"algorithm", "value", "type"}``)
    and ``parts`` (``[[file, size], ...]`` for multipart objects, whose data is a folder).
    """

    bucket: str
    key: str
    data_id: str
    size: int
    etag: str  # quoted, as on the wire
    modified: float
    meta: dict[str, Any]

    @property
    def content_type(self) -> str:
        return str(self.meta.get("content_type") or "binary/octet-stream")

    @property
    def parts(self) -> list[tuple[str, int]] | None:
        parts = self.meta.get("parts")
        return None if parts is None else [(str(f), int(s)) for f, s in parts]

    @property
    def checksum(self) -> dict[str, str] | None:
        return self.meta.get("checksum")


@dataclass
class Listing:
    """One page of ListObjects."""

    objects: list[ObjectInfo] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    #: where the next page starts: (key, inclusive)
    next_cursor: tuple[str, bool] | None = None
    last_item: str | None = None  # the last key or prefix of the page (ListObjects v1 NextMarker)


def successor(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with ``prefix`` (None: none)."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if 0xD800 <= code <= 0xDFFF:
            code = 0xE000
        if code <= 0x10FFFF:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


class BucketStore:
    """Buckets and objects under ``root`` (normally ``<data_dir>/s3``). Thread-safe; several
    instances (the S3 API, the server's artifact reader) may share one ``root`` in a process."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.tmp_dir = self.root / ".tmp"
        self.uploads_dir = self.root / ".uploads"
        for folder in (self.root, self.tmp_dir, self.uploads_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            self.root / ".index.db", check_same_thread=False, isolation_level=None, timeout=30
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- buckets --------------------------------------------------------------------------------

    def bucket_exists(self, name: str) -> bool:
        return bool(self._query("SELECT 1 FROM buckets WHERE name = ?", (name,)))

    def require_bucket(self, name: str) -> None:
        check_bucket_name(name)
        if not self.bucket_exists(name):
            raise _no_bucket(name)

    def create_bucket(self, name: str) -> None:
        """Create bucket ``name``; ``BucketAlreadyOwnedByYou`` if it exists (one owner here)."""
        check_bucket_name(name)
        (self.root / name).mkdir(exist_ok=True)
        with self._tx() as db:
            if db.execute("SELECT 1 FROM buckets WHERE name = ?", (name,)).fetchone():
                raise S3Error(
                    "BucketAlreadyOwnedByYou",
                    "Your previous request to create the named bucket succeeded and you already own it.",
                    409,
                    BucketName=name,
                )
            db.execute("INSERT INTO buckets VALUES (?, ?)", (name, time.time()))

    def list_buckets(self) -> list[tuple[str, float]]:
        return [(n, c) for n, c in self._query("SELECT name, created FROM buckets ORDER BY name")]

    def delete_bucket(self, name: str) -> None:
        """Delete an empty bucket (``BucketNotEmpty`` otherwise); unfinished uploads go with it."""
        self.require_bucket(name)
        with self._tx() as db:
            if db.execute("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", (name,)).fetchone():
                raise S3Error(
                    "BucketNotEmpty", "The bucket you tried to delete is not empty", 409, BucketName=name
                )
            uploads = [u for (u,) in db.execute("SELECT upload_id FROM uploads WHERE bucket = ?", (name,))]
            for upload_id in uploads:
                db.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
            db.execute("DELETE FROM uploads WHERE bucket = ?", (name,))
            db.execute("DELETE FROM buckets WHERE name = ?", (name,))
        for upload_id in uploads:
            shutil.rmtree(self.uploads_dir / upload_id, ignore_errors=True)
        shutil.rmtree(self.root / name, ignore_errors=True)

    # -- reading --------------------------------------------------------------------------------

    def head(self, bucket: str, key: str) -> ObjectInfo:
        """The object at ``bucket``/``key``: ``NoSuchBucket`` / ``NoSuchKey`` when absent."""
        check_bucket_name(bucket)
        rows = self._query(
            "SELECT data_id, size, etag, modified, meta FROM objects WHERE bucket = ? AND key = ?",
            (bucket, key),
        )
        if not rows:
            if not self.bucket_exists(bucket):
                raise _no_bucket(bucket)
            raise _no_key(key)
        data_id, size, etag, modified, meta = rows[0]
        return ObjectInfo(bucket, key, data_id, size, etag, modified, json.loads(meta))

    def data_path(self, bucket: str, data_id: str) -> Path:
        return self.root / bucket / data_id[:2] / data_id

    def _segments(self, info: ObjectInfo) -> list[tuple[Path, int]]:
        base = self.data_path(info.bucket, info.data_id)
        parts = info.parts
        if parts is None:
            return [(base, info.size)]
        return [(base / name, size) for name, size in parts]

    def open(
        self, bucket: str, key: str, select: Callable[[ObjectInfo], tuple[int, int]] | None = None
    ) -> tuple[ObjectInfo, ObjectReader]:
        """The object's info and a reader of the bytes ``select(info)`` picks as ``(start,
        length)`` (all by default; ``select`` may raise, e.g. for a failed precondition). The
        files are opened before anything can replace or delete them."""
        for _ in range(5):
            info = self.head(bucket, key)
            start, length = select(info) if select is not None else (0, info.size)
            try:
                return info, ObjectReader(self._segments(info), start, length)
            except FileNotFoundError:  # replaced between the lookup and the open: look again
                continue
        raise S3Error("InternalError", "The object changed too often while being opened.", 500)

    def list_objects(
        self,
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        max_keys: int = 1000,
        cursor: tuple[str, bool] | None = None,
    ) -> Listing:
        """Keys under ``prefix`` from ``cursor`` on, in UTF-8 order; with ``delimiter``, keys that
        contain it after the prefix are rolled up into common prefixes (each counts once)."""
        self.require_bucket(bucket)
        listing = Listing()
        if max_keys <= 0:
            return listing
        upper = successor(prefix) if prefix else None
        low, inclusive = cursor if cursor is not None else (prefix, True)
        if low < prefix:
            low, inclusive = prefix, True
        count = 0
        while True:
            op = ">=" if inclusive else ">"
            sql = f"SELECT key, data_id, size, etag, modified, meta FROM objects WHERE bucket = ? AND key {op} ?"  # noqa: E501
            args: list[Any] = [bucket, low]
            if upper is not None:
                sql += " AND key < ?"
                args.append(upper)
            batch = max_keys - count + 1
            rows = self._query(sql + " ORDER BY key LIMIT ?", (*args, batch))
            if not rows:
                return listing
            for key, data_id, size, etag, modified, meta in rows:
                if count == max_keys:
                    listing.truncated = True
                    return listing
                cut = key.find(delimiter, len(prefix)) if delimiter else -1
                if cut >= 0:
                    common = key[: cut + len(delimiter)]
                    listing.prefixes.append(common)
                    listing.last_item = common
                    count += 1
                    after = successor(common)
                    if after is None:
                        return listing
                    listing.next_cursor = (after, True)
                    low, inclusive = after, True
                    break  # skip every key under ``common``: query again from past it
                listing.objects.append(
                    ObjectInfo(bucket, key, data_id, size, etag, modified, json.loads(meta))
                )
                listing.last_item = key
                listing.next_cursor = (key, False)
                low, inclusive = key, False
                count += 1
            else:
                if len(rows) < batch:
                    return listing

    # -- writing --------------------------------------------------------------------------------

    def writer(self, bucket: str, algorithms: tuple[str, ...] = (), *, sha256: bool = False) -> BlobWriter:
        """A temp file to stream a new object of ``bucket`` into (the bucket must exist)."""
        self.require_bucket(bucket)
        return BlobWriter(self.tmp_dir, algorithms, sha256=sha256, max_size=MAX_OBJECT_SIZE)

    def _place(self, bucket: str, source: Path) -> str:
        """Rename ``source`` (a finished temp file or part folder) under ``bucket``; its data id."""
        data_id = secrets.token_hex(16)
        target = self.data_path(bucket, data_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(source, target)
        fsync_dir(target.parent)
        return data_id

    def _remove_data(self, bucket: str, data_id: str) -> None:
        path = self.data_path(bucket, data_id)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _commit(
        self,
        bucket: str,
        key: str,
        data_id: str,
        size: int,
        etag: str,
        meta: dict[str, Any],
        if_none_match: bool = False,
    ) -> ObjectInfo:
        """Make ``data_id`` the object at ``key`` (the old object's data is removed after)."""
        now = time.time()
        old: tuple[str] | None = None
        try:
            with self._tx() as db:
                if not db.execute("SELECT 1 FROM buckets WHERE name = ?", (bucket,)).fetchone():
                    raise _no_bucket(bucket)
                old = db.execute(
                    "SELECT data_id FROM objects WHERE bucket = ? AND key = ?", (bucket, key)
                ).fetchone()
                if old is not None and if_none_match:
                    raise S3Error(
                        "PreconditionFailed",
                        "At least one of the pre-conditions you specified did not hold",
                        412,
                        Condition="If-None-Match",
                    )
                db.execute(
                    "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (bucket, key, data_id, size, etag, now, json.dumps(meta)),
                )
        except BaseException:
            self._remove_data(bucket, data_id)
            raise
        if old is not None:
            self._remove_data(bucket, old[0])
        return ObjectInfo(bucket, key, data_id, size, etag, now, meta)

    def put(
        self, bucket: str, key: str, blob: Blob, meta: dict[str, Any], *, if_none_match: bool = False
    ) -> ObjectInfo:
        """Publish a finished blob as ``bucket``/``key`` (atomically replacing any object there)."""
        check_key(key)
        try:
            data_id = self._place(bucket, blob.path)
        except FileNotFoundError:
            blob.discard()
            raise _no_bucket(bucket) from None
        return self._commit(bucket, key, data_id, blob.size, f'"{blob.md5}"', meta, if_none_match)

    def delete(self, bucket: str, key: str) -> None:
        """Delete the object if it is there (S3 answers success either way)."""
        self.require_bucket(bucket)
        with self._tx() as db:
            row = db.execute(
                "SELECT data_id FROM objects WHERE bucket = ? AND key = ?", (bucket, key)
            ).fetchone()
            db.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key))
        if row is not None:
            self._remove_data(bucket, row[0])

    def copy(self, source: ObjectInfo, bucket: str, key: str, meta: dict[str, Any]) -> ObjectInfo:
        """Copy ``source``'s bytes to ``bucket``/``key`` with ``meta``; data files are hard-linked
        (they never change), or copied where the file system cannot link."""
        check_key(key)
        self.require_bucket(bucket)
        staging = self.tmp_dir / secrets.token_hex(16)
        try:
            segments = self._segments(source)
            if source.parts is None:
                _link_or_copy(segments[0][0], staging)
            else:
                staging.mkdir()
                for path, _ in segments:
                    _link_or_copy(path, staging / path.name)
        except FileNotFoundError:
            remove_path(staging)
            raise _no_key(source.key) from None
        except BaseException:
            remove_path(staging)
            raise
        data_id = self._place(bucket, staging)
        return self._commit(bucket, key, data_id, source.size, source.etag, meta)

    # -- start-up -------------------------------------------------------------------------------

    def recover(self, max_upload_age: float = 7 * 86400) -> dict[str, int]:
        """Remove what a crash can leave behind: temp files, data no index row points to, and
        folders of uploads that no longer exist; also aborts uploads idle for ``max_upload_age``
        seconds. Run once at server start, before any request. Returns counts of what went."""
        removed = {"temp": 0, "orphans": 0, "uploads": 0}
        for entry in os.listdir(self.tmp_dir):
            remove_path(self.tmp_dir / entry)
            removed["temp"] += 1
        buckets = {name for name, _ in self.list_buckets()}
        for bucket in buckets:
            folder = self.root / bucket
            if not folder.is_dir():
                folder.mkdir()
                continue
            known = {d for (d,) in self._query("SELECT data_id FROM objects WHERE bucket = ?", (bucket,))}
            for shard in os.listdir(folder):
                shard_path = folder / shard
                if not shard_path.is_dir():
                    continue
                for entry in os.listdir(shard_path):
                    if entry not in known:
                        remove_path(shard_path / entry)
                        removed["orphans"] += 1
        cutoff = time.time() - max_upload_age
        with self._tx() as db:
            for (upload_id,) in db.execute(
                "SELECT upload_id FROM uploads WHERE created < ? OR bucket NOT IN (SELECT name FROM buckets)",
                (cutoff,),
            ).fetchall():
                db.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
                db.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
            uploads = {u for (u,) in db.execute("SELECT upload_id FROM uploads")}
            for upload_id in list(uploads):
                if not (self.uploads_dir / upload_id).is_dir():
                    db.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
                    db.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
                    uploads.discard(upload_id)
            part_files = {(u, f) for u, f in db.execute("SELECT upload_id, file FROM parts")}
        for entry in os.listdir(self.uploads_dir):
            if entry not in uploads:
                remove_path(self.uploads_dir / entry)
                removed["uploads"] += 1
                continue
            for name in os.listdir(self.uploads_dir / entry):
                if (entry, name) not in part_files:
                    remove_path(self.uploads_dir / entry / name)
        return removed


class ObjectReader:
    """Reads the bytes ``[start, start + length)`` of an object from its segment files. The
    files holding them are opened at once, so a concurrent overwrite or delete (which only
    unlinks) cannot pull them away mid-stream."""

    def __init__(self, segments: list[tuple[Path, int]], start: int, length: int) -> None:
        self.start, self.length = start, length
        # (fd, O_DIRECT?, first byte wanted, bytes wanted)
        self._fds: list[tuple[int, bool, int, int]] = []
        self._reads = DirectReads()
        end, offset = start + length, 0
        try:
            for path, size in segments:
                lo, hi = max(start, offset), min(end, offset + size)
                if lo < hi:
                    fd, direct = open_read(path)
                    self._fds.append((fd, direct, lo - offset, hi - lo))
                offset += size
        except BaseException:
            self.close()
            raise

    def chunks(self, chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        """The selected bytes, in order, in chunks of at most ``chunk_size``."""
        for fd, direct, pos, left in self._fds:
            while left > 0:
                data = self._reads.read(fd, direct, pos, min(chunk_size, left))
                if not data:
                    raise OSError("object data ended early: its file is shorter than the index says")
                pos += len(data)
                left -= len(data)
                yield data

    def read_all(self) -> bytes:
        return b"".join(self.chunks())

    def close(self) -> None:
        fds, self._fds = self._fds, []
        for fd, _, _, _ in fds:
            os.close(fd)
        self._reads.close()

    def __enter__(self) -> ObjectReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        shutil.copyfile(source, target)
