"""The checksums S3 clients send and validate: CRC32, CRC32C, CRC64NVME, SHA1, SHA256 (and SHA512).

``x-amz-checksum-<algorithm>`` values are base64 of the big-endian digest. CRC32 runs in Intel's
ISA-L (``isal``: carry-less multiply, about 4x zlib's speed; it is boto3's default, so on an
upload it was a fifth of the server's CPU), CRC32C and CRC64NVME (the AWS CLI v2's default) in
the AWS Common Runtime (``awscrt``, tens of GB/s where the CPU has carry-less multiply), the SHA
family in hashlib.

Multipart objects get either a *composite* checksum (the algorithm over the concatenated part
digests, shown as ``<base64>-<parts>``) or, for the CRC family, a *full-object* one, combined from
the part CRCs without reading the data again (:func:`crc_combine`, awscrt's combine functions).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from functools import cache
from types import ModuleType
from typing import Protocol

from isal import isal_zlib

#: the algorithms the built-in store accepts, by their S3 name
ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256", "SHA512")
#: algorithms whose multipart checksum may be FULL_OBJECT (CRCs combine; hashes do not)
CRC_ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME")


class Hasher(Protocol):
    """What ``hashlib`` objects and the CRCs below share."""

    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...

    def digest(self) -> bytes: ...


class _Crc:
    """A running CRC: ``compute(data, previous)`` continues ``previous`` over ``data``."""

    def __init__(self, compute: Callable[[bytes, int], int], width: int) -> None:
        self._compute = compute
        self._size = width // 8
        self.value = 0

    def update(self, data: bytes | bytearray | memoryview, /) -> None:
        self.value = self._compute(data, self.value)  # type: ignore[arg-type]

    def digest(self) -> bytes:
        return self.value.to_bytes(self._size, "big")


def _crc32() -> _Crc:
    return _Crc(isal_zlib.crc32, 32)


@cache
def _crt() -> ModuleType:
    """awscrt's checksums, loaded on first use (the native library costs 30 ms and 6 MB)."""
    from awscrt import checksums

    return checksums


def _crc32c() -> _Crc:
    return _Crc(_crt().crc32c, 32)


def _crc64nvme() -> _Crc:
    return _Crc(_crt().crc64nvme, 64)


_FACTORIES: dict[str, Callable[[], Hasher]] = {
    "CRC32": _crc32,
    "CRC32C": _crc32c,
    "CRC64NVME": _crc64nvme,
    "SHA1": hashlib.sha1,
    "SHA256": hashlib.sha256,
    "SHA512": hashlib.sha512,
}


def new_hasher(algorithm: str) -> Hasher:
    """A fresh hasher for one of :data:`ALGORITHMS` (upper case)."""
    return _FACTORIES[algorithm]()


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def digest_size(algorithm: str) -> int:
    return len(new_hasher(algorithm).digest())


def decode(algorithm: str, value: str) -> bytes | None:
    """The raw digest of a base64 ``x-amz-checksum-*`` value, or None when it is malformed."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (ValueError, TypeError):
        return None
    return raw if len(raw) == digest_size(algorithm) else None


def checksum_of(algorithm: str, data: bytes) -> str:
    """The base64 checksum of ``data`` (small bodies: XML requests, tests)."""
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return b64(hasher.digest())


def crc_combine(algorithm: str, crc1: bytes, crc2: bytes, len2: int) -> bytes:
    """The CRC of ``A + B`` from ``crc(A)``, ``crc(B)`` and ``len(B)`` (raw big-endian digests)."""
    a, b = int.from_bytes(crc1, "big"), int.from_bytes(crc2, "big")
    combine = getattr(_crt(), f"combine_{algorithm.lower()}")
    return combine(a, b, len2).to_bytes(len(crc1), "big")


def full_object(algorithm: str, parts: list[tuple[bytes, int]]) -> str:
    """The full-object CRC of a multipart object from its parts' (raw CRC, size), base64."""
    if not parts:
        return checksum_of(algorithm, b"")
    crc, _ = parts[0]
    for part_crc, size in parts[1:]:
        crc = crc_combine(algorithm, crc, part_crc, size)
    return b64(crc)


def composite(algorithm: str, part_digests: list[bytes]) -> str:
    """S3's COMPOSITE multipart checksum: the algorithm over the joined part digests, ``-N``."""
    return f"{checksum_of(algorithm, b''.join(part_digests))}-{len(part_digests)}"
