"""Artifacts on the server's own file system: ``file://`` URIs and absolute paths."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path
from urllib.parse import unquote, urlsplit

from modelreg.artifacts.base import CHUNK, ArtifactNotFound, ArtifactUnreadable, copy_hashing, too_large


def local_path(uri: str) -> Path:
    """The absolute path named by ``uri``: ``file:///abs/path`` (percent-encoded, host empty or
    ``localhost``) or a plain ``/abs/path``. Relative paths and other hosts are refused."""
    if uri.startswith("/"):
        path = uri
    else:
        parts = urlsplit(uri)
        if not parts.scheme:
            raise ArtifactUnreadable(
                f"{uri!r} is a relative path; give an absolute path or a file:///absolute/path URI."
            )
        if parts.scheme.lower() != "file":
            raise ArtifactUnreadable(f"{uri!r} is neither a file:// URI nor an absolute path.")
        if parts.netloc not in ("", "localhost"):
            raise ArtifactUnreadable(
                f"{uri!r} names the host {parts.netloc!r}; file:// URIs must name a file on this "
                "server (file:///absolute/path)."
            )
        if parts.query or parts.fragment:
            raise ArtifactUnreadable(f"{uri!r} has a query or fragment; a file:// URI names only a path.")
        path = unquote(parts.path)
    if "\x00" in path:
        raise ArtifactUnreadable(f"{uri!r} contains a NUL character.")
    if not os.path.isabs(path):
        raise ArtifactUnreadable(
            f"{uri!r} is a relative path; give an absolute path or a file:///absolute/path URI."
        )
    return Path(path)


class LocalArtifactStore:
    """Reads regular files (symbolic links are followed to one); refuses directories, devices,
    FIFOs and sockets before reading a byte of them."""

    def _open(self, uri: str) -> tuple[int, int]:
        """An open descriptor of the regular file at ``uri``, and its size."""
        path = local_path(uri)
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer; the fstat below refuses it.
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError:
            raise ArtifactNotFound(f"{uri} does not exist.") from None
        except NotADirectoryError:
            raise ArtifactNotFound(f"{uri} does not exist (a part of its path is not a folder).") from None
        except PermissionError:
            raise ArtifactUnreadable(f"{uri} cannot be read: permission denied.") from None
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # a socket, or a FIFO opened for writing only
                raise ArtifactUnreadable(f"{uri} is not a regular file.") from None
            raise ArtifactUnreadable(f"{uri} cannot be read: {exc.strerror}.") from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise ArtifactUnreadable(f"{uri} is {kind}; an artifact must be a regular file.")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return fd, info.st_size

    def read(self, uri: str, *, max_bytes: int | None = None) -> bytes:
        fd, size = self._open(uri)
        try:
            with os.fdopen(fd, "rb") as f:
                if max_bytes is None:
                    return f.read()
                if size > max_bytes:
                    raise too_large(uri, max_bytes)
                data = f.read(max_bytes + 1)  # the file may have grown since fstat
        except OSError as exc:
            raise ArtifactUnreadable(f"{uri} cannot be read: {exc.strerror or exc}.") from None
        if len(data) > max_bytes:
            raise too_large(uri, max_bytes)
        return data

    def sha256(self, uri: str) -> str:
        fd, _ = self._open(uri)
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "rb") as f:
                while chunk := f.read(CHUNK):
                    digest.update(chunk)
        except OSError as exc:
            raise ArtifactUnreadable(f"{uri} cannot be read: {exc.strerror or exc}.") from None
        return digest.hexdigest()

    def fetch_to_file(self, uri: str, dest: Path) -> str:
        fd, _ = self._open(uri)
        try:
            with os.fdopen(fd, "rb") as f:
                return copy_hashing(iter(lambda: f.read(CHUNK), b""), dest)
        except OSError as exc:
            raise ArtifactUnreadable(f"{uri} cannot be read: {exc.strerror or exc}.") from None

    def size(self, uri: str) -> int:
        fd, size = self._open(uri)
        os.close(fd)
        return size

    def delete(self, uri: str) -> None:
        fd, _ = self._open(uri)  # a regular file, or the reason it is not
        os.close(fd)
        try:
            local_path(uri).unlink()
        except FileNotFoundError:
            raise ArtifactNotFound(f"{uri} does not exist.") from None
        except OSError as exc:
            raise ArtifactUnreadable(f"{uri} cannot be deleted: {exc.strerror or exc}.") from None
