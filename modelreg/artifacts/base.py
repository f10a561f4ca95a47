"""The ArtifactStore contract: read the bytes a URI points to, and their SHA-256 digest.

Implementations: :mod:`modelreg.artifacts.local` (``file://`` URIs and absolute paths) and
:mod:`modelreg.artifacts.s3` (``s3://bucket/key`` through boto3). Both raise only the two errors
below for anything that goes wrong with a URI, with a message a user can act on; neither ever
puts file contents or credentials into a message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

#: how much ``sha256`` reads at a time
CHUNK = 1024 * 1024


class ArtifactError(Exception):
    """A URI could not be read; ``str(error)`` says which URI and why."""


class ArtifactNotFound(ArtifactError):
    """Nothing exists at the URI (no such file, bucket or key)."""


class ArtifactUnreadable(ArtifactError):
    """Something may exist at the URI, but it cannot or may not be read: a relative path, a
    directory or device, an unsupported scheme, access denied, a storage service that cannot be
    reached, or content larger than the caller allows."""


class ArtifactStore(Protocol):
    """Reads artifacts by URI. Implementations are safe to share between threads."""

    def read(self, uri: str, *, max_bytes: int | None = None) -> bytes:
        """The whole content at ``uri``.

        With ``max_bytes``, content longer than that is refused (``ArtifactUnreadable``) without
        being read into memory. Raises ``ArtifactNotFound`` when nothing is there."""
        ...

    def sha256(self, uri: str) -> str:
        """The lowercase hex SHA-256 of the content at ``uri``, read in chunks (any size).

        Raises as ``read`` does."""
        ...

    def fetch_to_file(self, uri: str, dest: Path) -> str:
        """Copy the content at ``uri`` into the file ``dest`` (created or truncated), in chunks of
        any total size, and return its lowercase hex SHA-256. Raises as ``read`` does."""
        ...

    def size(self, uri: str) -> int:
        """The size in bytes of the content at ``uri``. Raises as ``read`` does."""
        ...

    def delete(self, uri: str) -> None:
        """Remove the content at ``uri`` (cleanup of versions no one needs). Raises
        ``ArtifactNotFound`` when nothing is there, ``ArtifactUnreadable`` when it may not be removed."""
        ...


def copy_hashing(chunks: Iterable[bytes], dest: Path) -> str:
    """Write ``chunks`` to ``dest`` and return the SHA-256 of what was written."""
    digest = hashlib.sha256()
    with open(dest, "wb") as out:
        for chunk in chunks:
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def too_large(uri: str, max_bytes: int) -> ArtifactUnreadable:
    return ArtifactUnreadable(f"{uri} is larger than {max_bytes} bytes, the most read here.")
