"""What a webhook receiver answers cannot hold a delivery up or fill the server's memory: only the
status and the start of an error's body count, and a call ends by EventBridge's timeout."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from modelreg.events.webhook import MAX_RESPONSE_BYTES, TIMEOUT_SECONDS, Call, WebhookSender

Answer = Callable[[socket.socket, threading.Event], None]
API_KEY = {"ApiKeyName": "x-api-key", "ApiKeyValue": "k"}


@pytest.fixture
def receiver() -> Iterator[Callable[[Answer], str]]:
    """``receiver(answer)`` serves each connection with ``answer(sock, stop)`` until the test ends;
    it gives the URL to post to."""
    stop = threading.Event()
    listeners: list[socket.socket] = []

    def start(answer: Answer) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                with conn, contextlib.suppress(OSError):  # OSError: the sender hung up, as it should
                    conn.recv(65536)  # the request (small: headers and a short JSON body)
                    answer(conn, stop)

        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}/hook"

    yield start
    stop.set()
    for listener in listeners:
        listener.close()


def _call(url: str) -> Call:
    return Call(
        message_id="msg_1",
        destination={"InvocationEndpoint": url, "HttpMethod": "POST"},
        connection={"AuthorizationType": "API_KEY", "AuthParameters": {"ApiKeyAuthParameters": API_KEY}},
        target={},
        body=b'{"detail": {}}',
    )


def test_an_answer_that_never_ends_is_cut_at_the_timeout(receiver) -> None:
    def drip(sock: socket.socket, stop: threading.Event) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        deadline = time.monotonic() + 30  # bounded: the test's own receiver stops by itself
        while not stop.is_set() and time.monotonic() < deadline:
            sock.sendall(b"400\r\n" + b"x" * 1024 + b"\r\n")
            time.sleep(0.2)

    sender = WebhookSender("whsec_" + "a" * 32, allow_private=True)
    started = time.monotonic()
    outcome = sender.send(_call(receiver(drip)))
    assert time.monotonic() - started < TIMEOUT_SECONDS + 2
    assert (outcome.status_code, outcome.error) == (200, None)
    sender.close()


def test_headers_that_never_end_fail_the_call_at_the_timeout(receiver) -> None:
    """httpx's timeout bounds each read: a byte of header every half second never trips it."""

    def drip_headers(sock: socket.socket, stop: threading.Event) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        deadline = time.monotonic() + 30  # bounded: the test's own receiver stops by itself
        while not stop.is_set() and time.monotonic() < deadline:
            sock.sendall(b"z")
            time.sleep(0.5)

    sender = WebhookSender("whsec_" + "a" * 32, allow_private=True)
    started = time.monotonic()
    outcome = sender.send(_call(receiver(drip_headers)))
    assert time.monotonic() - started < TIMEOUT_SECONDS + 2
    assert outcome.status_code is None and outcome.retryable
    assert outcome.error == f"AnswerTimedOut: no answer within {TIMEOUT_SECONDS:g} s"
    assert outcome.duration_us >= TIMEOUT_SECONDS * 1_000_000
    sender.close()


def test_a_receiver_that_answers_in_time_is_heard_on_every_call(receiver) -> None:
    """The call's deadline (a timer per call) never cuts a call that ends in time."""

    def answer(sock: socket.socket, stop: threading.Event) -> None:
        sock.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    sender = WebhookSender("whsec_" + "a" * 32, allow_private=True)
    url = receiver(answer)
    outcomes = [sender.send(_call(url)) for _ in range(20)]
    assert [(o.status_code, o.error) for o in outcomes] == [(202, None)] * 20
    sender.close()


def test_a_huge_error_body_is_read_no_further_than_its_start(receiver) -> None:
    size = 200 * 1024 * 1024
    sent = [0]
    finished = threading.Event()

    def flood(sock: socket.socket, stop: threading.Event) -> None:
        try:
            sock.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: %d\r\n\r\n" % size)
            chunk = b"overloaded " * 6000
            while sent[0] < size and not stop.is_set():
                sock.sendall(chunk)
                sent[0] += len(chunk)
        finally:
            finished.set()

    sender = WebhookSender("whsec_" + "a" * 32, allow_private=True)
    outcome = sender.send(_call(receiver(flood)))
    assert outcome.status_code == 503 and outcome.retryable
    assert outcome.error is not None and outcome.error.startswith("HTTP 503: overloaded overloaded")
    assert len(outcome.error) <= 520
    assert finished.wait(30)  # the receiver stops when the sender hangs up, or when it sent it all
    # what the receiver got out before the sender hung up: the part read and the sockets' buffers
    assert sent[0] < MAX_RESPONSE_BYTES + 32 * 1024 * 1024
    sender.close()


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nnot json", "holds no access_token"),
        (b'HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{"token": "x"}\n', "holds no access_token"),
        (b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", "answered HTTP 500"),
    ],
)
def test_an_oauth_endpoint_without_a_usable_token_fails_the_call_for_a_retry(
    receiver, answer: bytes, reason: str
) -> None:
    def token_endpoint(sock: socket.socket, stop: threading.Event) -> None:
        sock.sendall(answer)

    call = _call("http://127.0.0.1:9/never-reached")
    call.connection = {
        "AuthorizationType": "OAUTH_CLIENT_CREDENTIALS",
        "AuthParameters": {
            "OAuthParameters": {
                "AuthorizationEndpoint": receiver(token_endpoint),
                "HttpMethod": "POST",
                "ClientParameters": {"ClientID": "id", "ClientSecret": "secret"},
            }
        },
    }
    sender = WebhookSender("whsec_" + "a" * 32, allow_private=True)
    outcome = sender.send(call)
    assert outcome.status_code is None and outcome.retryable
    assert outcome.error is not None and outcome.error.startswith("OAuthFailed: ") and reason in outcome.error
    sender.close()
