"""The ``modelreg`` command: ``serve``, ``db upgrade``, ``--version``."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import math
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import click

from modelreg import __version__
from modelreg.cli_compare import compare as compare_command
from modelreg.cli_lifecycle import gc_command, register_command, rollback_command
from modelreg.cli_options import call_api, endpoint_option, quoted, region_option
from modelreg.config import DEFAULT_ACCOUNT_ID, DEFAULT_PORT, STORE_SCHEMES, Settings, env


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_store_url(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """``--store`` as given, or a usage error that names the scheme (never the password)."""
    if value is None:
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    if scheme not in STORE_SCHEMES:
        what = f"a {scheme}:// URL" if scheme else "not a URL"
        raise click.BadParameter(
            f"modelreg stores in PostgreSQL (postgresql://user:password@host:5432/db), or without "
            f"--store in SQLite under --data-dir; this is {what}."
        )
    try:
        make_url(value)
    except (ArgumentError, ValueError):
        raise click.BadParameter(
            "this is not a database URL (postgresql://user:password@host:5432/db)."
        ) from None
    return value


_store_option = click.option(
    "--store",
    "store_url",
    default=lambda: env("STORE"),
    callback=_check_store_url,
    metavar="URL",
    help="Database URL, e.g. postgresql://user@host/db. Default: SQLite at DATA_DIR/modelreg.db. "
    "[env MODELREG_STORE]",
)


@contextlib.contextmanager
def _database_errors(settings: Settings) -> Iterator[None]:
    """A database that cannot be reached or opened ends the command with one line that says which
    (its URL without the password) and why, not a traceback."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    try:
        yield
    except DBAPIError as exc:
        sqlite_path = settings.sqlite_path
        if sqlite_path is not None:
            where = str(sqlite_path)
        else:
            where = make_url(settings.store_url or "").render_as_string(hide_password=True)
        message = str(exc.orig).strip()
        reason = message.splitlines()[0] if message else type(exc.orig).__name__
        raise click.ClickException(f"cannot use the database {where}: {reason}") from exc


_data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: env("DATA_DIR", "modelreg-data"),
    show_default="modelreg-data",
    help="Folder for the embedded database and local data. [env MODELREG_DATA_DIR]",
)


F = TypeVar("F", bound=Callable[..., Any])


def _off_switch(flag: str, variable: str, help_text: str) -> Callable[[F], F]:
    """A ``--no-...`` flag of ``serve`` that ``MODELREG_<variable>=0`` also sets."""
    return click.option(
        flag,
        is_flag=True,
        default=lambda: env(variable) == "0",
        help=f"{help_text} [env MODELREG_{variable}=0]",
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="modelreg")
def main() -> None:
    """modelreg: a self-hosted model registry that speaks the SageMaker Model Registry API."""


main.add_command(compare_command)


