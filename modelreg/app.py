"""``build_app(settings)``: the one route table of a modelreg server.

| request                                        | goes to                          |
|------------------------------------------------|----------------------------------|
| ``POST /`` with ``X-Amz-Target``               | AWS JSON 1.1 (SageMaker, events) |
| ``POST /`` form body (``Action=...``)          | query protocol (STS)             |
| ``POST /endpoints/{name}/invocations``         | sagemaker-runtime InvokeEndpoint |
| signed for ``s3``, or other unsigned paths     | built-in S3 store (path-style)   |
| ``/api/...``                                   | modelreg's own JSON API          |
| ``GET /healthz``                               | liveness and readiness           |
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from modelreg.api import deliveries as api_deliveries
from modelreg.api import endpoints as api_endpoints
from modelreg.api import lineage as api_lineage
from modelreg.api import metrics as api_metrics
from modelreg.api import model_packages as api_model_packages
from modelreg.api import promotion as api_promotion
from modelreg.api import retention as api_retention
from modelreg.api.guard import ApiInputGuard, SignedApiGuard
from modelreg.artifacts import open_artifacts
from modelreg.artifacts.s3_api import is_s3_request, make_s3_app
from modelreg.aws.auth import Authenticator, NoAuth
from modelreg.aws.dispatch import Signals
from modelreg.aws.protocol import JsonProtocol, error_response, new_request_id
from modelreg.aws.query import handle_query
from modelreg.aws.sigv4 import SigV4Auth, load_keys_file
from modelreg.config import Settings
from modelreg.errors import UnknownOperationException
from modelreg.events import archives, connections, put_events, rules  # noqa: F401  (register handlers)
from modelreg.events.delivery import DeliveryWorker
from modelreg.events.webhook import WebhookSender, signing_secret
from modelreg.sagemaker import (  # noqa: F401  (importing a handler module registers its operations)
    endpoint_configs,
    endpoints,
    lineage,
    model_package_groups,
    model_packages,
    models,
    search,
    tags,
)
from modelreg.sagemaker.lineage_backlog import LineageRecorder
from modelreg.sagemaker.metrics_ingest import MetricsIngester
from modelreg.sagemaker.runtime import RuntimeApi, is_invocation
from modelreg.serving.model_files import ModelFiles
from modelreg.serving.process import ProcessBackend
from modelreg.serving.reconciler import Reconciler
from modelreg.store import open_store
from modelreg.store.base import Store


def make_authenticator(settings: Settings) -> Authenticator:
    if settings.auth == "sigv4":
        if settings.keys_file is None:
            raise ValueError("--auth sigv4 needs --keys FILE (the access keys allowed to call this server)")
        return SigV4Auth(load_keys_file(settings.keys_file), settings.account_id, settings.default_region)
    if settings.auth == "none":
        return NoAuth(settings.account_id, settings.default_region)
    raise ValueError(f"unknown --auth mode {settings.auth!r}: use 'none' or 'sigv4'")


def build_app(settings: Settings, store: Store | None = None) -> FrontDoor:
    """The ASGI application; opens the store at ``settings.database_url`` unless one is given."""
    authenticator = make_authenticator(settings)
    if store is None:
        if not settings.store_url:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = open_store(settings.database_url)
    signals = Signals()
    json_protocol = JsonProtocol(settings, store, authenticator, signals)

    async def root(request: Request) -> Response:
        if "x-amz-target" in request.headers:
            return await json_protocol(request)
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return await handle_query(request, settings, authenticator)
        return error_response(
            UnknownOperationException(
                "No operation given: send X-Amz-Target (AWS JSON 1.1) or a form body with Action."
            ),
            new_request_id(),
        )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    worker = None
    if settings.delivery_worker:
        sender = WebhookSender(
            signing_secret(store, settings.webhook_secret), allow_private=settings.allow_private_webhooks
        )
        worker = DeliveryWorker(store, settings, sender)
        store.on_commit(worker.wake)

    artifacts = open_artifacts(settings)
    backend = ProcessBackend(ModelFiles(settings.data_dir / "serving", artifacts))
    runtime = RuntimeApi(settings, authenticator, backend)
    reconciler = Reconciler(store, settings, backend) if settings.serving else None
    if reconciler is not None:
        signals.endpoint_changed.append(reconciler.wake)
    recorder = LineageRecorder(store, settings)
    store.on_commit(recorder.saw_commit)
    ingester = MetricsIngester(store, artifacts) if settings.metrics_ingest else None
    if ingester is not None:
        signals.metrics_pending.append(ingester.wake)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if worker is not None:
            worker.start()
        if reconciler is not None:
            reconciler.start()
        if ingester is not None:
            ingester.start()
        recorder.start()
        try:
            yield
        finally:
            recorder.stop()
            if ingester is not None:
                await ingester.stop()
            if reconciler is not None:
                await reconciler.stop()
            if worker is not None:
                worker.stop()

    api_middleware = [Middleware(ApiInputGuard)]
    if settings.auth == "sigv4":
        api_middleware.append(Middleware(SignedApiGuard, authenticator=authenticator))
    app = Starlette(
        routes=[
            Route("/", root, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Mount(
                "/api",
                routes=api_model_packages.routes
                + api_deliveries.routes
                + api_promotion.routes
                + api_endpoints.routes
                + api_lineage.routes
                + api_metrics.routes
                + api_retention.routes,
                middleware=api_middleware,
            ),
        ],
        lifespan=lifespan,
        exception_handlers={404: _json_http_error, 405: _json_http_error, ClientDisconnect: _client_gone},
    )
    app.state.settings = settings
    app.state.store = store
    app.state.backend = backend
    app.state.artifacts = artifacts
    app.state.authenticator = authenticator
    app.state.signals = signals
    return FrontDoor(app, root, runtime, make_s3_app(settings, authenticator))


async def _json_http_error(request: Request, exc: Exception) -> Response:
    """No route for the path (404), or not for its method (405): answered in ``/api``'s JSON."""
    assert isinstance(exc, HTTPException)
    code = "NotFound" if exc.status_code == 404 else "MethodNotAllowed"
    message = f"No route for {request.method} {request.url.path}."
    return JSONResponse({"error": code, "message": message}, status_code=exc.status_code, headers=exc.headers)


