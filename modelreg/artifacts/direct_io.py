"""Writing large files past the page cache: ``O_DIRECT`` through reused, aligned staging buffers.

A buffered ``write`` copies every byte into page-cache pages the kernel has just allocated; on a
virtual machine whose host reclaims freed guest memory, touching those fresh pages is what costs
most of an upload's CPU (measured: about 1.2 of 2.3 CPU-seconds per GB, ``perf`` showing
``copy_folio_from_iter_atomic``). With ``O_DIRECT`` the device reads the bytes straight from a
user buffer: the server copies each byte once into a staging buffer that is reused from upload
to upload (its pages stay mapped), and the kernel copies nothing. Objects are written once and
read rarely, so keeping them out of the page cache costs nothing that matters.

``O_DIRECT`` needs the buffer address, the file offset and the length aligned to the device's
block size: buffers are page-aligned anonymous maps, every write but the last is a whole number
of :data:`ALIGN` blocks, and the last (shorter) tail is written after ``O_DIRECT`` is switched
off on the descriptor. Where the file system refuses ``O_DIRECT`` (tmpfs on older kernels,
non-Linux systems) :class:`DirectFile` is an ordinary buffered file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import mmap
import os
import threading
from collections.abc import Callable, Sequence

#: alignment of O_DIRECT buffers, offsets and lengths (covers 512-byte and 4 KiB sector devices)
ALIGN = 4096
#: size of one staging buffer: bytes are written to the file in runs of this size
STAGE_BYTES = 4 * 1024 * 1024
#: staging buffers kept for reuse (the CRT client sends about 24 parts at once)
KEEP_BUFFERS = 32
#: staging buffers still kept once no upload has held one for TRIM_AFTER seconds
KEEP_IDLE = 8
TRIM_AFTER = 5.0

_O_DIRECT = getattr(os, "O_DIRECT", 0)


class _BufferPool:
    """Staging buffers handed from one upload to the next: a fresh buffer costs a page fault and
    a zeroed page per 4 KiB on first touch (a quarter of an upload's CPU when every part took
    one). Up to ``keep`` are kept; ``trim_after`` seconds after the last one in use came back,
    all but ``keep_idle`` are unmapped (by a timer thread)."""

    def __init__(self, size: int, keep: int, keep_idle: int, trim_after: float) -> None:
        self.size = size
        self.keep = keep
        self.keep_idle = keep_idle
        self.trim_after = trim_after
        self._free: list[mmap.mmap] = []
        self._in_use = 0
        self._trim: threading.Timer | None = None
        self._lock = threading.Lock()

    def take(self) -> mmap.mmap:
        with self._lock:
            self._in_use += 1
            if self._free:
                return self._free.pop()
        try:
            return mmap.mmap(-1, self.size, flags=mmap.MAP_PRIVATE)  # private: not shmem-backed
        except BaseException:
            with self._lock:
                self._in_use -= 1
            raise

    def give(self, buf: mmap.mmap) -> None:
        with self._lock:
            self._in_use -= 1
            kept = len(self._free) < self.keep
            if kept:
                self._free.append(buf)
            if not self._in_use and len(self._free) > self.keep_idle and self._trim is None:
                self._trim = threading.Timer(self.trim_after, self._trim_if_idle)
                self._trim.daemon = True
                self._trim.start()
        if not kept:
            buf.close()

    def _trim_if_idle(self) -> None:
        with self._lock:
            self._trim = None
            if self._in_use:
                return  # uploads again: the next idle moment starts a new timer
            surplus, self._free = self._free[self.keep_idle :], self._free[: self.keep_idle]
        for extra in surplus:
            extra.close()

    @property
    def kept(self) -> int:
        """Buffers held for reuse now."""
        return len(self._free)


_POOL = _BufferPool(STAGE_BYTES, KEEP_BUFFERS, KEEP_IDLE, TRIM_AFTER)


def open_new(path: os.PathLike[str] | str, *, direct: bool = True) -> tuple[int, bool]:
    """Create ``path`` (it must not exist) for writing: (fd, whether it is in O_DIRECT mode)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    if direct and _O_DIRECT:
        try:
            return os.open(path, flags | _O_DIRECT, 0o644), True
        except OSError as exc:
            if exc.errno != errno.EINVAL:  # EINVAL: this file system does not do O_DIRECT
                raise
    return os.open(path, flags, 0o644), False


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view) :]


def writev_all(fd: int, pieces: Sequence[bytes | bytearray | memoryview]) -> None:
    """Write ``pieces`` in order with as few system calls as possible (no joining copy)."""
    views = [memoryview(p).cast("B") for p in pieces if len(p)]
    while views:
        written = os.writev(fd, views[:_IOV_MAX])
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if written:
            views[0] = views[0][written:]


_IOV_MAX = 512


