"""Helpers for the metrics tests: metrics files in moto's S3, registration with ModelMetrics, and
waiting (with a deadline) until a version's metrics files have been read."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from tests.artifacts.moto_server import MotoServer
from tests.server import Server

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def inference(image: str = IMAGE, model_data: str = "s3://models/fraud/model.tar.gz", **extra: Any) -> dict:
    return {
        "Containers": [{"Image": image, "ModelDataUrl": model_data}],
        "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"],
        **extra,
    }


def sagemaker_format(**metrics: float) -> dict[str, Any]:
    """Model quality statistics as SageMaker Model Monitor / Clarify write them."""
    return {
        "version": 0.0,
        "dataset": {"item_count": 1000},
        "binary_classification_metrics": {
            name: {"value": value, "standard_deviation": 0.01} for name, value in metrics.items()
        }
        | {"confusion_matrix": {"0": {"0": 800, "1": 20}, "1": {"0": 30, "1": 150}}},
    }


class Files:
    """Writes files into a moto bucket and gives their s3:// URIs."""

    def __init__(self, moto: MotoServer, bucket: str) -> None:
        self.s3, self.bucket, self.count = moto.s3(), bucket, 0

    def put(self, content: dict[str, Any] | bytes, name: str = "metrics.json") -> str:
        self.count += 1
        key = f"evaluation/{self.count}/{name}"
        body = content if isinstance(content, bytes) else json.dumps(content).encode()
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        return f"s3://{self.bucket}/{key}"


def statistics(uri: str, content_type: str = "application/json", **extra: Any) -> dict[str, Any]:
    """``ModelMetrics`` with ``uri`` as ModelQuality.Statistics."""
    return {"ModelQuality": {"Statistics": {"ContentType": content_type, "S3Uri": uri, **extra}}}


def register(sm, group: str, metrics_uri: str | None = None, **extra: Any) -> int:
    """Register a version (its metrics file at ``metrics_uri``); its version number."""
    extra.setdefault("InferenceSpecification", inference())
    if metrics_uri is not None:
        extra["ModelMetrics"] = statistics(metrics_uri)
    arn = sm.create_model_package(ModelPackageGroupName=group, **extra)["ModelPackageArn"]
    return int(arn.rsplit("/", 1)[1])


def metrics_url(server: Server, group: str, version: int) -> str:
    return f"{server.url}/api/model-packages/{group}/{version}/metrics"


def wait_read(server: Server, group: str, version: int, timeout: float = 15.0) -> dict[str, Any]:
    """The version's metrics answer once no file of it is pending any more."""
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.get(metrics_url(server, group, version)).json()
        if answer["metricsStatus"] != "pending":
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"metrics of {group}/{version} still pending after {timeout}s: {answer}")
        time.sleep(0.02)