async def _client_gone(request: Request, exc: Exception) -> Response:
    """The client hung up before its body arrived: the answer goes nowhere, and nothing failed."""
    return Response(status_code=400)


class FrontDoor:
    """Sends ``POST /`` (every AWS API call) and InvokeEndpoint straight to their handlers and the
    rest through the Starlette router: the router's middleware stack costs more than a whole
    registry lookup."""

    def __init__(
        self,
        app: Starlette,
        aws_entry: Callable[[Request], Awaitable[Response]],
        runtime_entry: ASGIApp,
        s3: ASGIApp | None = None,
    ) -> None:
        self.app = app
        self.state = app.state
        self._aws_entry = aws_entry
        self._runtime_entry = runtime_entry
        self._s3 = s3

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            post, path = scope["method"] == "POST", scope["path"]
            if post and path == "/":
                try:
                    response = await self._aws_entry(Request(scope, receive))
                except ClientDisconnect:  # it hung up before its body arrived: no one to answer
                    return
                await response(scope, receive, send)
                return
            # InvokeEndpoint has no query string; S3 POSTs always do (?uploads, ?uploadId=, ?delete)
            if post and not scope.get("query_string") and is_invocation(path):
                await self._runtime_entry(scope, receive, send)
                return
            if self._s3 is not None and is_s3_request(scope):  # signed for s3, or not for us
                await self._s3(scope, receive, send)
                return
        await self.app(scope, receive, send)
