"""The local artifact store: file:// URIs and absolute paths, and what it refuses."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path
from urllib.parse import quote

import pytest

from modelreg.artifacts import ArtifactNotFound, ArtifactUnreadable, open_artifacts
from modelreg.artifacts.local import LocalArtifactStore
from modelreg.config import Settings


@pytest.fixture
def store() -> LocalArtifactStore:
    return LocalArtifactStore()


def test_reads_a_file_by_path_and_by_file_uri(store: LocalArtifactStore, tmp_path: Path) -> None:
    path = tmp_path / "a folder with spaces" / "métrics.json"
    path.parent.mkdir()
    path.write_bytes(b'{"auc": 0.91}')
    assert store.read(str(path)) == b'{"auc": 0.91}'
    assert store.read(path.as_uri()) == b'{"auc": 0.91}'
    assert store.read("file://localhost" + quote(str(path))) == b'{"auc": 0.91}'
    assert store.sha256(str(path)) == hashlib.sha256(b'{"auc": 0.91}').hexdigest()


def test_sha256_of_a_file_larger_than_one_chunk(store: LocalArtifactStore, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "model.tar.gz"
    path.write_bytes(data)
    assert store.sha256(path.as_uri()) == hashlib.sha256(data).hexdigest()


def test_missing_file_is_not_found(store: LocalArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFound, match="does not exist"):
        store.read(str(tmp_path / "nope.json"))
    with pytest.raises(ArtifactNotFound):
        store.sha256((tmp_path / "nope.json").as_uri())


def test_refuses_relative_paths_other_hosts_and_non_files(store: LocalArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(ArtifactUnreadable, match="relative path"):
        store.read("metrics.json")
    with pytest.raises(ArtifactUnreadable, match="relative path"):
        store.read("file:metrics.json")
    with pytest.raises(ArtifactUnreadable, match="names the host"):
        store.read("file://fileserver/share/metrics.json")
    with pytest.raises(ArtifactUnreadable, match="is a folder"):
        store.read(str(tmp_path))
    with pytest.raises(ArtifactUnreadable, match="not a regular file"):
        store.read("/dev/null")


def test_refuses_a_fifo_without_blocking(store: LocalArtifactStore, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ArtifactUnreadable, match="not a regular file"):
        store.read(str(fifo))


def test_refuses_a_socket(store: LocalArtifactStore, tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        with pytest.raises(ArtifactUnreadable, match="not a regular file"):
            store.read(str(path))


def test_a_symlink_to_a_file_is_read(store: LocalArtifactStore, tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_text("{}")
    (tmp_path / "link.json").symlink_to(target)
    assert store.read(str(tmp_path / "link.json")) == b"{}"


def test_max_bytes(store: LocalArtifactStore, tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b"x" * 100)
    assert store.read(str(path), max_bytes=100) == b"x" * 100
    with pytest.raises(ArtifactUnreadable, match="larger than 99 bytes"):
        store.read(str(path), max_bytes=99)


def test_unreadable_file(store: LocalArtifactStore, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    path = tmp_path / "secret.json"
    path.write_text("{}")
    path.chmod(0)
    with pytest.raises(ArtifactUnreadable, match="permission denied"):
        store.read(str(path))


def test_the_router_sends_each_scheme_to_its_store(tmp_path: Path) -> None:
    artifacts = open_artifacts(Settings())
    path = tmp_path / "m.json"
    path.write_text("{}")
    assert artifacts.read(str(path)) == b"{}"
    assert artifacts.read(path.as_uri()) == b"{}"
    with pytest.raises(ArtifactUnreadable, match="scheme 'https'"):
        artifacts.read("https://example.com/m.json")
    with pytest.raises(ArtifactUnreadable, match="relative path"):
        artifacts.read("m.json")


def test_fetch_size_and_delete(store: LocalArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "model.tar.gz"
    source.write_bytes(b"m" * 3_000_000)
    copy = tmp_path / "copy"
    assert store.fetch_to_file(source.as_uri(), copy) == hashlib.sha256(source.read_bytes()).hexdigest()
    assert copy.read_bytes() == source.read_bytes()
    assert store.size(str(source)) == 3_000_000
    store.delete(source.as_uri())
    assert not source.exists()
    with pytest.raises(ArtifactNotFound):
        store.delete(source.as_uri())
    with pytest.raises(ArtifactUnreadable, match="folder"):
        store.delete(tmp_path.as_uri())
