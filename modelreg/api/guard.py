"""What every ``/api`` request passes before its route sees it.

- ``ApiInputGuard``: a path or query without the NUL character, a ``region`` that can be one, and
  a body of at most ``MAX_REQUEST_BYTES``. Routes look up what they are given in the store, and
  PostgreSQL cannot take U+0000 in a query.
- ``SignedApiGuard``, under ``--auth sigv4``: a valid SigV4 signature, as the AWS APIs on the same
  port require, so promotion policies and redeliveries cannot be changed anonymously. Clients sign
  as for SageMaker (``modelreg.api.client`` does it for the CLI).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelreg.aws.auth import Authenticator, is_region
from modelreg.aws.protocol import read_body, signed_request
from modelreg.errors import AuthError, RequestEntityTooLarge


class ApiInputGuard:
    """ASGI middleware: a 400 ``BadRequest`` for a NUL character in the path or the query, or for
    a ``region`` parameter that is not a region name; a 413 for a body larger than
    ``MAX_REQUEST_BYTES``. The route gets the body it read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = _input_problem(scope)
        if problem is not None:
            await JSONResponse({"error": "BadRequest", "message": problem}, status_code=400)(
                scope, receive, send
            )
            return
        try:
            body = await read_body(Request(scope, receive))
        except RequestEntityTooLarge as error:
            answer = JSONResponse({"error": error.code, "message": error.message}, status_code=error.status)
            await answer(scope, receive, send)
            return
        await self.app(scope, _replay(body), send)


def _input_problem(scope: Scope) -> str | None:
    if "\x00" in scope["path"]:
        return "The path must not contain the NUL character (%00)."
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return "The query must not contain the NUL character (%00)."
        if name == "region" and value and not is_region(value):
            return f"region must be a region name such as us-east-1, not {value!r}."
    return None


class SignedApiGuard:
    """ASGI middleware: authenticate the request (body included) before the route sees it."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        body = await request.body()
        try:
            self.authenticator.authenticate(signed_request(request, body))
        except AuthError as error:
            await JSONResponse({"error": error.code, "message": error.message}, status_code=error.status)(
                scope, receive, send
            )
            return

        await self.app(scope, _replay(body), send)


def _replay(body: bytes) -> Receive:
    """A ``receive`` that gives the body read already."""

    async def replay() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
