"""uvicorn's httptools protocol, receiving request bodies without copying them twice.

uvicorn appends each piece of a request body that arrives to a ``bytearray`` and hands the app
``bytes(that bytearray)``: every byte uploaded is copied twice in Python (more when the bytearray
grows), which was a third of the server's CPU during a large S3 upload. Here the pieces are kept
in a list and joined when the app reads them; the usual read is of one piece, which ``join``
returns as it is.
"""

from __future__ import annotations

from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


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


class HttpProtocol(HttpToolsProtocol):
    """``uvicorn.run(http=HttpProtocol)``: uvicorn's protocol with ``on_body`` collecting
    ``BodyPieces`` (the cycle's ``receive`` reads them with ``bytes()`` and resets ``body`` to an
    empty ``bytearray``, which the next piece replaces)."""

    def on_body(self, body: bytes) -> None:
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
