"""HTTP calls to API destinations, as EventBridge makes them, plus a Standard Webhooks signature.

``WebhookSender.send(call)`` makes one attempt and reports what happened; retry decisions belong
to the delivery worker. Every request carries ``webhook-id`` (the event id, stable across retries,
so receivers can drop duplicates), ``webhook-timestamp`` and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``), the Standard Webhooks scheme.
Calls to loopback, private or link-local addresses are refused unless explicitly allowed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from modelreg import json_text
from modelreg.events.call_deadline import DeadlineClients

#: status codes after which EventBridge retries an API destination call; other 4xx are final
RETRYABLE_STATUS = frozenset({401, 407, 409, 429}) | frozenset(range(500, 600))
TIMEOUT_SECONDS = 5.0  # EventBridge's API destination timeout
#: how much of a receiver's answer is read: only its status counts, and the start of an error's body
MAX_RESPONSE_BYTES = 64 * 1024


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value for one request."""
    mac = hmac.new(_secret_bytes(secret), f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance_seconds: int = 300) -> bool:
    """What a receiver does: check the signature and that the timestamp is recent."""
    try:
        timestamp = int(headers["webhook-timestamp"])
        expected = sign(secret, headers["webhook-id"], timestamp, body)
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance_seconds:
        return False
    return any(hmac.compare_digest(expected, s) for s in headers.get("webhook-signature", "").split())


@dataclass
class Call:
    """One HTTP call to make: the API destination, its connection, and the rendered body."""

    message_id: str
    destination: dict[str, Any]  # DescribeApiDestination members
    connection: dict[str, Any]  # DescribeConnection members + AuthParameters with secrets
    target: dict[str, Any]  # the rule's Target (HttpParameters)
    body: bytes


@dataclass
class Outcome:
    status_code: int | None
    error: str | None
    duration_us: int
    retryable: bool
    retry_after_seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class PrivateAddressRefused(Exception):
    pass


