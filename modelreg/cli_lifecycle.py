"""The CLI commands of a version's life after training: ``register`` a model file, ``rollback``
an endpoint, clean a group up with ``gc``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from modelreg.cli_options import call_api, endpoint_option, quoted, region_option


@click.command("rollback")
@endpoint_option
@region_option
@click.option("--to", "to_change", type=int, help="Roll back to this change number (see its history).")
@click.argument("endpoint_name")
def rollback_command(endpoint: str, region: str | None, to_change: int | None, endpoint_name: str) -> None:
    """Serve again what served ENDPOINT_NAME before its current configuration (zero-downtime; the
    rollback is recorded in the endpoint's deployment history)."""
    body = json.dumps({"toChange": to_change} if to_change is not None else {}).encode()
    _, result = call_api("POST", endpoint, f"/api/endpoints/{quoted(endpoint_name)}/rollback", body, region)
    click.echo(
        f"endpoint {result['endpoint']}: rolling back to change {result['rolledBackTo']} "
        f"(recorded as change {result['change']}); it stays InService throughout"
    )


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``3600s`` or plain seconds, as seconds."""
    unit = text[-1:].lower()
    number = text[:-1] if unit in _DURATION_UNITS else text
    try:
        value = float(number)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a duration such as 30d, 12h, 90m or 3600s") from None
    return value * _DURATION_UNITS.get(unit, 1)


@click.command("gc")
@endpoint_option
@region_option
@click.option("--keep-last", type=click.IntRange(min=0), help="Keep the newest N versions; older ones go.")
@click.option(
    "--rejected-older-than", "rejected_older_than", help="Delete Rejected versions older than this (30d)."
)
@click.option("--dry-run", is_flag=True, help="Show what would go, delete nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.argument("group")
def gc_command(
    endpoint: str,
    region: str | None,
    keep_last: int | None,
    rejected_older_than: str | None,
    dry_run: bool,
    as_json: bool,
    group: str,
) -> None:
    """Delete old and rejected versions of GROUP and the artifacts nothing else references.

    Never deletes the latest Approved version, a version serving an endpoint, or a rollback target
    still in an endpoint's history; every deletion stays in the history and emits its event."""
    from rich.console import Console
    from rich.table import Table

    if keep_last is None and rejected_older_than is None:
        raise click.UsageError("give --keep-last N and/or --rejected-older-than DURATION")
    options: dict[str, Any] = {"dryRun": dry_run}
    if keep_last is not None:
        options["keepLast"] = keep_last
    if rejected_older_than is not None:
        options["rejectedOlderThanSeconds"] = _seconds(rejected_older_than)
    path = f"/api/model-package-groups/{quoted(group)}/gc"
    _, result = call_api("POST", endpoint, path, json.dumps(options).encode(), region, timeout=600)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    console = Console()
    gone = result.get("wouldDelete" if dry_run else "deleted", [])
    table = Table(
        "version", "status", "why", title=("Would delete" if dry_run else "Deleted") + f" ({len(gone)})"
    )
    for v in gone:
        table.add_row(str(v["version"]), v["approvalStatus"] or "", "; ".join(v["reasons"]))
    console.print(table)
    if result["protected"]:
        kept = Table(
            "version", "status", "kept because", title=f"Kept by a guardrail ({len(result['protected'])})"
        )
        for v in result["protected"]:
            kept.add_row(str(v["version"]), v["approvalStatus"] or "", v["protectedBy"])
        console.print(kept)
    files = Table(
        "artifact", "bytes", "state", title=f"Artifacts no other version uses ({len(result['artifacts'])})"
    )
    for a in result["artifacts"]:
        state = "would delete" if dry_run else "deleted" if a["deleted"] else f"kept: {a.get('error', '')}"
        files.add_row(a["uri"], str(a["bytes"] if a["bytes"] is not None else "?"), state)
    console.print(files)
    reclaimed = result.get("bytesToReclaim" if dry_run else "bytesReclaimed", 0)
    console.print(f"{'Would reclaim' if dry_run else 'Reclaimed'} {reclaimed} bytes")


@click.command("register")
@endpoint_option
@click.option("--region", default=None, help="Region of the group. Default: your AWS configuration's.")
@click.option(
    "--model", "model", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="./model.joblib, ./xgboost-model (or .ubj/.json) or a ready ./model.tar.gz.",
)  # fmt: skip
@click.option("--framework", type=click.Choice(["xgboost", "sklearn"]), help="Default: from the file name.")
@click.option("--metrics", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="metrics.json")
@click.option("--meta", multiple=True, metavar="KEY=VALUE", help="Customer metadata (repeatable).")
@click.option(
    "--dataset", "datasets", multiple=True, metavar="URI", help="A dataset it was trained on (repeatable)."
)
@click.option("--description", help="ModelPackageDescription.")
@click.option("--approve", is_flag=True, help="Register it Approved (default: PendingManualApproval).")
@click.option("--bucket", default="modelreg-artifacts", show_default=True, help="Bucket to upload to.")
@click.argument("group")
def register_command(
    endpoint: str,
    region: str | None,
    model: Path,
    framework: str | None,
    metrics: Path | None,
    meta: tuple[str, ...],
    datasets: tuple[str, ...],
    description: str | None,
    approve: bool,
    bucket: str,
    group: str,
) -> None:
    """Pack MODEL as model.tar.gz, upload it with its metrics, and register it in GROUP."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from modelreg.registering import RegisterError, register

    properties = {}
    for pair in meta:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--meta")
        properties[key] = value
    columns = ("{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("uploading", total=None)
        try:
            done = register(
                group, model, framework=framework, metrics=metrics, meta=properties, datasets=datasets,
                approve=approve, description=description, bucket=bucket, endpoint_url=endpoint, region=region,
                progress=lambda n: bar.advance(task, n),
            )  # fmt: skip
        except RegisterError as exc:
            raise click.ClickException(str(exc)) from None
        except ClientError as exc:
            raise click.ClickException(f"modelreg at {endpoint} refused the registration: {exc}") from None
        except NoCredentialsError:
            raise click.ClickException(
                "no AWS credentials to sign the requests with: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or a profile); with --auth none any pair will do, and its "
                "key id names you in the history"
            ) from None
        except EndpointConnectionError as exc:
            raise click.ClickException(f"cannot reach modelreg at {endpoint}: {exc}") from None
        except BotoCoreError as exc:
            raise click.ClickException(f"could not register with modelreg at {endpoint}: {exc}") from None
    click.echo(f"registered {done.model_package_arn}")
    click.echo(f"  model data  {done.model_data_url}  (sha256 {done.sha256})")
    if done.metrics_url:
        click.echo(f"  metrics     {done.metrics_url}")
