"""SigV4 parsing and verification against requests signed by a real boto3 client.

Each request is captured from boto3's ``before-send`` hook (a fake response short-circuits the
network), so method, path, headers and body are byte for byte what boto3 would send; ``Host``
is added the way http.client adds it (``host:port``).
"""

from __future__ import annotations

import calendar
import io
import json
import os
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.auth import SigV4Auth as BotocoreSigV4Auth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest, AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials
from starlette.datastructures import Headers

from modelreg.aws.auth import KeyEntry, NoAuth, Principal, SignedRequest, parse_authorization
from modelreg.aws.sigv4 import SigV4Auth, load_keys_file
from modelreg.errors import (
    AuthError,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    ServiceError,
    UnrecognizedClientException,
)

ENDPOINT = "http://127.0.0.1:5055"
ACCOUNT = "123456789012"
AK = "AKIAMODELREGTEST0001"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
OTHER_AK = "AKIAMODELREGTEST0002"
OTHER_SECRET = "another-secret-that-must-not-leak-0002"
REGION = "us-west-2"

MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


class _RawBody:
    """The little of urllib3's response botocore reads a body from."""

    def __init__(self, body: bytes) -> None:
        self._io = io.BytesIO(body)

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._io.read()

    def read(self, amt: int | None = None) -> bytes:
        return self._io.read(amt)


@pytest.fixture(autouse=True)
def _no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the developer's AWS config and environment out of the signed requests."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


def session(
    access_key: str = AK, secret: str = SECRET, token: str | None = None, region: str = REGION
) -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=access_key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        region_name=region,
    )


