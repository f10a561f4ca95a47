"""``--auth sigv4``: verify each request's AWS Signature Version 4 against the keys file.

Verification recomputes the signature with botocore's own signer over exactly what arrived:
the raw (still percent-encoded) path and query, the ``Host`` header as sent (it carries the
port), the headers the client listed in ``SignedHeaders`` and the body. Secrets never appear in
an exception, a repr or a log line.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote

from botocore import auth as botocore_auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from modelreg.aws.auth import ALGORITHM, MSG_UNKNOWN_KEY, KeyEntry, Principal, SignedRequest, is_region
from modelreg.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    ServiceError,
    UnrecognizedClientException,
)

log = logging.getLogger("modelreg.auth")

MAX_PRESIGN_EXPIRES = 604800  # one week, S3's limit for X-Amz-Expires
MSG_MISSING_TOKEN = "Missing Authentication Token"
MSG_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
MSG_HOST_NOT_SIGNED = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
MSG_BOTH_AUTH = "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."

_SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"
_TIMESTAMP_RE = re.compile(r"\d{8}T\d{6}Z")
_PARAM_SPLIT_RE = re.compile(r"[\s,]+")
_PRESIGNED_RE = re.compile(r"(?:^|&)X-Amz-(?:Algorithm|Credential|Signature)=")
_QUERY_ALGORITHM_RE = re.compile(r"(?:^|&)X-Amz-Algorithm=")
_HEX64_RE = re.compile(r"[0-9a-fA-F]{64}")
_ACCESS_KEY_RE = re.compile(r"[\w+=.@-]{1,128}")
_USER_NAME_RE = re.compile(r"[\w+=,.@-]{1,64}")

_UNSIGNED_PAYLOADS = frozenset({"UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"})
_QUERY_AUTH_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-SignedHeaders",
    "X-Amz-Date",
)


class _ClientSignedHeaders:
    """Mixin for botocore's signers: canonicalise exactly the headers the client signed.

    botocore picks the headers itself when it signs (it skips ``user-agent``, ``expect``, ...);
    a verifier must instead take the client's ``SignedHeaders`` list as it is.
    """

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return request.context["signed_headers"]


class _HeaderVerifier(_ClientSignedHeaders, botocore_auth.SigV4Auth):
    pass


class _S3HeaderVerifier(_ClientSignedHeaders, botocore_auth.S3SigV4Auth):
    pass


class _QueryVerifier(_ClientSignedHeaders, botocore_auth.SigV4QueryAuth):
    pass


class _S3QueryVerifier(_ClientSignedHeaders, botocore_auth.S3SigV4QueryAuth):
    pass


@dataclass(frozen=True)
class _Signature:
    """What a request claims: from the ``Authorization`` header or a presigned query string."""

    algorithm: str
    credential: str
    signed_headers: str
    signature: str
    timestamp: str  # ISO-8601 basic, as signed
    epoch: int
    presigned: bool
    expires: int | None = None


def _format_time(epoch: float) -> str:
    return time.strftime(_SIGV4_TIMESTAMP, time.gmtime(epoch))


def _parse_timestamp(value: str) -> int | None:
    """Epoch seconds of an ISO-8601 basic timestamp (``20261126T062453Z``), or None."""
    if not _TIMESTAMP_RE.fullmatch(value):
        return None
    try:
        return calendar.timegm(time.strptime(value, _SIGV4_TIMESTAMP))
    except ValueError:
        return None


def _incomplete_date(value: str) -> IncompleteSignatureException:
    return IncompleteSignatureException(
        f"Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"
    )


def _parse_query(query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in query.split("&"):
        if pair:
            key, _, value = pair.partition("=")
            params.setdefault(unquote(key), unquote(value))
    return params


class SigV4Auth:
    """``--auth sigv4``: every request must carry a valid AWS Signature Version 4.

    Accepts the ``Authorization`` header and presigned URLs (``X-Amz-Signature`` in the query).
    ``keys`` maps access key ids to their secret and user; the account is the same for all.
    ``X-Amz-Date`` must be within ``max_skew_seconds`` of ``clock()`` (a presigned URL instead
    lives from its date for ``X-Amz-Expires`` seconds). A session token, if sent, is covered by
    the signature but not checked against anything: the keys file has no tokens.
    """

    def __init__(
        self,
        keys: Mapping[str, KeyEntry],
        account_id: str,
        default_region: str = "us-east-1",
        max_skew_seconds: int = 900,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = dict(keys)
        self.account_id = account_id
        self.default_region = default_region
        self.max_skew_seconds = max_skew_seconds
        self._clock = clock

    def __repr__(self) -> str:
        return f"SigV4Auth(account_id={self.account_id!r}, keys={len(self._keys)})"

    def authenticate(self, request: SignedRequest) -> Principal:
        """Verify ``request`` and return its principal; raise the AWS auth error otherwise."""
        sig = self._claimed_signature(request)
        now = self._clock()
        if not sig.presigned:
            self._check_skew(sig, now)
        names = [n.strip().lower() for n in sig.signed_headers.split(";") if n.strip()]
        if "host" not in names and ":authority" not in names:
            raise InvalidSignatureException(MSG_HOST_NOT_SIGNED)
        if sig.algorithm != ALGORITHM:
            raise IncompleteSignatureException(
                f"Unsupported AWS 'algorithm': '{sig.algorithm}' (only {ALGORITHM} for now)."
            )
        access_key, region, service = self._check_scope(sig)
        if sig.presigned:
            self._check_presigned_window(sig, now, service)
        entry = self._keys.get(access_key)
        if entry is None:
            raise UnrecognizedClientException(MSG_UNKNOWN_KEY)
        expected, canonical_request, string_to_sign = self._compute_signature(
            request, sig, names, entry.secret_access_key, region, service
        )
        if not hmac.compare_digest(expected.encode(), sig.signature.encode("utf-8", "replace")):
            log.debug(
                "SigV4 mismatch for key %s; canonical request:\n%s\nstring to sign:\n%s",
                access_key,
                canonical_request,
                string_to_sign,
            )
            raise InvalidSignatureException(MSG_SIGNATURE_MISMATCH)
        self._check_payload_hash(request)
        return Principal(access_key, entry.user_name, self.account_id, region, service)

    # -- the steps, in AWS's order ----------------------------------------------------------

    def _claimed_signature(self, request: SignedRequest) -> _Signature:
        header = (request.header("authorization") or "").strip()
        query = request.query
        presigned = bool(query) and _PRESIGNED_RE.search(query) is not None
        if header and presigned and _QUERY_ALGORITHM_RE.search(query):
            raise InvalidSignatureException(MSG_BOTH_AUTH)
        if header:
            return self._from_header(request, header)
        if presigned:
            return self._from_query(_parse_query(query))
        raise MissingAuthenticationTokenException(MSG_MISSING_TOKEN)

    @staticmethod
    def _from_header(request: SignedRequest, header: str) -> _Signature:
        algorithm, _, rest = header.partition(" ")
        params: dict[str, str] = {}
        for item in _PARAM_SPLIT_RE.split(rest):
            key, eq, value = item.partition("=")
            if eq:
                params.setdefault(key, value)
        problems = [
            f"Authorization header requires '{p}' parameter."
            for p in ("Credential", "Signature", "SignedHeaders")
            if not params.get(p)
        ]
        amz_date = request.header("x-amz-date")
        http_date = request.header("date")
        if not amz_date and not http_date:
            problems.append(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
            )
        if problems:
            raise IncompleteSignatureException(" ".join([*problems, f"Authorization={header}"]))
        if amz_date:
            timestamp = amz_date.strip()
            epoch = _parse_timestamp(timestamp)
            if epoch is None:
                raise _incomplete_date(timestamp)
        else:
            try:
                parsed = parsedate_to_datetime(http_date)  # type: ignore[arg-type]
            except (TypeError, ValueError, IndexError):
                raise _incomplete_date(http_date or "") from None
            if parsed.tzinfo is None:  # RFC 1123 dates are GMT
                parsed = parsed.replace(tzinfo=UTC)
            epoch = int(parsed.timestamp())
            timestamp = _format_time(epoch)
        return _Signature(
            algorithm=algorithm,
            credential=params["Credential"],
            signed_headers=params["SignedHeaders"],
            signature=params["Signature"],
            timestamp=timestamp,
            epoch=epoch,
            presigned=False,
        )

    @staticmethod
    def _from_query(params: dict[str, str]) -> _Signature:
        problems = [
            f"AWS query-string parameters must include '{p}'."
            for p in _QUERY_AUTH_PARAMS
            if not params.get(p)
        ]
        if problems:
            problems.append("Re-examine the query-string parameters.")
            raise IncompleteSignatureException(" ".join(problems))
        timestamp = params["X-Amz-Date"]
        epoch = _parse_timestamp(timestamp)
        if epoch is None:
            raise _incomplete_date(timestamp)
        raw_expires = params.get("X-Amz-Expires", str(botocore_auth.SigV4QueryAuth.DEFAULT_EXPIRES))
        try:
            expires = int(raw_expires)
        except ValueError:
            raise IncompleteSignatureException("X-Amz-Expires should be a number") from None
        if expires < 0:
            raise IncompleteSignatureException("X-Amz-Expires must be non-negative")
        if expires > MAX_PRESIGN_EXPIRES:
            raise IncompleteSignatureException(
                f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGN_EXPIRES}"
            )
        return _Signature(
            algorithm=params["X-Amz-Algorithm"],
            credential=params["X-Amz-Credential"],
            signed_headers=params["X-Amz-SignedHeaders"],
            signature=params["X-Amz-Signature"],
            timestamp=timestamp,
            epoch=epoch,
            presigned=True,
            expires=expires,
        )

    def _skew_label(self) -> str:
        skew = self.max_skew_seconds
        return f"{skew // 60} min." if skew % 60 == 0 else f"{skew} sec."

    def _check_skew(self, sig: _Signature, now: float) -> None:
        skew = self.max_skew_seconds
        if sig.epoch < now - skew:
            raise InvalidSignatureException(
                f"Signature expired: {sig.timestamp} is now earlier than {_format_time(now - skew)} "
                f"({_format_time(now)} - {self._skew_label()})"
            )
        if sig.epoch > now + skew:
            raise InvalidSignatureException(
                f"Signature not yet current: {sig.timestamp} is still later than {_format_time(now + skew)} "
                f"({_format_time(now)} + {self._skew_label()})"
            )

    def _check_presigned_window(self, sig: _Signature, now: float, service: str) -> None:
        if sig.epoch > now + self.max_skew_seconds:
            self._check_skew(sig, now)  # "Signature not yet current: ..."
        if now > sig.epoch + (sig.expires or 0):
            if service == "s3":
                raise ServiceError("Request has expired", code="AccessDenied", status=403)
            raise InvalidSignatureException("Request has expired")

    @staticmethod
    def _check_scope(sig: _Signature) -> tuple[str, str, str]:
        credential = sig.credential.rstrip("/")
        parts = credential.split("/")
        if len(parts) != 5:
            raise IncompleteSignatureException(
                "Credential must have exactly 5 slash-delimited elements, "
                f"e.g. keyid/date/region/service/term, got '{credential}'"
            )
        access_key, date, region, service, terminator = parts
        problems = []
        if not is_region(region):
            problems.append(f"Credential should be scoped to a valid region, not '{region}'.")
        if not service:
            problems.append(f"Credential should be scoped to a valid service, not '{service}'.")
        if terminator != "aws4_request":
            problems.append(
                f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
            )
        if date != sig.timestamp[:8]:
            problems.append(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{date}' != '{sig.timestamp[:8]}', from '{sig.timestamp}'."
            )
        if problems:
            raise InvalidSignatureException(" ".join(problems))
        return access_key, region, service

    @staticmethod
    def _compute_signature(
        request: SignedRequest, sig: _Signature, names: list[str], secret: str, region: str, service: str
    ) -> tuple[str, str, str]:
        """(signature, canonical request, string to sign) of ``request`` as botocore would sign it."""
        lists = request.header_lists
        signed = HTTPHeaders()
        for name in names:
            for value in lists.get(name) or [""]:
                signed[name] = value.strip()
        path, _, query = request.raw_path.partition("?")
        if sig.presigned:
            # The signature covers every query parameter except itself.
            query = "&".join(p for p in query.split("&") if p and not p.startswith("X-Amz-Signature="))
        if not path.startswith("/"):
            path = "/" + path
        # The netloc is a placeholder: the Host header as sent is among ``signed``.
        url = f"http://modelreg.invalid{path}" + (f"?{query}" if query else "")
        # botocore takes the payload hash from X-Amz-Content-SHA256 when that header is present.
        headers: dict[str, str] = {}
        if "x-amz-content-sha256" in names:
            headers["X-Amz-Content-SHA256"] = signed["x-amz-content-sha256"]
        aws_request = AWSRequest(method=request.method.upper(), url=url, headers=headers, data=request.body)
        aws_request.context["timestamp"] = sig.timestamp
        aws_request.context["signed_headers"] = signed
        verifier_cls: type[botocore_auth.SigV4Auth]
        if sig.presigned:
            verifier_cls = _S3QueryVerifier if service == "s3" else _QueryVerifier
        else:
            verifier_cls = _S3HeaderVerifier if service == "s3" else _HeaderVerifier
        verifier = verifier_cls(Credentials(sig.credential.split("/", 1)[0], secret), service, region)
        canonical_request = verifier.canonical_request(aws_request)
        string_to_sign = verifier.string_to_sign(aws_request, canonical_request)
        expected: str = verifier.signature(string_to_sign, aws_request)
        return expected, canonical_request, string_to_sign

    @staticmethod
    def _check_payload_hash(request: SignedRequest) -> None:
        """``X-Amz-Content-SHA256`` stands for the body in the signature: it must be the body's hash."""
        declared = request.header("x-amz-content-sha256")
        if declared is None:
            return
        declared = declared.strip()
        if declared in _UNSIGNED_PAYLOADS:
            return
        if declared.startswith("STREAMING-"):
            raise ServiceError(
                f"x-amz-content-sha256 '{declared}' (chunk-signed aws-chunked upload) is not supported by "
                "modelreg; send the payload's SHA-256 or UNSIGNED-PAYLOAD.",
                code="NotImplemented",
                status=501,
            )
        if not _HEX64_RE.fullmatch(declared):
            raise ServiceError(
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
                "or a valid sha256 value.",
                code="InvalidArgument",
                status=400,
            )
        if not hmac.compare_digest(declared.lower(), hashlib.sha256(request.body).hexdigest()):
            raise ServiceError(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                code="XAmzContentSHA256Mismatch",
                status=400,
            )


