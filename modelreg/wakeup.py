"""A wake-up call for a background asyncio task, that any thread may make."""

from __future__ import annotations

import asyncio
import contextlib


class Wakeup:
    """``set()`` from any thread makes the task's pending ``wait()`` return early. ``bind()`` it
    from the task's event loop before the first ``set()``; calls before that are dropped."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def bind(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    def set(self) -> None:
        if self._loop is not None and self._event is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                self._loop.call_soon_threadsafe(self._event.set)

    async def wait(self, timeout: float) -> None:
        """Until ``set()`` is called or ``timeout`` seconds pass; then the next wait starts afresh."""
        assert self._event is not None, "bind() first"
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        self._event.clear()
