"""What every ``/api`` module shares: the store, the region a request names, the error shape, and
the caller of a request that changes something."""

from __future__ import annotations

import dataclasses

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse

from modelreg.aws.dispatch import RequestContext
from modelreg.aws.protocol import new_request_id, signed_request
from modelreg.store.base import Store


class _NumberConvertor(Convertor[int]):
    """``{name:number}`` in a route: 1 to 9 digits (a version number or a row id), so that a longer
    one matches no route (404) instead of reaching the store as a number it cannot hold."""

    regex = "[0-9]{1,9}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("number", _NumberConvertor())


def store(request: Request) -> Store:
    return request.app.state.store


def region(request: Request) -> str:
    """``?region=``, or the server's default region."""
    return request.query_params.get("region") or request.app.state.settings.default_region


def error(status: int, message: str, code: str | None = None) -> JSONResponse:
    """``{"error": code, "message": ...}``; the code defaults to NotFound (404) or BadRequest."""
    return JSONResponse(
        {"error": code or ("NotFound" if status == 404 else "BadRequest"), "message": message},
        status_code=status,
    )


def caller_context(request: Request, body: bytes, operation: str) -> RequestContext:
    """The context of a change made through ``/api``: the caller from the request's signature (as
    for the AWS APIs; ``--auth sigv4`` has verified it already), in the region ``?region=`` names.
    Raises the authenticator's ServiceError."""
    state = request.app.state
    principal = state.authenticator.authenticate(signed_request(request, body))
    if request.query_params.get("region"):
        principal = dataclasses.replace(principal, region=request.query_params["region"])
    return RequestContext(
        principal, new_request_id(), state.settings, state.store, operation=operation, signals=state.signals
    )