@main.command()
@click.option(
    "--host",
    default=lambda: env("HOST", "127.0.0.1"),
    show_default="127.0.0.1",
    help="Address to listen on. [env MODELREG_HOST]",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=lambda: env("PORT", str(DEFAULT_PORT)),
    show_default=str(DEFAULT_PORT),
    help="TCP port to listen on. [env MODELREG_PORT]",
)
@_data_dir_option
@_store_option
@click.option(
    "--auth",
    type=click.Choice(["none", "sigv4"]),
    default=lambda: env("AUTH", "none"),
    show_default="none",
    help="none: trust the access key id in each request's signature as the user name (loopback "
    "only). sigv4: verify every signature against --keys. [env MODELREG_AUTH]",
)
@click.option(
    "--keys",
    "keys_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=lambda: env("KEYS"),
    help='JSON file of allowed keys for --auth sigv4: {"keys": [{"access_key_id": ..., '
    '"secret_access_key": ..., "user": ...}]}. [env MODELREG_KEYS]',
)
@click.option(
    "--account-id",
    default=lambda: env("ACCOUNT_ID", DEFAULT_ACCOUNT_ID),
    show_default=DEFAULT_ACCOUNT_ID,
    help="The 12-digit account id in ARNs. [env MODELREG_ACCOUNT_ID]",
)
@click.option(
    "--region",
    "default_region",
    default=lambda: env("REGION", "us-east-1"),
    show_default="us-east-1",
    help="Region for requests that carry no SigV4 credential scope. [env MODELREG_REGION]",
)
@click.option(
    "--allow-private-webhooks",
    is_flag=True,
    default=lambda: env("ALLOW_PRIVATE_WEBHOOKS") == "1",
    help="Let webhooks (API destinations) reach loopback, private and link-local addresses; "
    "off by default so events cannot be aimed at internal services. "
    "[env MODELREG_ALLOW_PRIVATE_WEBHOOKS=1]",
)
@click.option(
    "--webhook-secret",
    default=lambda: env("WEBHOOK_SECRET"),
    metavar="whsec_...",
    help="Standard Webhooks signing secret for webhook-signature headers. Default: one generated "
    "on first start and kept in the store (`modelreg events signing-key` prints it). "
    "[env MODELREG_WEBHOOK_SECRET]",
)
@click.option(
    "--retry-base-seconds",
    type=click.FloatRange(min=0, min_open=True, max=300),
    default=lambda: env("RETRY_BASE_SECONDS", "1"),
    show_default="1",
    help="First retry delay of a failed webhook; later ones double (with "
    "jitter) up to 5 minutes. [env MODELREG_RETRY_BASE_SECONDS]",
)
@click.option(
    "--s3-endpoint-url",
    default=lambda: env("S3_ENDPOINT_URL"),
    metavar="URL",
    help="S3 API endpoint that s3:// artifact URIs (e.g. metrics files) are read from: MinIO or "
    "another S3-compatible store. Default: the built-in store's files (AWS S3 with "
    "--artifact-store s3://...). Credentials come from the usual AWS_* variables or profiles. "
    "[env MODELREG_S3_ENDPOINT_URL]",
)
@click.option(
    "--artifact-store",
    default=lambda: env("ARTIFACT_STORE", "builtin"),
    show_default="builtin",
    metavar="builtin|s3://BUCKET/PREFIX",
    help="builtin: this server also answers the S3 API on its port (path-style), objects under "
    "DATA_DIR/s3. s3://BUCKET/PREFIX: artifacts live in real S3 or MinIO at --s3-endpoint-url "
    "and the built-in store is off. [env MODELREG_ARTIFACT_STORE]",
)
@_off_switch(
    "--no-delivery-worker",
    "DELIVERY_WORKER",
    "Do not deliver events from this server (another server on the same PostgreSQL does).",
)
@click.option(
    "--allow-unapproved-deploy",
    is_flag=True,
    default=lambda: env("ALLOW_UNAPPROVED_DEPLOY") == "1",
    help="Let endpoints serve model package versions that are not Approved (and let the SageMaker "
    "SDK approve on deploy). Off: only Approved versions deploy. [env MODELREG_ALLOW_UNAPPROVED_DEPLOY=1]",
)
@_off_switch(
    "--no-serving",
    "SERVING",
    "Run no endpoint workers in this server (endpoints stay Creating until a server that serves "
    "picks them up).",
)
@_off_switch(
    "--no-metrics-ingest",
    "METRICS_INGEST",
    "Do not read versions' metrics files in this server (they stay pending until a server that "
    "does reads them).",
)
def serve(
    host: str,
    port: int,
    data_dir: Path,
    store_url: str | None,
    auth: str,
    keys_file: Path | None,
    account_id: str,
    default_region: str,
    allow_private_webhooks: bool,
    webhook_secret: str | None,
    retry_base_seconds: float,
    s3_endpoint_url: str | None,
    no_delivery_worker: bool,
    allow_unapproved_deploy: bool,
    no_serving: bool,
    artifact_store: str,
    no_metrics_ingest: bool,
) -> None:
    """Run the server until interrupted."""
    import uvicorn

    from modelreg.app import build_app
    from modelreg.http_protocol import HttpProtocol
    from modelreg.store.migrate import SchemaOutOfDate

    if auth == "none" and not _is_loopback(host):
        raise click.UsageError(
            f"--auth none trusts any caller, so it listens on loopback only; "
            f"use --auth sigv4 --keys FILE to listen on {host}."
        )
    if math.isnan(retry_base_seconds):
        raise click.BadParameter("not a number", param_hint="'--retry-base-seconds'")
    if not (account_id.isascii() and account_id.isdigit() and len(account_id) == 12):
        raise click.UsageError(f"--account-id must be 12 digits, not {account_id!r}")
    if artifact_store != "builtin" and not re.match(r"s3://[^/]+", artifact_store):
        raise click.UsageError(f"--artifact-store is builtin or s3://BUCKET/PREFIX, not {artifact_store!r}")
    settings = Settings(
        host=host,
        port=port,
        data_dir=data_dir,
        store_url=store_url,
        auth=auth,
        keys_file=keys_file,
        account_id=account_id,
        default_region=default_region,
        allow_private_webhooks=allow_private_webhooks,
        webhook_secret=webhook_secret,
        retry_base_seconds=retry_base_seconds,
        s3_endpoint_url=s3_endpoint_url or None,
        delivery_worker=not no_delivery_worker,
        allow_unapproved_deploy=allow_unapproved_deploy,
        serving=not no_serving,
        metrics_ingest=not no_metrics_ingest,
        builtin_s3=artifact_store == "builtin",
        artifact_store_uri=None if artifact_store == "builtin" else artifact_store,
    )
    try:
        with _database_errors(settings):
            app = build_app(settings)
    except (SchemaOutOfDate, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    where = str(settings.sqlite_path or "PostgreSQL")
    click.echo(f"modelreg {__version__} serving on http://{host}:{port} (store: {where}, auth: {auth})")
    click.echo("Point your AWS code at it:")
    click.echo(f"  export AWS_ENDPOINT_URL=http://{host}:{port}")
    sys.stdout.flush()
    uvicorn.run(
        app,
        host=host,
        port=port,
        http=HttpProtocol,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command()
@_data_dir_option
@_store_option
def upgrade(data_dir: Path, store_url: str | None) -> None:
    """Bring the database schema up to this version of modelreg (SQLite is backed up first)."""
    from modelreg.store import migrate
    from modelreg.store.sql import create_engine

    settings = Settings(data_dir=data_dir, store_url=store_url)
    sqlite_path = settings.sqlite_path
    if sqlite_path is not None:
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.database_url)
    try:
        with _database_errors(settings):
            before = migrate.current_revision(engine)
            backup = migrate.upgrade(engine, sqlite_path)
        if before == migrate.head_revision():
            click.echo(f"schema: {before}, the current one; nothing to do")
        else:
            click.echo(f"schema: {before or 'empty'} -> {migrate.head_revision()}")
        if backup:
            click.echo(f"backup of the previous database: {backup}")
    finally:
        engine.dispose()


@main.group()
def events() -> None:
    """Event deliveries: list them, send one again, print the webhook signing secret."""


@events.command("deliveries")
@endpoint_option
@click.option("--rule", help="Only deliveries of this rule.")
@click.option("--status", type=click.Choice(["pending", "succeeded", "dead"]), help="Only this status.")
@click.option(
    "--limit", type=int, default=50, show_default=True, help="How many, newest first (at most 500)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_deliveries(endpoint: str, rule: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """Recent deliveries, newest first."""
    from rich.console import Console
    from rich.table import Table

    params = {k: v for k, v in {"rule": rule, "status": status, "limit": str(limit)}.items() if v}
    _, answer = call_api("GET", endpoint, "/api/deliveries", query=params)
    rows = answer["deliveries"]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("id", "rule", "target", "status", "attempts", "last code", "last error")
    for d in rows:
        table.add_row(
            str(d["id"]),
            d["rule"],
            d["targetId"],
            d["status"],
            str(d["attempts"]),
            str(d["lastStatusCode"] or ""),
            (d["lastError"] or "")[:60],
        )
    Console().print(table)


@events.command()
@endpoint_option
@click.argument("delivery_id", type=int)
def redeliver(endpoint: str, delivery_id: int) -> None:
    """Send delivery DELIVERY_ID again now (a dead letter, or one that already succeeded)."""
    call_api("POST", endpoint, f"/api/deliveries/{delivery_id}/redeliver")
    click.echo(f"delivery {delivery_id} queued again")


@events.command("signing-key")
@_data_dir_option
@_store_option
def signing_key(data_dir: Path, store_url: str | None) -> None:
    """Print the secret that signs webhooks (Standard Webhooks webhook-signature), for receivers."""
    from modelreg.events.webhook import signing_secret
    from modelreg.store import open_store

    settings = Settings(data_dir=data_dir, store_url=store_url)
    with _database_errors(settings):
        store = open_store(settings.database_url)
    try:
        click.echo(signing_secret(store, env("WEBHOOK_SECRET")))
    finally:
        store.close()


@main.group()
def policy() -> None:
    """Promotion policies: the gates a group's versions must pass to be approved."""


def _policy_request(
    method: str, endpoint: str, group: str, region: str | None, body: bytes | None = None
) -> tuple[int, Any]:
    """Call ``/api/model-package-groups/GROUP/promotion-policy``; (status, decoded JSON or None)."""
    path = f"/api/model-package-groups/{quoted(group)}/promotion-policy"
    return call_api(method, endpoint, path, body or b"", region)


@policy.command("set")
@endpoint_option
@region_option
@click.argument("group")
@click.argument("file", type=click.File("rb"))
def policy_set(endpoint: str, region: str | None, group: str, file: BinaryIO) -> None:
    """Set the promotion policy of GROUP from FILE (JSON; - reads standard input).

    \b
    {"gates": [{"metric": "auc", "min": 0.85},
               {"metric": "auc", "min_improvement": 0.01},
               {"metric": "latency_p99_ms", "max": 20}],
     "auto_approve": true,
     "four_eyes": true}
    """
    _, stored = _policy_request("PUT", endpoint, group, region, file.read())
    rules = stored["policy"]
    click.echo(
        f"promotion policy of {stored['ModelPackageGroupName']} set: {len(rules['gates'])} gate(s), "
        f"auto_approve {'on' if rules['auto_approve'] else 'off'}, "
        f"four_eyes {'on' if rules['four_eyes'] else 'off'}"
    )


@policy.command("show")
@endpoint_option
@region_option
@click.argument("group")
def policy_show(endpoint: str, region: str | None, group: str) -> None:
    """Print the promotion policy of GROUP as JSON (what `policy set` takes)."""
    _, stored = _policy_request("GET", endpoint, group, region)
    click.echo(json.dumps(stored["policy"], indent=2))


@policy.command("delete")
@endpoint_option
@region_option
@click.argument("group")
def policy_delete(endpoint: str, region: str | None, group: str) -> None:
    """Remove the promotion policy of GROUP: its versions are approved by hand, unchecked."""
    _policy_request("DELETE", endpoint, group, region)
    click.echo(f"promotion policy of {group} deleted")


main.add_command(rollback_command)
main.add_command(gc_command)
main.add_command(register_command)


if __name__ == "__main__":
    main()
