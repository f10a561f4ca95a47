"""Server processes the bench starts itself, and what /proc says about them.

Every server gets its own session (``start_new_session``), binds 127.0.0.1 on a free port, and is
stopped by its own PID; workers it forked are ended by PID too, and only while they still belong
to that session, so nothing the bench did not start is ever signalled.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (index 0 is the state, field 3)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """``root`` and every live descendant of it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(pids: Iterable[int]) -> float:
    """utime + stime of each process, plus what its already-reaped children used (cutime + cstime)."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += sum(int(v) for v in fields[11:15])
    return ticks / _CLK_TCK


def rss_bytes(pid: int) -> int:
    """VmRSS of one process (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _http_answers(url: str) -> bool:
    """True once anything answers HTTP at ``url`` with a status below 500."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:
        return False


@dataclass
class ServerProcess:
    """One server the bench started; ``url`` is what clients use."""

    name: str
    argv: list[str]
    port: int
    health_path: str
    log_path: Path
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 120.0) -> ServerProcess:
        """Start the process and wait (bounded) until ``health_path`` answers."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            if _http_answers(self.url + self.health_path):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"{self.name} did not answer {self.health_path} within {timeout:.0f}s:\n{self.log_tail()}"
        )

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def tree(self) -> list[int]:
        return process_tree(self.pid) if self.process and self.process.poll() is None else []

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server and all its worker processes."""
        return cpu_seconds(self.tree())

    def rss_bytes(self) -> int:
        """VmRSS of the server process itself."""
        return rss_bytes(self.pid) if self.process and self.process.poll() is None else 0

    def tree_rss_bytes(self) -> int:
        """VmRSS summed over the server and its workers."""
        return sum(rss_bytes(pid) for pid in self.tree())

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the server, SIGKILL it if it lingers, then end any worker of its session left behind."""
        if self.process is None:
            return
        workers = [pid for pid in self.tree() if pid != self.pid]
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        for pid in workers:
            fields = _stat_fields(pid)
            if fields is not None and int(fields[3]) == self.pid:  # still in the session we created
                os.kill(pid, signal.SIGKILL)
