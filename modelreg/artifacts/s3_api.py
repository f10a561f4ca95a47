"""The built-in S3-compatible API (rest-xml, path-style) that boto3 and the AWS CLI reach through
``AWS_ENDPOINT_URL``.

Routing (:func:`is_s3_request`): a request is S3's when its SigV4 credential scope names service
``s3`` (``Authorization`` header or a presigned URL's ``X-Amz-Credential``), or when it is
unsigned and its path is none of modelreg's own (``/api``, ``/healthz``, ``/endpoints``, ``/ui``,
``/metrics``). ``POST /`` never is: that is the AWS JSON and query protocols.

Calls: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation,
GetBucketVersioning, ListObjects(V2), DeleteObjects, PutObject, CopyObject, GetObject (Range,
conditional headers, ``response-*`` overrides), HeadObject, DeleteObject, and multipart uploads
(Create, UploadPart, ListParts, Complete, Abort). Other sub-resources (``?acl``, ``?tagging``,
...) answer ``501 NotImplemented``, which botocore does not retry.

Authentication (``--auth sigv4``): the request's seed signature is verified by the server's
:class:`~modelreg.aws.auth.Authenticator` before any body byte is read. A signed payload hash
(``x-amz-content-sha256`` = hex) is checked against the body as it streams; aws-chunked bodies
with per-chunk signatures (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``) are accepted on the seed
signature, their chunk signatures are not verified (the checksums still guard the content).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelreg.artifacts import s3_ops as ops
from modelreg.artifacts.blobs import S3Error
from modelreg.artifacts.buckets import BucketStore
from modelreg.artifacts.memory import tune_allocator
from modelreg.artifacts.multipart import Uploads
from modelreg.artifacts.s3_http import (
    BodyReaders,
    ClientGone,
    S3Request,
    body_taken,
    error_reply,
    new_request_id,
)
from modelreg.aws.auth import Authenticator, SignedRequest, parse_authorization
from modelreg.config import Settings
from modelreg.errors import (
    AuthError,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    ServiceError,
    UnrecognizedClientException,
)

log = logging.getLogger("modelreg.s3")

#: paths that are modelreg's own, never S3's, unless the request is signed for ``s3``
NOT_S3_PREFIXES = ("/api", "/healthz", "/endpoints", "/ui", "/metrics")
_QUERY_CREDENTIAL_RE = re.compile(r"(?:^|&)X-Amz-Credential=([^&]*)")

T = TypeVar("T")


def credential_service(scope: Scope) -> str | None:
    """The service of the request's SigV4 credential scope, or None when it carries none."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            parsed = parse_authorization(value.decode("latin-1"))
            return parsed[3] if parsed else None
    qs = scope.get("query_string", b"")
    if b"X-Amz-Credential=" in qs:
        m = _QUERY_CREDENTIAL_RE.search(qs.decode("latin-1"))
        if m is not None:
            parts = unquote(m.group(1)).split("/")
            return parts[3] if len(parts) == 5 else None
    return None


def is_s3_request(scope: Scope) -> bool:
    """Whether an HTTP request (other than ``POST /``) belongs to the S3 API."""
    service = credential_service(scope)
    if service is not None:
        return service == "s3"
    path = scope["path"]
    return not any(path == p or path.startswith(p + "/") for p in NOT_S3_PREFIXES)


def _announces_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"", b"0")):
            return True
    return False


def make_s3_app(settings: Settings, authenticator: Authenticator) -> ASGIApp:
    """The S3 API of a server: the built-in store under ``<data_dir>/s3``, or (with
    ``builtin_s3`` off) an app that tells S3 clients where the artifact store is."""
    if not settings.builtin_s3:
        return S3Off(settings)
    tune_allocator()  # request bodies stream through large buffers: keep them in reused memory
    store = BucketStore(settings.data_dir / "s3")
    removed = store.recover()
    if any(removed.values()):
        log.info("built-in S3 store: removed what an interrupted run left behind: %s", removed)
    return S3Api(store, authenticator, settings)


