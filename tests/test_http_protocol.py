"""modelreg's HTTP protocol (uvicorn's, with request bodies read without copies) in a real
uvicorn server on uvloop, driven over raw sockets: the contract of :class:`SocketBody`, which the
S3 API relies on for large uploads."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.client
import json
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from modelreg.http_protocol import (
    MAX_HEAD_BYTES,
    SOCKET_BODY,
    SOCKET_BODY_MIN,
    BodyDisconnected,
    BodyTimeout,
    HttpProtocol,
    SocketBody,
)
from tests.server import free_port

MB = 1024 * 1024


class BodyApp:
    """Answers every request with how its body came (``socket`` or ``receive``), its length and
    SHA-256. ``/partial`` reads only half of a socket body; ``/receive-first`` reads the body with
    ``receive`` before asking for the socket. ``outcomes`` records what each socket read ended in."""

    def __init__(self) -> None:
        self.outcomes: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        digest, size, how, status = hashlib.sha256(), 0, "receive", 200
        body: SocketBody | None = scope.get("extensions", {}).get(SOCKET_BODY)
        taken = None
        if body is not None and scope["path"] != "/receive-first":
            taken = body.detach()
        if taken is not None:
            assert body is not None
            early, remaining = taken
            for piece in early:
                digest.update(piece)
                size += len(piece)
            want = remaining // 2 if scope["path"] == "/partial" else remaining
            complete = False
            try:
                size += await asyncio.to_thread(_read, body, want, digest)
                complete = want == remaining
                self.outcomes.append("read")
            except (BodyTimeout, BodyDisconnected) as exc:
                self.outcomes.append(type(exc).__name__)
                status = 408
            finally:
                body.finish(complete)
            how = "socket"
        else:
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                digest.update(message.get("body", b""))
                size += len(message.get("body", b""))
                more = message.get("more_body", False)
            if body is not None:
                assert body.detach() is None  # the whole body is in: nothing left to take
        answer = json.dumps({"how": how, "size": size, "sha256": digest.hexdigest()}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


def _read(body: SocketBody, count: int, digest: Any) -> int:
    buffer = memoryview(bytearray(256 * 1024))
    got = 0
    while got < count:
        n = body.read_into(buffer[: min(len(buffer), count - got)])
        digest.update(buffer[:n])
        got += n
    return got


@pytest.fixture(scope="module")
def app() -> BodyApp:
    return BodyApp()


@pytest.fixture(scope="module")
def port(app: BodyApp) -> Iterator[int]:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=free_port(), http=HttpProtocol, loop="uvloop", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(300):
        if server.started:
            break
        thread.join(0.05)
    assert server.started, "uvicorn did not start"
    yield config.port
    server.should_exit = True
    thread.join(10)


def _connection(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30)


def _answer(conn: http.client.HTTPConnection) -> tuple[int, dict[str, Any]]:
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def _expected(data: bytes, how: str = "socket") -> dict[str, Any]:
    return {"how": how, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_a_large_put_body_is_read_from_the_socket_and_the_connection_goes_on(port: int) -> None:
    conn = _connection(port)
    first, second = os.urandom(3 * MB + 5), os.urandom(SOCKET_BODY_MIN)
    conn.request("PUT", "/a", body=first)
    assert _answer(conn) == (200, _expected(first))
    conn.request("PUT", "/b", body=second)
    assert _answer(conn) == (200, _expected(second))
    conn.request("GET", "/c")  # the parser starts afresh after a body it did not see
    assert _answer(conn) == (200, _expected(b"", "receive"))
    conn.close()


def test_small_bodies_and_other_methods_come_through_receive(port: int) -> None:
    conn = _connection(port)
    small = os.urandom(SOCKET_BODY_MIN - 1)
    conn.request("PUT", "/small", body=small)
    assert _answer(conn) == (200, _expected(small, "receive"))
    large = os.urandom(2 * MB)
    conn.request("POST", "/post", body=large)
    assert _answer(conn) == (200, _expected(large, "receive"))
    conn.request("PUT", "/receive-first", body=large)  # read by receive: detach() has nothing left
    assert _answer(conn) == (200, _expected(large, "receive"))
    conn.close()


def _until_closed(sock: socket.socket) -> bytes:
    """All the server sends until it closes the connection (with unread bytes of ours in its
    buffer, its close is a reset, which the kernel reports once what came before was read)."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def _raw_answers(sock: socket.socket, count: int) -> list[tuple[bytes, dict[str, Any]]]:
    """Read ``count`` responses (status line, JSON body) off a raw socket."""
    reader = sock.makefile("rb")
    answers = []
    for _ in range(count):
        status = reader.readline()
        length = 0
        while (line := reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        answers.append((status.split()[1], json.loads(reader.read(length))))
    return answers


def test_a_request_pipelined_after_the_body_is_not_swallowed(port: int) -> None:
    data = os.urandom(2 * MB + 3)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"PUT /p HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
            b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n" % (len(data), data)
        )
        assert _raw_answers(sock, 2) == [(b"200", _expected(data)), (b"200", _expected(b"", "receive"))]


