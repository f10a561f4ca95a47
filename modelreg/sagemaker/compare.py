"""Comparing versions of a model package group: metrics side by side with deltas, and what differs
in their inference specification and customer metadata.

Pure: the caller loads the versions (package rows, their metrics and metric sources) and gets back
the JSON that ``GET /api/model-package-groups/{name}/compare`` answers (and ``modelreg compare``
prints). Columns are the versions in the order given, the baseline first; every list in the answer
(``values``, ``deltas``) is aligned with ``versions``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelreg.sagemaker.common import us_to_epoch
from modelreg.store.rows import MetricSource, PackageRow

#: per-container members shown when they differ
CONTAINER_MEMBERS = (
    "Image",
    "ImageDigest",
    "ModelDataUrl",
    "Framework",
    "FrameworkVersion",
    "NearestModelName",
)
#: list members of the inference specification shown when they differ
SPEC_LISTS = (
    "SupportedContentTypes",
    "SupportedResponseMIMETypes",
    "SupportedRealtimeInferenceInstanceTypes",
    "SupportedTransformInstanceTypes",
)


def spec_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The compared fields of a version, by name: container images, model data, frameworks and
    environment, content types and instance types, then customer metadata properties."""
    fields: dict[str, Any] = {}
    spec = body.get("InferenceSpecification") or {}
    for i, container in enumerate(spec.get("Containers") or []):
        where = f"InferenceSpecification.Containers[{i}]"
        for member in CONTAINER_MEMBERS:
            if container.get(member) is not None:
                fields[f"{where}.{member}"] = container[member]
        s3 = ((container.get("ModelDataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
        if s3:
            fields[f"{where}.ModelDataSource.S3DataSource.S3Uri"] = s3
        for key, value in sorted((container.get("Environment") or {}).items()):
            fields[f"{where}.Environment.{key}"] = value
    for member in SPEC_LISTS:
        if spec.get(member):
            fields[f"InferenceSpecification.{member}"] = list(spec[member])
    for key, value in sorted((body.get("CustomerMetadataProperties") or {}).items()):
        fields[f"CustomerMetadataProperties.{key}"] = value
    return fields


def differences(bodies: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The fields whose values are not the same in every version (None where a version lacks one),
    in a stable order: specification fields as they appear, then metadata keys."""
    per_version = [spec_fields(b) for b in bodies]
    names: dict[str, None] = {}
    for fields in per_version:
        names.update(dict.fromkeys(fields))
    spec_names = [n for n in names if not n.startswith("CustomerMetadataProperties.")]
    meta_names = sorted(n for n in names if n.startswith("CustomerMetadataProperties."))
    out = []
    for name in spec_names + meta_names:
        values = [fields.get(name) for fields in per_version]
        if any(v != values[0] for v in values[1:]):
            out.append({"field": name, "values": values})
    return out


def _delta(value: float | None, base: float | None) -> float | None:
    if value is None or base is None:
        return None
    return float(f"{value - base:.12g}")  # 0.93 - 0.91 is 0.02, not 0.020000000000000018


def metric_table(
    metrics: Sequence[Mapping[str, float]], baseline_index: int = 0
) -> dict[str, dict[str, list[float | None]]]:
    """``{name: {"values": [...], "deltas": [...]}}`` for every metric any version has, by name;
    deltas are against the version at ``baseline_index`` (None where either lacks the metric)."""
    names = sorted({name for m in metrics for name in m})
    base = metrics[baseline_index] if metrics else {}
    table = {}
    for name in names:
        values = [m.get(name) for m in metrics]
        table[name] = {"values": values, "deltas": [_delta(v, base.get(name)) for v in values]}
    return table


def metrics_status(sources: Sequence[MetricSource]) -> str:
    """One word for a version's metrics files: none, pending, failed (any failed) or read."""
    statuses = {s.status for s in sources}
    for status in ("pending", "failed", "read"):
        if status in statuses:
            return status
    return "none"


def source_json(source: MetricSource) -> dict[str, Any]:
    return {
        "member": source.member,
        "uri": source.uri,
        "status": source.status,
        "sha256": source.sha256,
        "error": source.error,
        "attempts": source.attempts,
        "updatedAt": us_to_epoch(source.updated_us) if source.status != "pending" else None,
    }


def version_json(row: PackageRow, sources: Sequence[MetricSource], baseline: bool) -> dict[str, Any]:
    return {
        "version": row.version,
        "ModelPackageArn": row.arn,
        "ModelApprovalStatus": row.approval_status,
        "CreationTime": us_to_epoch(row.created_us),
        "baseline": baseline,
        "metricsStatus": metrics_status(sources),
        "metricsErrors": [f"{s.member}: {s.error}" for s in sources if s.status == "failed"],
    }


def comparison(
    group_name: str,
    rows: Sequence[PackageRow],
    metrics: Mapping[str, Mapping[str, float]],
    sources: Sequence[MetricSource],
    basis: str,
) -> dict[str, Any]:
    """The compare answer for ``rows`` (the baseline first); ``metrics`` and ``sources`` by ARN;
    ``basis`` says how the baseline was chosen (first | approved)."""
    by_arn: dict[str, list[MetricSource]] = {}
    for source in sources:
        by_arn.setdefault(source.package_arn, []).append(source)
    return {
        "ModelPackageGroupName": group_name,
        "baseline": {"version": rows[0].version, "basis": basis},
        "versions": [version_json(r, by_arn.get(r.arn, []), i == 0) for i, r in enumerate(rows)],
        "metrics": metric_table([metrics.get(r.arn, {}) for r in rows]),
        "differences": differences([r.body for r in rows]),
    }
