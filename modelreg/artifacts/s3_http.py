"""HTTP plumbing of the built-in S3 API: the parsed request, streaming request bodies into
blobs, streaming object bytes out, and S3's XML error responses.

Large bodies are read from the socket by a worker thread straight into the object file's
staging buffer, when the HTTP server offers them so (:mod:`modelreg.http_protocol`). Otherwise
the event loop collects what the socket delivers up to 4 MiB and hands that to a worker thread
(which decodes aws-chunked framing, writes and hashes) while it goes on receiving. Downloads
read ahead one chunk in a thread while the previous one is being sent.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from modelreg.artifacts import checksums
from modelreg.artifacts.blobs import AwsChunkedDecoder, BlobWriter, S3Error
from modelreg.artifacts.buckets import ObjectReader
from modelreg.artifacts.s3_xml import error_body
from modelreg.http_protocol import SOCKET_BODY, BodyDisconnected, BodyTimeout, SocketBody

#: bytes collected from the socket before a worker thread writes them
FLUSH_BYTES = 4 * 1024 * 1024
#: most bytes read at once while aws-chunked framing is expected (data is read past the decoder)
FRAMING_READ = 4096
#: bytes a download reads per chunk
SEND_CHUNK = 1024 * 1024


class ClientGone(Exception):
    """The client disconnected before the request body ended."""


def new_request_id() -> str:
    return secrets.token_hex(8).upper()


@dataclass
class S3Request:
    """What routing and the operations need from an HTTP request."""

    scope: Scope
    receive: Receive
    method: str
    bucket: str
    key: str
    has_key: bool  # the path had a key part (``/bucket/...``), even an empty one
    query: dict[str, str]
    headers: Headers
    request_id: str
    #: the signature was verified and covers a payload SHA-256 the body must still match
    verify_payload: bool = False

    @classmethod
    def parse(cls, scope: Scope, receive: Receive, request_id: str) -> S3Request:
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        try:
            path = raw.decode("ascii")
            bucket_part, slash, key_part = path.lstrip("/").partition("/")
            key = unquote(key_part, errors="strict")
            query: dict[str, str] = {}
            qs = scope.get("query_string", b"").decode("ascii")
            for name, value in parse_qsl(qs, keep_blank_values=True, errors="strict"):
                query.setdefault(name, value)
        except (UnicodeDecodeError, ValueError):
            raise S3Error("InvalidURI", "Couldn't parse the specified URI.", 400) from None
        return cls(
            scope=scope,
            receive=receive,
            method=scope["method"].upper(),
            bucket=unquote(bucket_part),
            key=key,
            has_key=bool(slash) and bool(key),
            query=query,
            headers=Headers(scope=scope),
            request_id=request_id,
        )

    @property
    def raw_path_and_query(self) -> str:
        raw = self.scope.get("raw_path") or self.scope["path"].encode("utf-8")
        path = raw.decode("latin-1")
        qs = self.scope.get("query_string", b"")
        return path + ("?" + qs.decode("latin-1") if qs else "")

    @property
    def resource(self) -> str:
        return "/" + self.bucket + ("/" + self.key if self.has_key else "")


# -- request bodies ---------------------------------------------------------------------------


async def read_small_body(request: S3Request, limit: int) -> bytes:
    """The whole request body, refused past ``limit`` bytes (XML bodies of a few KB), checked
    against the signed payload hash when there is one."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise S3Error("MaxMessageLengthExceeded", "Your request was too big.", 400)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    declared = (request.headers.get("x-amz-content-sha256") or "").strip().lower()
    if request.verify_payload and not hmac.compare_digest(declared, hashlib.sha256(body).hexdigest()):
        raise S3Error(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    return body


class BodyReaders:
    """Worker threads that read request bodies straight from the socket (:class:`SocketBody`).
    Each holds its thread for a whole body, so they are few and apart from the store's workers;
    when all are busy, a body is received through the event loop. Used from the event loop only."""

    def __init__(self, threads: int = 64) -> None:
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="s3-body")
        self.idle = threads


