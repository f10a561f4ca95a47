"""EventBridge connections and API destinations: where and how modelreg delivers webhooks.

A connection (NamedResource kind ``connection``, ARN ``connection/<name>/<uuid>``) holds the
DescribeConnection members plus ``AuthParameters`` exactly as sent, secrets included: the delivery
worker signs requests with them. No response ever carries a secret: Describe, List and every other
answer leave out ``Password``, ``ApiKeyValue``, ``ClientSecret`` and the ``Value`` of header, query
string and body parameters marked ``IsValueSecret``, as EventBridge leaves them out. EventBridge keeps
the secrets in Secrets Manager and answers a ``SecretArn``; modelreg keeps them in its own store and
has no ``SecretArn`` to give.

An API destination (kind ``api-destination``, ARN ``api-destination/<name>/<uuid>``) holds the
DescribeApiDestination members. Unlike EventBridge, modelreg also accepts ``http://`` endpoints, so a
webhook on the same machine or network works without TLS.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from modelreg import arns
from modelreg.aws.dispatch import RequestContext, operation
from modelreg.errors import ResourceAlreadyExistsException, ResourceNotFoundException, ValidationException
from modelreg.events.rules import API_DESTINATION, events_arn, page_by_name, pick
from modelreg.sagemaker.common import us_to_epoch
from modelreg.store.base import DuplicateKey, Transaction
from modelreg.store.rows import NamedResource

CONNECTION = "connection"
_AUTH_MEMBER = {
    "BASIC": "BasicAuthParameters",
    "API_KEY": "ApiKeyAuthParameters",
    "OAUTH_CLIENT_CREDENTIALS": "OAuthParameters",
}
_SECRET_MEMBERS = frozenset({"Password", "ApiKeyValue", "ClientSecret"})
_MERGED_MEMBERS = frozenset({*_AUTH_MEMBER.values(), "ClientParameters"})
_CONNECTION_SUMMARY = (
    "ConnectionArn",
    "Name",
    "ConnectionState",
    "StateReason",
    "AuthorizationType",
    "CreationTime",
    "LastModifiedTime",
    "LastAuthorizedTime",
)
_CONNECTION_TIMES = (
    "ConnectionArn",
    "ConnectionState",
    "CreationTime",
    "LastModifiedTime",
    "LastAuthorizedTime",
)
_DESTINATION_SUMMARY = (
    "ApiDestinationArn",
    "Name",
    "ApiDestinationState",
    "ConnectionArn",
    "InvocationEndpoint",
    "HttpMethod",
    "InvocationRateLimitPerSecond",
    "CreationTime",
    "LastModifiedTime",
)
_DESTINATION_TIMES = ("ApiDestinationArn", "ApiDestinationState", "CreationTime", "LastModifiedTime")
DEFAULT_RATE_LIMIT = 300  # invocations per second, EventBridge's default


def public_auth_parameters(auth: dict[str, Any]) -> dict[str, Any]:
    """AuthParameters as DescribeConnection answers them: every secret value left out."""

    def scrub(node: Any) -> Any:
        if isinstance(node, dict):
            secret_value = bool(node.get("IsValueSecret"))
            return {
                k: scrub(v)
                for k, v in node.items()
                if k not in _SECRET_MEMBERS and not (secret_value and k == "Value")
            }
        if isinstance(node, list):
            return [scrub(item) for item in node]
        return node

    return scrub(auth)


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """UpdateConnection's AuthParameters over the stored ones: the auth structures merge member by
    member (send only the new Password); parameter lists are replaced whole."""
    merged = dict(old)
    for key, value in new.items():
        if key in _MERGED_MEMBERS and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _check_auth(auth_type: str, auth: dict[str, Any]) -> None:
    wanted = _AUTH_MEMBER[auth_type]
    if wanted not in auth:
        raise ValidationException(
            f"Parameter(s) AuthParameters.{wanted} must be specified for AuthorizationType {auth_type}."
        )
    for other in set(_AUTH_MEMBER.values()) - {wanted}:
        if other in auth:
            raise ValidationException(
                f"Parameter AuthParameters.{other} is not valid for AuthorizationType {auth_type}: "
                f"send {wanted} only."
            )
    if auth.get("ConnectivityParameters") is not None:
        raise ValidationException(
            "modelreg does not support private connectivity (VPC Lattice resource configurations): "
            "AuthParameters.ConnectivityParameters cannot be used."
        )


def _no_private_connectivity(params: dict[str, Any]) -> None:
    if params.get("InvocationConnectivityParameters") is not None:
        raise ValidationException(
            "modelreg does not support private connectivity (VPC Lattice resource configurations): "
            "InvocationConnectivityParameters cannot be used."
        )


def _connection_not_found(name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(
        f"Failed to describe the connection(s). Connection '{name}' does not exist."
    )


def get_connection(
    tx: Transaction, ctx: RequestContext, name: str, *, for_update: bool = False
) -> NamedResource:
    row = tx.get_resource(ctx.region, CONNECTION, name, for_update=for_update)
    if row is None:
        raise _connection_not_found(name)
    return row


def connection_by_arn(tx: Transaction, ctx: RequestContext, arn: str) -> NamedResource:
    parsed = arns.parse(arn)
    name = parsed.resource.split("/", 1)[0] if parsed else arn
    row = None
    if parsed and parsed.region == ctx.region and parsed.account == ctx.account:
        row = tx.get_resource(ctx.region, CONNECTION, name)
    if row is None or row.arn != arn:
        raise _connection_not_found(name)
    return row


def _describe_connection(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "AuthParameters": public_auth_parameters(body["AuthParameters"])}


# --------------------------------------------------------------------------- connections


@operation("events", "CreateConnection")
def create_connection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name, auth_type = params["Name"], params["AuthorizationType"]
    _check_auth(auth_type, params["AuthParameters"])
    _no_private_connectivity(params)
    arn = events_arn(ctx, f"{CONNECTION}/{name}/{uuid.uuid4()}")
    now = ctx.now_us()
    body = {
        "ConnectionArn": arn,
        "Name": name,
        "Description": params.get("Description"),
        "ConnectionState": "AUTHORIZED",
        "AuthorizationType": auth_type,
        "KmsKeyIdentifier": params.get("KmsKeyIdentifier"),
        "CreationTime": us_to_epoch(now),
        "LastModifiedTime": us_to_epoch(now),
        "LastAuthorizedTime": us_to_epoch(now),
        "AuthParameters": params["AuthParameters"],
    }
    body = {k: v for k, v in body.items() if v is not None}
    try:
        with ctx.store.write() as tx:
            tx.insert_resource(NamedResource(ctx.region, CONNECTION, name, arn, now, body))
    except DuplicateKey:
        raise ResourceAlreadyExistsException(f"Connection {name} already exists.") from None
    return pick(body, _CONNECTION_TIMES)


@operation("events", "DescribeConnection")
def describe_connection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as tx:
        return _describe_connection(get_connection(tx, ctx, params["Name"]).body)


@operation("events", "ListConnections")
def list_connections(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    state = params.get("ConnectionState")
    with ctx.store.read() as tx:
        rows, token = page_by_name(
            tx,
            ctx,
            CONNECTION,
            params,
            prefix=params.get("NamePrefix"),
            keep=None if state is None else lambda r: r.body["ConnectionState"] == state,
        )
    return {"Connections": [pick(r.body, _CONNECTION_SUMMARY) for r in rows], "NextToken": token}


@operation("events", "UpdateConnection")
def update_connection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _no_private_connectivity(params)
    with ctx.store.write() as tx:
        row = get_connection(tx, ctx, params["Name"], for_update=True)
        body = row.body
        auth_type = params.get("AuthorizationType") or body["AuthorizationType"]
        auth = body["AuthParameters"]
        if auth_type != body["AuthorizationType"]:  # a new kind of auth replaces the old one whole
            auth = {k: v for k, v in auth.items() if k not in _AUTH_MEMBER.values()}
        auth = _merge(auth, params.get("AuthParameters") or {})
        _check_auth(auth_type, auth)
        now = us_to_epoch(ctx.now_us())
        body.update(AuthorizationType=auth_type, AuthParameters=auth, LastModifiedTime=now)
        for member in ("Description", "KmsKeyIdentifier"):
            if params.get(member) is not None:
                body[member] = params[member]
        if params.get("AuthParameters") or body["ConnectionState"] != "AUTHORIZED":
            body.update(ConnectionState="AUTHORIZED", LastAuthorizedTime=now)
        tx.update_resource(row)
    return pick(body, _CONNECTION_TIMES)


@operation("events", "DeauthorizeConnection")
def deauthorize_connection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Forget the connection's credentials (Password, ApiKeyValue, ClientSecret and the OAuth
    parameters' secret values), as EventBridge removes them; InvocationHttpParameters stay.
    UpdateConnection with new AuthParameters authorizes the connection again."""
    with ctx.store.write() as tx:
        row = get_connection(tx, ctx, params["Name"], for_update=True)
        auth = row.body["AuthParameters"]
        row.body.update(
            AuthParameters={
                k: public_auth_parameters(v) if k in _AUTH_MEMBER.values() else v for k, v in auth.items()
            },
            ConnectionState="DEAUTHORIZED",
            LastModifiedTime=us_to_epoch(ctx.now_us()),
        )
        tx.update_resource(row)
    return pick(row.body, _CONNECTION_TIMES)


