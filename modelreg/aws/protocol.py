"""AWS JSON 1.1 on the wire: parse a request, call its handler, serialize the answer or the error.

Requests are ``POST /`` with ``X-Amz-Target: <Prefix>.<Operation>`` and a JSON object body.
Success is 200 with ``Content-Type: application/x-amz-json-1.1`` and ``x-amzn-RequestId``; an error
carries ``{"__type": code, "message": ...}`` in the body (botocore reads the code from there) and the
``X-Amzn-ErrorType`` header. Client mistakes are always 4xx: botocore retries a 5xx three times.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from modelreg import json_text
from modelreg.aws import dispatch, spec
from modelreg.aws.auth import Authenticator, SignedRequest
from modelreg.aws.validate import prepare as prepare_validator
from modelreg.aws.validate import validate_input
from modelreg.config import Settings
from modelreg.errors import (
    RequestEntityTooLarge,
    SerializationException,
    ServiceError,
    UnknownOperationException,
)
from modelreg.store.base import Store

log = logging.getLogger("modelreg.aws")

JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
_ACCEPTED_CONTENT_TYPES = {"application/x-amz-json-1.1", "application/x-amz-json-1.0", "application/json", ""}


def new_request_id() -> str:
    return str(uuid.uuid4())


def json_response(
    payload: dict[str, Any], request_id: str, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    all_headers = {"x-amzn-RequestId": request_id}
    if headers:
        all_headers.update(headers)
    return Response(
        json_text.dumps_bytes(payload), status_code=status, media_type=JSON_CONTENT_TYPE, headers=all_headers
    )


def error_response(error: ServiceError, request_id: str) -> Response:
    """The JSON 1.1 error shape; ``__type`` in the body is what botocore reads."""
    return json_response(
        {"__type": error.code, "message": error.message},
        request_id,
        error.status,
        {"X-Amzn-ErrorType": error.code},
    )


def internal_error_response(request_id: str) -> Response:
    return json_response(
        {"__type": "InternalFailure", "message": f"An internal error occurred (request {request_id})."},
        request_id,
        500,
        {"X-Amzn-ErrorType": "InternalFailure"},
    )


#: epoch seconds of 0001-01-01 and of the end of 9999-12-31: the timestamps a request may carry (in
#: microseconds they fit the stores' 64-bit integers)
_TIMESTAMP_RANGE = (-62135596800.0, 253402300800.0)


def parse_timestamp(value: Any, member: str) -> float:
    """A request timestamp (epoch seconds as a number, or ISO-8601 text) as epoch seconds, between
    the years 1 and 9999."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            seconds = parsed.timestamp()
    if seconds is None or not _TIMESTAMP_RANGE[0] <= seconds < _TIMESTAMP_RANGE[1]:  # NaN fails too
        raise SerializationException(f"Value '{value}' at '{member}' is not a valid timestamp.")
    return seconds


#: the largest request body read for the AWS JSON and query protocols and ``/api``: ten times the
#: largest a registry call needs (a CreateModelPackage with a full model card is under 1 MiB), and
#: small enough that a client cannot make the server hold gigabytes
MAX_REQUEST_BYTES = 10 * 1024 * 1024


async def read_body(request: Request) -> bytes:
    """The request's body, at most ``MAX_REQUEST_BYTES``; ``RequestEntityTooLarge`` past that,
    before reading it when the Content-Length says so."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_REQUEST_BYTES:
        raise _too_large()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> RequestEntityTooLarge:
    return RequestEntityTooLarge(f"The request body is larger than {MAX_REQUEST_BYTES} bytes.")


def signed_request(request: Request, body: bytes) -> SignedRequest:
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    path = raw_path.decode("latin-1")
    query = request.scope.get("query_string", b"")
    if query:
        path += "?" + query.decode("latin-1")
    return SignedRequest(method=request.method, raw_path=path, headers=request.headers, body=body)


class JsonProtocol:
    """Answers every AWS JSON 1.1 request (``X-Amz-Target``) of the services in ``spec.TARGET_PREFIXES``."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        authenticator: Authenticator,
        signals: dispatch.Signals | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.authenticator = authenticator
        self.signals = signals or dispatch.Signals()
        for service, name in dispatch.implemented():  # build the validators now, not on a first request
            op_model = spec.operation_model(service, name)
            if op_model is not None and op_model.input_shape is not None:
                prepare_validator(op_model.input_shape)

    async def __call__(self, request: Request) -> Response:
        request_id = new_request_id()
        try:
            body = await read_body(request)
            ctx, handler, params = self._prepare(request, body, request_id)
            result = await self._run(ctx, handler, params)
            members = spec.output_members(ctx.service, ctx.operation)
            if members:
                result = {k: v for k, v in result.items() if k in members and v is not None}
            return json_response(result, request_id)
        except ServiceError as error:
            return error_response(error, request_id)
        except ClientDisconnect:
            raise  # not a failure of ours: the front door drops the request
        except Exception:
            log.exception("request %s failed", request_id)
            return internal_error_response(request_id)

    async def _run(
        self, ctx: dispatch.RequestContext, handler: dispatch.Handler, params: dict[str, Any]
    ) -> dict[str, Any]:
        """Run ``handler`` on the event loop when it may (see ``modelreg.aws.dispatch``), else in a
        worker thread."""
        if self.store.local and dispatch.runs_inline(ctx.service, ctx.operation):
            ctx.store = dispatch.LoopStore(self.store)
            try:
                return handler(ctx, params)
            except dispatch.NeedsThread:
                ctx.store = self.store
        return await run_in_threadpool(handler, ctx, params)

    def _prepare(
        self, request: Request, body: bytes, request_id: str
    ) -> tuple[dispatch.RequestContext, dispatch.Handler, dict[str, Any]]:
        principal = self.authenticator.authenticate(signed_request(request, body))
        target = request.headers.get("x-amz-target", "")
        prefix, _, name = target.partition(".")
        service = spec.TARGET_PREFIXES.get(prefix)
        op_model = spec.operation_model(service, name) if service and name else None
        if op_model is None:
            raise UnknownOperationException(f"The operation '{target}' is not recognized.")
        handler = dispatch.lookup(service, name)  # type: ignore[arg-type]
        if handler is None:
            raise UnknownOperationException(
                f"The operation {name} of {prefix} is not implemented by modelreg; "
                "see docs/api-coverage.md for the operations it supports."
            )
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in _ACCEPTED_CONTENT_TYPES:
            raise SerializationException(
                f"Unsupported Content-Type '{content_type}': "
                f"send {JSON_CONTENT_TYPE} with a JSON object body."
            )
        try:
            params = json_text.parse(body) if body.strip() else {}
        except (ValueError, UnicodeDecodeError) as exc:
            raise SerializationException(f"The request body is not valid JSON: {exc}") from None
        if not isinstance(params, dict):
            raise SerializationException("The request body must be a JSON object.")
        validate_input(op_model.input_shape, params)
        ctx = dispatch.RequestContext(
            principal=principal,
            request_id=request_id,
            settings=self.settings,
            store=self.store,
            service=service,
            operation=name,
            user_agent=request.headers.get("user-agent", ""),
            signals=self.signals,
        )
        return ctx, handler, params
