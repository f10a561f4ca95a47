"""The AWS query protocol (form body, XML reply) for the one call SDKs make of it: STS GetCallerIdentity.

``AWS_ENDPOINT_URL`` sends STS (and IAM) to this port too; the SageMaker SDK calls
GetCallerIdentity for telemetry. Anything else gets a proper XML error, never a 5xx.
"""

from __future__ import annotations

from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response

from modelreg.aws.auth import Authenticator
from modelreg.aws.protocol import new_request_id, read_body, signed_request
from modelreg.config import Settings
from modelreg.errors import ServiceError

_STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


def _xml(body: str, status: int, request_id: str) -> Response:
    return Response(body, status_code=status, media_type="text/xml", headers={"x-amzn-RequestId": request_id})


def _error(code: str, message: str, status: int, request_id: str) -> Response:
    return _xml(
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{escape(code)}</Code>"
        f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId>"
        "</ErrorResponse>",
        status,
        request_id,
    )


async def handle_query(request: Request, settings: Settings, authenticator: Authenticator) -> Response:
    request_id = new_request_id()
    try:
        body = await read_body(request)
    except ServiceError as error:
        return _error(error.code, error.message, error.status, request_id)
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    action = form.get("Action", "")
    try:
        principal = authenticator.authenticate(signed_request(request, body))
    except ServiceError as error:
        return _error(error.code, error.message, error.status, request_id)
    if action != "GetCallerIdentity":
        return _error(
            "InvalidAction",
            f"The action {action or '(none)'} is not valid for this endpoint; "
            "modelreg answers only STS GetCallerIdentity over the query protocol.",
            400,
            request_id,
        )
    user = escape(principal.user_name)
    arn = f"arn:aws:iam::{settings.account_id}:user/{user}"
    return _xml(
        f'<GetCallerIdentityResponse xmlns="{_STS_NS}"><GetCallerIdentityResult>'
        f"<Arn>{arn}</Arn><UserId>{escape(principal.access_key_id)}</UserId>"
        f"<Account>{settings.account_id}</Account></GetCallerIdentityResult>"
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
        "</GetCallerIdentityResponse>",
        200,
        request_id,
    )
