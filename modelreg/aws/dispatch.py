"""The operation registry: ``@operation("sagemaker", "CreateModelPackage")`` marks a handler.

A handler is ``def handler(ctx: RequestContext, params: dict) -> dict``: it gets the validated
request members (PascalCase, as sent) and returns the response members (PascalCase, timestamps as
epoch-second floats). It raises ``modelreg.errors.ServiceError`` subclasses for client errors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelreg.aws.auth import Principal
from modelreg.config import Settings
from modelreg.store.base import Store

Handler = Callable[["RequestContext", dict[str, Any]], dict[str, Any]]

_HANDLERS: dict[tuple[str, str], Handler] = {}


@dataclass
class Signals:
    """What background workers of one server want to hear from handlers after a commit."""

    endpoint_changed: list[Callable[[], None]] = field(default_factory=list)
    metrics_pending: list[Callable[[], None]] = field(default_factory=list)

    def fire_endpoint_changed(self) -> None:
        """An endpoint's desired state changed: the reconciler should look now."""
        for listener in self.endpoint_changed:
            listener()

    def fire_metrics_pending(self) -> None:
        """Metrics files were recorded for reading: the metrics ingester should look now."""
        for listener in self.metrics_pending:
            listener()


@dataclass
class RequestContext:
    """What a handler knows about the request beyond its members."""

    principal: Principal
    request_id: str
    settings: Settings
    store: Store
    service: str = "sagemaker"
    operation: str = ""
    user_agent: str = ""
    signals: Signals = field(default_factory=Signals)

    @property
    def region(self) -> str:
        return self.principal.region

    @property
    def account(self) -> str:
        return self.settings.account_id

    @staticmethod
    def now_us() -> int:
        return time.time_ns() // 1000

    def user_context(self) -> dict[str, Any]:
        """The caller as SageMaker's ``UserContext`` (CreatedBy / LastModifiedBy)."""
        p = self.principal
        return {
            "UserProfileName": p.user_name,
            "IamIdentity": {
                "Arn": f"arn:aws:iam::{self.account}:user/{p.user_name}",
                "PrincipalId": p.access_key_id,
            },
        }


def operation(service: str, name: str) -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``service``'s operation ``name`` (the botocore operation name)."""

    def register(handler: Handler) -> Handler:
        if (service, name) in _HANDLERS:
            raise RuntimeError(f"{service}.{name} registered twice")
        _HANDLERS[(service, name)] = handler
        return handler

    return register


def lookup(service: str, name: str) -> Handler | None:
    return _HANDLERS.get((service, name))


def implemented() -> dict[tuple[str, str], Handler]:
    """Every registered (service, operation) and its handler."""
    return dict(_HANDLERS)