class DirectFile:
    """Appends to a new file through a staging buffer, in ``O_DIRECT`` mode when the file system
    allows it; ``on_flush`` sees every run of bytes once, in order, just before it is written
    (the writer hashes there: one call per run instead of one per network chunk).

    Not thread-safe: one writer per file. ``close`` must be called (it returns the buffer).
    """

    def __init__(
        self, path: os.PathLike[str] | str, on_flush: Callable[[memoryview], None], *, direct: bool = True
    ) -> None:
        self.fd, self.direct = open_new(path, direct=direct)
        self._on_flush = on_flush
        try:
            self._buf: mmap.mmap | None = _POOL.take() if self.direct else None
        except BaseException:  # no buffer (out of memory): leave no file behind
            os.close(self.fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
        self._view = memoryview(self._buf) if self._buf is not None else None
        self._scratch: memoryview | None = None
        self._fill = 0

    def write_many(self, pieces: Sequence[bytes | bytearray | memoryview]) -> None:
        """Append ``pieces`` (their bytes may be reused by the caller once this returns)."""
        if self._view is None:  # buffered: hash and hand the pieces to the kernel as they are
            for piece in pieces:
                if len(piece):
                    self._on_flush(memoryview(piece).cast("B"))
            writev_all(self.fd, pieces)
            return
        view, size = self._view, len(self._view)
        for piece in pieces:
            src = memoryview(piece).cast("B")
            while src:
                take = min(size - self._fill, len(src))
                view[self._fill : self._fill + take] = src[:take]
                self._fill += take
                src = src[take:]
                if self._fill == size:
                    self._flush(size)

    def fill_from(self, read_into: Callable[[memoryview], int], limit: int) -> int:
        """Append what one ``read_into(buffer)`` call puts in a buffer of at most ``limit`` bytes,
        reading straight into the staging buffer (no copy in user space); returns the count."""
        if self._view is None:  # buffered: read into one scratch buffer kept for this file
            if self._scratch is None:
                self._scratch = memoryview(bytearray(STAGE_BYTES))
            count = read_into(self._scratch[: min(limit, STAGE_BYTES)])
            self.write_many([self._scratch[:count]])
            return count
        size = len(self._view)
        count = read_into(self._view[self._fill : self._fill + min(size - self._fill, limit)])
        self._fill += count
        if self._fill == size:
            self._flush(size)
        return count

    def _flush(self, length: int) -> None:
        assert self._view is not None
        run = self._view[:length]
        self._on_flush(run)
        self._write_direct(run)
        self._fill = 0

    def _write_direct(self, run: memoryview) -> None:
        try:
            _write_all(self.fd, run)
        except OSError as exc:
            # a file system can accept O_DIRECT at open and refuse the write: go on buffered
            if exc.errno != errno.EINVAL or not self.direct:
                raise
            self._buffered()
            _write_all(self.fd, run)

    def _buffered(self) -> None:
        flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
        fcntl.fcntl(self.fd, fcntl.F_SETFL, flags & ~_O_DIRECT)
        self.direct = False

    def finish(self) -> None:
        """Write what is staged (the unaligned tail with O_DIRECT off), then fsync."""
        if self._view is not None and self._fill:
            staged = self._fill
            aligned = staged // ALIGN * ALIGN
            self._on_flush(self._view[:staged])
            if aligned:
                self._write_direct(self._view[:aligned])
            if aligned < staged:
                if self.direct:
                    self._buffered()
                _write_all(self.fd, self._view[aligned:staged])
            self._fill = 0
        os.fsync(self.fd)

    def close(self) -> None:
        """Close the file and give the staging buffer back (idempotent)."""
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1
        if self._view is not None:
            self._view.release()
            self._view = None
        if self._buf is not None:
            _POOL.give(self._buf)
            self._buf = None


def open_read(path: os.PathLike[str] | str, *, direct: bool = True) -> tuple[int, bool]:
    """Open ``path`` for reading: (fd, whether it is in O_DIRECT mode)."""
    if direct and _O_DIRECT:
        try:
            return os.open(path, os.O_RDONLY | _O_DIRECT), True
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
    return os.open(path, os.O_RDONLY), False


class DirectReads:
    """Reads byte ranges of files opened by :func:`open_read`: from the device into a reused
    aligned buffer (no page-cache pages are filled) and then into the ``bytes`` handed out, or
    with plain ``pread`` on descriptors that are not in O_DIRECT mode. One reader per stream;
    ``close`` gives the buffer back."""

    #: the most one :meth:`read` returns
    MAX_READ = STAGE_BYTES - ALIGN

    def __init__(self) -> None:
        self._buf: mmap.mmap | None = None
        self._view: memoryview | None = None

    def read(self, fd: int, direct: bool, pos: int, size: int) -> bytes:
        """Up to ``size`` (at most :data:`MAX_READ`) bytes at ``pos``; fewer only at the end of
        the file."""
        size = min(size, self.MAX_READ)
        if not direct:
            return os.pread(fd, size, pos)
        if self._view is None:
            self._buf = _POOL.take()
            self._view = memoryview(self._buf)
        start = pos - pos % ALIGN
        end = -(-(pos + size) // ALIGN) * ALIGN
        try:
            got = os.preadv(fd, [self._view[: end - start]], start)
        except OSError as exc:
            if exc.errno != errno.EINVAL:  # EINVAL: O_DIRECT refused after all; read plainly
                raise
            return os.pread(fd, size, pos)
        skip = pos - start
        return bytes(self._view[skip : skip + max(0, min(size, got - skip))])

    def close(self) -> None:
        if self._view is not None:
            self._view.release()
            self._view = None
        if self._buf is not None:
            _POOL.give(self._buf)
            self._buf = None
