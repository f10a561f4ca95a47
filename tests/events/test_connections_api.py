"""EventBridge connections and API destinations through boto3 against a live server."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.events.test_rules_api import stored

ACCOUNT = "123456789012"
SECRETS = ("pw-S3CRET", "key-S3CRET", "client-S3CRET", "header-S3CRET", "query-S3CRET", "body-S3CRET")
HTTP_PARAMS = {
    "HeaderParameters": [
        {"Key": "X-Team", "Value": "risk", "IsValueSecret": False},
        {"Key": "X-Signature", "Value": "header-S3CRET", "IsValueSecret": True},
    ],
    "QueryStringParameters": [{"Key": "token", "Value": "query-S3CRET", "IsValueSecret": True}],
    "BodyParameters": [{"Key": "extra", "Value": "body-S3CRET", "IsValueSecret": True}],
}
AUTH = {
    "BASIC": {"BasicAuthParameters": {"Username": "deployer", "Password": "pw-S3CRET"}},
    "API_KEY": {"ApiKeyAuthParameters": {"ApiKeyName": "X-Api-Key", "ApiKeyValue": "key-S3CRET"}},
    "OAUTH_CLIENT_CREDENTIALS": {
        "OAuthParameters": {
            "ClientParameters": {"ClientID": "ci", "ClientSecret": "client-S3CRET"},
            "AuthorizationEndpoint": "https://auth.example.com/oauth2/token",
            "HttpMethod": "POST",
            "OAuthHttpParameters": HTTP_PARAMS,
        }
    },
}


@pytest.fixture
def raw_bodies(server) -> Iterator[tuple[object, list[str]]]:
    """An events client and the raw text of every response it receives."""
    events = client(server.url, "events")
    bodies: list[str] = []
    events.meta.events.register(
        "after-call.events", lambda http_response, **_: bodies.append(http_response.text)
    )
    yield events, bodies


@pytest.fixture
def events(raw_bodies):
    return raw_bodies[0]


def error_of(exc_info: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc_info.value.response["Error"]
    return err["Code"], err["Message"]


def assert_no_secret(bodies: list[str]) -> None:
    assert bodies, "no response was captured"
    for body in bodies:
        for secret in SECRETS:
            assert secret not in body, f"{secret} leaked in {body}"


@pytest.mark.parametrize("auth_type", sorted(AUTH))
def test_secrets_are_stored_but_never_returned(server, raw_bodies, unique: str, auth_type: str) -> None:
    events, bodies = raw_bodies
    auth = {**AUTH[auth_type], "InvocationHttpParameters": HTTP_PARAMS}
    created = events.create_connection(
        Name=unique, AuthorizationType=auth_type, AuthParameters=auth, Description="ci webhook"
    )
    assert created["ConnectionArn"].startswith(f"arn:aws:events:us-east-1:{ACCOUNT}:connection/{unique}/")
    assert created["ConnectionState"] == "AUTHORIZED"
    described = events.describe_connection(Name=unique)
    assert described["Name"] == unique
    assert described["AuthorizationType"] == auth_type
    assert described["Description"] == "ci webhook"
    assert isinstance(described["LastAuthorizedTime"], dt.datetime)
    public = described["AuthParameters"]
    assert public["InvocationHttpParameters"] == {
        "HeaderParameters": [
            {"Key": "X-Team", "Value": "risk", "IsValueSecret": False},
            {"Key": "X-Signature", "IsValueSecret": True},
        ],
        "QueryStringParameters": [{"Key": "token", "IsValueSecret": True}],
        "BodyParameters": [{"Key": "extra", "IsValueSecret": True}],
    }
    expected = {
        "BASIC": {"BasicAuthParameters": {"Username": "deployer"}},
        "API_KEY": {"ApiKeyAuthParameters": {"ApiKeyName": "X-Api-Key"}},
        "OAUTH_CLIENT_CREDENTIALS": {
            "OAuthParameters": {
                "ClientParameters": {"ClientID": "ci"},
                "AuthorizationEndpoint": "https://auth.example.com/oauth2/token",
                "HttpMethod": "POST",
                "OAuthHttpParameters": public["InvocationHttpParameters"],
            }
        },
    }[auth_type]
    assert {k: v for k, v in public.items() if k != "InvocationHttpParameters"} == expected
    assert [c["Name"] for c in events.list_connections(NamePrefix=unique)["Connections"]] == [unique]
    kept = stored(server, "connection", unique)
    assert kept["AuthParameters"] == auth  # the delivery worker signs with the secrets
    assert {k: v for k, v in kept.items() if k != "AuthParameters"} == {
        k: pytest.approx(v.timestamp(), abs=1e-6) if isinstance(v, dt.datetime) else v
        for k, v in described.items()
        if k not in ("AuthParameters", "ResponseMetadata")
    }
    events.update_connection(Name=unique, Description="rotated", AuthParameters=AUTH[auth_type])
    events.describe_connection(Name=unique)
    events.deauthorize_connection(Name=unique)
    kept = stored(server, "connection", unique)
    assert kept["ConnectionState"] == "DEAUTHORIZED"
    assert kept["AuthParameters"] == {**public, "InvocationHttpParameters": HTTP_PARAMS}  # credentials gone
    events.delete_connection(Name=unique)
    assert len(bodies) == 7
    assert_no_secret(bodies)


def test_connection_lifecycle(events, unique: str) -> None:
    arn = events.create_connection(Name=unique, AuthorizationType="BASIC", AuthParameters=AUTH["BASIC"])[
        "ConnectionArn"
    ]
    with pytest.raises(ClientError) as exc:
        events.create_connection(Name=unique, AuthorizationType="API_KEY", AuthParameters=AUTH["API_KEY"])
    assert error_of(exc) == ("ResourceAlreadyExistsException", f"Connection {unique} already exists.")
    # a new password alone keeps the user name
    updated = events.update_connection(
        Name=unique, AuthParameters={"BasicAuthParameters": {"Password": "new-pw"}}
    )
    assert updated["ConnectionArn"] == arn and updated["ConnectionState"] == "AUTHORIZED"
    assert events.describe_connection(Name=unique)["AuthParameters"] == {
        "BasicAuthParameters": {"Username": "deployer"}
    }
    # switching the kind of auth needs the new kind's parameters
    with pytest.raises(ClientError) as exc:
        events.update_connection(Name=unique, AuthorizationType="API_KEY")
    assert error_of(exc) == (
        "ValidationException",
        "Parameter(s) AuthParameters.ApiKeyAuthParameters must be specified for AuthorizationType API_KEY.",
    )
    events.update_connection(Name=unique, AuthorizationType="API_KEY", AuthParameters=AUTH["API_KEY"])
    described = events.describe_connection(Name=unique)
    assert described["AuthorizationType"] == "API_KEY"
    assert described["AuthParameters"] == {"ApiKeyAuthParameters": {"ApiKeyName": "X-Api-Key"}}
    assert events.deauthorize_connection(Name=unique)["ConnectionState"] == "DEAUTHORIZED"
    assert (
        events.list_connections(NamePrefix=unique, ConnectionState="DEAUTHORIZED")["Connections"][0][
            "ConnectionArn"
        ]
        == arn
    )
    assert events.list_connections(NamePrefix=unique, ConnectionState="AUTHORIZED")["Connections"] == []
    events.update_connection(Name=unique, AuthParameters=AUTH["API_KEY"])
    assert events.describe_connection(Name=unique)["ConnectionState"] == "AUTHORIZED"
    deleted = events.delete_connection(Name=unique)
    assert (deleted["ConnectionArn"], deleted["ConnectionState"]) == (arn, "DELETING")
    for call in (
        lambda: events.describe_connection(Name=unique),
        lambda: events.delete_connection(Name=unique),
        lambda: events.update_connection(Name=unique, Description="x"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == (
            "ResourceNotFoundException",
            f"Failed to describe the connection(s). Connection '{unique}' does not exist.",
        )


def test_connection_auth_must_match_its_type(events, unique: str) -> None:
    with pytest.raises(ClientError) as exc:
        events.create_connection(Name=unique, AuthorizationType="BASIC", AuthParameters=AUTH["API_KEY"])
    assert error_of(exc) == (
        "ValidationException",
        "Parameter(s) AuthParameters.BasicAuthParameters must be specified for AuthorizationType BASIC.",
    )
    with pytest.raises(ClientError) as exc:
        events.create_connection(
            Name=unique, AuthorizationType="BASIC", AuthParameters={**AUTH["BASIC"], **AUTH["API_KEY"]}
        )
    assert error_of(exc)[0] == "ValidationException"
    with pytest.raises(ClientError) as exc:
        events.create_connection(Name=unique, AuthorizationType="DIGEST", AuthParameters=AUTH["BASIC"])
    assert error_of(exc) == (
        "ValidationException",
        "1 validation error detected: Value 'DIGEST' at 'authorizationType' failed to satisfy constraint: "
        "Member must satisfy enum value set: [BASIC, OAUTH_CLIENT_CREDENTIALS, API_KEY]",
    )
    with pytest.raises(ClientError):
        events.describe_connection(Name=unique)


def test_list_connections_pages(events, unique: str) -> None:
    names = [f"{unique}-{c}" for c in "cab"]
    for name in names:
        events.create_connection(Name=name, AuthorizationType="API_KEY", AuthParameters=AUTH["API_KEY"])
    first = events.list_connections(NamePrefix=unique, Limit=2)  # botocore has no paginator for it
    assert [c["Name"] for c in first["Connections"]] == sorted(names)[:2]
    rest = events.list_connections(NamePrefix=unique, Limit=2, NextToken=first["NextToken"])
    assert [c["Name"] for c in rest["Connections"]] == sorted(names)[2:] and "NextToken" not in rest
    summary = events.list_connections(NamePrefix=names[0])["Connections"][0]
    assert set(summary) == {
        "ConnectionArn",
        "Name",
        "ConnectionState",
        "AuthorizationType",
        "CreationTime",
        "LastModifiedTime",
        "LastAuthorizedTime",
    }


def test_api_destination_lifecycle(events, unique: str) -> None:
    conn = events.create_connection(Name=unique, AuthorizationType="API_KEY", AuthParameters=AUTH["API_KEY"])
    created = events.create_api_destination(
        Name=unique,
        Description="CI deploy hook",
        ConnectionArn=conn["ConnectionArn"],
        InvocationEndpoint="http://127.0.0.1:9000/hooks/deploy",
        HttpMethod="POST",
    )
    arn = created["ApiDestinationArn"]
    assert arn.startswith(f"arn:aws:events:us-east-1:{ACCOUNT}:api-destination/{unique}/")
    assert created["ApiDestinationState"] == "ACTIVE"
    described = events.describe_api_destination(Name=unique)
    described.pop("ResponseMetadata")
    assert described == {
        "ApiDestinationArn": arn,
        "Name": unique,
        "Description": "CI deploy hook",
        "ApiDestinationState": "ACTIVE",
        "ConnectionArn": conn["ConnectionArn"],
        "InvocationEndpoint": "http://127.0.0.1:9000/hooks/deploy",
        "HttpMethod": "POST",
        "InvocationRateLimitPerSecond": 300,
        "CreationTime": described["CreationTime"],
        "LastModifiedTime": described["LastModifiedTime"],
    }
    with pytest.raises(ClientError) as exc:
        events.create_api_destination(
            Name=unique,
            ConnectionArn=conn["ConnectionArn"],
            InvocationEndpoint="https://example.com/",
            HttpMethod="POST",
        )
    assert error_of(exc) == (
        "ResourceAlreadyExistsException",
        f"An api-destination '{unique}' already exists.",
    )
    events.update_api_destination(
        Name=unique,
        InvocationEndpoint="https://ci.example.com/hooks",
        HttpMethod="PUT",
        InvocationRateLimitPerSecond=5,
    )
    described = events.describe_api_destination(Name=unique)
    assert (
        described["InvocationEndpoint"],
        described["HttpMethod"],
        described["InvocationRateLimitPerSecond"],
    ) == (
        "https://ci.example.com/hooks",
        "PUT",
        5,
    )
    assert described["Description"] == "CI deploy hook"
    listed = events.list_api_destinations(ConnectionArn=conn["ConnectionArn"])["ApiDestinations"]
    assert [d["ApiDestinationArn"] for d in listed] == [arn]
    assert events.list_api_destinations(NamePrefix=unique + "-none")["ApiDestinations"] == []
    events.delete_api_destination(Name=unique)
    for call in (
        lambda: events.describe_api_destination(Name=unique),
        lambda: events.delete_api_destination(Name=unique),
        lambda: events.update_api_destination(Name=unique, HttpMethod="GET"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == (
            "ResourceNotFoundException",
            f"Failed to describe the api-destination(s). An api-destination '{unique}' does not exist.",
        )


def test_api_destination_errors(events, unique: str) -> None:
    conn = events.create_connection(Name=unique, AuthorizationType="API_KEY", AuthParameters=AUTH["API_KEY"])
    missing = conn["ConnectionArn"].replace(f"connection/{unique}/", f"connection/{unique}-gone/")
    with pytest.raises(ClientError) as exc:
        events.create_api_destination(
            Name=unique, ConnectionArn=missing, InvocationEndpoint="https://example.com/", HttpMethod="POST"
        )
    assert error_of(exc) == (
        "ResourceNotFoundException",
        f"Failed to describe the connection(s). Connection '{unique}-gone' does not exist.",
    )
    with pytest.raises(ClientError) as exc:
        events.create_api_destination(
            Name=unique,
            ConnectionArn=conn["ConnectionArn"],
            InvocationEndpoint="ftp://example.com/drop",
            HttpMethod="POST",
        )
    assert error_of(exc) == (
        "ValidationException",
        "Failed to create the api-destination(s). Parameter InvocationEndpoint is not valid. Reason: "
        "Endpoint 'ftp://example.com/drop' is invalid, please provide a valid HTTP or HTTPS endpoint URL.",
    )
    with pytest.raises(ClientError) as exc:
        events.create_api_destination(
            Name=unique,
            ConnectionArn=conn["ConnectionArn"],
            InvocationEndpoint="https://x/",
            HttpMethod="FETCH",
        )
    assert error_of(exc)[0] == "ValidationException"
    with pytest.raises(ClientError):
        events.describe_api_destination(Name=unique)