class S3Off:
    """Answers S3 requests when the built-in store is off (``--artifact-store s3://...``)."""

    def __init__(self, settings: Settings) -> None:
        where = settings.artifact_store_uri or "an external S3"
        endpoint = settings.s3_endpoint_url or "AWS S3"
        self.error = S3Error(
            "NotImplemented",
            f"This modelreg server does not run its built-in S3 store: artifacts live in {where} "
            f"at {endpoint}. Point your S3 client there (e.g. AWS_ENDPOINT_URL_S3).",
            501,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reply = error_reply(self.error, None, new_request_id(), scope["method"])
        if _announces_body(scope):
            reply.headers["Connection"] = "close"  # the body is never read
        await reply(scope, receive, send)


def _s3_auth_error(error: ServiceError, presigned: bool) -> S3Error:
    """The S3 error code and status for an authenticator's error."""
    if isinstance(error, UnrecognizedClientException):
        return S3Error(
            "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", 403
        )
    if isinstance(error, InvalidSignatureException):
        if error.message.startswith(("Signature expired", "Signature not yet current")):
            return S3Error(
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
                403,
            )
        if error.message.startswith("The request signature"):
            return S3Error(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. "
                "Check your key and signing method.",
                403,
            )
        return S3Error("AccessDenied", error.message, 403)
    if isinstance(error, MissingAuthenticationTokenException):
        return S3Error("AccessDenied", "Access Denied", 403)
    if isinstance(error, IncompleteSignatureException):
        code = "AuthorizationQueryParametersError" if presigned else "AuthorizationHeaderMalformed"
        return S3Error(code, error.message, 400)
    return S3Error(error.code, error.message, error.status)


class S3Api:
    """The ASGI app of the built-in S3 API over a :class:`BucketStore`."""

    def __init__(self, store: BucketStore, authenticator: Authenticator, settings: Settings) -> None:
        self.store = store
        self.uploads = Uploads(store)
        self.authenticator = authenticator
        self.settings = settings
        self.verify = settings.auth == "sigv4"
        self.executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="s3-io")
        self.body_readers = BodyReaders()

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking store work (disk, index) in the S3 worker threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = new_request_id()
        request: S3Request | None = None
        body_read = False

        async def receive_tracked() -> Message:
            nonlocal body_read
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                body_read = True
            return message

        try:
            request = S3Request.parse(scope, receive_tracked, request_id)
            reply = await ops.dispatch(self, request)
        except S3Error as error:
            reply = error_reply(error, request, request_id, scope["method"])
        except ClientGone:
            return
        except Exception:
            log.exception("S3 request %s %s failed", scope["method"], scope.get("path"))
            error = S3Error("InternalError", "We encountered an internal error. Please try again.", 500)
            reply = error_reply(error, request, request_id, scope["method"])
        headers = getattr(reply, "headers", None)
        if isinstance(headers, dict):
            headers.setdefault("x-amz-request-id", request_id)
            headers.setdefault("x-amz-id-2", request_id)
            if not body_read and not body_taken(scope) and _announces_body(scope):
                # Answered before the body was read (an error, often to "Expect: 100-continue"):
                # the client may or may not send the body now, so this connection cannot go on.
                headers["Connection"] = "close"
        await reply(scope, receive, send)

    # -- authentication ---------------------------------------------------------------------

    def authenticate(self, request: S3Request) -> bool:
        """Verify the request's signature (``--auth sigv4``) from its headers alone. True when it
        covers a payload SHA-256 that the body, read later, must still match."""
        if not self.verify:
            return False
        signed = SignedRequest(request.method, request.raw_path_and_query, request.headers, b"")
        presigned = "X-Amz-Signature=" in request.raw_path_and_query
        try:
            self.authenticator.authenticate(signed)
        except AuthError as error:
            raise _s3_auth_error(error, presigned) from None
        except ServiceError as error:
            # The authenticator checks the payload hash only after the signature matched, and
            # here it saw no body: the hash is checked as the body streams in.
            if error.code == "XAmzContentSHA256Mismatch":
                return True
            if error.code == "NotImplemented":  # chunk-signed aws-chunked: seed signature verified
                return False
            raise _s3_auth_error(error, presigned) from None
        return False
