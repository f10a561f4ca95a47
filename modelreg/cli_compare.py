"""``modelreg compare GROUP 3 5 7``: versions' metrics side by side with deltas against a baseline,
then what differs in their inference specification and customer metadata.

A client of ``GET /api/model-package-groups/{group}/compare`` (see :mod:`modelreg.api.metrics`),
printed as rich tables, or as the API's JSON with ``--json``.
"""

from __future__ import annotations

import json
from typing import Any

import click

from modelreg.cli_options import call_api, endpoint_option, quoted, region_option

MISSING = "—"


def fetch_comparison(
    endpoint: str, group: str, versions: tuple[int, ...], baseline: str, region: str | None
) -> dict[str, Any]:
    """The compare API's answer; ``ClickException`` with the server's message on an error."""

    query = {"versions": ",".join(map(str, versions))}
    if baseline != "first":
        query["baseline"] = baseline
    _, answer = call_api(
        "GET", endpoint, f"/api/model-package-groups/{quoted(group)}/compare", region=region, query=query
    )
    if not isinstance(answer, dict):
        raise click.ClickException("modelreg answered the comparison with something that is not JSON")
    return answer


def _number(value: float) -> str:
    return f"{value:.6g}"


def _cell(value: float | None, delta: float | None, baseline: bool) -> str:
    if value is None:
        return MISSING
    if baseline or delta is None:
        return _number(value)
    return f"{_number(value)} ({delta:+.6g})"


def _shown(value: Any) -> str:
    if value is None:
        return MISSING
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def _field(name: str) -> str:
    return name.removeprefix("InferenceSpecification.")


def _table(title: str, first: str, headers: list[str]) -> Any:
    """A table whose long cells (image URIs, S3 URIs) wrap rather than lose their ends."""
    from rich.table import Table

    table = Table(title=title)
    for header in (first, *headers):
        table.add_column(header, overflow="fold")
    return table


def render(answer: dict[str, Any], console: Any) -> None:
    """Print a comparison: a metrics table (rows: metrics, columns: versions, the baseline first),
    notes on metrics files that are pending or failed, then a table of differences."""
    versions = answer["versions"]
    base = answer["baseline"]
    basis = "the latest Approved version" if base["basis"] == "approved" else "the first version asked for"
    console.print(
        f"[bold]{answer['ModelPackageGroupName']}[/bold]: deltas against version {base['version']} ({basis})"
    )
    headers = [
        f"v{v['version']}{' (baseline)' if v['baseline'] else ''}\n{v['ModelApprovalStatus'] or ''}"
        for v in versions
    ]
    if answer["metrics"]:
        table = _table("Metrics", "metric", headers)
        for name, row in answer["metrics"].items():
            cells = [
                _cell(value, delta, v["baseline"])
                for value, delta, v in zip(row["values"], row["deltas"], versions, strict=True)
            ]
            table.add_row(name, *cells)
        console.print(table)
    else:
        console.print("No metrics recorded for these versions.")
    for v in versions:
        if v["metricsStatus"] == "pending":
            console.print(f"v{v['version']}: metrics files are still being read.")
        elif v["metricsStatus"] == "none":
            console.print(f"v{v['version']}: no ModelMetrics files registered.")
        for error in v["metricsErrors"]:
            console.print(f"v{v['version']}: [red]failed[/red] {error}", markup=True, highlight=False)
    if not answer["differences"]:
        console.print("Inference specification and customer metadata: the same in every version.")
        return
    diffs = _table("Differences", "field", headers)
    for diff in answer["differences"]:
        diffs.add_row(_field(diff["field"]), *[_shown(value) for value in diff["values"]])
    console.print(diffs)


@click.command("compare")
@endpoint_option
@region_option
@click.option(
    "--baseline",
    type=click.Choice(["first", "approved"]),
    default="first",
    show_default=True,
    help="Deltas against the first version given, or against the group's latest Approved version "
    "(shown first).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead of tables.")
@click.argument("group")
@click.argument("versions", nargs=-1, required=True, type=click.IntRange(min=1))
def compare(
    endpoint: str, region: str | None, baseline: str, as_json: bool, group: str, versions: tuple[int, ...]
) -> None:
    """Compare VERSIONS of GROUP: metrics side by side with deltas, then the differences in
    inference specification (images, model data, content and instance types) and metadata.

    \b
    modelreg compare fraud-detector 3 5 7
    modelreg compare fraud-detector 8 --baseline approved
    """
    from rich.console import Console

    answer = fetch_comparison(endpoint, group, versions, baseline, region)
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    render(answer, Console(highlight=False))
