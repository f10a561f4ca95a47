"""The allocator tuning the built-in S3 store applies when it starts."""

from __future__ import annotations

import platform
import sys

from modelreg.artifacts import memory


def test_tuning_is_applied_once_on_glibc_and_skipped_elsewhere() -> None:
    first = memory.tune_allocator()
    assert memory.tune_allocator() is first  # once per process
    on_glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert first == on_glibc
    big = bytearray(4 * 1024 * 1024)  # allocations still work as before
    big[-1] = 1
    assert sum(big) == 1