def test_expect_100_continue_is_answered_before_the_body_is_read(port: int) -> None:
    data = os.urandom(2 * MB)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"PUT /e HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(data)
        )
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(data)
        assert _raw_answers(sock, 1) == [(b"200", _expected(data))]


def test_a_body_left_unread_closes_the_connection_after_the_answer(port: int) -> None:
    data = os.urandom(2 * MB)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"PUT /partial HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data))
        response = _until_closed(sock)
    assert response.startswith(b"HTTP/1.1 200 ") and b"connection: close" in response.lower()


def test_a_client_gone_mid_body_is_a_disconnect(port: int, app: BodyApp) -> None:
    before = len(app.outcomes)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"PUT /gone HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (4 * MB) + b"x" * MB)
    conn = _connection(port)  # the server goes on
    conn.request("GET", "/after")
    assert _answer(conn)[0] == 200
    conn.close()
    for _ in range(200):
        if len(app.outcomes) > before:
            break
        threading.Event().wait(0.05)
    assert app.outcomes[before:] == ["BodyDisconnected"]


def test_a_client_that_stops_sending_times_out(
    port: int, app: BodyApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SocketBody, "idle_timeout", 0.5)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"PUT /stall HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (4 * MB) + b"x" * MB)
        response = _until_closed(sock)
    assert response.startswith(b"HTTP/1.1 408 ") and app.outcomes[-1] == "BodyTimeout"


def test_the_last_bytes_of_a_body_are_read_as_soon_as_they_come(
    port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader waits for SO_RCVLOWAT bytes while more of the body is due; a tail shorter than
    that, sent after a pause, must still wake it (else the answer waits for the idle timeout)."""
    monkeypatch.setattr(SocketBody, "idle_timeout", 120.0)
    data = os.urandom(2 * MB)
    tail = 1000
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        head = b"PUT /tail HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(data)
        sock.sendall(head + data[:-tail])
        threading.Event().wait(0.3)  # the client pauses before its last bytes
        sock.sendall(data[-tail:])
        assert _raw_answers(sock, 1) == [(b"200", _expected(data))]


def test_a_request_head_past_the_limit_is_refused_with_431_and_the_connection_closed(port: int) -> None:
    """The parser would hold a header of any size in memory: past ``MAX_HEAD_BYTES`` of request line
    and headers the answer is 431, without waiting for the rest."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST /a HTTP/1.1\r\nHost: x\r\nX-Big: ")
        with contextlib.suppress(OSError):  # the server may hang up while the header still comes
            for _ in range(64):  # 16 MiB at most, far past the limit
                sock.sendall(b"a" * (256 * 1024))
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 431 ")
        assert b"connection: close" in answer.lower()


def test_a_head_just_under_the_limit_and_a_body_sent_with_it_are_taken(port: int) -> None:
    conn = _connection(port)
    data = os.urandom(3 * MB)  # arrives in the same reads as the head's end
    conn.request("POST", "/a", body=data, headers={"X-Big": "a" * (MAX_HEAD_BYTES - 1024)})
    assert _answer(conn) == (200, _expected(data, "receive"))
