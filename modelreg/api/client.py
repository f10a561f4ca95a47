"""Calls to modelreg's ``/api`` from the CLI, signed with SigV4 when AWS credentials are available
(required when the server runs ``--auth sigv4``; harmless otherwise)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import botocore.session
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest


@dataclass
class ApiResponse:
    status_code: int
    text: str

    def json(self) -> object:
        import json

        return json.loads(self.text)


def api_request(method: str, url: str, body: bytes = b"", *, timeout: float = 30) -> ApiResponse:
    """``method`` ``url`` (a full URL with any query), signed with the environment's credentials."""
    headers = {"Content-Type": "application/json"} if body else {}
    credentials = botocore.session.get_session().get_credentials()
    if credentials is not None:
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        aws_request = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(credentials.get_frozen_credentials(), "sagemaker", region).add_auth(aws_request)
        headers = dict(aws_request.headers.items())
    response = httpx.request(method, url, content=body or None, headers=headers, timeout=timeout)
    return ApiResponse(response.status_code, response.text)