def _consume(writer: BlobWriter, decoder: AwsChunkedDecoder | None, chunks: list[bytes]) -> None:
    if decoder is None:
        writer.write_many(chunks)  # type: ignore[arg-type]
    else:
        writer.write_many([piece for chunk in chunks for piece in decoder.feed(chunk)])


def _pump(body: SocketBody, remaining: int, writer: BlobWriter, decoder: AwsChunkedDecoder | None) -> None:
    """Read ``remaining`` body bytes from the socket into ``writer`` (worker thread). Object data
    goes straight into the writer's buffer; only aws-chunked framing (and the few data bytes read
    along with it) passes through ``decoder.feed``."""
    framing = memoryview(bytearray(FRAMING_READ))
    while remaining:
        ahead = decoder.payload_ahead() if decoder is not None else remaining
        if ahead:
            count = writer.fill_from(body.read_into, min(ahead, remaining))
            if decoder is not None:
                decoder.skip_payload(count)
        else:
            assert decoder is not None
            count = body.read_into(framing[: min(FRAMING_READ, remaining)])
            writer.write_many(decoder.feed(framing[:count]))  # type: ignore[arg-type]
        remaining -= count


async def _receive_from_socket(
    body: SocketBody, writer: BlobWriter, decoder: AwsChunkedDecoder | None, readers: BodyReaders
) -> bool:
    """Receive the body through ``body`` in one of ``readers``' threads; False (nothing done)
    when it cannot be taken that way."""
    if not readers.idle:
        return False
    taken = body.detach()
    if taken is None:
        return False
    early, remaining = taken

    def receive() -> None:
        _consume(writer, decoder, early)
        _pump(body, remaining, writer, decoder)

    readers.idle -= 1
    running = readers.executor.submit(receive)
    try:
        await asyncio.wrap_future(running)
    except BodyDisconnected:
        raise ClientGone() from None
    except BodyTimeout:
        raise S3Error(
            "RequestTimeout",
            "Your socket connection to the server was not read from or written to within the "
            "timeout period. Idle connections will be closed.",
        ) from None
    finally:
        readers.idle += 1
        if running.done():
            body.finish(complete=running.exception() is None)
        else:  # cancelled while the thread reads: hand the connection back once it stops
            loop = asyncio.get_running_loop()
            running.add_done_callback(lambda _: loop.call_soon_threadsafe(body.finish, False))
    return True


async def receive_into(
    request: S3Request,
    writer: BlobWriter,
    decoder: AwsChunkedDecoder | None,
    executor: Executor,
    readers: BodyReaders,
) -> None:
    """Stream the request body into ``writer`` (through ``decoder`` for aws-chunked bodies):
    from the socket in a thread of ``readers`` when the server offers the body that way, else
    through the event loop, written by ``executor``'s threads."""
    socket_body = request.scope.get("extensions", {}).get(SOCKET_BODY)
    taken = socket_body is not None and await _receive_from_socket(socket_body, writer, decoder, readers)
    if not taken:
        await _receive_through_loop(request.receive, writer, decoder, executor)
    if decoder is not None:
        decoder.close()


async def _receive_through_loop(
    receive: Receive, writer: BlobWriter, decoder: AwsChunkedDecoder | None, executor: Executor
) -> None:
    """Receive the body with ASGI ``receive`` on the event loop; ``executor``'s threads write it."""
    loop = asyncio.get_running_loop()
    # The socket's chunks are collected in a list (no copying) and handed to a worker thread
    # every FLUSH_BYTES; the loop goes on receiving while the thread writes and hashes.
    pending: asyncio.Future[None] | None = None
    batch: list[bytes] = []
    batched = 0
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            if chunk:
                batch.append(chunk)
                batched += len(chunk)
            more = message.get("more_body", False)
            if batched >= FLUSH_BYTES or (batch and not more):
                if pending is not None:
                    await pending
                pending = loop.run_in_executor(executor, _consume, writer, decoder, batch)
                batch, batched = [], 0
            if not more:
                break
        if pending is not None:
            await pending
            pending = None
    finally:
        if pending is not None:  # an error or disconnect: let the thread finish before cleanup
            with contextlib.suppress(Exception):  # the first error is the one raised
                await pending


