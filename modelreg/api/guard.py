"""``/api`` under ``--auth sigv4``: every request must carry a valid SigV4 signature, as the AWS
APIs on the same port do, so promotion policies and redeliveries cannot be changed anonymously.
Clients sign as for SageMaker (``modelreg.api.client`` does it for the CLI)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from modelreg.aws.auth import Authenticator
from modelreg.aws.protocol import signed_request
from modelreg.errors import AuthError


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

        async def replay() -> dict[str, object]:
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
