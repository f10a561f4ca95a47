"""uvicorn's httptools protocol, receiving request bodies without copying them.

uvicorn appends each piece of a request body that arrives to a ``bytearray`` and hands the app
``bytes(that bytearray)``: every byte uploaded is copied twice in Python (more when the bytearray
grows), which was a third of the server's CPU during a large S3 upload. Here the pieces are kept
in a list and joined when the app reads them; the usual read is of one piece, which ``join``
returns as it is.

Large ``PUT`` bodies can go further: the request's scope carries a :class:`SocketBody`
(``scope["extensions"]["modelreg.socket_body"]``) through which the app reads the rest of the
body straight from the connection's socket in a worker thread, into its own buffer. The event
loop does not read that connection meanwhile; nothing is copied between the kernel and the
app's buffer, and the loop does no work per piece. The S3 API writes object data this way.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import sys

import httptools
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

#: the scope extension that carries a request's :class:`SocketBody`
SOCKET_BODY = "modelreg.socket_body"
#: smallest body offered to the app as a :class:`SocketBody` (small ones arrive whole anyway)
SOCKET_BODY_MIN = 1024 * 1024
#: whether bodies are offered at all (the socket options used are POSIX ones)
_SOCKET_BODIES = sys.platform != "win32"
#: the most bytes of request line and headers taken (httptools would hold a header of any size):
#: AWS clients send a few KiB, and a presigned URL stays under 8 KiB
MAX_HEAD_BYTES = 64 * 1024
_HEAD_TOO_LARGE = b"Request line and headers are larger than %d bytes." % MAX_HEAD_BYTES


class BodyPieces:
    """Request body pieces received and not yet read by the app. Stands in for the ``bytearray``
    uvicorn's response cycle keeps in ``body``: ``len()`` for flow control, ``bytes()`` to read."""

    __slots__ = ("pieces", "size")

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.size = 0

    def append(self, piece: bytes) -> None:
        self.pieces.append(piece)
        self.size += len(piece)

    def __len__(self) -> int:
        return self.size

    def __bytes__(self) -> bytes:
        return b"".join(self.pieces)


class BodyTimeout(Exception):
    """The client sent no body bytes for :attr:`SocketBody.idle_timeout` seconds."""


class BodyDisconnected(Exception):
    """The client closed or reset the connection before the body ended."""


def _timeval(seconds: float) -> bytes:
    return struct.pack("ll", int(seconds), int(seconds % 1 * 1_000_000))


class SocketBody:
    """The rest of one request's body, read from the socket by the app instead of the event loop.

    The app calls :meth:`detach` on the event loop, then :meth:`read_into` from one worker thread
    until it has read the count ``detach`` returned, then :meth:`finish` on the event loop again,
    whatever happened. Until ``finish``, the app must not call ASGI ``receive``. If the body was
    not read to its end, the connection is closed after the response (the unread rest of the body
    cannot be told from a next request).
    """

    #: seconds without a byte from the client before :meth:`read_into` gives up
    idle_timeout = 60.0
    #: bytes queued on the socket before a waiting :meth:`read_into` is woken (SO_RCVLOWAT)
    wake_after = 256 * 1024

    def __init__(self, protocol: HttpProtocol, cycle: RequestResponseCycle, length: int) -> None:
        self._protocol = protocol
        self._cycle = cycle
        self._length = length
        self._socket: socket.socket | None = None
        self._unread = 0  # body bytes still on the socket
        self._wake_after = 1  # the socket's SO_RCVLOWAT
        #: True once the whole body was read through this object
        self.complete = False

    def detach(self) -> tuple[list[bytes], int] | None:
        """Stop the event loop reading the connection and take the body: returns the pieces that
        have already arrived and the number of bytes still to read with :meth:`read_into`. None
        when there is nothing to take (the whole body is in, or the client is gone): read the body
        with ``receive`` as usual, and do not call :meth:`finish`."""
        protocol, cycle = self._protocol, self._cycle
        if protocol.cycle is not cycle or not cycle.more_body or cycle.disconnected:
            return None
        transport = protocol.transport
        raw = transport.get_extra_info("socket")
        if raw is None or transport.is_closing():
            return None
        if cycle.waiting_for_100_continue:
            transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            cycle.waiting_for_100_continue = False
        protocol.flow.pause_reading()
        pending = cycle.body
        cycle.body = bytearray()
        pieces = list(pending.pieces) if isinstance(pending, BodyPieces) else [bytes(pending)]
        # Blocking reads that wait for a whole buffer (MSG_WAITALL): one system call per megabytes
        # instead of per arriving segment. The flag is the connection's own (the duplicate shares
        # it with the loop's descriptor), so finish() makes it non-blocking again.
        sock = socket.socket(fileno=os.dup(raw.fileno()))
        sock.setblocking(True)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(self.idle_timeout))
        self._socket = sock
        self._unread = self._length - protocol.body_received
        return [p for p in pieces if p], self._unread

    def read_into(self, buffer: memoryview) -> int:
        """Fill ``buffer`` from the socket (blocking; worker thread) and return the count, which is
        short only when the client paused for :attr:`idle_timeout` after sending some of it. Never
        ask for more than the count :meth:`detach` returned: what follows the body belongs to the
        next request. Raises :class:`BodyTimeout` or :class:`BodyDisconnected`."""
        assert self._socket is not None, "detach() first"
        # A reader waiting in MSG_WAITALL is woken for every segment that arrives, and on loopback
        # the client's thread pays for each wakeup. SO_RCVLOWAT wakes it once wake_after bytes are
        # queued instead, but only while at least that much of the body is still to come: the
        # kernel would not wake it for a smaller tail. So the last wake_after bytes are read apart.
        wanted = len(buffer)
        lowat_span = self._unread - self.wake_after
        if 0 < lowat_span < wanted:
            count = self._receive(buffer[:lowat_span], self.wake_after)
            if count == lowat_span:
                with contextlib.suppress(BodyTimeout):  # a pause now shortens this read
                    count += self._receive(buffer[lowat_span:], 1)
        else:
            count = self._receive(buffer, self.wake_after if lowat_span >= wanted else 1)
        if not count and wanted:
            raise BodyDisconnected()
        self._unread -= count
        return count

    def _receive(self, buffer: memoryview, wake_after: int) -> int:
        sock = self._socket
        assert sock is not None
        if wake_after != self._wake_after:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, wake_after)
            self._wake_after = wake_after
        try:
            return sock.recv_into(buffer, 0, socket.MSG_WAITALL)
        except BlockingIOError:  # SO_RCVTIMEO passed with nothing received
            raise BodyTimeout() from None
        except OSError as exc:
            raise BodyDisconnected() from exc

    def finish(self, complete: bool) -> None:
        """Hand the connection back to the event loop (on the loop): ``complete`` when exactly the
        whole body was read. The loop resumes reading once the response is sent."""
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(0))
                if self._wake_after != 1:
                    self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1)
                self._socket.setblocking(False)
            self._socket.close()
            self._socket = None
        protocol, cycle = self._protocol, self._cycle
        if complete:
            self.complete = True
            protocol.reset_parser()  # it stopped mid-body; the next request starts afresh
            cycle.more_body = False
        else:
            cycle.keep_alive = False