@operation("events", "DeleteConnection")
def delete_connection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.write() as tx:
        row = get_connection(tx, ctx, params["Name"], for_update=True)
        assert row.id is not None
        tx.delete_resource(row.id)
    return {**pick(row.body, _CONNECTION_TIMES), "ConnectionState": "DELETING"}


# --------------------------------------------------------------------------- API destinations


def _destination_not_found(name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(
        f"Failed to describe the api-destination(s). An api-destination '{name}' does not exist."
    )


def get_api_destination(
    tx: Transaction, ctx: RequestContext, name: str, *, for_update: bool = False
) -> NamedResource:
    row = tx.get_resource(ctx.region, API_DESTINATION, name, for_update=for_update)
    if row is None:
        raise _destination_not_found(name)
    return row


def _check_endpoint(url: str, action: str) -> None:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValidationException(
            f"Failed to {action} the api-destination(s). Parameter InvocationEndpoint is not valid. "
            f"Reason: Endpoint '{url}' is invalid, please provide a valid HTTP or HTTPS endpoint URL."
        )


@operation("events", "CreateApiDestination")
def create_api_destination(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["Name"]
    _check_endpoint(params["InvocationEndpoint"], "create")
    arn = events_arn(ctx, f"{API_DESTINATION}/{name}/{uuid.uuid4()}")
    now = ctx.now_us()
    body = {
        "ApiDestinationArn": arn,
        "Name": name,
        "Description": params.get("Description"),
        "ApiDestinationState": "ACTIVE",
        "ConnectionArn": params["ConnectionArn"],
        "InvocationEndpoint": params["InvocationEndpoint"],
        "HttpMethod": params["HttpMethod"],
        "InvocationRateLimitPerSecond": params.get("InvocationRateLimitPerSecond") or DEFAULT_RATE_LIMIT,
        "CreationTime": us_to_epoch(now),
        "LastModifiedTime": us_to_epoch(now),
    }
    body = {k: v for k, v in body.items() if v is not None}
    exists = ResourceAlreadyExistsException(f"An api-destination '{name}' already exists.")
    try:
        with ctx.store.write() as tx:
            if tx.get_resource(ctx.region, API_DESTINATION, name) is not None:
                raise exists
            connection_by_arn(tx, ctx, params["ConnectionArn"])
            tx.insert_resource(NamedResource(ctx.region, API_DESTINATION, name, arn, now, body))
    except DuplicateKey:  # created concurrently
        raise exists from None
    return pick(body, _DESTINATION_TIMES)


@operation("events", "DescribeApiDestination")
def describe_api_destination(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as tx:
        return get_api_destination(tx, ctx, params["Name"]).body


@operation("events", "ListApiDestinations")
def list_api_destinations(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    connection = params.get("ConnectionArn")
    with ctx.store.read() as tx:
        rows, token = page_by_name(
            tx,
            ctx,
            API_DESTINATION,
            params,
            prefix=params.get("NamePrefix"),
            keep=None if connection is None else lambda r: r.body["ConnectionArn"] == connection,
        )
    return {"ApiDestinations": [pick(r.body, _DESTINATION_SUMMARY) for r in rows], "NextToken": token}


@operation("events", "UpdateApiDestination")
def update_api_destination(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("InvocationEndpoint") is not None:
        _check_endpoint(params["InvocationEndpoint"], "update")
    with ctx.store.write() as tx:
        row = get_api_destination(tx, ctx, params["Name"], for_update=True)
        if params.get("ConnectionArn") is not None:
            connection_by_arn(tx, ctx, params["ConnectionArn"])
        for member in (
            "Description",
            "ConnectionArn",
            "InvocationEndpoint",
            "HttpMethod",
            "InvocationRateLimitPerSecond",
        ):
            if params.get(member) is not None:
                row.body[member] = params[member]
        row.body["LastModifiedTime"] = us_to_epoch(ctx.now_us())
        tx.update_resource(row)
    return pick(row.body, _DESTINATION_TIMES)


@operation("events", "DeleteApiDestination")
def delete_api_destination(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.write() as tx:
        row = get_api_destination(tx, ctx, params["Name"], for_update=True)
        assert row.id is not None
        tx.delete_resource(row.id)
    return {}
