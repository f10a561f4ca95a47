"""S3 throughput benchmark: one large object through modelreg's built-in S3 store, the disk itself
(``dd``) and ``moto_server``, on the same machine and folder.

    .venv/bin/python bench/s3.py                 # a 1024 MB object
    .venv/bin/python bench/s3.py --quick         # 64 MB
    .venv/bin/python bench/s3.py --size-mb 256 --repeat 3 --json out.json

For each server the client is boto3 with its defaults, as users run it: ``upload_file`` (8 MB
parts, 10 threads, CRC32 checksums) then ``download_file`` (ranged GETs, checksum mode on) of a
file of random bytes; the downloaded file's SHA-256 is checked (not timed). The disk's own
speed is ``dd if=/dev/zero of=FILE bs=8M count=N conv=fsync`` in the same folder, and reading
that file back with ``dd iflag=direct`` (from the device, not the page cache). Each
figure is the best of ``--repeat`` runs. Servers are started here, bound to 127.0.0.1 on free
ports, and stopped by PID; every file is removed at the end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` and ``modelreg`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.procs import ServerProcess, free_port
from bench.systems import modelreg_server

MB = 1024 * 1024
BUCKET = "bench"


@dataclass
class Result:
    system: str
    upload_mb_s: float
    download_mb_s: float


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--size-mb", type=int, default=None, help="object size in MB (default 1024; --quick 64)")
    p.add_argument("--quick", action="store_true", help="a 64 MB object")
    p.add_argument("--repeat", type=int, default=1, help="runs per figure; the best is reported (default 1)")
    p.add_argument(
        "--systems", default="disk,modelreg,moto", help="comma-separated from disk, modelreg, moto"
    )
    p.add_argument(
        "--dir", type=Path, default=None, help="folder for the bench's files (default: a temp folder)"
    )
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args(argv)
    if args.size_mb is None:
        args.size_mb = 64 if args.quick else 1024
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    return args


def make_source(path: Path, size: int) -> str:
    """A file of ``size`` random bytes; its SHA-256."""
    digest = hashlib.sha256()
    chunk = os.urandom(8 * MB)  # varied per chunk below so nothing can deduplicate it
    with open(path, "wb") as f:
        for i in range(0, size, len(chunk)):
            data = (i.to_bytes(8, "little") + chunk)[: min(len(chunk), size - i)]
            digest.update(data)
            f.write(data)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 * MB):
            digest.update(chunk)
    return digest.hexdigest()


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _dd_read(target: Path) -> None:
    """Read ``target`` from the device itself (O_DIRECT: the page cache would measure memory, not
    the disk); plain reads where the file system refuses O_DIRECT."""
    done = subprocess.run(
        ["dd", f"if={target}", "of=/dev/null", "bs=8M", "iflag=direct"], capture_output=True
    )
    if done.returncode != 0:
        subprocess.run(["dd", f"if={target}", "of=/dev/null", "bs=8M"], check=True, capture_output=True)


def dd_speed(work: Path, size_mb: int) -> tuple[float, float]:
    """(write, read) MB/s of ``dd`` in ``work``: written with conv=fsync, then read back."""
    target = work / "dd.bin"
    count = max(size_mb // 8, 1)
    try:
        write = timed(
            lambda: subprocess.run(
                ["dd", "if=/dev/zero", f"of={target}", "bs=8M", f"count={count}", "conv=fsync"],
                check=True,
                capture_output=True,
            )
        )
        read = timed(lambda: _dd_read(target))
    finally:
        target.unlink(missing_ok=True)
    return count * 8 / write, count * 8 / read


def s3_client(url: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )


def transfer(url: str, source: Path, digest: str, work: Path, size_mb: int) -> tuple[float, float]:
    """(upload, download) MB/s of one object through the S3 API at ``url``."""
    s3 = s3_client(url)
    with contextlib.suppress(Exception):
        s3.create_bucket(Bucket=BUCKET)
    target = work / "downloaded.bin"
    try:
        up = timed(lambda: s3.upload_file(str(source), BUCKET, "object"))
        down = timed(lambda: s3.download_file(BUCKET, "object", str(target)))
        if sha256_file(target) != digest:
            raise RuntimeError(f"{url}: the downloaded object differs from the uploaded file")
    finally:
        target.unlink(missing_ok=True)
        with contextlib.suppress(Exception):
            s3.delete_object(Bucket=BUCKET, Key="object")
    return size_mb / up, size_mb / down


@contextlib.contextmanager
def started(server: ServerProcess) -> Iterator[ServerProcess]:
    try:
        yield server.start(timeout=120)
    finally:
        server.stop()


def moto_server(work: Path) -> ServerProcess:
    port = free_port()
    argv = [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    return ServerProcess("moto", argv, port, "/moto-api/", work / "moto.log", work)


def run(args: argparse.Namespace, work: Path) -> list[Result]:
    size = args.size_mb * MB
    source = work / "source.bin"
    print(f"writing a {args.size_mb} MB file of random bytes in {work} ...", flush=True)
    digest = make_source(source, size)
    results: list[Result] = []

    def best(name: str, measure: Callable[[], tuple[float, float]]) -> None:
        figures = [measure() for _ in range(args.repeat)]
        result = Result(name, max(f[0] for f in figures), max(f[1] for f in figures))
        print(
            f"  {name}: upload {result.upload_mb_s:.0f} MB/s, download {result.download_mb_s:.0f} MB/s",
            flush=True,
        )
        results.append(result)

    if "disk" in args.systems:
        best("disk (dd)", lambda: dd_speed(work, args.size_mb))
    if "modelreg" in args.systems:
        data = work / "modelreg"
        data.mkdir()
        with started(modelreg_server("modelreg", data, None)) as server:
            best("modelreg", lambda: transfer(server.url, source, digest, work, args.size_mb))
    if "moto" in args.systems:
        moto_dir = work / "moto"
        moto_dir.mkdir()
        with started(moto_server(moto_dir)) as server:
            best("moto_server", lambda: transfer(server.url, source, digest, work, args.size_mb))
    return results


def table(results: list[Result], size_mb: int) -> str:
    disk = next((r for r in results if r.system.startswith("disk")), None)
    lines = [
        f"{size_mb} MB object; upload = boto3 upload_file (disk: dd write, fsync), "
        "download = boto3 download_file (disk: dd read)",
        f"{'system':<14} {'upload MB/s':>12} {'download MB/s':>14} {'upload/disk':>12} {'download/disk':>14}",
    ]
    for r in results:
        up = f"{r.upload_mb_s / disk.upload_mb_s:.0%}" if disk else "-"
        down = f"{r.download_mb_s / disk.download_mb_s:.0%}" if disk else "-"
        lines.append(f"{r.system:<14} {r.upload_mb_s:>12.0f} {r.download_mb_s:>14.0f} {up:>12} {down:>14}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="modelreg-s3-bench-", dir=args.dir))
    try:
        results = run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(results, args.size_mb))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
