"""Cleanup with guardrails: delete a group's old and rejected versions, and the artifacts that no
other version, model or deployment references, and say how much space came back.

Selection (either or both): every version but the newest ``keep_last``; Rejected versions created
more than ``rejected_older_than_s`` seconds ago. Never deleted, whatever the selection says:
- the group's latest Approved version;
- a version that serves an endpoint (or is being deployed to one);
- a rollback target: a version that served an endpoint that still exists (its deployment history
  could send traffic back to it).
Each deletion goes through the same path as DeleteModelPackage: it keeps its history entry and
emits its event.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from modelreg.artifacts import ArtifactError, ArtifactStore
from modelreg.aws.dispatch import RequestContext
from modelreg.errors import ConflictException, ValidationException
from modelreg.sagemaker import named
from modelreg.sagemaker.common import get_group, us_to_epoch
from modelreg.sagemaker.model_packages import remove_package
from modelreg.store.base import Transaction
from modelreg.store.rows import PackageRow

#: body members whose values are artifact URIs
_URI_MEMBERS = ("ModelDataUrl", "S3Uri")


@dataclass
class VersionDecision:
    version: int
    arn: str
    status: str | None
    created_us: int
    reasons: list[str] = field(default_factory=list)  # why the selection picked it
    protected_by: str | None = None  # the guardrail that keeps it

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "arn": self.arn,
            "approvalStatus": self.status,
            "createdAt": us_to_epoch(self.created_us),
            "reasons": self.reasons,
            **({"protectedBy": self.protected_by} if self.protected_by else {}),
        }


@dataclass
class ArtifactDecision:
    uri: str
    versions: list[int]
    size: int | None = None
    deleted: bool = False
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "uri": self.uri,
            "versions": self.versions,
            "bytes": self.size,
            "deleted": self.deleted,
        }
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class Plan:
    group: str
    delete: list[VersionDecision]
    protected: list[VersionDecision]
    artifacts: list[ArtifactDecision]

    def as_json(self, dry_run: bool) -> dict[str, Any]:
        return {
            "ModelPackageGroupName": self.group,
            "dryRun": dry_run,
            "deleted" if not dry_run else "wouldDelete": [d.as_json() for d in self.delete],
            "protected": [d.as_json() for d in self.protected],
            "artifacts": [a.as_json() for a in self.artifacts],
            "bytesReclaimed" if not dry_run else "bytesToReclaim": sum(
                a.size or 0 for a in self.artifacts if a.deleted or dry_run
            ),
        }


def artifact_uris(body: Any) -> Iterator[str]:
    """Every artifact URI in a resource body (model data, metrics and baseline files)."""
    if isinstance(body, dict):
        for key, value in body.items():
            if key in _URI_MEMBERS and isinstance(value, str):
                yield value
            else:
                yield from artifact_uris(value)
    elif isinstance(body, list):
        for item in body:
            yield from artifact_uris(item)


def plan_cleanup(
    tx: Transaction,
    ctx: RequestContext,
    group_name: str,
    *,
    keep_last: int | None,
    rejected_older_than_s: float | None,
    artifacts: ArtifactStore | None = None,
) -> Plan:
    """What a cleanup of ``group_name`` deletes and keeps, and why (nothing is changed)."""
    if keep_last is None and rejected_older_than_s is None:
        raise ValidationException("Say what to clean up: keep_last and/or rejected_older_than.")
    if keep_last is not None and keep_last < 0:
        raise ValidationException("keep_last must be 0 or more.")
    if rejected_older_than_s is not None and rejected_older_than_s < 0:
        # a cutoff in the future would select every Rejected version
        raise ValidationException("rejected_older_than must be 0 seconds or more.")
    group = get_group(tx, ctx, group_name)
    versions = sorted(
        (r for r in tx.iter_packages(group.region, group.id) if r.version is not None),
        key=lambda r: r.version or 0,
        reverse=True,
    )
    latest_approved = next((r.version for r in versions if r.approval_status == "Approved"), None)
    cutoff_us = ctx.now_us() - int((rejected_older_than_s or 0) * 1_000_000)
    delete, protected = [], []
    for index, row in enumerate(versions):
        assert row.version is not None
        decision = VersionDecision(row.version, row.arn, row.approval_status, row.created_us)
        if keep_last is not None and index >= keep_last:
            decision.reasons.append(f"older than the newest {keep_last}")
        if (
            rejected_older_than_s is not None
            and row.approval_status == "Rejected"
            and row.created_us < cutoff_us
        ):
            decision.reasons.append(f"Rejected more than {_duration(rejected_older_than_s)} ago")
        if not decision.reasons:
            continue
        decision.protected_by = _guardrail(tx, row, latest_approved)
        (protected if decision.protected_by else delete).append(decision)
    doomed = {d.arn for d in delete}
    return Plan(
        group.name, delete, protected, _orphaned_artifacts(tx, group.region, versions, doomed, artifacts)
    )


def _guardrail(tx: Transaction, row: PackageRow, latest_approved: int | None) -> str | None:
    if row.version == latest_approved:
        return "the latest Approved version"
    serving = tx.package_serving_endpoints(row.arn)
    if serving:
        return f"serves the endpoint(s) {', '.join(serving)}"
    for deployment in tx.list_deployments(package_arn=row.arn):
        if deployment.live_us is None:
            continue
        if tx.get_resource(deployment.region, named.ENDPOINT, deployment.endpoint_name.lower()) is not None:
            name, change = deployment.endpoint_name, deployment.change
            return f"a rollback target of endpoint {name} (it served change {change})"
    return None


def _orphaned_artifacts(
    tx: Transaction,
    region: str,
    versions: list[PackageRow],
    doomed: set[str],
    artifacts: ArtifactStore | None,
) -> list[ArtifactDecision]:
    """Artifacts of the doomed versions that nothing left behind references."""
    owners: dict[str, list[int]] = {}
    for row in versions:
        if row.arn in doomed:
            for uri in set(artifact_uris(row.body)):
                owners.setdefault(uri, []).append(row.version or 0)
    if not owners:
        return []
    still_used: set[str] = set()
    for row in tx.iter_packages(region):
        if row.arn not in doomed:
            still_used.update(artifact_uris(row.body))
    for model in named.all_of_kind(tx, region, named.MODEL):
        still_used.update(artifact_uris(model.body))
    for endpoint in named.all_of_kind(tx, region, named.ENDPOINT):
        still_used.update(artifact_uris(endpoint.body))
    found = []
    for uri in sorted(set(owners) - still_used):
        decision = ArtifactDecision(uri, sorted(owners[uri]))
        if artifacts is not None:
            try:
                decision.size = artifacts.size(uri)
            except ArtifactError as exc:
                decision.error = str(exc)
        found.append(decision)
    return found


def run_cleanup(ctx: RequestContext, plan: Plan, artifacts: ArtifactStore) -> Plan:
    """Delete what ``plan`` selected, one version per transaction (a version that started serving
    since the plan is skipped and reported), then the orphaned artifacts."""
    deleted = []
    for decision in plan.delete:
        try:
            with ctx.store.write() as tx:
                row = tx.get_package_by_arn(decision.arn, for_update=True)
                if row is None:
                    continue  # deleted meanwhile
                remove_package(tx, ctx, row)
        except ConflictException as exc:
            decision.protected_by = exc.message
            plan.protected.append(decision)
            continue
        deleted.append(decision)
    gone = {d.version for d in deleted}
    plan.delete = deleted
    plan.artifacts = [a for a in plan.artifacts if set(a.versions) <= gone]
    for artifact in plan.artifacts:
        if artifact.size is None and artifact.error:
            continue  # it could not even be looked at (already gone, or unreachable)
        try:
            artifacts.delete(artifact.uri)
            artifact.deleted = True
        except ArtifactError as exc:
            artifact.error = str(exc)
    return plan


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
