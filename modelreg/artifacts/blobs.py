"""Writing object bytes to disk: a temp file, hashed in the same pass, fsynced, then renamed.

:class:`BlobWriter` is the one place object data is written. It streams into a temp file in the
store's ``.tmp`` folder (same file system as the objects, so the final ``rename`` is atomic),
computes the MD5 (the ETag), the requested S3 checksums and, when asked, the SHA-256 of the
payload as it goes (once per staged run of bytes), and on ``finish`` fsyncs the file; the bytes
reach the disk through :class:`~modelreg.artifacts.direct_io.DirectFile` (``O_DIRECT``, past the
page cache, where the file system allows it). Nothing is visible to readers until the
caller renames the file into place and records it in the index. :class:`AwsChunkedDecoder`
unwraps ``Content-Encoding: aws-chunked`` bodies (what boto3 sends over HTTPS, with a trailing
checksum) in front of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from modelreg.artifacts import checksums
from modelreg.artifacts.direct_io import DirectFile


class S3Error(Exception):
    """An S3 error: ``code`` is S3's error code, ``status`` the HTTP status, ``fields`` extra XML
    elements of the error body (``Key``, ``BucketName``, ...)."""

    def __init__(self, code: str, message: str, status: int = 400, **fields: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.fields = fields


def too_large(max_size: int | None, proposed: int | None = None) -> S3Error:
    """S3's error for a body larger than ``max_size`` bytes (``proposed``, when announced)."""
    sizes = {"ProposedSize": str(proposed)} if proposed is not None else {}
    return S3Error(
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed size",
        400,
        **sizes,
        MaxSizeAllowed=str(max_size),
    )


