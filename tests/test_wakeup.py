"""``Wakeup``: a background task's wait ends early when any thread calls ``set()``."""

from __future__ import annotations

import asyncio
import threading
import time

from modelreg.wakeup import Wakeup


def test_a_wait_ends_at_its_timeout_when_nobody_calls() -> None:
    async def scenario() -> bool:
        wakeup = Wakeup()
        wakeup.bind()
        return await wakeup.wait(0.01)

    assert asyncio.run(scenario()) is False


def test_a_call_from_the_loop_itself_ends_the_wait() -> None:
    async def scenario() -> tuple[bool, float]:
        wakeup = Wakeup()
        wakeup.bind()
        asyncio.get_running_loop().call_later(0.01, wakeup.set)
        started = time.monotonic()
        return await wakeup.wait(30), time.monotonic() - started

    woken, waited = asyncio.run(scenario())
    assert woken and waited < 10


def test_a_call_from_another_thread_ends_the_wait_and_the_next_wait_starts_afresh() -> None:
    async def scenario() -> tuple[bool, bool]:
        wakeup = Wakeup()
        wakeup.bind()
        threading.Timer(0.01, wakeup.set).start()
        first = await wakeup.wait(30)
        second = await wakeup.wait(0.01)
        return first, second

    assert asyncio.run(scenario()) == (True, False)


def test_a_call_before_bind_is_dropped() -> None:
    wakeup = Wakeup()
    wakeup.set()  # no loop yet: nothing to wake, and no error

    async def scenario() -> bool:
        wakeup.bind()
        return await wakeup.wait(0.01)

    assert asyncio.run(scenario()) is False