def body_taken(scope: Scope) -> bool:
    """Whether the request's whole body was read from the socket (:class:`SocketBody`)."""
    socket_body = scope.get("extensions", {}).get(SOCKET_BODY)
    return socket_body is not None and socket_body.complete


# -- responses --------------------------------------------------------------------------------


def _raw_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in headers.items()]


class Reply:
    """A complete response: status, headers and a small body (XML or nothing)."""

    def __init__(
        self, status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None, xml: bool = False
    ) -> None:
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        if xml:
            self.headers.setdefault("Content-Type", "application/xml")
        if status not in (204, 304):
            self.headers.setdefault("Content-Length", str(len(body)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status, "headers": _raw_headers(self.headers)}
        )
        body = b"" if scope["method"] == "HEAD" else self.body
        await send({"type": "http.response.body", "body": body, "more_body": False})


class ObjectStream:
    """Streams an object's selected bytes from an :class:`ObjectReader`; reads ahead one chunk
    in a worker thread while the previous chunk is being sent. Closes the reader at the end."""

    def __init__(
        self, status: int, headers: dict[str, str], reader: ObjectReader, executor: Executor
    ) -> None:
        self.status = status
        self.headers = headers
        self.reader = reader
        self.executor = executor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        chunks: Iterator[bytes] = self.reader.chunks(SEND_CHUNK)
        fetch: Callable[[], bytes | None] = lambda: next(chunks, None)  # noqa: E731
        pending: asyncio.Future[Any] | None = None
        try:
            if scope["method"] == "HEAD":
                await send(
                    {
                        "type": "http.response.start",
                        "status": self.status,
                        "headers": _raw_headers(self.headers),
                    }
                )
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            pending = loop.run_in_executor(self.executor, fetch)
            first = await pending  # a read error before the status line can still be answered
            pending = None
            await send(
                {"type": "http.response.start", "status": self.status, "headers": _raw_headers(self.headers)}
            )
            chunk = first
            while chunk is not None:
                pending = loop.run_in_executor(self.executor, fetch)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                chunk = await pending
                pending = None
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if pending is not None:
                with contextlib.suppress(Exception):  # the send error is what matters
                    await pending
            self.reader.close()


def error_reply(error: S3Error, request: S3Request | None, request_id: str, method: str) -> Reply:
    """S3's XML error (no body for HEAD, as S3)."""
    headers = {"x-amz-request-id": request_id, "x-amz-id-2": request_id}
    if method == "HEAD":
        return Reply(error.status, b"", headers)
    resource = request.resource if request is not None else ""
    return Reply(error.status, error_body(error, request_id, resource), headers, xml=True)


# -- small shared helpers of the operations ---------------------------------------------------


def not_implemented(what: str) -> S3Error:
    """501 NotImplemented (botocore does not retry it) for a call or option this store lacks."""
    return S3Error(
        "NotImplemented",
        f"{what} is not implemented by modelreg's built-in S3 store; see docs/artifacts.md.",
        501,
    )


def invalid(message: str, **fields: str) -> S3Error:
    return S3Error("InvalidArgument", message, 400, **fields)


def etag_matches(header: str, etag: str) -> bool:
    """Whether an ``If-Match``-style header (a list of ETags, or ``*``) names ``etag``."""
    return any(t.strip() in ("*", etag, etag.strip('"')) for t in header.split(","))


def check_small_body(request: S3Request, body: bytes, *, include_checksums: bool = True) -> None:
    """Check ``Content-MD5`` and ``x-amz-checksum-*`` of a body read whole (XML requests)."""
    md5 = request.headers.get("content-md5")
    if md5 is not None:
        try:
            raw = base64.b64decode(md5, validate=True)
        except (binascii.Error, ValueError):
            raise S3Error("InvalidDigest", "The Content-MD5 you specified was invalid.") from None
        if not hmac.compare_digest(raw, hashlib.md5(body).digest()):
            raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.")
    if not include_checksums:
        return
    for algorithm in checksums.ALGORITHMS:
        value = request.headers.get(f"x-amz-checksum-{algorithm.lower()}")
        if value is not None and value.strip() != checksums.checksum_of(algorithm, body):
            raise S3Error(
                "BadDigest", f"The {algorithm} you specified did not match the calculated checksum."
            )
