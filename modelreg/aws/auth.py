"""Who is calling: the ``Authenticator`` seam and SigV4 ``Authorization`` parsing.

Every request gets a :class:`Principal`. ``--auth none`` (:class:`NoAuth`, loopback only) trusts
the access key id in the credential scope and never verifies anything. ``--auth sigv4``
(:class:`modelreg.aws.sigv4.SigV4Auth`) checks the signature against the keys file and answers
like AWS: ``MissingAuthenticationTokenException``, ``IncompleteSignatureException``,
``UnrecognizedClientException`` or ``InvalidSignatureException``, all 403.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol
from urllib.parse import unquote

from modelreg.errors import InvalidSignatureException, UnrecognizedClientException

ALGORITHM = "AWS4-HMAC-SHA256"
ANONYMOUS = "anonymous"
#: a region name as botocore checks it before it sends a request, at most the 32 characters the
#: store keeps (every AWS region name fits)
_REGION_RE = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,30}[a-zA-Z0-9])?")
#: AWS's longest access key id; under ``--auth none`` it is also the caller's name in the history
MAX_ACCESS_KEY_LENGTH = 128
MSG_UNKNOWN_KEY = "The security token included in the request is invalid."

_SCOPE = r"([^/\s,]+)/(\d{8})/([^/\s,]+)/([^/\s,]+)/aws4_request"
# The fast path of --auth none: AK, date, region and service of the credential scope (about 1 us
# when Credential comes first, as every SDK sends it; the second pattern finds it anywhere).
_AUTH_HEADER_RE = re.compile(rf"{ALGORITHM}\s+Credential={_SCOPE}(?![^\s,])")
_CREDENTIAL_ANYWHERE_RE = re.compile(rf"[\s,]Credential={_SCOPE}(?![^\s,])")
_CREDENTIAL_RE = re.compile(rf"{_SCOPE}$")
_QUERY_CREDENTIAL_RE = re.compile(r"(?:^|&)X-Amz-Credential=([^&]*)")


@dataclass(frozen=True)
class Principal:
    """The caller of one request.

    ``user_name`` is the key's user from the keys file in ``--auth sigv4`` and the access key id
    itself in ``--auth none``. ``region`` and ``service`` come from the credential scope
    (``service`` is the signing name: ``sagemaker`` also for sagemaker-runtime, ``events``,
    ``s3``, ``sts``, ...; ``''`` when the request carried no credential).
    """

    access_key_id: str
    user_name: str
    account_id: str
    region: str
    service: str


@dataclass(frozen=True)
class KeyEntry:
    """One access key of the keys file; the secret is kept out of ``repr``/``str``."""

    secret_access_key: str = field(repr=False)
    user_name: str


@dataclass(frozen=True)
class SignedRequest:
    """The parts of an HTTP request a signature covers.

    ``raw_path`` is the path exactly as it arrived (still percent-encoded) plus ``?query`` if
    any; ``headers`` may be any mapping (Starlette ``Headers``, a plain dict in any case).
    """

    method: str
    raw_path: str
    headers: Mapping[str, str]
    body: bytes = b""

    @cached_property
    def header_lists(self) -> dict[str, list[str]]:
        """Every header under its lower-cased name, repeated headers kept in arrival order."""
        items: Any = self.headers.items()
        lists: dict[str, list[str]] = {}
        for name, value in items:
            lists.setdefault(name.lower(), []).append(value)
        return lists

    def header(self, name: str) -> str | None:
        """The (first) value of header ``name`` (lower case), or None."""
        value = self.headers.get(name)  # Starlette Headers and lower-cased dicts answer directly
        if value is None:
            values = self.header_lists.get(name)
            value = values[0] if values else None
        return value

    @property
    def path(self) -> str:
        return self.raw_path.partition("?")[0]

    @property
    def query(self) -> str:
        return self.raw_path.partition("?")[2]


class Authenticator(Protocol):
    """Turns a request into its :class:`Principal` or raises an ``AuthError`` (403)."""

    def authenticate(self, request: SignedRequest) -> Principal:
        """Return who sent ``request``; raise a ``modelreg.errors.AuthError`` if it is not authentic."""
        ...


def parse_authorization(header: str) -> tuple[str, str, str, str] | None:
    """``(access_key_id, yyyymmdd, region, service)`` of a SigV4 ``Authorization`` header, else None.

    Only parses; nothing is verified.
    """
    header = header.strip()
    m = _AUTH_HEADER_RE.match(header)
    if m is None:
        if not header.startswith(ALGORITHM) or not header[len(ALGORITHM) : len(ALGORITHM) + 1].isspace():
            return None
        m = _CREDENTIAL_ANYWHERE_RE.search(header, len(ALGORITHM))
        if m is None:
            return None
    return m.group(1), m.group(2), m.group(3), m.group(4)


def _parse_query_credential(query: str) -> tuple[str, str, str, str] | None:
    m = _QUERY_CREDENTIAL_RE.search(query)
    if m is None:
        return None
    c = _CREDENTIAL_RE.match(unquote(m.group(1)))
    if c is None:
        return None
    return c.group(1), c.group(2), c.group(3), c.group(4)


def is_region(name: str) -> bool:
    """Whether ``name`` can be a region: letters, digits and inner hyphens, 32 characters at most."""
    return _REGION_RE.fullmatch(name) is not None


def check_scope(access_key: str, region: str) -> None:
    """Refuse a credential scope whose region or access key id no AWS account could have (and no
    store column could hold): ``InvalidSignatureException`` or ``UnrecognizedClientException``."""
    if not is_region(region):
        raise InvalidSignatureException(f"Credential should be scoped to a valid region, not '{region}'.")
    if len(access_key) > MAX_ACCESS_KEY_LENGTH or not access_key.isprintable():
        raise UnrecognizedClientException(MSG_UNKNOWN_KEY)


class NoAuth:
    """``--auth none`` (loopback only): never verifies; the access key id is the user name.

    The credential scope of the ``Authorization`` header (or of a presigned URL's
    ``X-Amz-Credential``) gives access key, region and service; a request without one is
    ``anonymous`` in the default region.
    """

    def __init__(self, account_id: str, default_region: str = "us-east-1") -> None:
        self.account_id = account_id
        self.default_region = default_region
        self._anonymous = Principal(ANONYMOUS, ANONYMOUS, account_id, default_region, "")

    def authenticate(self, request: SignedRequest) -> Principal:
        """The caller named by the credential scope, or ``anonymous``. Verifies nothing; raises
        only for a scope no AWS credential could have (``check_scope``)."""
        header = request.header("authorization")
        scope = parse_authorization(header) if header else None
        if scope is None and "X-Amz-Credential=" in request.raw_path:
            scope = _parse_query_credential(request.query)
        if scope is None:
            return self._anonymous
        access_key, _, region, service = scope
        check_scope(access_key, region)
        return Principal(access_key, access_key, self.account_id, region, service)
