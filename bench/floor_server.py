"""The bench's ``floor`` system: the least a SageMaker registry server in Python can do per call.

It runs on modelreg's HTTP stack (uvicorn with httptools and uvloop, access log off, no proxy
headers) and answers the five calls the registry workloads make, in AWS JSON 1.1, from plain
dicts in memory: no validation, no storage, no history, no events, no signature parsing. Its
CPU per call is what any Python registry on this stack spends before it does any work of its
own, so it bounds from below what modelreg can reach on this machine; its throughput with 8
boto3 clients bounds from above what the machine's cores allow beside those clients. Its
answers are right (latest approved is checked like every system's).

    python bench/floor_server.py PORT
"""

from __future__ import annotations

import sys
import time
import uuid
from typing import Any

import orjson
import uvicorn

ACCOUNT = "123456789012"
REGION = "us-east-1"

groups: dict[str, list[dict[str, Any]]] = {}
packages: dict[str, dict[str, Any]] = {}


def _arn(group: str, version: int) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{group}/{version}"


def create_group(body: dict[str, Any]) -> dict[str, Any]:
    name = body["ModelPackageGroupName"]
    groups.setdefault(name, [])
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/{name.lower()}"
    return {"ModelPackageGroupArn": arn}


def create_package(body: dict[str, Any]) -> dict[str, Any]:
    group = body.pop("ModelPackageGroupName")
    versions = groups[group]
    arn = _arn(group, len(versions) + 1)
    body.pop("ClientToken", None)
    package = {
        **body,
        "ModelPackageGroupName": group,
        "ModelPackageVersion": len(versions) + 1,
        "ModelPackageArn": arn,
        "CreationTime": time.time(),
        "ModelPackageStatus": "Completed",
    }
    versions.append(package)
    packages[arn] = package
    return {"ModelPackageArn": arn}


def describe_package(body: dict[str, Any]) -> dict[str, Any]:
    return packages[body["ModelPackageName"]]


def update_package(body: dict[str, Any]) -> dict[str, Any]:
    package = packages[body["ModelPackageArn"]]
    package.update(body)
    package["LastModifiedTime"] = time.time()
    return {"ModelPackageArn": package["ModelPackageArn"]}


SUMMARY_MEMBERS = ("ModelPackageGroupName", "ModelPackageVersion", "ModelPackageArn")


def list_packages(body: dict[str, Any]) -> dict[str, Any]:
    status = body.get("ModelApprovalStatus")
    for package in reversed(groups.get(body["ModelPackageGroupName"], [])):
        if status is None or package.get("ModelApprovalStatus") == status:
            summary = {k: package[k] for k in SUMMARY_MEMBERS}
            summary.update(CreationTime=package["CreationTime"], ModelPackageStatus="Completed")
            summary["ModelApprovalStatus"] = package.get("ModelApprovalStatus", "PendingManualApproval")
            return {"ModelPackageSummaryList": [summary]}
    return {"ModelPackageSummaryList": []}


OPERATIONS = {
    b"SageMaker.CreateModelPackageGroup": create_group,
    b"SageMaker.CreateModelPackage": create_package,
    b"SageMaker.DescribeModelPackage": describe_package,
    b"SageMaker.UpdateModelPackage": update_package,
    b"SageMaker.ListModelPackages": list_packages,
}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    target = dict(scope["headers"]).get(b"x-amz-target", b"")
    if scope["path"] == "/healthz":
        status, answer = 200, b"{}"
    elif target not in OPERATIONS:
        status, answer = 400, b'{"__type":"UnknownOperationException"}'
    else:
        status, answer = 200, orjson.dumps(OPERATIONS[target](orjson.loads(body)))
    headers = [
        (b"content-type", b"application/x-amz-json-1.1"),
        (b"content-length", str(len(answer)).encode()),
        (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        http="httptools",
        loop="uvloop",
        log_level="warning",
        access_log=False,
        lifespan="off",
        proxy_headers=False,
    )
