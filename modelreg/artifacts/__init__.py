"""Reading the bytes that artifact URIs point to: ``file://`` and absolute paths, ``s3://``.

``open_artifacts(settings)`` gives the one :class:`~modelreg.artifacts.base.ArtifactStore` a server
uses; it routes each URI to the implementation for its scheme.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from modelreg.artifacts.base import (
    ArtifactError,
    ArtifactNotFound,
    ArtifactStore,
    ArtifactUnreadable,
)
from modelreg.artifacts.local import LocalArtifactStore
from modelreg.config import Settings

__all__ = [
    "ArtifactError",
    "ArtifactNotFound",
    "ArtifactRouter",
    "ArtifactStore",
    "ArtifactUnreadable",
    "LocalArtifactStore",
    "open_artifacts",
]


class ArtifactRouter:
    """An :class:`ArtifactStore` that hands each URI to the store for its scheme.

    ``file://`` URIs and absolute paths go to :class:`LocalArtifactStore`; ``s3://`` URIs to
    :class:`~modelreg.artifacts.s3.S3ArtifactStore`, created on first use (boto3 is imported only
    then). Any other scheme is :class:`ArtifactUnreadable`."""

    def __init__(
        self,
        local: ArtifactStore,
        s3_factory: Callable[..., ArtifactStore] | None = None,
        **s3_options: object,
    ) -> None:
        self._local = local
        self._s3_factory = s3_factory
        self._s3_options = s3_options
        self._s3: ArtifactStore | None = None

    def _store_for(self, uri: str) -> ArtifactStore:
        if uri.startswith("/"):
            return self._local
        scheme = urlsplit(uri).scheme.lower()
        if scheme == "file":
            return self._local
        if scheme == "s3":
            if self._s3 is None:
                factory = self._s3_factory
                if factory is None:
                    from modelreg.artifacts.s3 import S3ArtifactStore

                    factory = S3ArtifactStore
                self._s3 = factory(**self._s3_options)
            return self._s3
        if not scheme:
            raise ArtifactUnreadable(
                f"{uri!r} is a relative path; give an absolute path, a file:// URI or an s3:// URI."
            )
        raise ArtifactUnreadable(
            f"{uri!r} uses the scheme {scheme!r}; modelreg reads file:// URIs, absolute paths and s3:// URIs."
        )

    def read(self, uri: str, *, max_bytes: int | None = None) -> bytes:
        return self._store_for(uri).read(uri, max_bytes=max_bytes)

    def sha256(self, uri: str) -> str:
        return self._store_for(uri).sha256(uri)

    def fetch_to_file(self, uri: str, dest: Path) -> str:
        return self._store_for(uri).fetch_to_file(uri, dest)

    def size(self, uri: str) -> int:
        return self._store_for(uri).size(uri)

    def delete(self, uri: str) -> None:
        self._store_for(uri).delete(uri)


def open_artifacts(settings: Settings) -> ArtifactStore:
    """The artifact store of a server with ``settings``: ``s3://`` URIs are read through
    ``s3_endpoint_url`` when set, else straight from the built-in S3 store's files when it runs
    (``builtin_s3``), else from AWS S3."""
    s3_factory: Callable[..., ArtifactStore] | None = None
    if settings.builtin_s3 and not settings.s3_endpoint_url:
        from modelreg.artifacts.builtin import BuiltinArtifactStore

        root = settings.data_dir / "s3"
        s3_factory = lambda **_: BuiltinArtifactStore(root)  # noqa: E731
    return ArtifactRouter(
        LocalArtifactStore(),
        s3_factory,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.default_region,
    )