def capture(
    service: str,
    call: Callable[[Any], Any],
    *,
    access_key: str = AK,
    secret: str = SECRET,
    token: str | None = None,
    region: str = REGION,
    response_body: bytes = b"{}",
    response_headers: dict[str, str] | None = None,
    config: Config | None = None,
) -> SignedRequest:
    """Run ``call(client)`` on a real boto3 client and return the request it sent, as the server sees it."""
    client = session(access_key, secret, token, region).client(service, endpoint_url=ENDPOINT, config=config)
    sent: list[AWSPreparedRequest] = []

    def before_send(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        sent.append(request)
        headers = {"Content-Length": str(len(response_body)), **(response_headers or {})}
        return AWSResponse(request.url, 200, headers, _RawBody(response_body))

    client.meta.events.register("before-send", before_send)
    call(client)
    assert len(sent) == 1
    return as_server_sees(sent[0])


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def as_server_sees(prepared: AWSPreparedRequest) -> SignedRequest:
    """The request as the ASGI app gets it: lower-cased header names, Host with port, raw path."""
    split = urlsplit(prepared.url)
    raw_path = split.path + (f"?{split.query}" if split.query else "")
    body = prepared.body
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    sent = [(k.lower().encode("latin-1"), _text(v).encode("latin-1")) for k, v in prepared.headers.items()]
    # botocore's own signer leaves Host to the HTTP client; the CRT signer (awscrt installed) sets it
    raw = sent if any(name == b"host" for name, _ in sent) else [(b"host", split.netloc.encode()), *sent]
    raw += [(b"accept-encoding", b"identity"), (b"connection", b"keep-alive")]  # unsigned, added in transit
    return SignedRequest(
        method=prepared.method, raw_path=raw_path, headers=Headers(raw=raw), body=body or b""
    )


def presigned(url: str, method: str = "GET") -> SignedRequest:
    split = urlsplit(url)
    return SignedRequest(
        method=method,
        raw_path=f"{split.path}?{split.query}",
        headers=Headers(raw=[(b"host", split.netloc.encode()), (b"user-agent", b"curl/8.0")]),
        body=b"",
    )


def replace(request: SignedRequest, **changes: Any) -> SignedRequest:
    fields = {
        "method": request.method,
        "raw_path": request.raw_path,
        "headers": request.headers,
        "body": request.body,
    }
    fields.update(changes)
    return SignedRequest(**fields)


def with_header(request: SignedRequest, name: str, value: str | None) -> SignedRequest:
    """A copy with header ``name`` set to ``value`` (or removed when None), as a plain dict."""
    headers = {k: v for k, v in request.headers.items() if k != name.lower()}
    if value is not None:
        headers[name.lower()] = value
    return replace(request, headers=headers)


def keys() -> dict[str, KeyEntry]:
    return {
        AK: KeyEntry(secret_access_key=SECRET, user_name="alice"),
        OTHER_AK: KeyEntry(secret_access_key=OTHER_SECRET, user_name=OTHER_AK),
    }


def sigv4(clock: Callable[[], float] = time.time, **kwargs: Any) -> SigV4Auth:
    return SigV4Auth(keys(), ACCOUNT, clock=clock, **kwargs)


def amz_epoch(request: SignedRequest) -> int:
    date = request.header("x-amz-date")
    assert date is not None
    return calendar.timegm(time.strptime(date, "%Y%m%dT%H%M%SZ"))


def fmt(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


def expect(
    exc_type: type[AuthError] | type[ServiceError],
    code: str,
    message: str,
    auth: SigV4Auth,
    request: SignedRequest,
) -> ServiceError:
    with pytest.raises(exc_type) as info:
        auth.authenticate(request)
    err = info.value
    assert type(err) is exc_type
    assert err.code == code
    assert err.message == message
    assert str(err) == message
    for secret in (SECRET, OTHER_SECRET):
        assert secret not in str(err)
        assert secret not in repr(err)
        assert secret not in repr(err.args)
    return err


# -- requests as boto3 sends them ---------------------------------------------------------------


def sagemaker_request(**kwargs: Any) -> SignedRequest:
    return capture(
        "sagemaker",
        lambda c: c.create_model_package_group(
            ModelPackageGroupName="churn", ModelPackageGroupDescription="churn models, ünïcode"
        ),
        response_body=json.dumps({"ModelPackageGroupArn": "arn:x"}).encode(),
        **kwargs,
    )


def test_good_sagemaker_json_request() -> None:
    request = sagemaker_request()
    assert request.header("x-amz-target") == "SageMaker.CreateModelPackageGroup"
    assert request.header("host") == "127.0.0.1:5055"
    principal = sigv4().authenticate(request)
    assert principal == Principal(AK, "alice", ACCOUNT, REGION, "sagemaker")


def test_good_request_with_plain_dict_headers_in_any_case() -> None:
    request = sagemaker_request()
    mixed = {k.title(): v for k, v in request.headers.items()}
    assert "Authorization" in mixed
    principal = sigv4().authenticate(replace(request, headers=mixed))
    assert principal.user_name == "alice"


def test_user_name_defaults_to_key_id() -> None:
    request = sagemaker_request(access_key=OTHER_AK, secret=OTHER_SECRET, region="eu-central-1")
    expected = Principal(OTHER_AK, OTHER_AK, ACCOUNT, "eu-central-1", "sagemaker")
    assert sigv4().authenticate(request) == expected


def test_events_request() -> None:
    request = capture("events", lambda c: c.list_rules(NamePrefix="modelreg"))
    assert request.header("x-amz-target") == "AWSEvents.ListRules"
    assert sigv4().authenticate(request) == Principal(AK, "alice", ACCOUNT, REGION, "events")


def test_sagemaker_runtime_request() -> None:
    request = capture(
        "sagemaker-runtime",
        lambda c: c.invoke_endpoint(
            EndpointName="churn-prod",
            Body=b"1.0,2.0,3.0",
            ContentType="text/csv",
            Accept="text/csv",
            CustomAttributes="trace=on",
        ),
        response_body=b"0.42",
        response_headers={"Content-Type": "text/csv"},
    )
    assert request.path == "/endpoints/churn-prod/invocations"
    assert request.body == b"1.0,2.0,3.0"
    principal = sigv4().authenticate(request)
    assert (principal.service, principal.region) == ("sagemaker", REGION)


def test_sts_query_protocol_request() -> None:
    xml = (
        b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>'
        b"<UserId>x</UserId><Account>123456789012</Account><Arn>arn:aws:iam::123456789012:user/alice</Arn>"
        b"</GetCallerIdentityResult></GetCallerIdentityResponse>"
    )
    request = capture("sts", lambda c: c.get_caller_identity(), response_body=xml)
    assert sigv4().authenticate(request).service == "sts"


S3_KEY = "eval/my metrics ü+=&.json"


def s3_put(body: bytes = b'{"auc": 0.91}') -> SignedRequest:
    return capture(
        "s3",
        lambda c: c.put_object(Bucket="models", Key=S3_KEY, Body=body),
        response_body=b"",
        response_headers={"ETag": '"abc"'},
    )


def s3_get() -> SignedRequest:
    return capture(
        "s3",
        lambda c: c.get_object(Bucket="models", Key=S3_KEY),
        response_body=b"{}",
        response_headers={"ETag": '"abc"', "Content-Type": "application/json"},
    )


def test_s3_put_with_space_in_key() -> None:
    request = s3_put()
    assert request.path == "/models/eval/my%20metrics%20%C3%BC%2B%3D%26.json"
    assert request.header("x-amz-content-sha256") not in (None, "UNSIGNED-PAYLOAD")
    assert sigv4().authenticate(request) == Principal(AK, "alice", ACCOUNT, REGION, "s3")


def test_s3_get_with_space_in_key() -> None:
    request = s3_get()
    assert request.method == "GET"
    assert "%20" in request.path
    assert sigv4().authenticate(request).service == "s3"


def test_s3_list_with_query_string() -> None:
    request = capture(
        "s3",
        lambda c: c.list_objects_v2(Bucket="models", Prefix="eval/my metrics", MaxKeys=5),
        response_body=b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Name>models</Name><KeyCount>0</KeyCount></ListBucketResult>",
    )
    assert "prefix=eval%2Fmy%20metrics" in request.query
    assert sigv4().authenticate(request).service == "s3"


def test_s3_unsigned_payload_allowed() -> None:
    unsigned = capture(
        "s3",
        lambda c: c.put_object(Bucket="models", Key=S3_KEY, Body=b"anything"),
        response_body=b"",
        response_headers={"ETag": '"abc"'},
        config=Config(s3={"payload_signing_enabled": False}),
    )
    assert unsigned.header("x-amz-content-sha256") == "UNSIGNED-PAYLOAD"
    assert sigv4().authenticate(unsigned).service == "s3"
    assert sigv4().authenticate(replace(unsigned, body=b"something else")).service == "s3"


def test_session_token_is_signed_and_accepted() -> None:
    request = sagemaker_request(token="FwoGZXIvYXdzEXAMPLETOKEN//+==")
    auth = request.header("authorization") or ""
    assert "x-amz-security-token" in auth
    assert sigv4().authenticate(request).user_name == "alice"
    tampered = with_header(request, "X-Amz-Security-Token", "another-token")
    expect(InvalidSignatureException, "InvalidSignatureException", MISMATCH, sigv4(), tampered)


def test_signed_with_date_header_instead_of_x_amz_date() -> None:
    aws = AWSRequest(
        method="POST",
        url=f"{ENDPOINT}/",
        data=b"{}",
        headers={"Date": "set by the signer", "X-Amz-Target": "SageMaker.ListModels"},
    )
    BotocoreSigV4Auth(Credentials(AK, SECRET), "sagemaker", REGION).add_auth(aws)
    request = as_server_sees(aws.prepare())
    assert request.header("x-amz-date") is None
    signed_at = parsedate_to_datetime(request.header("date") or "").timestamp()
    assert sigv4(clock=lambda: signed_at + 5).authenticate(request).user_name == "alice"
    expect(
        InvalidSignatureException,
        "InvalidSignatureException",
        MISMATCH,
        sigv4(clock=lambda: signed_at),
        with_header(request, "Date", formatdate(signed_at + 1, usegmt=True)),
    )
    expect(
        IncompleteSignatureException,
        "IncompleteSignatureException",
        "Date must be in ISO-8601 'basic format'. Got 'yesterday'. See http://en.wikipedia.org/wiki/ISO_8601",
        sigv4(),
        with_header(request, "Date", "yesterday"),
    )


def test_unsigned_headers_may_change() -> None:
    request = with_header(sagemaker_request(), "User-Agent", "something/else")
    assert sigv4().authenticate(request).user_name == "alice"


# -- failures -----------------------------------------------------------------------------------


def test_wrong_secret() -> None:
    request = sagemaker_request(secret="not-the-secret")
    expect(InvalidSignatureException, "InvalidSignatureException", MISMATCH, sigv4(), request)


def test_unknown_access_key() -> None:
    request = sagemaker_request(access_key="AKIAUNKNOWN")
    expect(
        UnrecognizedClientException,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
        sigv4(),
        request,
    )


def test_tampered_body() -> None:
    request = sagemaker_request()
    tampered = replace(request, body=request.body.replace(b"churn", b"chorn"))
    expect(InvalidSignatureException, "InvalidSignatureException", MISMATCH, sigv4(), tampered)


def test_tampered_signed_header() -> None:
    request = sagemaker_request()
    tampered = with_header(request, "X-Amz-Target", "SageMaker.DeleteModelPackageGroup")
    expect(InvalidSignatureException, "InvalidSignatureException", MISMATCH, sigv4(), tampered)


def test_host_is_checked_as_sent_with_port() -> None:
    request = sagemaker_request()
    for host in ("127.0.0.1:5056", "127.0.0.1", "localhost:5055"):
        expect(
            InvalidSignatureException,
            "InvalidSignatureException",
            MISMATCH,
            sigv4(),
            with_header(request, "Host", host),
        )


def test_tampered_path_and_method() -> None:
    request = s3_get()
    expect(
        InvalidSignatureException,
        "InvalidSignatureException",
        MISMATCH,
        sigv4(),
        replace(request, raw_path=request.raw_path.replace("metrics", "metricz")),
    )
    expect(
        InvalidSignatureException,
        "InvalidSignatureException",
        MISMATCH,
        sigv4(),
        replace(request, method="DELETE"),
    )


def test_s3_tampered_body_is_a_payload_hash_mismatch() -> None:
    request = s3_put()
    expect(
        ServiceError,
        "XAmzContentSHA256Mismatch",
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
        sigv4(),
        replace(request, body=b'{"auc": 0.99}'),
    )


def test_s3_tampered_payload_hash_header() -> None:
    request = s3_put()
    forged = with_header(request, "X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD")
    expect(InvalidSignatureException, "InvalidSignatureException", MISMATCH, sigv4(), forged)


def test_signed_streaming_payload_is_not_supported() -> None:
    aws = AWSRequest(
        method="PUT",
        url=f"{ENDPOINT}/models/k",
        data=b"x",
        headers={"X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
    )
    # S3SigV4Auth would overwrite the header with the body's hash; the plain signer keeps it.
    BotocoreSigV4Auth(Credentials(AK, SECRET), "s3", REGION).add_auth(aws)
    err = expect(
        ServiceError,
        "NotImplemented",
        "x-amz-content-sha256 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' "
        "(chunk-signed aws-chunked upload) is not supported by modelreg; "
        "send the payload's SHA-256 or UNSIGNED-PAYLOAD.",
        sigv4(),
        as_server_sees(aws.prepare()),
    )
    assert err.status == 501


def test_expired_date() -> None:
    request = sagemaker_request()
    signed_at = amz_epoch(request)
    now = signed_at + 901
    err = expect(
        InvalidSignatureException,
        "InvalidSignatureException",
        f"Signature expired: {fmt(signed_at)} is now earlier than {fmt(signed_at + 1)} "
        f"({fmt(now)} - 15 min.)",
        sigv4(clock=lambda: now),
        request,
    )
    assert err.status == 403
    # Exactly at the edge of the window is still fine, both ways.
    assert sigv4(clock=lambda: signed_at + 900).authenticate(request).user_name == "alice"
    assert sigv4(clock=lambda: signed_at - 900).authenticate(request).user_name == "alice"


def test_date_in_the_future() -> None:
    request = sagemaker_request()
    signed_at = amz_epoch(request)
    now = signed_at - 901
    expect(
        InvalidSignatureException,
        "InvalidSignatureException",
        f"Signature not yet current: {fmt(signed_at)} is still later than {fmt(signed_at - 1)} "
        f"({fmt(now)} + 15 min.)",
        sigv4(clock=lambda: now),
        request,
    )


def test_custom_skew_window() -> None:
    request = sagemaker_request()
    signed_at = amz_epoch(request)
    now = signed_at + 301
    expect(
        InvalidSignatureException,
        "InvalidSignatureException",
        f"Signature expired: {fmt(signed_at)} is now earlier than {fmt(signed_at + 1)} ({fmt(now)} - 5 min.)",
        sigv4(clock=lambda: now, max_skew_seconds=300),
        request,
    )


def test_missing_authentication() -> None:
    request = with_header(sagemaker_request(), "Authorization", None)
    err = expect(
        MissingAuthenticationTokenException,
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
        sigv4(),
        request,
    )
    assert err.status == 403
    expect(
        MissingAuthenticationTokenException,
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
        sigv4(),
        with_header(request, "Authorization", "  "),
    )


def test_malformed_header_names_what_is_missing() -> None:
    request = sagemaker_request()
    header = "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abc"
    expect(
        IncompleteSignatureException,
        "IncompleteSignatureException",
        f"Authorization header requires 'Credential' parameter. Authorization={header}",
        sigv4(),
        with_header(request, "Authorization", header),
    )

    bearer = with_header(with_header(request, "Authorization", "Bearer xyz"), "X-Amz-Date", None)
    expect(
        IncompleteSignatureException,
        "IncompleteSignatureException",
        "Authorization header requires 'Credential' parameter. "
        "Authorization header requires 'Signature' parameter. "
        "Authorization header requires 'SignedHeaders' parameter. "
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        "Authorization=Bearer xyz",
        sigv4(),
        bearer,
    )


def test_malformed_credential_scope() -> None:
    request = sagemaker_request()
    header = request.header("authorization") or ""
    day = (request.header("x-amz-date") or "")[:8]
    short = header.replace(f"/{day}/", "/")
    expect(
        IncompleteSignatureException,
        "IncompleteSignatureException",
        "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
        f"got '{AK}/{REGION}/sagemaker/aws4_request'",
        sigv4(),
        with_header(request, "Authorization", short),
    )

    wrong = header.replace(
        f"/{day}/{REGION}/sagemaker/aws4_request", f"/20200101/{REGION}/sagemaker/aws5_request"
    )
    expect(
        InvalidSignatureException,
        "InvalidSignatureException",
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. "
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        f"'20200101' != '{day}', from '{request.header('x-amz-date')}'.",
        sigv4(),
        with_header(request, "Authorization", wrong),
    )


def test_bad_date_format_unsupported_algorithm_and_unsigned_host() -> None:
    request = sagemaker_request()
    expect(
        IncompleteSignatureException,
        "IncompleteSignatureException",
        "Date must be in ISO-8601 'basic format'. Got '2026-11-26T06:24:53Z'. "
        "See http://en.wikipedia.org/wiki/ISO_8601",
        sigv4(),
        with_header(request, "X-Amz-Date", "2026-11-26T06:24:53Z"),
    )

    header = request.header("authorization") or ""
    expect(
        IncompleteSignatureException,
        "IncompleteSignatureException",
        "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now).",
        sigv4(),
        with_header(request, "Authorization", header.replace("SHA256", "SHA512", 1)),
    )

    no_host = header.replace("SignedHeaders=content-type;host;", "SignedHeaders=content-type;")
    assert no_host != header
    expect(
        InvalidSignatureException,
        "InvalidSignatureException",
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        sigv4(),
        with_header(request, "Authorization", no_host),
    )


def test_non_ascii_signature_is_a_mismatch_not_a_crash() -> None:
    request = sagemaker_request()
    header = (request.header("authorization") or "").rsplit("Signature=", 1)[0] + "Signature=ü" * 1
    expect(
        InvalidSignatureException,
        "InvalidSignatureException",
        MISMATCH,
        sigv4(),
        with_header(request, "Authorization", header),
    )


# -- presigned URLs -----------------------------------------------------------------------------


def s3_presigned_url(expires: int = 300) -> str:
    client = session().client("s3", endpoint_url=ENDPOINT, config=Config(signature_version="s3v4"))
    return client.generate_presigned_url(
        "get_object", Params={"Bucket": "models", "Key": S3_KEY}, ExpiresIn=expires
    )


def test_presigned_s3_url() -> None:
    request = presigned(s3_presigned_url())
    assert "X-Amz-Signature=" in request.query
    assert sigv4().authenticate(request) == Principal(AK, "alice", ACCOUNT, REGION, "s3")
    expect(
        InvalidSignatureException,
        "InvalidSignatureException",
        MISMATCH,
        sigv4(),
        replace(request, raw_path=request.raw_path.replace("models", "modelz", 1)),
    )


def test_presigned_s3_url_expires() -> None:
    request = presigned(s3_presigned_url(expires=60))
    signed_at = amz_epoch(with_header(request, "X-Amz-Date", request.query.split("X-Amz-Date=")[1][:16]))
    assert sigv4(clock=lambda: signed_at + 60).authenticate(request).service == "s3"
    err = expect(
        ServiceError, "AccessDenied", "Request has expired", sigv4(clock=lambda: signed_at + 61), request
    )
    assert err.status == 403


def test_presigned_sts_url() -> None:
    client = session().client("sts", endpoint_url=ENDPOINT)
    # As aws-iam-authenticator does for EKS tokens (botocore presigns query APIs as POST by default).
    request = presigned(client.generate_presigned_url("get_caller_identity", HttpMethod="GET"))
    assert sigv4().authenticate(request) == Principal(AK, "alice", ACCOUNT, REGION, "sts")


def test_presigned_url_missing_parameters() -> None:
    request = presigned(s3_presigned_url())
    dropped = ("X-Amz-Date=", "X-Amz-Algorithm=")
    query = "&".join(p for p in request.query.split("&") if not p.startswith(dropped))
    expect(
        IncompleteSignatureException,
        "IncompleteSignatureException",
        "AWS query-string parameters must include 'X-Amz-Algorithm'. "
        "AWS query-string parameters must include 'X-Amz-Date'. Re-examine the query-string parameters.",
        sigv4(),
        replace(request, raw_path=f"{request.path}?{query}"),
    )


def test_header_and_presigned_query_together() -> None:
    request = presigned(s3_presigned_url())
    both = with_header(request, "Authorization", s3_get().header("authorization"))
    expect(
        InvalidSignatureException,
        "InvalidSignatureException",
        "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.",
        sigv4(),
        both,
    )


# -- --auth none --------------------------------------------------------------------------------


def test_noauth_parses_header() -> None:
    header = (
        "AWS4-HMAC-SHA256 Credential=AK/20261126/us-west-2/sagemaker/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, Signature=" + "0" * 64
    )
    request = SignedRequest("POST", "/", {"Authorization": header}, b"{}")
    assert NoAuth(ACCOUNT).authenticate(request) == Principal("AK", "AK", ACCOUNT, "us-west-2", "sagemaker")


def test_noauth_with_real_boto3_requests_never_verifies() -> None:
    auth = NoAuth(ACCOUNT, default_region="eu-west-1")
    request = sagemaker_request(access_key="bob", secret="whatever")
    assert auth.authenticate(request) == Principal("bob", "bob", ACCOUNT, REGION, "sagemaker")
    assert auth.authenticate(replace(request, body=b"tampered")).user_name == "bob"
    assert auth.authenticate(s3_get()).service == "s3"


def test_noauth_presigned_query() -> None:
    request = presigned(s3_presigned_url())
    assert NoAuth(ACCOUNT).authenticate(request) == Principal(AK, AK, ACCOUNT, REGION, "s3")


def test_noauth_anonymous() -> None:
    auth = NoAuth(ACCOUNT, default_region="eu-west-1")
    anonymous = Principal("anonymous", "anonymous", ACCOUNT, "eu-west-1", "")
    assert auth.authenticate(SignedRequest("GET", "/healthz", {}, b"")) == anonymous
    bearer = SignedRequest("POST", "/", Headers({"authorization": "Bearer x"}), b"")
    assert auth.authenticate(bearer) == anonymous
    assert auth.authenticate(SignedRequest("GET", "/?X-Amz-Credential=garbage", {}, b"")) == anonymous


def test_parse_authorization() -> None:
    assert parse_authorization(
        "AWS4-HMAC-SHA256 Credential=AKID/20261126/us-east-1/events/aws4_request,"
        "SignedHeaders=host,Signature=ab"
    ) == ("AKID", "20261126", "us-east-1", "events")
    assert parse_authorization(
        "AWS4-HMAC-SHA256 SignedHeaders=host, Credential=AKID/20261126/eu-west-1/s3/aws4_request, "
        "Signature=ab"
    ) == ("AKID", "20261126", "eu-west-1", "s3")
    for bad in (
        "",
        "Bearer x",
        "AWS4-HMAC-SHA256 Credential=AKID/20261126/us-east-1/aws4_request",
        "AWS4-HMAC-SHA256 Credential=AKID/2026/us-east-1/s3/aws4_request",
        "AWS4-HMAC-SHA256 Credential=AKID/20261126/us-east-1/s3/aws5_request",
        "AWS4-HMAC-SHA256 Credential=AKID/20261126/us-east-1/s3/aws4_requestX, Signature=ab",
        "AWS4-HMAC-SHA256X Credential=AKID/20261126/us-east-1/s3/aws4_request",
        "AWS4-HMAC-SHA256 SignedHeaders=host,XCredential=AKID/20261126/us-east-1/s3/aws4_request",
    ):
        assert parse_authorization(bad) is None, bad


# -- keys file and secrets ----------------------------------------------------------------------


def write(tmp_path: Path, content: Any) -> Path:
    path = tmp_path / "keys.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_load_keys_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "keys": [
                {"access_key_id": AK, "secret_access_key": SECRET, "user": "alice"},
                {"access_key_id": OTHER_AK, "secret_access_key": OTHER_SECRET},
            ]
        },
    )
    loaded = load_keys_file(path)
    assert loaded == keys()
    assert load_keys_file(str(path)) == loaded
    assert SigV4Auth(loaded, ACCOUNT).authenticate(sagemaker_request()).user_name == "alice"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
        ([], 'expected a JSON object {"keys": ['),
        ({"keys": {}}, 'expected a JSON object {"keys": ['),
        ({"keys": []}, "lists no keys"),
        ({"keys": ["AK"]}, "keys[0] must be an object"),
        (
            {"keys": [{"access_key_id": AK}]},
            f"keys[0].secret_access_key (key {AK}) must be a non-empty string",
        ),
        ({"keys": [{"access_key_id": AK, "secret_access_key": 7}]}, "keys[0].secret_access_key"),
        ({"keys": [{"secret_access_key": SECRET}]}, "keys[0].access_key_id must be 1-128 characters"),
        ({"keys": [{"access_key_id": "a/b", "secret_access_key": SECRET}]}, "keys[0].access_key_id must be"),
        ({"keys": [{"access_key_id": AK, "secret_access_key": SECRET, "user": "a b"}]}, "keys[0].user (key"),
        ({"keys": [{"access_key_id": AK, "secret": SECRET}]}, "keys[0] has unknown field(s) 'secret'"),
        (
            {
                "keys": [
                    {"access_key_id": AK, "secret_access_key": SECRET},
                    {"access_key_id": AK, "secret_access_key": OTHER_SECRET},
                ]
            },
            f"access key {AK} is listed twice",
        ),
    ],
)
def test_load_keys_file_rejects_malformed(tmp_path: Path, content: Any, fragment: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(ValueError) as info:
        load_keys_file(path)
    message = str(info.value)
    assert message.startswith(f"keys file {path}")
    assert fragment in message
    assert SECRET not in message and OTHER_SECRET not in message
    assert info.value.__cause__ is None and info.value.__context__ is None  # no JSONDecodeError.doc


def test_load_keys_file_missing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"keys file .*nope\.json: cannot read it: No such file"):
        load_keys_file(tmp_path / "nope.json")


def test_secret_never_in_repr() -> None:
    entry = KeyEntry(secret_access_key=SECRET, user_name="alice")
    assert SECRET not in repr(entry)
    assert SECRET not in str(entry)
    assert "alice" in repr(entry)
    auth = sigv4()
    assert SECRET not in repr(auth) and OTHER_SECRET not in repr(auth)
    assert SECRET not in repr(keys())


def test_secret_never_in_debug_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="modelreg.auth")
    with pytest.raises(InvalidSignatureException):
        sigv4().authenticate(sagemaker_request(secret="not-the-secret"))
    assert "canonical request" in caplog.text
    assert SECRET not in caplog.text and "not-the-secret" not in caplog.text
