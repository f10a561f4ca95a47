"""The O_DIRECT file writer behind every object write: bytes, order, tails and fallbacks."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from modelreg.artifacts import direct_io
from modelreg.artifacts.direct_io import ALIGN, STAGE_BYTES, DirectFile


def _write(path: Path, pieces: list[bytes], *, direct: bool = True) -> tuple[bytes, bool]:
    seen: list[bytes] = []
    f = DirectFile(path, lambda run: seen.append(bytes(run)), direct=direct)
    try:
        f.write_many(pieces)
        f.finish()
        mode = f.direct
    finally:
        f.close()
    return b"".join(seen), mode


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize(
    "sizes",
    [
        [],
        [1],
        [ALIGN],
        [ALIGN + 1],
        [STAGE_BYTES],
        [STAGE_BYTES - 1, 2],
        [3 * STAGE_BYTES + 12345],
        [100_000] * 200,  # many network-sized pieces crossing several flushes
        [0, 5, 0, STAGE_BYTES + ALIGN, 7],
    ],
    ids=lambda s: f"{len(s)}pieces-{sum(s)}bytes" if isinstance(s, list) else str(s),
)
def test_the_file_holds_exactly_the_pieces_in_order(tmp_path: Path, sizes: list[int], direct: bool) -> None:
    pieces = [os.urandom(n) for n in sizes]
    path = tmp_path / "blob"
    hashed, _ = _write(path, pieces, direct=direct)
    want = b"".join(pieces)
    assert path.read_bytes() == want
    assert hashed == want  # every byte is seen by the hashers once, in order


def test_o_direct_is_used_where_the_file_system_allows_it(tmp_path: Path) -> None:
    if not direct_io._O_DIRECT:
        pytest.skip("no O_DIRECT on this platform")
    probe = tmp_path / "probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | direct_io._O_DIRECT)
    except OSError:
        pytest.skip("this file system refuses O_DIRECT")
    os.close(fd)
    _, direct = _write(tmp_path / "blob", [b"x" * (STAGE_BYTES + 10)])
    assert not direct  # the unaligned tail switched the descriptor to buffered, after the aligned part
    f = DirectFile(tmp_path / "other", lambda run: None)
    try:
        assert f.direct
    finally:
        f.close()


def test_a_write_refused_with_einval_goes_on_buffered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    calls = {"n": 0}

    def refusing(fd: int, data: memoryview) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(22, "Invalid argument")
        return real_write(fd, data)

    f = DirectFile(tmp_path / "blob", lambda run: None)
    if not f.direct:
        f.close()
        pytest.skip("this file system refuses O_DIRECT")
    monkeypatch.setattr(direct_io.os, "write", refusing)
    data = os.urandom(2 * STAGE_BYTES + 3)
    try:
        f.write_many([data])
        f.finish()
        assert not f.direct
    finally:
        f.close()
    assert (tmp_path / "blob").read_bytes() == data


def test_staging_buffers_are_reused(tmp_path: Path) -> None:
    first = DirectFile(tmp_path / "a", lambda run: None)
    if not first.direct:
        first.close()
        pytest.skip("this file system refuses O_DIRECT")
    buf = first._buf
    first.close()
    first.close()  # idempotent
    second = DirectFile(tmp_path / "b", lambda run: None)
    try:
        assert second._buf is buf
    finally:
        second.close()


def test_the_pool_keeps_what_concurrent_uploads_used_until_they_stop() -> None:
    pool = direct_io._BufferPool(ALIGN, keep=6, keep_idle=2, trim_after=0.05)
    held = [pool.take() for _ in range(8)]
    for buf in held[:7]:
        pool.give(buf)
    assert pool.kept == 6  # at most ``keep``; the seventh was unmapped
    reused = pool.take()
    assert any(reused is buf for buf in held[:7])
    pool.give(reused)
    pool.give(held[7])
    deadline = time.monotonic() + 10
    while pool.kept > 2 and time.monotonic() < deadline:  # trimmed once nothing is in use
        time.sleep(0.01)
    assert pool.kept == 2
    again = pool.take()  # in use again: no trim while it is out
    pool.give(again)
    assert pool.kept == 2


def test_existing_files_are_never_opened(tmp_path: Path) -> None:
    path = tmp_path / "there"
    path.write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        DirectFile(path, lambda run: None)
    assert path.read_bytes() == b"keep"


@pytest.mark.parametrize("direct", [True, False])
def test_reads_of_any_range_return_exactly_those_bytes(tmp_path: Path, direct: bool) -> None:
    data = os.urandom(2 * STAGE_BYTES + 777)
    path = tmp_path / "blob"
    path.write_bytes(data)
    fd, is_direct = direct_io.open_read(path, direct=direct)
    reads = direct_io.DirectReads()
    try:
        assert direct or not is_direct
        for pos, size in [
            (0, 1),
            (1, ALIGN),
            (ALIGN - 1, 2),
            (12345, 1_000_000),
            (STAGE_BYTES - 5, STAGE_BYTES),  # capped at MAX_READ
            (len(data) - 10, 100),  # the end of the file: fewer bytes
            (len(data), 10),
        ]:
            want = data[pos : pos + min(size, reads.MAX_READ)]
            assert reads.read(fd, is_direct, pos, size) == want
    finally:
        reads.close()
        reads.close()
        os.close(fd)
