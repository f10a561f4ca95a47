"""The watchdog that ends a webhook call at its deadline: it shuts the call's socket down, which
wakes a read blocked on it, and it never touches a call that finished in time."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from modelreg.events.call_deadline import CallDeadline, Watchdog


class _Stream:
    """What httpx's trace hands over when a call connects: a stream that knows its socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, info: str) -> socket.socket | None:
        return self.sock if info == "socket" else None


@pytest.fixture
def watchdog() -> Iterator[Watchdog]:
    dog = Watchdog()
    yield dog
    dog.close()


def _connected(call: CallDeadline) -> tuple[socket.socket, socket.socket]:
    ours, peer = socket.socketpair()
    call.trace("connection.connect_tcp.complete", {"return_value": _Stream(ours)})
    return ours, peer


def test_a_blocked_read_is_woken_at_the_deadline(watchdog: Watchdog) -> None:
    started = time.perf_counter()
    with watchdog.deadline(started + 0.3) as call:
        ours, peer = _connected(call)
        ours.settimeout(10)  # what httpx's per-read timeout would allow
        assert ours.recv(10) == b""  # shut down: the read returns instead of waiting 10 s
    assert 0.3 <= time.perf_counter() - started < 2
    assert call.cut
    ours.close(), peer.close()


def test_a_sooner_deadline_is_kept_though_a_later_one_came_first(watchdog: Watchdog) -> None:
    with watchdog.deadline(time.perf_counter() + 60) as late:
        late_socket, late_peer = _connected(late)
        started = time.perf_counter()
        with watchdog.deadline(started + 0.2) as soon:
            ours, peer = _connected(soon)
            ours.settimeout(10)
            assert ours.recv(10) == b""
        assert time.perf_counter() - started < 2
        assert soon.cut and not late.cut
    for s in (late_socket, late_peer, ours, peer):
        s.close()


def test_a_call_that_finished_in_time_is_left_alone(watchdog: Watchdog) -> None:
    at = time.perf_counter() + 0.1
    with watchdog.deadline(at) as call:
        ours, peer = _connected(call)
    # a later deadline, cut: the watchdog has been past the finished call's, in deadline order
    with watchdog.deadline(at + 0.01) as later:
        later_socket, later_peer = _connected(later)
        later_socket.settimeout(10)
        assert later_socket.recv(10) == b"" and later.cut
    peer.sendall(b"still open")
    assert ours.recv(10) == b"still open"
    assert not call.cut
    for s in (ours, peer, later_socket, later_peer):
        s.close()


def test_a_deadline_that_passes_while_connecting_cuts_the_call_once_it_connects(watchdog: Watchdog) -> None:
    with watchdog.deadline(time.perf_counter()) as call:
        give_up = time.monotonic() + 5
        while not call.expired and time.monotonic() < give_up:
            time.sleep(0.01)
        assert call.expired and not call.cut  # no socket to shut yet
        ours, peer = _connected(call)
        assert call.cut
        ours.settimeout(5)
        assert ours.recv(10) == b""
    ours.close(), peer.close()
