"""The checksums S3 clients send and validate: CRC32, CRC32C, CRC64NVME, SHA1, SHA256 (and SHA512).

``x-amz-checksum-<algorithm>`` values are base64 of the big-endian digest. CRC32 runs in Intel's
ISA-L (``isal``: carry-less multiply, about 4x zlib's speed; it is every S3 client's default, so
on an upload it was a fifth of the server's CPU), the SHA family in hashlib. CRC32C and CRC64NVME
have no C implementation in the standard library and are computed in pure Python here (about
15 MB/s): correct, but slow for large objects. boto3 without its CRT extra only ever sends CRC32
(its default) or SHA*.

Multipart objects get either a *composite* checksum (the algorithm over the concatenated part
digests, shown as ``<base64>-<parts>``) or, for the CRC family, a *full-object* one, combined from
the part CRCs without reading the data again (:func:`crc_combine`).
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Callable
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


# --------------------------------------------------------------------------------------------
# CRCs (all reflected, init and final xor all ones)


_WORDS = struct.Struct("<Q")


class _CrcSpec:
    """One reflected CRC: its width, reflected polynomial and the tables the code below uses."""

    def __init__(self, width: int, poly: int) -> None:
        self.width = width
        self.poly = poly
        self.mask = (1 << width) - 1
        self.top = 1 << (width - 1)
        table = []
        for byte in range(256):
            crc = byte
            for _ in range(8):
                crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
            table.append(crc)
        self.table = table
        # slicing-by-8: tables[k][b] is the CRC effect of byte b followed by k zero bytes
        tables = [table]
        for _ in range(7):
            prev = tables[-1]
            tables.append([(prev[i] >> 8) ^ table[prev[i] & 0xFF] for i in range(256)])
        self.tables = tables
        # x^(2^k) mod p, for combining CRCs of adjacent blocks (zlib's crc32_combine method)
        x2n = [self.top >> 1]
        for _ in range(1, 64):
            x2n.append(self.multmodp(x2n[-1], x2n[-1]))
        self.x2n = x2n

    def multmodp(self, a: int, b: int) -> int:
        """a * b mod p, in the reflected representation."""
        m, p = self.top, 0
        while True:
            if a & m:
                p ^= b
                if (a & (m - 1)) == 0:
                    break
            m >>= 1
            b = (b >> 1) ^ self.poly if b & 1 else b >> 1
        return p

    def x8nmodp(self, n: int) -> int:
        """x^(8n) mod p."""
        p, k = self.top, 3
        while n:
            if n & 1:
                p = self.multmodp(self.x2n[k & 63], p)
            n >>= 1
            k += 1
        return p

    def update(self, crc: int, data: bytes | bytearray | memoryview) -> int:
        """Continue ``crc`` (the finished value of the bytes so far) over ``data``."""
        t0, t1, t2, t3, t4, t5, t6, t7 = self.tables
        c = crc ^ self.mask
        view = memoryview(data).cast("B")
        whole = len(view) // 8 * 8
        for (word,) in _WORDS.iter_unpack(view[:whole]):
            x = word ^ c
            c = (
                t7[x & 0xFF]
                ^ t6[(x >> 8) & 0xFF]
                ^ t5[(x >> 16) & 0xFF]
                ^ t4[(x >> 24) & 0xFF]
                ^ t3[(x >> 32) & 0xFF]
                ^ t2[(x >> 40) & 0xFF]
                ^ t1[(x >> 48) & 0xFF]
                ^ t0[x >> 56]
            )
        for byte in bytes(view[whole:]):
            c = t0[(c ^ byte) & 0xFF] ^ (c >> 8)
        return c ^ self.mask


_CRC32C = _CrcSpec(32, 0x82F63B78)
_CRC64NVME = _CrcSpec(64, 0x9A6C9329AC4BC9B5)
_CRC32 = _CrcSpec(32, 0xEDB88320)  # only for combining; ISA-L computes it
_SPECS = {"CRC32": _CRC32, "CRC32C": _CRC32C, "CRC64NVME": _CRC64NVME}


class _Crc32:
    def __init__(self) -> None:
        self.value = 0

    def update(self, data: bytes | bytearray | memoryview, /) -> None:
        self.value = isal_zlib.crc32(data, self.value)

    def digest(self) -> bytes:
        return struct.pack(">I", self.value)


class _PyCrc:
    def __init__(self, spec: _CrcSpec) -> None:
        self.spec = spec
        self.value = 0

    def update(self, data: bytes | bytearray | memoryview, /) -> None:
        self.value = self.spec.update(self.value, data)

    def digest(self) -> bytes:
        return self.value.to_bytes(self.spec.width // 8, "big")


_FACTORIES: dict[str, Callable[[], Hasher]] = {
    "CRC32": _Crc32,
    "CRC32C": lambda: _PyCrc(_CRC32C),
    "CRC64NVME": lambda: _PyCrc(_CRC64NVME),
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
    spec = _SPECS[algorithm]
    a, b = int.from_bytes(crc1, "big"), int.from_bytes(crc2, "big")
    return (spec.multmodp(spec.x8nmodp(len2), a) ^ b).to_bytes(spec.width // 8, "big")


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