# ---------------------------------------------------------------------------------------------
# the keys file


def load_keys_file(path: str | os.PathLike[str]) -> dict[str, KeyEntry]:
    """Read the ``--auth sigv4`` keys file.

    JSON: ``{"keys": [{"access_key_id": "...", "secret_access_key": "...", "user": "alice"}]}``;
    ``user`` defaults to the access key id. Raises ``ValueError`` naming the file and the entry
    on anything malformed (this runs at server start-up); secrets never appear in messages.
    """
    p = Path(path)
    # Each problem is raised outside its ``except`` block: a JSONDecodeError carries the whole
    # file (secrets included) in ``.doc``, and must not ride along as ``__context__``.
    problem = None
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        problem = f"cannot read it: {exc.strerror or exc.__class__.__name__}"
    except UnicodeDecodeError:
        problem = "not UTF-8 text"
    if problem is None:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            problem = f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    if problem is not None:
        raise ValueError(f"keys file {p}: {problem}")
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError(
            f'keys file {p}: expected a JSON object {{"keys": [{{"access_key_id": ..., '
            f'"secret_access_key": ..., "user": ...}}, ...]}}'
        )
    keys: dict[str, KeyEntry] = {}
    allowed = {"access_key_id", "secret_access_key", "user"}
    for i, entry in enumerate(data["keys"]):
        where = f"keys file {p}: keys[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be an object with access_key_id, secret_access_key and user")
        unknown = sorted(set(entry) - allowed)
        if unknown:
            raise ValueError(
                f"{where} has unknown field(s) {', '.join(map(repr, unknown))}; "
                f"allowed: access_key_id, secret_access_key, user"
            )
        access_key = entry.get("access_key_id")
        if not isinstance(access_key, str) or not _ACCESS_KEY_RE.fullmatch(access_key):
            raise ValueError(f"{where}.access_key_id must be 1-128 characters of letters, digits and _+=.@-")
        secret = entry.get("secret_access_key")
        if not isinstance(secret, str) or not secret:
            raise ValueError(f"{where}.secret_access_key (key {access_key}) must be a non-empty string")
        user = entry.get("user", access_key)
        if not isinstance(user, str) or not _USER_NAME_RE.fullmatch(user):
            raise ValueError(
                f"{where}.user (key {access_key}) must be 1-64 characters of letters, digits and _+=,.@-"
            )
        if access_key in keys:
            raise ValueError(f"{where}: access key {access_key} is listed twice")
        keys[access_key] = KeyEntry(secret_access_key=secret, user_name=user)
    if not keys:
        raise ValueError(f"keys file {p}: lists no keys; --auth sigv4 would reject every request")
    return keys
