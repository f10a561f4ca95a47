"""Model artifacts on local disk for workers: fetched through the ArtifactStore, checked against
the digest recorded at first deployment, and unpacked once per digest.

Layout under ``root`` (``<data-dir>/serving``): ``models/<sha256>/`` holds the unpacked
``model.tar.gz``; downloads go to ``downloads/`` first and are removed after unpacking.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from modelreg.artifacts import ArtifactError, ArtifactStore
from modelreg.serving.base import DeployError


class ModelFiles:
    """Unpacked model artifacts by SHA-256. Safe to call from several threads."""

    def __init__(self, root: Path, artifacts: ArtifactStore) -> None:
        self.root = root
        self.artifacts = artifacts
        (root / "models").mkdir(parents=True, exist_ok=True)
        (root / "downloads").mkdir(parents=True, exist_ok=True)

    def prepare(self, uri: str, expected_sha256: str | None) -> tuple[Path, str]:
        """The folder holding the unpacked artifact at ``uri`` and the artifact's SHA-256.

        Raises ``DeployError`` when the artifact cannot be read or unpacked, or when its bytes no
        longer match ``expected_sha256``."""
        fd, tmp_name = tempfile.mkstemp(dir=self.root / "downloads", suffix=".tar.gz")
        os.close(fd)
        download = Path(tmp_name)
        try:
            try:
                sha = self.artifacts.fetch_to_file(uri, download)
            except ArtifactError as exc:
                raise DeployError(f"Could not read the model data {uri}: {exc}") from None
            if expected_sha256 is not None and sha != expected_sha256:
                raise DeployError(
                    f"The model data {uri} changed since this model package version recorded it (at "
                    f"registration or first deployment: SHA-256 {expected_sha256}, now {sha}); modelreg "
                    "refuses to serve bytes other than the ones that were approved. Register a new version "
                    "for new bytes."
                )
            target = self.root / "models" / sha
            if not target.is_dir():
                self._unpack(uri, download, target)
            return target, sha
        finally:
            download.unlink(missing_ok=True)

    def _unpack(self, uri: str, archive: Path, target: Path) -> None:
        staging = Path(tempfile.mkdtemp(dir=self.root / "models", prefix=".unpack-"))
        try:
            try:
                with tarfile.open(archive, "r:*") as tar:
                    tar.extractall(staging, filter="data")
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise DeployError(
                    f"The model data {uri} is not a readable model.tar.gz archive: {exc}"
                ) from None
            try:
                staging.rename(target)
            except OSError:
                if not target.is_dir():  # another deployment of the same bytes won the race otherwise
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
