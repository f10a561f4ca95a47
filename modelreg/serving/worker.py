"""The model worker process an endpoint instance runs: the SageMaker container contract over HTTP.

    python -m modelreg.serving.worker --framework xgboost|sklearn --model-dir DIR
                                      (--port N [--host 127.0.0.1] | --uds PATH)

The worker loads the model before it listens, so a connection that answers ``GET /ping`` with 200
means the model is ready. A model that cannot be loaded ends the process with status 3 and one line
``modelreg-worker: <reason>`` on stderr.

``POST /invocations`` runs the model on the body (headers ``Content-Type`` and ``Accept``) and
answers 200 with the prediction and its content type; a bad request is 400, an unsupported content
or accept type 415, any other failure of the model 500, each with a plain-text message.
``X-Amzn-SageMaker-Custom-Attributes`` is echoed back. Unknown paths are 404.

One worker uses one core and serves one request at a time: the model runs inline on the event loop
(a raw ASGI app on uvicorn with httptools and uvloop, no thread hop). SIGTERM stops accepting,
finishes the requests in flight and exits 0; so does the death of the parent process, so a registry
killed with SIGKILL leaves no worker behind.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import signal
import sys
import traceback
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from modelreg.serving.frameworks import (
    FRAMEWORKS,
    LoadedModel,
    ModelInputError,
    UnsupportedContentType,
    load_model,
)

#: the exit status of a worker whose model could not be loaded
LOAD_FAILED = 3
#: how often the worker checks that its parent process is still alive
PARENT_POLL_SECONDS = 1.0
#: idle keep-alive connections stay open this long, longer than pooling clients keep them, so a
#: client never sends a request on a connection the worker is closing
KEEP_ALIVE_SECONDS = 300
#: in-flight requests get this long to finish after SIGTERM
GRACEFUL_SHUTDOWN_SECONDS = 30
#: thread pools (OpenMP, BLAS) are limited to one thread unless the environment says otherwise
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
CUSTOM_ATTRIBUTES = b"x-amzn-sagemaker-custom-attributes"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class WorkerApp:
    """The ASGI application: ``GET /ping`` and ``POST /invocations`` for one loaded model."""

    def __init__(self, model: LoadedModel) -> None:
        self._model = model

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/invocations":
            if method == "POST":
                await self._invoke(scope, receive, send)
            else:
                await _respond(send, 405, b"Use POST for /invocations.", extra=[(b"allow", b"POST")])
        elif path == "/ping":
            if method in ("GET", "HEAD"):
                await _respond(send, 200, b"")
            else:
                await _respond(send, 405, b"Use GET for /ping.", extra=[(b"allow", b"GET, HEAD")])
        else:
            await _respond(
                send, 404, f"No such path: {path}. The worker serves /ping and /invocations.".encode()
            )

    async def _invoke(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        body = await _read_body(receive)
        extra = [(CUSTOM_ATTRIBUTES, headers[CUSTOM_ATTRIBUTES])] if CUSTOM_ATTRIBUTES in headers else []
        try:
            output, content_type = self._model.predict(
                body,
                headers.get(b"content-type", b"").decode("latin-1"),
                headers.get(b"accept", b"").decode("latin-1"),
            )
        except UnsupportedContentType as error:
            await _respond(send, 415, str(error).encode(), extra=extra)
        except ModelInputError as error:
            await _respond(send, 400, str(error).encode(), extra=extra)
        except Exception as error:  # the model failed: the caller gets a ModelError, the log the traceback
            traceback.print_exc(file=sys.stderr)
            await _respond(send, 500, f"{type(error).__name__}: {error}".encode(), extra=extra)
        else:
            await _respond(send, 200, output, content_type=content_type.encode("latin-1"), extra=extra)


async def _read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return body
    chunks = [body]
    while message.get("more_body"):
        message = await receive()
        chunks.append(message.get("body", b""))
    return b"".join(chunks)


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    *,
    content_type: bytes = b"text/plain; charset=utf-8",
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *(extra or ())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _watch_parent(server: uvicorn.Server, parent_pid: int) -> None:
    """Stop the server once the process that started the worker is gone (the worker is then
    adopted by another process, so its parent pid changes)."""
    while not server.should_exit:
        await asyncio.sleep(PARENT_POLL_SECONDS)
        if os.getppid() != parent_pid:
            server.should_exit = True


async def _serve(server: uvicorn.Server, parent_pid: int) -> None:
    watcher = asyncio.create_task(_watch_parent(server, parent_pid))
    try:
        await server.serve()
    finally:
        watcher.cancel()


#: packages ``import xgboost`` loads when they are installed, for wrappers an XGBoost worker never uses
UNUSED_BY_XGBOOST = ("sklearn", "pandas")


def _skip_unused_imports() -> None:
    """Make ``import xgboost`` skip scikit-learn and pandas (xgboost treats them as absent): about
    two thirds of an XGBoost worker's start-up, so an endpoint is InService sooner."""
    for name in UNUSED_BY_XGBOOST:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m modelreg.serving.worker",
        description="Serve one model over the SageMaker container contract.",
    )
    parser.add_argument("--framework", required=True, choices=FRAMEWORKS)
    parser.add_argument("--model-dir", required=True, type=Path, help="the extracted model.tar.gz")
    address = parser.add_mutually_exclusive_group(required=True)
    address.add_argument("--port", type=int, help="listen on this TCP port of --host")
    address.add_argument("--uds", help="listen on this Unix domain socket path")
    parser.add_argument("--host", default="127.0.0.1")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the worker until SIGTERM or the parent's death; returns the exit status."""
    args = _parse_args(argv)
    parent_pid = os.getppid()
    for variable in THREAD_VARIABLES:  # before numpy and the framework load their thread pools
        os.environ.setdefault(variable, "1")
    if args.framework == "xgboost":
        _skip_unused_imports()
    try:
        model = load_model(args.framework, args.model_dir)
    except Exception as error:  # whatever stops the model from loading ends the worker, in one line
        reason = " ".join(str(error).split()) or type(error).__name__
        print(f"modelreg-worker: {reason}", file=sys.stderr, flush=True)
        return LOAD_FAILED
    config = uvicorn.Config(
        WorkerApp(model),
        host=args.host,
        port=args.port or 0,
        uds=args.uds,
        http="httptools",
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        interface="asgi3",
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
        date_header=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    server = uvicorn.Server(config)

    def stop(signum: int, frame: FrameType | None) -> None:
        # uvicorn handles SIGTERM/SIGINT while it serves, then re-raises the signal it caught;
        # this handler receives that re-raise, so a graceful stop exits 0 instead of dying by it
        server.should_exit = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(_serve(server, parent_pid))
    return 0


if __name__ == "__main__":
    sys.exit(main())
