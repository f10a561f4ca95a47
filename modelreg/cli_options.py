"""What the CLI commands that talk to a running server share: its address, the region, and the
call to modelreg's ``/api`` (signed with the caller's AWS credentials when there are some)."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import click

from modelreg.config import DEFAULT_PORT, env

endpoint_option = click.option(
    "--endpoint",
    default=lambda: env("ENDPOINT", f"http://127.0.0.1:{DEFAULT_PORT}"),
    show_default=f"http://127.0.0.1:{DEFAULT_PORT}",
    help="The modelreg server. [env MODELREG_ENDPOINT]",
)

region_option = click.option(
    "--region",
    default=None,
    help="Region of the model package group. Default: the server's default region.",
)


def call_api(
    method: str,
    endpoint: str,
    path: str,
    body: bytes = b"",
    region: str | None = None,
    *,
    query: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, Any]:
    """``method`` ``/api/...`` on the server at ``endpoint``: (status, decoded JSON or None). An
    error answer (4xx/5xx) or an unreachable server is a ``ClickException`` with the message."""
    import httpx

    from modelreg.api.client import api_request

    url = endpoint.rstrip("/") + path
    parameters = {**(query or {}), **({"region": region} if region else {})}
    if parameters:
        url += "?" + urllib.parse.urlencode(parameters)
    try:
        response = api_request(method, url, body, timeout=timeout)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach modelreg at {endpoint}: {exc}") from None
    status, raw = response.status_code, response.text.encode()
    try:
        decoded = json.loads(raw) if raw else None
    except ValueError:
        decoded = None
    if status >= 400:
        message = decoded.get("message") if isinstance(decoded, dict) else raw.decode(errors="replace")
        raise click.ClickException(message or f"HTTP {status}")
    return status, decoded


def quoted(name: str) -> str:
    """A resource name as one path segment."""
    return urllib.parse.quote(name, safe="")
