"""Multipart uploads of the built-in S3 store: parts on disk, completion without copying.

Each part is streamed and hashed like a single PUT, then renamed into
``<root>/.uploads/<upload id>/<number>-<random>`` and recorded in the index. Completing an
upload checks the client's part list against what was uploaded, removes the parts it left out
and renames the whole folder under the bucket: the object *is* its part files, so completing a
5 GB upload moves no bytes. The ETag is S3's ``"<md5 of the part MD5s>-<parts>"``; the checksum
is COMPOSITE (the algorithm over the part checksums) or, for the CRC family, FULL_OBJECT,
combined from the part CRCs. Uploads that name no checksum algorithm still get a full-object
CRC32, as S3 gives every new object a checksum.
"""

from __future__ import annotations

import binascii
import contextlib
import hashlib
import itertools
import json
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from typing import Any

from modelreg.artifacts import checksums
from modelreg.artifacts.blobs import Blob, BlobWriter, S3Error, fsync_dir
from modelreg.artifacts.buckets import (
    MAX_OBJECT_SIZE,
    UPLOAD_ID_RE,
    BucketStore,
    ObjectInfo,
    check_key,
    no_upload,
    remove_path,
)

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_NUMBER = 10000
DEFAULT_ALGORITHM = "CRC32"


@dataclass(frozen=True)
class RequestedPart:
    """One ``<Part>`` of a CompleteMultipartUpload body."""

    number: int
    etag: str
    checksums: dict[str, str]  # algorithm -> base64, as the client listed them


def invalid_part(number: int) -> S3Error:
    return S3Error(
        "InvalidPart",
        "One or more of the specified parts could not be found. The part may not have been "
        "uploaded, or the specified entity tag may not match the part's entity tag.",
        400,
        PartNumber=str(number),
    )


def part_algorithm(meta: dict[str, Any]) -> str:
    """The algorithm every part of an upload is checksummed with."""
    return str(meta.get("checksum_algorithm") or DEFAULT_ALGORITHM)


