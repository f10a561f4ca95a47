"""The operation registry: ``@operation("sagemaker", "CreateModelPackage")`` marks a handler.

A handler is ``def handler(ctx: RequestContext, params: dict) -> dict``: it gets the validated
request members (PascalCase, as sent) and returns the response members (PascalCase, timestamps as
epoch-second floats). It raises ``modelreg.errors.ServiceError`` subclasses for client errors.

Handlers run in a worker thread, except those registered with ``inline=True`` when the store is
local (SQLite): those run on the event loop, which saves a thread hand-off per request (a third
of a small write's CPU here). An inline handler may only use the store; if it finds it must do
other blocking I/O (read a metrics file, say), it raises ``NeedsThread`` before it has written
anything, and runs again in a worker thread. Its first write transaction waits at most
``LOOP_WAIT_SECONDS`` for another writer (the delivery worker's passes take a few ms); behind a
longer one (a replay, a cleanup) the handler runs again in a worker thread, so the event loop
never waits on a long transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from modelreg.aws.auth import Principal
from modelreg.config import Settings
from modelreg.store.base import Store, StoreBusy, Transaction

Handler = Callable[["RequestContext", dict[str, Any]], dict[str, Any]]

_HANDLERS: dict[tuple[str, str], Handler] = {}
#: how long an inline handler's first write may wait on the event loop for another writer
LOOP_WAIT_SECONDS = 0.005
_INLINE: set[tuple[str, str]] = set()


class NeedsThread(Exception):
    """Raised by a handler running on the event loop (``ctx.on_event_loop``) that is about to do
    blocking I/O other than the store; it must not have written anything yet."""


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
    def on_event_loop(self) -> bool:
        """True while the handler runs on the event loop (it then sees the store through a
        ``LoopStore``): it must raise ``NeedsThread`` before any blocking I/O other than the store."""
        return isinstance(self.store, LoopStore)

    def allow_blocking_io(self) -> None:
        """Call before blocking I/O other than the store (network, remote files)."""
        if self.on_event_loop:
            raise NeedsThread()

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


class LoopStore:
    """The store as an inline handler sees it: its first write transaction raises ``NeedsThread``
    rather than wait longer than ``LOOP_WAIT_SECONDS`` for another writer; later ones (after a
    commit) wait as usual."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._first_write = True
        self.url = store.url
        self.local = store.local

    def read(self, *, keep_connection: bool = True) -> AbstractContextManager[Transaction]:
        return self._store.read(keep_connection=keep_connection)

    @contextmanager
    def write(self, *, timeout: float | None = None) -> Iterator[Transaction]:
        first, self._first_write = self._first_write, False
        try:
            with self._store.write(timeout=LOOP_WAIT_SECONDS if first else timeout) as tx:
                yield tx
        except StoreBusy:  # only entering can raise it: nothing was written
            raise NeedsThread() from None

    def on_commit(self, listener: Callable[[], None]) -> None:
        self._store.on_commit(listener)

    def close(self) -> None:
        self._store.close()


def operation(service: str, name: str, *, inline: bool = False) -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``service``'s operation ``name`` (the botocore operation name).

    ``inline``: the handler is short and uses only the store (see the module docstring), so it may
    run on the event loop when the store is local."""

    def register(handler: Handler) -> Handler:
        if (service, name) in _HANDLERS:
            raise RuntimeError(f"{service}.{name} registered twice")
        _HANDLERS[(service, name)] = handler
        if inline:
            _INLINE.add((service, name))
        return handler

    return register


def lookup(service: str, name: str) -> Handler | None:
    return _HANDLERS.get((service, name))


def runs_inline(service: str, name: str) -> bool:
    """Whether the operation was registered with ``inline=True``."""
    return (service, name) in _INLINE


def implemented() -> dict[tuple[str, str], Handler]:
    """Every registered (service, operation) and its handler."""
    return dict(_HANDLERS)
