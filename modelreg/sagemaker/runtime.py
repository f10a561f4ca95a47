"""sagemaker-runtime InvokeEndpoint: ``POST /endpoints/{EndpointName}/invocations`` (rest-json).

The raw body goes to a worker of a variant chosen by weight (or by the
``X-Amzn-SageMaker-Target-Variant`` header); its answer comes back as sent, with the
``x-Amzn-Invoked-Production-Variant`` header. A model that answers an error becomes SageMaker's
``ModelError`` (424) carrying the model's status and message. rest-json clients read the error
code from the ``X-Amzn-ErrorType`` header, so errors carry it there and in the body.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from modelreg import arns
from modelreg.aws.auth import Authenticator
from modelreg.aws.protocol import new_request_id, signed_request
from modelreg.config import Settings
from modelreg.errors import ServiceError
from modelreg.serving.base import EndpointNotFound, Invocation, ServingBackend, VariantNotFound
from modelreg.serving.process import WorkerUnavailable

log = logging.getLogger("modelreg.runtime")

#: SageMaker real-time endpoints accept payloads up to 6 MB
MAX_PAYLOAD = 6 * 1024 * 1024
_PREFIX, _SUFFIX = "/endpoints/", "/invocations"


def is_invocation(path: str) -> bool:
    return path.startswith(_PREFIX) and path.endswith(_SUFFIX)


def _error(code: str, status: int, message: str, request_id: str, **extra: object) -> Response:
    body = {"message": message, "Message": message, **extra}
    return Response(
        json.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={"x-amzn-RequestId": request_id, "X-Amzn-ErrorType": code},
    )


class RuntimeApi:
    """Answers InvokeEndpoint for the endpoints the ServingBackend runs in this server."""

    def __init__(self, settings: Settings, authenticator: Authenticator, backend: ServingBackend) -> None:
        self.settings = settings
        self.authenticator = authenticator
        self.backend = backend

    async def __call__(self, request: Request) -> Response:
        request_id = new_request_id()
        name = unquote(request.url.path[len(_PREFIX) : -len(_SUFFIX)])
        try:
            body = await request.body()
            principal = self.authenticator.authenticate(signed_request(request, body))
        except ServiceError as error:
            return _error(error.code, error.status, error.message, request_id)
        if len(body) > MAX_PAYLOAD:
            return _error(
                "ValidationError", 413, f"Request payload is larger than {MAX_PAYLOAD} bytes.", request_id
            )
        headers = request.headers
        invocation = Invocation(
            body=body,
            content_type=headers.get("content-type", "application/octet-stream"),
            accept=headers.get("accept", "*/*"),
            custom_attributes=headers.get("x-amzn-sagemaker-custom-attributes"),
            target_variant=headers.get("x-amzn-sagemaker-target-variant"),
        )
        arn = arns.sagemaker(principal.region, self.settings.account_id, "endpoint", name)
        try:
            result = await self.backend.invoke(arn, invocation)
        except EndpointNotFound:
            account = self.settings.account_id
            message = f"Endpoint {name} of account {account} not found or not InService."
            return _error("ValidationError", 400, message, request_id)
        except VariantNotFound:
            message = f"Target variant {invocation.target_variant} not found for endpoint {name}."
            return _error("ValidationError", 400, message, request_id)
        except WorkerUnavailable as exc:
            return _error("ServiceUnavailable", 503, f"{exc}; retry shortly.", request_id)
        except TimeoutError:
            message = (  # SageMaker's words
                'Received server error (0) from primary with message "Your invocation timed out while '
                'waiting for a response from container primary."'
            )
            return _error(
                "ModelError", 424, message, request_id, OriginalStatusCode=0, OriginalMessage=message
            )
        if result.status != 200:
            message = result.body.decode("utf-8", errors="replace")
            kind = "client" if 400 <= result.status < 500 else "server"
            return _error(
                "ModelError", 424,
                f'Received {kind} error ({result.status}) from primary with message "{message}". '
                f"See the modelreg server log for variant {result.variant} of endpoint {name}.",
                request_id, OriginalStatusCode=result.status, OriginalMessage=message,
            )  # fmt: skip
        out_headers = {
            "content-type": result.content_type,  # as the model sent it (no charset added)
            "x-amzn-RequestId": request_id,
            "x-Amzn-Invoked-Production-Variant": result.variant,
        }
        if result.custom_attributes is not None:
            out_headers["X-Amzn-SageMaker-Custom-Attributes"] = result.custom_attributes
        return Response(result.body, headers=out_headers)