class Uploads:
    """Multipart uploads over a :class:`BucketStore`'s index and folders (it works inside the
    store's transactions and lock, as part of it)."""

    def __init__(self, store: BucketStore) -> None:
        self.store = store
        self.folder = store.uploads_dir

    def create(self, bucket: str, key: str, meta: dict[str, Any]) -> str:
        """Start an upload; ``meta`` is the future object's (content type, user metadata, ...)
        plus ``checksum_algorithm`` and ``checksum_type`` when the client named them."""
        check_key(key)
        algorithm = meta.get("checksum_algorithm")
        kind = meta.get("checksum_type")
        if kind == "FULL_OBJECT" and algorithm not in checksums.CRC_ALGORITHMS:
            raise S3Error(
                "InvalidRequest",
                f"The FULL_OBJECT checksum type is not supported with the {algorithm} checksum algorithm.",
            )
        if algorithm == "CRC64NVME" and kind == "COMPOSITE":
            raise S3Error("InvalidRequest", "The CRC64NVME checksum algorithm supports only FULL_OBJECT.")
        if algorithm and not kind:
            meta["checksum_type"] = "FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE"
        store = self.store
        store.require_bucket(bucket)
        upload_id = secrets.token_urlsafe(48)
        (self.folder / upload_id).mkdir()
        with store._tx() as db:
            db.execute(
                "INSERT INTO uploads VALUES (?, ?, ?, ?, ?)",
                (upload_id, bucket, key, time.time(), json.dumps(meta)),
            )
        return upload_id

    def get(self, bucket: str, key: str, upload_id: str) -> dict[str, Any]:
        """The meta of an unfinished upload of ``bucket``/``key``; ``NoSuchUpload`` otherwise."""
        self.store.require_bucket(bucket)
        if not UPLOAD_ID_RE.fullmatch(upload_id):
            raise no_upload(upload_id)
        rows = self.store._query(
            "SELECT meta FROM uploads WHERE upload_id = ? AND bucket = ? AND key = ?",
            (upload_id, bucket, key),
        )
        if not rows:
            raise no_upload(upload_id)
        return dict(json.loads(rows[0][0]))

    def writer(
        self, meta: dict[str, Any], extra: tuple[str, ...], *, sha256: bool, md5: bool = False
    ) -> BlobWriter:
        """A temp file for one part: hashed with the upload's algorithm and ``extra`` ones (MD5 only
        when asked: a part's ETag comes from its checksum, see ``part_etag``)."""
        algorithms = tuple(dict.fromkeys((part_algorithm(meta), *extra)))
        return BlobWriter(self.store.tmp_dir, algorithms, sha256=sha256, max_size=MAX_OBJECT_SIZE, md5=md5)

    @staticmethod
    def part_etag(meta: dict[str, Any], blob: Blob) -> str:
        """A part's ETag: its MD5 when one was computed, else a digest of its checksum and size.
        S3 promises nothing about multipart ETags beyond identifying the bytes; clients send part
        ETags back verbatim in CompleteMultipartUpload."""
        if blob.md5:
            return f'"{blob.md5}"'
        raw = blob.raw_checksums[part_algorithm(meta)] + blob.size.to_bytes(8, "big")
        return f'"{hashlib.md5(raw).hexdigest()}"'

    def put_part(self, upload_id: str, number: int, meta: dict[str, Any], blob: Blob) -> None:
        """Record a finished blob as part ``number`` (replacing an earlier upload of that number)."""
        checksum = blob.checksums[part_algorithm(meta)]
        name = f"{number:05d}-{secrets.token_hex(4)}"
        target = self.folder / upload_id / name
        try:
            os.rename(blob.path, target)
        except FileNotFoundError:  # the upload was aborted or completed meanwhile
            blob.discard()
            raise no_upload(upload_id) from None
        try:
            fsync_dir(target.parent)  # the part's name survives a power loss once acknowledged
        except FileNotFoundError:
            raise no_upload(upload_id) from None
        old = None
        try:
            with self.store._tx() as db:
                if not db.execute("SELECT 1 FROM uploads WHERE upload_id = ?", (upload_id,)).fetchone():
                    raise no_upload(upload_id)
                old = db.execute(
                    "SELECT file FROM parts WHERE upload_id = ? AND number = ?", (upload_id, number)
                ).fetchone()
                db.execute(
                    "INSERT OR REPLACE INTO parts VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (upload_id, number, name, blob.size, self.part_etag(meta, blob), checksum, time.time()),
                )
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
            raise
        if old is not None:
            with contextlib.suppress(FileNotFoundError):
                (self.folder / upload_id / old[0]).unlink()

    def listing(
        self, bucket: str, prefix: str, after: tuple[str, str] | None
    ) -> list[tuple[str, str, float, dict[str, Any]]]:
        """(key, upload id, initiation time, meta) of the bucket's unfinished uploads whose key
        starts with ``prefix``, by key and then by initiation. ``after``: (key marker, upload id
        marker) as S3 takes them: the uploads after that upload of that key, or with no (or an
        unknown) upload id, those of later keys. In-progress uploads are few: this reads all of
        the bucket's."""
        self.store.require_bucket(bucket)
        rows = [
            (str(key), str(upload_id), float(created), meta)
            for key, upload_id, created, meta in self.store._query(
                "SELECT key, upload_id, created, meta FROM uploads WHERE bucket = ? "
                "ORDER BY key, created, upload_id",
                (bucket,),
            )
            if str(key).startswith(prefix)
        ]
        if after is not None:
            key_marker, upload_marker = after
            at = [i for i, row in enumerate(rows) if row[0] == key_marker and row[1] == upload_marker]
            rows = rows[at[0] + 1 :] if upload_marker and at else [r for r in rows if r[0] > key_marker]
        return [(key, upload_id, created, dict(json.loads(meta))) for key, upload_id, created, meta in rows]

    def parts(self, upload_id: str) -> list[tuple[int, str, int, str, str | None, float]]:
        """(number, file, size, etag, checksum, modified) of each uploaded part, by number."""
        rows = self.store._query(
            "SELECT number, file, size, etag, checksum, modified FROM parts WHERE upload_id = ? "
            "ORDER BY number",
            (upload_id,),
        )
        return [(int(n), str(f), int(s), str(e), c, float(m)) for n, f, s, e, c, m in rows]

    def complete(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        requested: list[RequestedPart],
        expected: tuple[str, str] | None = None,
    ) -> ObjectInfo:
        """Make the object from the ``requested`` parts. ``expected`` is the (algorithm, value)
        of a whole-object checksum the client sent with the request, checked before anything
        becomes visible."""
        meta = self.get(bucket, key, upload_id)
        if not requested:
            raise S3Error("InvalidRequest", "You must specify at least one part")
        stored = {
            number: (name, size, etag, checksum)
            for number, name, size, etag, checksum, _ in self.parts(upload_id)
        }
        algorithm = part_algorithm(meta)
        chosen: list[tuple[str, int]] = []
        md5s: list[bytes] = []
        digests: list[tuple[bytes, int]] = []
        numbers = [part.number for part in requested]
        if any(b <= a for a, b in itertools.pairwise(numbers)):
            raise S3Error(
                "InvalidPartOrder",
                "The list of parts was not in ascending order. The parts list must be specified "
                "in order by part number.",
            )
        for index, part in enumerate(requested):
            found = stored.get(part.number)
            if found is None or found[2].strip('"') != part.etag.strip().strip('"'):
                raise invalid_part(part.number)
            name, size, etag, checksum = found
            for alg, value in part.checksums.items():
                if alg != algorithm or value.strip() != checksum:
                    raise invalid_part(part.number)
            if size < MIN_PART_SIZE and index < len(requested) - 1:
                raise S3Error(
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed object size.",
                    400,
                    ProposedSize=str(size),
                    MinSizeAllowed=str(MIN_PART_SIZE),
                )
            chosen.append((name, size))
            md5s.append(binascii.unhexlify(etag.strip('"')))
            digests.append((checksums.decode(algorithm, checksum or "") or b"", size))
        etag = f'"{hashlib.md5(b"".join(md5s)).hexdigest()}-{len(md5s)}"'
        kind = meta.get("checksum_type") or "FULL_OBJECT"
        if kind == "FULL_OBJECT":
            value = checksums.full_object(algorithm, digests)
        else:
            value = checksums.composite(algorithm, [d for d, _ in digests])
        if expected is not None:
            exp_alg, exp_value = expected
            if exp_alg != algorithm or exp_value.strip().split("-")[0] != value.split("-")[0]:
                raise S3Error(
                    "BadDigest",
                    f"The {exp_alg} you specified did not match the calculated checksum.",
                )
        object_meta = {k: v for k, v in meta.items() if k not in ("checksum_algorithm", "checksum_type")}
        object_meta["checksum"] = {"algorithm": algorithm, "value": value, "type": kind}
        object_meta["parts"] = [list(c) for c in chosen]
        return self._finish(bucket, key, upload_id, chosen, etag, object_meta)

    def _finish(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        chosen: list[tuple[str, int]],
        etag: str,
        meta: dict[str, Any],
    ) -> ObjectInfo:
        """Turn the upload's folder into the object ``key``, made of the ``chosen`` part files."""
        store = self.store
        folder = self.folder / upload_id
        keep = {name for name, _ in chosen}
        with store._lock:
            if not store._query("SELECT 1 FROM uploads WHERE upload_id = ?", (upload_id,)):
                raise no_upload(upload_id)
            for entry in os.listdir(folder):
                if entry not in keep:
                    remove_path(folder / entry)
            data_id = store._place(bucket, folder)
            with store._tx() as db:
                db.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
                db.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
        return store._commit(bucket, key, data_id, sum(size for _, size in chosen), etag, meta)

    def abort(self, bucket: str, key: str, upload_id: str) -> None:
        """Forget the upload and its parts (``NoSuchUpload`` if it is not there)."""
        self.get(bucket, key, upload_id)
        with self.store._tx() as db:
            db.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
            db.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
        shutil.rmtree(self.folder / upload_id, ignore_errors=True)