@dataclass
class Blob:
    """A finished temp file and what was computed over its bytes."""

    path: Path
    size: int
    md5: str  # hex; "" when the writer was told not to compute it
    checksums: dict[str, str] = field(default_factory=dict)  # algorithm -> base64 digest
    raw_checksums: dict[str, bytes] = field(default_factory=dict)
    sha256: str | None = None  # hex of the payload, when asked for
    trailers: dict[str, str] = field(default_factory=dict)  # aws-chunked trailing headers

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in folder ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobWriter:
    """Streams bytes into a new temp file under ``tmp_dir``, hashing them on the way.

    ``algorithms`` are the S3 checksums to compute (see :mod:`checksums`); ``sha256`` also
    computes the payload's SHA-256 (to check ``x-amz-content-sha256``). ``max_size`` refuses
    larger bodies with ``EntityTooLarge``. ``md5=False`` skips the MD5 (a multipart part whose ETag
    comes from its checksum: MD5 costs more CPU than the rest of an upload together). Not
    thread-safe: one writer feeds one request.
    """

    def __init__(
        self,
        tmp_dir: Path,
        algorithms: tuple[str, ...] = (),
        *,
        sha256: bool = False,
        max_size: int | None = None,
        md5: bool = True,
    ) -> None:
        self.path = tmp_dir / f"{secrets.token_hex(16)}.part"
        self._md5 = hashlib.md5() if md5 else None
        self._hashers = {alg: checksums.new_hasher(alg) for alg in algorithms}
        self._sha256 = hashlib.sha256() if sha256 else None
        self._all_hashers: list[checksums.Hasher] = [
            *([self._md5] if self._md5 is not None else []),
            *self._hashers.values(),
            *([self._sha256] if self._sha256 is not None else []),
        ]
        self._file: DirectFile | None = DirectFile(self.path, self._hash)
        self.size = 0
        self.max_size = max_size

    def _hash(self, run: memoryview) -> None:
        for hasher in self._all_hashers:
            hasher.update(run)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data``; raises ``EntityTooLarge`` past ``max_size``."""
        self.write_many([data])

    def write_many(self, pieces: list[bytes | bytearray | memoryview]) -> None:
        """Append ``pieces`` in order with as few system calls as possible (no joining copy)."""
        pieces = [p for p in pieces if len(p)]
        if not pieces:
            return
        self.size += sum(len(p) for p in pieces)
        if self.max_size is not None and self.size > self.max_size:
            raise too_large(self.max_size)
        assert self._file is not None
        self._file.write_many(pieces)

    def fill_from(self, read_into: Callable[[memoryview], int], limit: int) -> int:
        """Append what one ``read_into(buffer)`` call reads into a buffer of at most ``limit``
        bytes, straight into the file's staging buffer; returns the count."""
        assert self._file is not None
        if self.max_size is not None:
            limit = min(limit, self.max_size + 1 - self.size)
        count = self._file.fill_from(read_into, limit)
        self.size += count
        if self.max_size is not None and self.size > self.max_size:
            raise too_large(self.max_size)
        return count

    def finish(self) -> Blob:
        """fsync and close the file; the bytes are now durable but not yet visible anywhere."""
        assert self._file is not None
        try:
            self._file.finish()
        finally:
            self._file.close()
            self._file = None
        raw = {alg: h.digest() for alg, h in self._hashers.items()}
        return Blob(
            path=self.path,
            size=self.size,
            md5=self._md5.hexdigest() if self._md5 is not None else "",
            checksums={alg: checksums.b64(d) for alg, d in raw.items()},
            raw_checksums=raw,
            sha256=self._sha256.hexdigest() if self._sha256 is not None else None,
        )

    def discard(self) -> None:
        """Forget everything written (the temp file is removed)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


_MAX_CHUNK_HEADER = 4096
_MAX_TRAILERS = 16 * 1024


class AwsChunkedDecoder:
    """Decodes ``aws-chunked`` framing: ``<hex size>[;chunk-signature=...]\\r\\n<data>\\r\\n`` ...
    ``0[;...]\\r\\n`` then trailing ``name:value\\r\\n`` lines and a blank line.

    ``feed`` returns the payload bytes found so far; ``close`` checks that the framing ended
    properly. Chunk signatures (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``) are parsed but not
    verified: the request's seed signature is, and the checksums guard the content.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._remaining = 0  # payload bytes left in the current chunk
        self._need_crlf = False  # a chunk's data ended; its CRLF is next
        self._state = "header"  # header | data | trailers | done
        self.trailers: dict[str, str] = {}

    def payload_ahead(self) -> int:
        """How many bytes of chunk data come next, with no framing before them: they may be read
        past :meth:`feed` (and then counted with :meth:`skip_payload`)."""
        if self._state == "data" and not self._buf and not self._need_crlf:
            return self._remaining
        return 0

    def skip_payload(self, count: int) -> None:
        """``count`` (at most :meth:`payload_ahead`) bytes of chunk data were read past ``feed``."""
        assert 0 < count <= self.payload_ahead()
        self._remaining -= count
        if not self._remaining:
            self._state, self._need_crlf = "header", True

    def _malformed(self, why: str) -> S3Error:
        return S3Error("IncompleteBody", f"The aws-chunked request body is malformed: {why}.", 400)

    def feed(self, data: bytes | bytearray) -> list[memoryview | bytes]:
        """Decode what ``data`` completes; returns payload pieces in order."""
        out: list[memoryview | bytes] = []
        if self._state == "data" and not self._buf and not self._need_crlf:
            # the fast path: most of a large chunk arrives as raw payload
            take = min(self._remaining, len(data))
            out.append(memoryview(data)[:take])
            self._remaining -= take
            data = memoryview(data)[take:]
            if self._remaining == 0:
                self._state, self._need_crlf = "header", True
        self._buf += data
        pos = 0
        buf = self._buf
        while True:
            if self._state == "data":
                take = min(self._remaining, len(buf) - pos)
                if take:
                    out.append(bytes(buf[pos : pos + take]))
                    pos += take
                    self._remaining -= take
                if self._remaining:
                    break
                self._state, self._need_crlf = "header", True
            if self._need_crlf:
                if len(buf) - pos < 2:
                    break
                if buf[pos : pos + 2] != b"\r\n":
                    raise self._malformed("a chunk is not followed by CRLF")
                pos += 2
                self._need_crlf = False
            if self._state == "header":
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    if len(buf) - pos > _MAX_CHUNK_HEADER:
                        raise self._malformed("a chunk header is too long")
                    break
                line = bytes(buf[pos:end]).split(b";", 1)[0].strip()
                pos = end + 2
                try:
                    size = int(line, 16)
                except ValueError:
                    raise self._malformed(f"bad chunk size {line[:20]!r}") from None
                if size < 0:
                    raise self._malformed("negative chunk size")
                if size == 0:
                    self._state = "trailers"
                else:
                    self._state, self._remaining = "data", size
                    continue
            if self._state == "trailers":
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    if len(buf) - pos > _MAX_TRAILERS:
                        raise self._malformed("trailers too long")
                    break
                line = bytes(buf[pos:end])
                pos = end + 2
                if not line:
                    self._state = "done"
                    break
                name, sep, value = line.decode("latin-1").partition(":")
                if not sep:
                    raise self._malformed("a trailer line has no ':'")
                self.trailers[name.strip().lower()] = value.strip()
                continue
            if self._state == "done":
                break
        del buf[:pos]
        if self._state == "done" and buf.strip():
            raise self._malformed("data after the final chunk")
        return out

    def close(self) -> None:
        """Raise ``IncompleteBody`` unless the body ended after its final chunk."""
        if self._state == "trailers" and not self._buf:
            self._state = "done"  # some clients end with "0\r\n" and no trailer section
        if self._state != "done":
            raise self._malformed("it ended before its final chunk")
