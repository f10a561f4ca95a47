"""The JSON 1.1 wire as botocore and raw HTTP clients see it: answers, errors, never a 5xx for bad input."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator

import httpx
import pytest
from botocore.exceptions import ClientError

from modelreg.aws.protocol import MAX_REQUEST_BYTES

HEADERS = {
    "Content-Type": "application/x-amz-json-1.1",
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDRAW/20261126/us-east-1/sagemaker/aws4_request, "
    "SignedHeaders=host, Signature=" + "0" * 64,
}


#: a version number past what a group can hand out (and past 64 bits)
FAR_VERSION = b"arn:aws:sagemaker:us-east-1:123456789012:model-package/g/99999999999999999999"


def raw(server, target: str | None, body: bytes | str, **headers: str) -> httpx.Response:
    h = dict(HEADERS)
    if target is not None:
        h["X-Amz-Target"] = target
    h.update(headers)
    return httpx.post(server.url + "/", content=body, headers=h)


def test_success_carries_request_id_and_json_content_type(server) -> None:
    r = raw(server, "SageMaker.ListModelPackageGroups", b"{}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-amz-json-1.1"
    assert len(r.headers["x-amzn-requestid"]) == 36
    assert "ModelPackageGroupSummaryList" in r.json()


@pytest.mark.parametrize(
    ("target", "body", "headers", "code"),
    [
        ("SageMaker.ListModelPackageGroups", b"{not json", {}, "SerializationException"),
        ("SageMaker.ListModelPackageGroups", b"[1, 2]", {}, "SerializationException"),
        ("SageMaker.ListModelPackageGroups", b"\xff\xfe", {}, "SerializationException"),
        ("SageMaker.ListModelPackageGroups", b"{}", {"Content-Type": "text/plain"}, "SerializationException"),
        ("SageMaker.NoSuchOperation", b"{}", {}, "UnknownOperationException"),
        ("Bogus.ListModelPackageGroups", b"{}", {}, "UnknownOperationException"),
        ("SageMaker.CreateTrainingJob", b"{}", {}, "UnknownOperationException"),
        (None, b"{}", {}, "UnknownOperationException"),
        (
            "SageMaker.DescribeModelPackageGroup",
            b'{"ModelPackageGroupName": 5}',
            {},
            "SerializationException",
        ),
        ("SageMaker.DescribeModelPackageGroup", b"{}", {}, "ValidationException"),
        ("SageMaker.ListModelPackageGroups", b'{"MaxResults": 500}', {}, "ValidationException"),
        ("SageMaker.ListModelPackageGroups", b'{"NextToken": "garbage"}', {}, "ValidationException"),
        (
            "SageMaker.ListModelPackageGroups",
            b'{"CreationTimeAfter": "yesterday"}',
            {},
            "SerializationException",
        ),
        # timestamps past what a timestamp can be (years 1-9999), on every kind of listing
        ("SageMaker.ListModelPackageGroups", b'{"CreationTimeAfter": 1e300}', {}, "SerializationException"),
        ("SageMaker.ListModelPackages", b'{"CreationTimeAfter": 1e20}', {}, "SerializationException"),
        ("SageMaker.ListModelPackages", b'{"CreationTimeBefore": -1e20}', {}, "SerializationException"),
        ("SageMaker.ListArtifacts", b'{"CreatedAfter": Infinity}', {}, "SerializationException"),
        ("SageMaker.ListActions", b'{"CreatedAfter": NaN}', {}, "SerializationException"),
        # not JSON by RFC 8259, although Python's parser takes them; a stored NaN would be written as null
        (
            "SageMaker.CreateModelPackageGroup",
            b'{"ModelPackageGroupName": "g", "x": NaN}',
            {},
            "SerializationException",
        ),
        ("SageMaker.ListModelPackageGroups", b'{"MaxResults": 1e400}', {}, "SerializationException"),
        # an escape that leaves a lone UTF-16 surrogate: no store or response can hold it (was a 500)
        (
            "SageMaker.CreateModelPackageGroup",
            b'{"ModelPackageGroupName": "g", "ModelPackageGroupDescription": "a\\ud800b"}',
            {},
            "SerializationException",
        ),
        (
            "SageMaker.DescribeModelPackageGroup",
            b'{"ModelPackageGroupName": "\\uDFFF"}',
            {},
            "SerializationException",
        ),
        (
            "SageMaker.ListAssociations",
            b'{"CreatedBefore": "10000-01-01T00:00:00Z"}',
            {},
            "SerializationException",
        ),
        # nested deeper than the parser's recursion (was a 500)
        (
            "SageMaker.ListModelPackageGroups",
            b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            {},
            "SerializationException",
        ),
        (
            "SageMaker.PutModelPackageGroupPolicy",
            b'{"ModelPackageGroupName": "g", "ResourcePolicy": "' + b"[" * 3000 + b"]" * 3000 + b'"}',
            {},
            "ValidationException",
        ),
        (
            "SageMaker.ListModelPackages",
            b'{"NextToken": "' + base64.urlsafe_b64encode(b"[" * 3000 + b"]" * 3000) + b'"}',
            {},
            "ValidationException",
        ),
        # a version number no group can reach
        (
            "SageMaker.UpdateModelPackage",
            b'{"ModelPackageArn": "' + FAR_VERSION + b'", "ModelApprovalStatus": "Approved"}',
            {},
            "ValidationException",
        ),
    ],
)
def test_bad_requests_get_a_clear_4xx(server, target, body, headers, code) -> None:
    r = raw(server, target, body, **headers)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["__type"] == code
    assert r.headers["x-amzn-errortype"] == code
    assert r.json()["message"]


def test_a_version_no_group_can_reach_is_one_that_does_not_exist(server) -> None:
    r = raw(
        server, "SageMaker.BatchDescribeModelPackage", b'{"ModelPackageArnList": ["' + FAR_VERSION + b'"]}'
    )
    assert r.status_code == 200
    assert r.json()["BatchDescribeModelPackageErrorMap"][FAR_VERSION.decode()]["ErrorResponse"].endswith(
        "does not exist."
    )


def test_unimplemented_operation_is_not_retried(sm) -> None:
    calls = []
    sm.meta.events.register("before-send.sagemaker.*", lambda request, **kw: calls.append(request))
    with pytest.raises(ClientError) as exc:
        sm.describe_training_job(TrainingJobName="x")
    assert exc.value.response["Error"]["Code"] == "UnknownOperationException"
    assert "not implemented by modelreg" in exc.value.response["Error"]["Message"]
    assert len(calls) == 1


def test_validation_messages_are_worded_like_aws(sm) -> None:
    with pytest.raises(ClientError) as exc:
        sm.create_model_package_group(ModelPackageGroupName="x" * 64)
    assert exc.value.response["Error"]["Message"] == (
        "1 validation error detected: Value '" + "x" * 64 + "' at 'modelPackageGroupName' failed to satisfy "
        "constraint: Member must have length less than or equal to 63"
    )
    with pytest.raises(ClientError) as exc:
        sm.list_model_package_groups(MaxResults=500)
    assert exc.value.response["Error"]["Message"] == (
        "1 validation error detected: Value '500' at 'maxResults' failed to satisfy constraint: "
        "Member must have value less than or equal to 100"
    )


def test_sts_get_caller_identity_answers_in_xml(server) -> None:
    from tests.conftest import client

    sts = client(server.url, "sts", access_key="AKIDSTS")
    ident = sts.get_caller_identity()
    assert ident["Account"] == "123456789012"
    assert ident["UserId"] == "AKIDSTS"
    assert ident["Arn"] == "arn:aws:iam::123456789012:user/AKIDSTS"
    iam = client(server.url, "iam")
    with pytest.raises(ClientError) as exc:
        iam.get_role(RoleName="x")
    assert exc.value.response["Error"]["Code"] == "InvalidAction"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_healthz(server) -> None:
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}


def test_escaped_characters_outside_the_bmp_are_stored_as_sent(sm) -> None:
    """boto3 escapes every non-ASCII character (an emoji as a surrogate pair): it round-trips."""
    text = "Modèle de fraude \U0001f680 — v2 ✓"
    sm.create_model_package_group(ModelPackageGroupName="escaped-text", ModelPackageGroupDescription=text)
    described = sm.describe_model_package_group(ModelPackageGroupName="escaped-text")
    assert described["ModelPackageGroupDescription"] == text


def test_a_client_that_hangs_up_mid_body_is_not_a_server_failure(server) -> None:
    """Nothing to answer and nothing failed: no traceback in the log, and the server goes on."""
    port = int(server.url.rsplit(":", 1)[1])
    before = server.log().count("Traceback")
    for head in (
        b"POST / HTTP/1.1\r\nContent-Type: application/x-amz-json-1.1\r\n"
        b"X-Amz-Target: SageMaker.ListModelPackageGroups\r\n",
        b"POST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n",
        b"POST /api/model-package-groups/g/gc HTTP/1.1\r\n",
        b"PUT /api/model-package-groups/g/promotion-policy HTTP/1.1\r\n",
    ):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(head + b"Host: x\r\nContent-Length: 100\r\n\r\n{")
        assert httpx.get(server.url + "/healthz").status_code == 200  # answered after the hang-up
    assert server.log().count("Traceback") == before


def test_a_body_past_ten_mib_is_refused_before_it_is_read_whole(server, sm) -> None:
    """A client cannot make the server hold gigabytes: past ``MAX_REQUEST_BYTES`` the answer is a
    413, from the Content-Length or, for a chunked body, as soon as the limit is passed."""
    with pytest.raises(ClientError) as caught:  # boto3 checks no maximum length itself
        sm.create_model_package_group(
            ModelPackageGroupName="huge", ModelPackageGroupDescription="x" * MAX_REQUEST_BYTES
        )
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert caught.value.response["Error"]["Code"] == "RequestEntityTooLargeException"

    def chunks(n: int) -> Iterator[bytes]:
        for _ in range(n):
            yield b" " * (1024 * 1024)

    target = {
        "X-Amz-Target": "SageMaker.ListModelPackageGroups",
        "Content-Type": "application/x-amz-json-1.1",
    }
    answer = httpx.post(server.url, headers=target, content=chunks(11))  # chunked: no Content-Length
    assert answer.status_code == 413 and answer.json()["__type"] == "RequestEntityTooLargeException"
    answer = httpx.put(server.url + "/api/model-package-groups/huge/promotion-policy", content=chunks(11))
    assert answer.status_code == 413 and answer.json()["error"] == "RequestEntityTooLargeException"
    answer = httpx.post(server.url, headers=target, content=chunks(9))  # under the limit: read and parsed
    assert answer.status_code == 200
