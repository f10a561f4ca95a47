"""A real HTTP webhook receiver on 127.0.0.1 for delivery tests: records requests, can fail on purpose."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Start with ``start()``; ``responses`` is a queue of (status, headers) to answer before 200s."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    responses: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    #: fixed JSON answers for some paths (an OAuth token endpoint, say); those calls are recorded too
    fixed: dict[str, Any] = field(default_factory=dict)
    fixed_calls: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _cond: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                path = self.path.split("?", 1)[0]
                with receiver._cond:
                    received = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    if path in receiver.fixed:
                        status, headers, answer = (
                            200,
                            {"Content-Type": "application/json"},
                            json.dumps(receiver.fixed[path]).encode(),
                        )
                        receiver.fixed_calls.append(received)
                    else:
                        status, headers = receiver.responses.pop(0) if receiver.responses else (200, {})
                        answer = b"ok"
                        receiver.received.append(received)
                    receiver._cond.notify_all()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_PUT = do_POST

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 20.0) -> list[Received]:
        """Block until ``predicate(received)`` holds (or fail after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.received):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"receiver condition not met in {timeout}s; got {len(self.received)}: "
                        f"{[r.body[:200] for r in self.received]}"
                    )
                self._cond.wait(remaining)
            return list(self.received)
