"""Settings for one modelreg server, from CLI flags and ``MODELREG_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORT = 5055
DEFAULT_ACCOUNT_ID = "123456789012"
#: the URL schemes ``--store`` takes (``Settings.database_url``): PostgreSQL, or SQLite at a path
STORE_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "sqlite")


@dataclass(frozen=True)
class Settings:
    """Everything ``build_app`` needs; immutable once the server starts."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    data_dir: Path = field(default_factory=lambda: Path("modelreg-data"))
    store_url: str | None = None
    auth: str = "none"
    keys_file: Path | None = None
    account_id: str = DEFAULT_ACCOUNT_ID
    default_region: str = "us-east-1"
    #: let webhooks reach loopback, private and link-local addresses (off: SSRF guard)
    allow_private_webhooks: bool = False
    #: Standard Webhooks signing secret ("whsec_..."); generated and kept in the store when unset
    webhook_secret: str | None = None
    #: first retry delay of a failed delivery; later ones double, with jitter, up to ``retry_max_seconds``
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 300.0
    #: run the event delivery worker in this server (several servers on one PostgreSQL may all run it)
    delivery_worker: bool = True
    #: endpoint of the S3 API that ``s3://`` artifact URIs are read from (MinIO, ...); AWS's S3 when unset
    s3_endpoint_url: str | None = None
    #: let endpoints serve model package versions that are not Approved (the promotion guard is off)
    allow_unapproved_deploy: bool = False
    #: run endpoint worker processes in this server (the reconciler starts them)
    serving: bool = True
    #: read versions' metrics files into numbers in this server (the metrics ingester)
    metrics_ingest: bool = True
    #: answer S3 requests on the server's port from the built-in store under ``<data_dir>/s3``
    builtin_s3: bool = True
    #: ``--artifact-store s3://bucket/prefix``: artifacts live in external S3 (built-in store off)
    artifact_store_uri: str | None = None

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL of the store: ``--store`` if given, else SQLite in the data folder."""
        if self.store_url:
            url = self.store_url
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://") :]
            elif url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url[len("postgres://") :]
            return url
        return f"sqlite:///{(self.data_dir / 'modelreg.db').resolve()}"

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file of the store (in the data folder, or a ``--store sqlite:///PATH``);
        None for PostgreSQL."""
        if not self.store_url:
            return self.data_dir / "modelreg.db"
        if self.store_url.lower().startswith("sqlite"):
            from sqlalchemy.engine import make_url

            database = make_url(self.store_url).database
            return Path(database) if database else None
        return None


def env(name: str, default: str | None = None) -> str | None:
    """Read ``MODELREG_<NAME>`` from the environment."""
    return os.environ.get(f"MODELREG_{name}", default)