class HttpProtocol(HttpToolsProtocol):
    """``uvicorn.run(http=HttpProtocol)``: uvicorn's protocol with ``on_body`` collecting
    ``BodyPieces`` (the cycle's ``receive`` reads them with ``bytes()`` and resets ``body`` to an
    empty ``bytearray``, which the next piece replaces), and large ``PUT`` bodies offered as a
    :class:`SocketBody`."""

    body_received = 0  # body bytes of the current request the parser has seen
    in_head = False  # the parser has begun a request whose headers are not complete yet
    head_began = False  # ... and began it in the read being parsed
    head_received = 0  # bytes of that request's head seen in the reads after that one

    def reset_parser(self) -> None:
        """A new parser, as uvicorn makes one for a connection."""
        self.parser = httptools.HttpRequestParser(self)
        with contextlib.suppress(AttributeError):  # httptools < 0.6.3 has no such setting
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)

    def data_received(self, data: bytes) -> None:
        self.head_began = False
        super().data_received(data)
        if not self.in_head or self.head_began:
            # a read that began a head may hold the end of the request before (a pipelined one):
            # only the reads after it count, which leaves the head at most one read over the limit
            return
        self.head_received += len(data)
        if self.head_received > MAX_HEAD_BYTES and not self.transport.is_closing():
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                b"content-type: text/plain; charset=utf-8\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_HEAD_TOO_LARGE), _HEAD_TOO_LARGE)
            )
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.body_received = 0
        self.in_head, self.head_began, self.head_received = True, True, 0

    def on_headers_complete(self) -> None:
        self.in_head = False
        super().on_headers_complete()
        scope = self.scope
        if scope["method"] != "PUT" or self.pipeline or self.scheme != "http" or "path" not in scope:
            return  # a queued pipelined request, TLS or an upgrade: bodies go the usual way
        if not _SOCKET_BODIES:
            return
        length = -1
        for name, value in self.headers:
            if name == b"content-length":
                length = int(value) if value.isdigit() else -1
            elif name == b"transfer-encoding":
                return
        if length >= SOCKET_BODY_MIN:
            scope.setdefault("extensions", {})[SOCKET_BODY] = SocketBody(self, self.cycle, length)  # type: ignore[typeddict-unknown-key]

    def on_body(self, body: bytes) -> None:
        self.body_received += len(body)
        cycle = self.cycle
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        pending = cycle.body
        if not isinstance(pending, BodyPieces):
            pending = cycle.body = BodyPieces()  # type: ignore[assignment]
        pending.append(body)
        if len(pending) > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
        cycle.message_event.set()
