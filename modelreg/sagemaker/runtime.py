"""sagemaker-runtime InvokeEndpoint: ``POST /endpoints/{EndpointName}/invocations`` (rest-json).

The raw body goes to a worker of a variant chosen by weight (or by the
``X-Amzn-SageMaker-Target-Variant`` header); its answer comes back as sent, with the
``x-Amzn-Invoked-Production-Variant`` header. A model that answers an error becomes SageMaker's
``ModelError`` (424) carrying the model's status and message. rest-json clients read the error
code from the ``X-Amzn-ErrorType`` header, so errors carry it there and in the body.

Every prediction crosses this handler, so it is plain ASGI: no request or response objects.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from urllib.parse import unquote

from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from modelreg import arns
from modelreg.aws.auth import Authenticator, NoAuth, SignedRequest
from modelreg.config import Settings
from modelreg.errors import ServiceError
from modelreg.serving.base import (
    EndpointNotFound,
    Invocation,
    InvocationResult,
    ServingBackend,
    VariantNotFound,
)
from modelreg.serving.process import WorkerUnavailable

#: SageMaker real-time endpoints accept payloads up to 6 MB
MAX_PAYLOAD = 6 * 1024 * 1024
_PREFIX, _SUFFIX = "/endpoints/", "/invocations"
_TIMEOUT_MESSAGE = (  # SageMaker's words
    'Received server error (0) from primary with message "Your invocation timed out while waiting for '
    'a response from container primary."'
)


def is_invocation(path: str) -> bool:
    return path.startswith(_PREFIX) and path.endswith(_SUFFIX)


class _Failure(Exception):
    """An error answer: rest-json code, HTTP status, message and extra body members."""

    def __init__(self, code: str, status: int, message: str, **extra: object) -> None:
        super().__init__(message)
        self.code, self.status, self.message, self.extra = code, status, message, extra


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_PAYLOAD:
            raise _Failure("ValidationError", 413, f"Request payload is larger than {MAX_PAYLOAD} bytes.")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


class RuntimeApi:
    """Answers InvokeEndpoint for the endpoints the ServingBackend runs in this server."""

    def __init__(self, settings: Settings, authenticator: Authenticator, backend: ServingBackend) -> None:
        self.settings = settings
        self.authenticator = authenticator
        self.backend = backend
        self._trusting = isinstance(authenticator, NoAuth)  # only reads the credential scope

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = str(uuid.uuid4())
        try:
            result = await self._invoke(scope, receive)
        except _Failure as failure:
            body = json.dumps(
                {"message": failure.message, "Message": failure.message, **failure.extra}
            ).encode()
            await _send(send, failure.status, body, b"application/json", request_id, [
                (b"x-amzn-errortype", failure.code.encode()),
            ])  # fmt: skip
            return
        headers = [(b"x-amzn-invoked-production-variant", result.variant.encode())]
        if result.custom_attributes is not None:
            headers.append(
                (b"x-amzn-sagemaker-custom-attributes", result.custom_attributes.encode("latin-1"))
            )
        # the content type exactly as the model sent it
        await _send(send, 200, result.body, result.content_type.encode("latin-1"), request_id, headers)

    async def _invoke(self, scope: Scope, receive: Receive) -> InvocationResult:
        path: str = scope["path"]
        name = unquote(path[len(_PREFIX) : -len(_SUFFIX)])
        # the few headers this needs, in one pass (header names arrive lower-cased)
        headers: Mapping[str, str] = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if not self._trusting:  # signature checks need repeated headers kept
            headers = Headers(scope=scope)
        body = await _read_body(receive)
        raw_path = scope.get("raw_path", path.encode()).decode("latin-1")
        if scope.get("query_string"):
            raw_path += "?" + scope["query_string"].decode("latin-1")
        try:
            principal = self.authenticator.authenticate(SignedRequest("POST", raw_path, headers, body))
        except ServiceError as error:
            raise _Failure(error.code, error.status, error.message) from None
        invocation = Invocation(
            body=body,
            content_type=headers.get("content-type", "application/octet-stream"),
            accept=headers.get("accept", "*/*"),
            custom_attributes=headers.get("x-amzn-sagemaker-custom-attributes"),
            target_variant=headers.get("x-amzn-sagemaker-target-variant"),
        )
        account = self.settings.account_id
        try:
            result = await self.backend.invoke(
                arns.sagemaker(principal.region, account, "endpoint", name), invocation
            )
        except EndpointNotFound:
            message = f"Endpoint {name} of account {account} not found or not InService."
            raise _Failure("ValidationError", 400, message) from None
        except VariantNotFound:
            message = f"Target variant {invocation.target_variant} not found for endpoint {name}."
            raise _Failure("ValidationError", 400, message) from None
        except WorkerUnavailable as exc:
            raise _Failure("ServiceUnavailable", 503, f"{exc}; retry shortly.") from None
        except TimeoutError:
            raise _Failure(
                "ModelError", 424, _TIMEOUT_MESSAGE, OriginalStatusCode=0, OriginalMessage=_TIMEOUT_MESSAGE
            ) from None
        if result.status != 200:
            message = result.body.decode("utf-8", errors="replace")
            kind = "client" if 400 <= result.status < 500 else "server"
            raise _Failure(
                "ModelError", 424,
                f'Received {kind} error ({result.status}) from primary with message "{message}". '
                f"See the modelreg server log for variant {result.variant} of endpoint {name}.",
                OriginalStatusCode=result.status, OriginalMessage=message,
            )  # fmt: skip
        return result


async def _send(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    request_id: str,
    headers: list[tuple[bytes, bytes]],
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"x-amzn-requestid", request_id.encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
