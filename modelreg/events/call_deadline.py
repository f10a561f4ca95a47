"""A deadline for a whole HTTP call made with httpx's blocking client.

httpx's timeouts bound each network operation, not the call: a peer that sends one byte of its
answer's headers every few seconds keeps a call going for as long as it likes. ``DeadlineClients``
gives each thread its own ``httpx.Client`` and ends each call at its deadline: one watchdog thread
shuts a late call's socket down, which wakes a read blocked on it (closing would not), and the
call fails with a network error.

    clients = DeadlineClients(timeout=5.0)
    client = clients.client()                      # the calling thread's
    with clients.deadline(started + 5.0) as call:
        request = client.build_request("POST", url, content=body)
        request.extensions["trace"] = call.trace   # how a new connection's socket becomes known
        response = client.send(request)

A thread's client holds one connection at a time (``max_connections=1``), kept alive between
calls. Its socket is learnt from httpx's ``trace`` extension when the client connects, and it is
the socket of every later call until the client connects again, to another origin or after the
connection closed: each connect is traced, since each call sets the trace.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx


class CallDeadline:
    """One call's deadline: ``expired`` tells whether it passed before the call finished, ``cut``
    whether the watchdog shut the call's socket down for it."""

    def __init__(self, sock: socket.socket | None = None) -> None:
        """``sock``: the socket of the connection the call will use if it makes no new one."""
        self.expired = False
        self.cut = False
        self.finished = False
        self.socket = sock
        self._lock = threading.Lock()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpx's ``trace`` request extension: keeps the socket of a connection the call makes
        (and shuts it at once if the deadline passed while the call was connecting)."""
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            stream = info.get("return_value")
            with self._lock:
                self.socket = stream.get_extra_info("socket") if stream is not None else None
                if self.expired:
                    self._shut()

    def was_cut(self) -> bool:
        """Whether the watchdog shut the call's socket down. Ask after the call failed: a read
        that the shutdown woke may fail before the watchdog has set ``cut``, and this waits."""
        with self._lock:
            return self.cut

    def finish(self) -> None:
        """The call is over: its deadline no longer matters."""
        with self._lock:
            self.finished = True

    def expire(self) -> None:
        """The deadline passed (the watchdog's thread)."""
        with self._lock:
            self.expired = True
            if not self.finished:
                self._shut()

    def _shut(self) -> None:
        if self.socket is not None:
            with contextlib.suppress(OSError):  # closed already: the connection is gone
                self.socket.shutdown(socket.SHUT_RDWR)
                self.cut = True


class Watchdog:
    """Expires the deadlines of calls in flight, from one thread started on first use."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, CallDeadline]] = []  # a heap, by deadline
        self._order = itertools.count()  # ties: first come, first expired
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    @contextlib.contextmanager
    def deadline(self, at: float, sock: socket.socket | None = None) -> Iterator[CallDeadline]:
        """A ``CallDeadline`` at ``at`` (``time.perf_counter()``), watched while the block runs."""
        call = CallDeadline(sock)
        with self._wake:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="modelreg-call-deadlines", daemon=True)
                self._thread.start()
            heapq.heappush(self._due, (at, next(self._order), call))
            if self._due[0][2] is call:  # sooner than the deadline the thread waits for
                self._wake.notify()
        try:
            yield call
        finally:
            call.finish()  # left on the heap until its time: cheaper than a removal

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        with self._wake:
            while not self._closed:
                if not self._due:
                    self._wake.wait()
                    continue
                at, _, call = self._due[0]
                left = at - time.perf_counter()
                if left > 0:
                    self._wake.wait(left)
                    continue
                heapq.heappop(self._due)
                if not call.finished:
                    call.expire()


class _Line:
    """A thread's client and the socket of its connection, when it has one."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.socket: socket.socket | None = None


class DeadlineClients:
    """Each thread's own ``httpx.Client`` (made with ``client_options``), whose calls end at
    their deadline (see the module docstring)."""

    def __init__(self, **client_options: Any) -> None:
        self._options = client_options
        self._local = threading.local()
        self._lines: list[_Line] = []
        self._lock = threading.Lock()
        self._watchdog = Watchdog()

    def _line(self) -> _Line:
        line = getattr(self._local, "line", None)
        if line is None:
            limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            line = self._local.line = _Line(httpx.Client(limits=limits, **self._options))
            with self._lock:
                self._lines.append(line)
        return line

    def client(self) -> httpx.Client:
        """The calling thread's client."""
        return self._line().client

    @contextlib.contextmanager
    def deadline(self, at: float) -> Iterator[CallDeadline]:
        """A deadline at ``at`` (``time.perf_counter()``) for the calling thread's next call;
        set ``trace`` on its request."""
        line = self._line()
        with self._watchdog.deadline(at, line.socket) as call:
            try:
                yield call
            finally:
                line.socket = call.socket

    def close(self) -> None:
        self._watchdog.close()
        with self._lock:
            lines, self._lines = self._lines, []
        for line in lines:
            line.client.close()