def check_public(url: str) -> None:
    """Refuse URLs whose host is, or resolves to, a loopback, private, link-local or reserved address."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise PrivateAddressRefused(f"cannot resolve {host}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise PrivateAddressRefused(
                f"{host} resolves to {address}, a non-public address; start modelreg with "
                "--allow-private-webhooks to deliver there"
            )


class OAuthFailed(httpx.HTTPError):
    """The connection's OAuth endpoint gave no usable token: the call is retried like a network
    error."""


class AnswerTimedOut(httpx.TimeoutException):
    """The receiver's status and headers had not come ``TIMEOUT_SECONDS`` after the call's start."""


def _read_start(response: httpx.Response, deadline: float) -> bytes:
    """At most ``MAX_RESPONSE_BYTES`` of a streamed answer's body, read until ``deadline``
    (``time.perf_counter``) at the latest: a receiver that floods or drips cannot hold the call."""
    chunks, size = [], 0
    try:
        for chunk in response.iter_raw():
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_RESPONSE_BYTES or time.perf_counter() >= deadline:
                break
    except httpx.HTTPError:
        pass  # the status came; a body cut short does not change the outcome
    return b"".join(chunks)[:MAX_RESPONSE_BYTES]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class WebhookSender:
    """Makes API destination calls with the connection's authorization (API key, basic, OAuth)."""

    def __init__(self, secret: str, *, allow_private: bool = False) -> None:
        self.secret = secret
        self.allow_private = allow_private
        # a client per sending thread, whose calls end TIMEOUT_SECONDS after they start
        self._clients = DeadlineClients(timeout=TIMEOUT_SECONDS, follow_redirects=False)
        self._tokens: dict[str, tuple[str, float]] = {}  # connection ARN -> (token, expiry)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._clients.close()

    def send(self, call: Call) -> Outcome:
        started = time.perf_counter()
        try:
            response, answer = self._exchange(self._build(call), started)
        except PrivateAddressRefused as exc:
            return Outcome(None, str(exc), self._since(started), retryable=False)
        except httpx.HTTPError as exc:
            return Outcome(None, f"{type(exc).__name__}: {exc}", self._since(started), retryable=True)
        code = response.status_code
        error = None if 200 <= code < 300 else f"HTTP {code}: {answer.decode('utf-8', 'replace')[:500]}"
        return Outcome(
            code,
            error,
            self._since(started),
            retryable=code in RETRYABLE_STATUS,
            retry_after_seconds=_retry_after(response),
        )

    def _exchange(
        self, request: httpx.Request, started: float, auth: httpx.Auth | None = None
    ) -> tuple[httpx.Response, bytes]:
        """Send ``request``; its answer (closed) and the start of the answer's body. The call ends
        ``TIMEOUT_SECONDS`` after ``started``: a status that has not come by then is an
        ``AnswerTimedOut``, and the body is read until then at the latest (``_read_start``)."""
        deadline = started + TIMEOUT_SECONDS
        with self._clients.deadline(deadline) as watch:
            request.extensions["trace"] = watch.trace
            try:
                response = self._clients.client().send(request, auth=auth, stream=True)
            except httpx.TransportError as exc:
                if watch.was_cut():
                    raise AnswerTimedOut(f"no answer within {TIMEOUT_SECONDS:g} s") from exc
                raise
            try:
                return response, _read_start(response, deadline)
            finally:
                response.close()

    @staticmethod
    def _since(started: float) -> int:
        return int((time.perf_counter() - started) * 1_000_000)

    def _build(self, call: Call) -> httpx.Request:
        url = call.destination["InvocationEndpoint"]
        http_params = call.target.get("HttpParameters") or {}
        for value in http_params.get("PathParameterValues") or []:
            url = url.replace("*", value, 1)
        if not self.allow_private:
            check_public(url)
        headers: dict[str, str] = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "modelreg-events",
            "Accept-Encoding": "identity",  # an error's body is shown as it came
        }
        query: dict[str, str] = {}
        invocation = self._authorize(call, headers, query)
        for param in invocation.get("HeaderParameters") or []:
            headers[param["Key"]] = param["Value"]
        for param in invocation.get("QueryStringParameters") or []:
            query[param["Key"]] = param["Value"]
        headers.update(http_params.get("HeaderParameters") or {})
        query.update(http_params.get("QueryStringParameters") or {})
        timestamp = int(time.time())
        headers["webhook-id"] = call.message_id
        headers["webhook-timestamp"] = str(timestamp)
        headers["webhook-signature"] = sign(self.secret, call.message_id, timestamp, call.body)
        return self._clients.client().build_request(
            call.destination.get("HttpMethod", "POST"),
            url,
            headers=headers,
            params=query or None,
            content=call.body,
        )

    def _authorize(self, call: Call, headers: dict[str, str], query: dict[str, str]) -> dict[str, Any]:
        """Add the connection's credentials; return its InvocationHttpParameters."""
        auth = call.connection.get("AuthParameters") or {}
        kind = call.connection.get("AuthorizationType")
        if kind == "API_KEY":
            key = auth.get("ApiKeyAuthParameters") or {}
            headers[key["ApiKeyName"]] = key["ApiKeyValue"]
        elif kind == "BASIC":
            basic = auth.get("BasicAuthParameters") or {}
            pair = f"{basic['Username']}:{basic['Password']}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        elif kind == "OAUTH_CLIENT_CREDENTIALS":
            headers["Authorization"] = "Bearer " + self._oauth_token(call.connection)
        return auth.get("InvocationHttpParameters") or {}

    def _oauth_token(self, connection: dict[str, Any]) -> str:
        arn = connection.get("ConnectionArn", "")
        with self._lock:
            cached = self._tokens.get(arn)
            if cached and cached[1] > time.time() + 10:
                return cached[0]
        oauth = (connection.get("AuthParameters") or {}).get("OAuthParameters") or {}
        client = oauth.get("ClientParameters") or {}
        params = oauth.get("OAuthHttpParameters") or {}
        endpoint = oauth["AuthorizationEndpoint"]
        if not self.allow_private:
            check_public(endpoint)
        form = {"grant_type": "client_credentials"}
        form.update({p["Key"]: p["Value"] for p in params.get("BodyParameters") or []})
        started = time.perf_counter()
        request = self._clients.client().build_request(
            oauth.get("HttpMethod", "POST"),
            endpoint,
            data=form,
            headers={p["Key"]: p["Value"] for p in params.get("HeaderParameters") or []},
            params={p["Key"]: p["Value"] for p in params.get("QueryStringParameters") or []} or None,
        )
        auth = httpx.BasicAuth(client.get("ClientID", ""), client.get("ClientSecret", ""))
        response, answer = self._exchange(request, started, auth)
        if not 200 <= response.status_code < 300:
            raise OAuthFailed(f"the OAuth endpoint answered HTTP {response.status_code}")
        try:
            payload = json_text.loads(answer)
            token = payload["access_token"]
            lifetime = float(payload.get("expires_in", 300))
            if not isinstance(token, str):
                raise TypeError
        except (ValueError, KeyError, TypeError, AttributeError):
            raise OAuthFailed("the OAuth endpoint's answer holds no access_token") from None
        with self._lock:
            self._tokens[arn] = (token, time.time() + lifetime)
        return token


def signing_secret(store: Any, configured: str | None) -> str:
    """The webhook signing secret: the configured one, else the one kept in the store (created on
    first use, so every server sharing a database signs with the same key)."""
    if configured:
        return configured
    from modelreg.store.base import DuplicateKey
    from modelreg.store.rows import NamedResource

    with store.read() as tx:
        found = tx.get_resource("*", "signing-key", "webhook")
    if found is not None:
        return found.body["Secret"]
    try:
        with store.write() as tx:
            tx.insert_resource(
                NamedResource(
                    region="*",
                    kind="signing-key",
                    name="webhook",
                    arn="",
                    created_us=time.time_ns() // 1000,
                    body={"Secret": new_secret()},
                )
            )
    except DuplicateKey:
        pass  # another server created it first
    with store.read() as tx:
        found = tx.get_resource("*", "signing-key", "webhook")
    assert found is not None
    return found.body["Secret"]
