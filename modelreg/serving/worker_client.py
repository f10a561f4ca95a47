"""The registry's HTTP/1.1 client for its own workers, over their Unix sockets.

Every invocation crosses this hop, so it is kept lean: a request goes out in one write on a
kept-alive connection, and httptools (the parser uvicorn uses) reads the response. A general
client (httpx) costs about 1 ms of CPU per call here, more than the model itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import httptools


class WorkerConnectionError(Exception):
    """The worker could not be reached or closed the connection before answering (it is stopping,
    restarting or crashed). Nothing was answered, so the request may be sent to another worker."""


@dataclass
class WorkerResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class _Reader:
    """httptools callbacks collecting one response."""

    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    done: bool = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.done = True


class WorkerClient:
    """Kept-alive connections to one worker's Unix socket; safe for many concurrent requests."""

    def __init__(self, socket_path: str, timeout: float) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> WorkerResponse:  # fmt: skip
        """Send one request and read its response; raises ``WorkerConnectionError`` when the
        worker could not answer, ``TimeoutError`` when it did not answer in time."""
        head = [f"{method} {path} HTTP/1.1", "Host: worker", f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in (headers or {}).items()]
        payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        fresh = not self._idle
        try:
            reader, writer = self._idle.pop() if self._idle else await self._connect()
        except OSError as exc:
            raise WorkerConnectionError(str(exc)) from None
        try:
            async with asyncio.timeout(timeout or self.timeout):  # no extra task, unlike wait_for
                response, keep = await self._exchange(reader, writer, payload)
        except (OSError, EOFError, httptools.HttpParserError) as exc:
            writer.close()
            if not fresh:  # a kept-alive connection the worker closed meanwhile: one more try on a new one
                return await self.request(method, path, body, headers, timeout)
            raise WorkerConnectionError(str(exc) or type(exc).__name__) from None
        except BaseException:
            writer.close()
            raise
        if keep:
            self._idle.append((reader, writer))
        else:
            writer.close()
        return response

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_unix_connection(self.socket_path, limit=2**20)

    @staticmethod
    async def _exchange(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes
    ) -> tuple[WorkerResponse, bool]:
        writer.write(payload)
        collected = _Reader()
        parser = httptools.HttpResponseParser(collected)
        while not collected.done:
            data = await reader.read(65536)
            if not data:
                raise EOFError("the worker closed the connection")
            parser.feed_data(data)
        # httptools resets its keep-alive flag once the message is complete: read the header instead
        keep_alive = collected.headers.get("connection", "").lower() != "close"
        response = WorkerResponse(parser.get_status_code(), collected.headers, b"".join(collected.chunks))
        return response, keep_alive

    async def close(self) -> None:
        while self._idle:
            _, writer = self._idle.pop()
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
