"""A wake-up call for a background asyncio task, that any thread may make."""

from __future__ import annotations

import asyncio
import contextlib
import threading


class Wakeup:
    """``set()`` from any thread makes the task's pending ``wait()`` return early. ``bind()`` it
    from the task's event loop before the first ``set()``; calls before that are dropped."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._event: asyncio.Event | None = None

    def bind(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._event = asyncio.Event()

    def set(self) -> None:
        if self._loop is None or self._event is None:
            return
        if threading.get_ident() == self._loop_thread:  # a handler on the loop: no self-pipe write
            self._event.set()
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            self._loop.call_soon_threadsafe(self._event.set)

    async def wait(self, timeout: float) -> bool:
        """Until ``set()`` is called (True) or ``timeout`` seconds pass (False); then the next wait
        starts afresh."""
        assert self._event is not None, "bind() first"
        woken = False
        with contextlib.suppress(TimeoutError):
            woken = await asyncio.wait_for(self._event.wait(), timeout)
        self._event.clear()
        return woken
