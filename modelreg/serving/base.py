"""The ServingBackend contract: run the workers of an endpoint's variants and route invocations.

The reconciler (``modelreg.serving.reconciler``) is the only caller of ``deploy`` / ``undeploy``;
the sagemaker-runtime route calls ``invoke``. A backend keeps the live routing table in memory:
``deploy`` readies every worker of the new change BEFORE it switches traffic to them, and stops
the workers the change no longer needs only after their in-flight requests finished, so an update
drops no request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


class DeployError(Exception):
    """A change could not be deployed; ``str(error)`` is the endpoint's FailureReason."""


class EndpointNotFound(Exception):
    """No workers serve this endpoint in this server."""


class VariantNotFound(Exception):
    """The requested TargetVariant is not a variant of the endpoint."""


@dataclass(frozen=True)
class ContainerSpec:
    image: str
    model_data_url: str | None
    environment: Mapping[str, str]
    #: the resource the artifact digest is recorded against (model package version or model)
    owner_arn: str
    #: SHA-256 the artifact must have (recorded at its first deployment); None: record it now
    expected_sha256: str | None = None


@dataclass(frozen=True)
class VariantSpec:
    name: str
    weight: float
    instance_count: int
    containers: Sequence[ContainerSpec]
    startup_timeout_seconds: float = 60.0


@dataclass
class Invocation:
    body: bytes
    content_type: str
    accept: str
    custom_attributes: str | None = None
    target_variant: str | None = None


@dataclass
class InvocationResult:
    status: int  # the worker's HTTP status: 200, or the model's error status
    body: bytes
    content_type: str
    variant: str
    custom_attributes: str | None = None


@dataclass
class WorkerInfo:
    variant: str
    pid: int
    address: str
    change: int
    extra: dict[str, str] = field(default_factory=dict)


class ServingBackend(Protocol):
    async def deploy(
        self, endpoint: str, change: int, variants: Sequence[VariantSpec]
    ) -> dict[tuple[str, str], str]:
        """Make ``variants`` serve ``endpoint`` as change ``change``; returns the SHA-256 of every
        artifact by (owner ARN, URI). Raises ``DeployError`` and leaves the previous change serving."""

    def running_change(self, endpoint: str) -> int | None:
        """The change that serves ``endpoint`` here, or None."""

    def endpoints(self) -> list[str]: ...

    async def undeploy(self, endpoint: str) -> None:
        """Stop every worker of ``endpoint`` (after in-flight requests finish)."""

    async def invoke(self, endpoint: str, invocation: Invocation) -> InvocationResult:
        """Send one request to a worker of a variant chosen by weight (or by ``target_variant``).
        Raises ``EndpointNotFound`` / ``VariantNotFound``."""

    def workers(self, endpoint: str) -> list[WorkerInfo]: ...

    async def heal(self) -> None:
        """Replace workers that died (a model that crashed its process)."""

    async def close(self) -> None:
        """Stop every worker."""
