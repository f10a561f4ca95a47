"""The botocore service models: the spec of every operation modelreg speaks."""

from __future__ import annotations

from functools import cache

import botocore.session
from botocore.model import OperationModel, ServiceModel

#: X-Amz-Target prefix -> botocore service name
TARGET_PREFIXES = {"SageMaker": "sagemaker", "AWSEvents": "events"}


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def service_model(service: str) -> ServiceModel:
    """The botocore model of ``service`` ('sagemaker', 'events', 'sagemaker-runtime', ...)."""
    return _session().get_service_model(service)


@cache
def operation_model(service: str, operation: str) -> OperationModel | None:
    """The operation's model, or None when the service has no such operation."""
    model = service_model(service)
    if operation not in model.operation_names:
        return None
    return model.operation_model(operation)


@cache
def output_members(service: str, operation: str) -> frozenset[str]:
    """Top-level member names of the operation's output shape (empty when it has none)."""
    op = operation_model(service, operation)
    if op is None or op.output_shape is None:
        return frozenset()
    return frozenset(op.output_shape.members)
