"""Lineage that modelreg records by itself, as SageMaker does, plus the lineage API handlers
(importing this module registers them: entities in ``lineage_entities``, associations in
``lineage_associations``, QueryLineage in ``lineage_query``).

For each registered version (``record_lineage``; a registration only puts the version on
the lineage backlog, and the rows are recorded before anything reads lineage: see
``lineage_backlog``):

- the version gets an artifact, ArtifactType ``Model``, whose SourceUri is its ARN (find it with
  ``ListArtifacts(SourceUri=<model package ARN>)``, as with SageMaker; association ends can only
  be artifacts, actions or contexts, never a model package ARN);
- each container's ModelDataUrl (ArtifactType ``ModelData``) and Image (``Image``), each dataset
  URI given as ``modelreg:dataset:<n>`` customer metadata (``DataSet``), and the code, from
  ``MetadataProperties.CommitId``/``Repository`` or ``modelreg:git_commit`` (``Code``; a dirty
  working tree is a different artifact, SourceType Custom ``dirty``), contribute to it
  (``ContributedTo``);
- ``MetadataProperties.GeneratedBy`` (a training job, pipeline execution, ... ARN or any URI)
  becomes an action (ActionType ``TrainingJob``, ``PipelineExecution``, ``ProcessingJob``,
  ``TransformJob`` or ``Custom``) that ``Produced`` it; a lineage entity ARN is linked as it is;
- it is ``AssociatedWith`` its group's context (ContextType ``ModelGroup``).

Artifacts are shared by SourceUri (an image used by every version is one artifact), so the cost
is a few index lookups and inserts per version, and nothing when there is nothing to link.

When an endpoint change goes live (``on_change_live``): a ``ModelDeployment`` action for the
change, to which each model package version it serves contributed, associated with the
endpoint's context (ContextType ``Endpoint``, SourceUri the endpoint ARN): QueryLineage with
``Descendants`` from a version's artifact finds the endpoints that served it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from modelreg import arns
from modelreg.aws.auth import Principal
from modelreg.aws.dispatch import RequestContext
from modelreg.config import Settings
from modelreg.sagemaker import (  # noqa: F401  (importing a handler module registers its operations)
    lineage_associations,
    lineage_query,
)
from modelreg.sagemaker.lineage_associations import association_row
from modelreg.sagemaker.lineage_entities import (
    ACTION,
    CONTEXT,
    NAME_MEMBER,
    SOURCE_INDEX,
    artifact_ref,
    artifact_rows,
    find_by_arn,
    kind_of,
    new_named,
    source_key,
    uri_key,
)
from modelreg.store.base import Store, Transaction
from modelreg.store.rows import AssociationRow, GroupRow, NamedResource, PackageRow

DATASET_PREFIX = "modelreg:dataset:"
GIT_COMMIT, GIT_DIRTY, COMMAND = "modelreg:git_commit", "modelreg:git_dirty", "modelreg:command"
_MAX_PROPERTY = 2500
_JOB_TYPES = {
    "training-job": "TrainingJob",
    "processing-job": "ProcessingJob",
    "transform-job": "TransformJob",
    "pipeline": "PipelineExecution",
}


@dataclass
class _Wanted:
    """An artifact a version's members name: its Source, type and (when created) properties."""

    uri: str
    artifact_type: str
    source_types: list[dict[str, str]] | None = None
    properties: dict[str, str] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        source: dict[str, Any] = {"SourceUri": self.uri}
        if self.source_types:
            source["SourceTypes"] = self.source_types
        return {"Source": source, "ArtifactType": self.artifact_type, "Properties": self.properties}


def package_artifact_key(row: PackageRow) -> str:
    """Source index name of a version's own artifact: its ARN and registration time, so a version
    registered again under a reused ARN (its group deleted and created anew) gets a new artifact."""
    return f"{uri_key(row.arn)}v{row.created_us}"


def package_artifact(tx: Transaction, row: PackageRow) -> NamedResource | None:
    """The artifact that stands for a version in the lineage graph, if it has one."""
    index = tx.get_resource(row.region, SOURCE_INDEX, package_artifact_key(row))
    return None if index is None else find_by_arn(tx, index.arn)


def _package_params(row: PackageRow) -> dict[str, Any]:
    properties = {"ModelPackageGroupName": row.name}
    if row.version is not None:
        properties["ModelPackageVersion"] = str(row.version)
    command = (row.body.get("CustomerMetadataProperties") or {}).get(COMMAND)
    if command:
        properties["Command"] = command[:_MAX_PROPERTY]
    return {"Source": {"SourceUri": row.arn}, "ArtifactType": "Model", "Properties": properties}


def ensure_package_artifact(tx: Transaction, ctx: RequestContext, row: PackageRow) -> NamedResource:
    """A version's artifact, created now if it has none (registered before lineage was recorded)."""
    record_if_deferred(tx, ctx, row)
    found = package_artifact(tx, row)
    if found is not None:
        return found
    artifact, index_row = artifact_rows(ctx, _package_params(row), ctx.now_us(), package_artifact_key(row))
    index, created = tx.insert_resource_if_absent(index_row)
    if created:
        return tx.insert_resource(artifact)
    return artifact_ref(index)


def _slug(text: str, limit: int) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-")[:limit].strip("-")


def _generator_params(generated_by: str) -> dict[str, Any]:
    """The action (CreateAction members) that stands for what a version was ``GeneratedBy``."""
    parsed = arns.parse(generated_by)
    action_type = _JOB_TYPES.get(parsed.resource_type, "Custom") if parsed else "Custom"
    resource = parsed.resource if parsed else generated_by
    digest = hashlib.sha256(generated_by.encode()).hexdigest()[:10]
    return {
        "ActionName": f"{_slug(resource, 100) or 'generated-by'}-{digest}",
        "Source": {"SourceUri": generated_by[:2048]},
        "ActionType": action_type,
        "Status": "Completed",
    }


def _group_context_params(group: GroupRow) -> dict[str, Any]:
    """The context (CreateContext members) of a model package group, as SageMaker names it."""
    return {
        "ContextName": f"{group.name.lower()}-{group.created_us // 1_000_000}-aws-model-package-group",
        "Source": {"SourceUri": group.arn},
        "ContextType": "ModelGroup",
    }


def _named(
    tx: Transaction,
    ctx: RequestContext,
    kind: str,
    params: dict[str, Any],
    found: dict[tuple[str, str], NamedResource],
    now: int,
) -> NamedResource:
    """The action or context ``params`` name: from ``found``, or created now (and added to it)."""
    key = (kind, params[NAME_MEMBER[kind]].lower())
    if key not in found:
        found[key] = new_named(tx, ctx, kind, params, now=now)[0]
    return found[key]


def _wanted(body: dict[str, Any]) -> list[_Wanted]:
    """The artifacts that contributed to a version, from its members: model data and images of
    its containers, datasets and code from its metadata."""
    metadata = body.get("MetadataProperties") or {}
    custom = body.get("CustomerMetadataProperties") or {}
    wanted: list[_Wanted] = []
    for container in (body.get("InferenceSpecification") or {}).get("Containers") or []:
        if container.get("ModelDataUrl"):
            wanted.append(_Wanted(container["ModelDataUrl"], "ModelData"))
        if container.get("Image"):
            wanted.append(_Wanted(container["Image"], "Image"))
    for _, uri in sorted((k, v) for k, v in custom.items() if k.startswith(DATASET_PREFIX) and v):
        wanted.append(_Wanted(uri, "DataSet"))
    commit = metadata.get("CommitId") or custom.get(GIT_COMMIT)
    repository = metadata.get("Repository")
    if commit or repository:
        uri = f"{repository}@{commit}" if commit and repository else (commit or repository)
        properties = {k: v for k, v in (("CommitId", commit), ("Repository", repository)) if v}
        code = _Wanted(uri, "Code", None, properties)
        if str(custom.get(GIT_DIRTY, "")).lower() in ("true", "1", "yes"):
            code.source_types = [{"SourceIdType": "Custom", "Value": "dirty"}]
            code.properties["Dirty"] = "true"
        wanted.append(code)
    return wanted


def _link(
    ctx: RequestContext, pairs: list[tuple[NamedResource, NamedResource, str]], now: int
) -> list[AssociationRow]:
    seen: set[tuple[str, str]] = set()
    rows = []
    for source, destination, kind in pairs:
        if (source.arn, destination.arn) in seen or source.arn == destination.arn:
            continue
        seen.add((source.arn, destination.arn))
        rows.append(association_row(ctx, source, destination, kind, now))
    return rows


def _has_lineage(body: dict[str, Any]) -> bool:
    """Whether a version with these members has automatic lineage (anything to link)."""
    return bool(_wanted(body) or (body.get("MetadataProperties") or {}).get("GeneratedBy"))


def on_version_created(tx: Transaction, row: PackageRow) -> None:
    """A version was registered: put it on the lineage backlog if it has lineage to record
    (``lineage_backlog``; ``record_lineage`` writes it later, before anything reads it)."""
    assert row.id is not None
    if _has_lineage(row.body):
        tx.defer_lineage(row.id)


def registrant(settings: Settings, store: Store, row: PackageRow) -> RequestContext:
    """The context of the caller who registered ``row`` (its CreatedBy), to record its lineage as
    that caller."""
    created_by = row.body.get("CreatedBy") or {}
    principal = Principal(
        access_key_id=(created_by.get("IamIdentity") or {}).get("PrincipalId", ""),
        user_name=created_by.get("UserProfileName", ""),
        account_id=settings.account_id,
        region=row.region,
        service="sagemaker",
    )
    return RequestContext(principal, request_id="", settings=settings, store=store)


def record_if_deferred(tx: Transaction, ctx: RequestContext, row: PackageRow) -> None:
    """Record the lineage of ``row`` now if it is on the backlog: before the version is deleted, or
    a member its lineage derives from changes, or something links to its artifact."""
    if row.id is not None and row.version is not None and tx.undefer_lineage([row.id]):
        record_lineage(tx, ctx.settings, ctx.store, [row])


@dataclass
class _Plan:
    """What one version's lineage links, before the entities it shares are looked up."""

    row: PackageRow
    registrant: RequestContext
    wanted: list[_Wanted]
    source_keys: list[tuple[str, str]]
    linked: NamedResource | None
    generator: dict[str, Any] | None
    context: dict[str, Any] | None

    def lookups(self) -> list[tuple[str, str]]:
        """The (kind, name) keys of the entities it links that may exist already."""
        return [
            *self.source_keys,
            *([(ACTION, self.generator["ActionName"].lower())] if self.generator else []),
            *([(CONTEXT, self.context["ContextName"].lower())] if self.context else []),
        ]


def _plan(
    tx: Transaction, settings: Settings, store: Store, row: PackageRow, group: GroupRow | None
) -> _Plan | None:
    wanted = _wanted(row.body)
    generated_by = (row.body.get("MetadataProperties") or {}).get("GeneratedBy")
    if not wanted and not generated_by:
        return None
    linked = find_by_arn(tx, generated_by) if generated_by and kind_of(generated_by) else None
    return _Plan(
        row=row,
        registrant=registrant(settings, store, row),
        wanted=wanted,
        source_keys=[(SOURCE_INDEX, source_key(w.uri, w.source_types)) for w in wanted],
        linked=linked,
        generator=_generator_params(generated_by) if generated_by and linked is None else None,
        context=_group_context_params(group) if group is not None else None,
    )


def _claim_artifacts(
    tx: Transaction, plans: list[_Plan], found: dict[tuple[str, str], NamedResource]
) -> list[NamedResource]:
    """Create the shared artifacts ``plans`` want that ``found`` lacks: claim their Source index
    rows in one statement (another transaction may get there first: then its artifact is used) and
    add them to ``found``; the artifact rows of those claimed, to insert."""
    wanted: dict[tuple[str, str], tuple[NamedResource, NamedResource]] = {}
    for plan in plans:
        for want, key in zip(plan.wanted, plan.source_keys, strict=True):
            if key not in found and key not in wanted:
                wanted[key] = artifact_rows(plan.registrant, want.params(), plan.row.created_us, key[1])
    if not wanted:
        return []
    region = plans[0].row.region
    claimed = tx.insert_resources_if_absent([index for _, index in wanted.values()])
    taken_by_others = [key for key in wanted if key not in claimed]
    found.update(tx.get_resources(region, taken_by_others))
    found.update({key: wanted[key][1] for key in claimed})
    return [wanted[key][0] for key in claimed]


def record_lineage(tx: Transaction, settings: Settings, store: Store, rows: list[PackageRow]) -> None:
    """Record the lineage SageMaker records for the model package versions ``rows`` (see the module
    docstring) as of their registration: each one's rows carry its creation time and its registrant.
    Per batch, not per version: one lookup of the entities that may exist already (a statement per
    8 keys), one claim of the shared artifacts that do not (an insert and a lookup), one insert of
    the new rows and one of the associations; nothing at all for a version with nothing to link."""
    groups: dict[tuple[str, str], GroupRow | None] = {}
    by_region: dict[str, list[_Plan]] = {}
    for row in rows:
        if row.group_id is not None and (row.region, row.name) not in groups:
            groups[(row.region, row.name)] = tx.get_group(row.region, row.name)
        plan = _plan(tx, settings, store, row, groups.get((row.region, row.name)))
        if plan is not None:
            by_region.setdefault(row.region, []).append(plan)
    for plans in by_region.values():
        found = tx.get_resources(plans[0].row.region, [k for plan in plans for k in plan.lookups()])
        new_rows = _claim_artifacts(tx, plans, found)
        associations: list[AssociationRow] = []
        for plan in plans:
            ctx, now = plan.registrant, plan.row.created_us
            upstream = [(artifact_ref(found[key]), "ContributedTo") for key in plan.source_keys]
            if plan.linked is not None or plan.generator is not None:
                action = plan.linked or _named(tx, ctx, ACTION, plan.generator or {}, found, now)
                upstream.append((action, "Produced"))
            # the version is new to lineage: no artifact can have its key yet
            package, index = artifact_rows(
                ctx, _package_params(plan.row), now, package_artifact_key(plan.row)
            )
            new_rows += [index, package]
            pairs = [(entity, package, kind) for entity, kind in upstream]
            if plan.context is not None:
                pairs.append((package, _named(tx, ctx, CONTEXT, plan.context, found, now), "AssociatedWith"))
            associations += _link(ctx, pairs, now)  # one end is new: so are the pairs
        tx.insert_resources(new_rows)
        tx.insert_associations(associations)


def on_change_live(tx: Transaction, ctx: RequestContext, endpoint: NamedResource) -> None:
    """An endpoint change went live: record a ModelDeployment of the model package versions it
    serves to the endpoint's context (nothing when it serves no model package)."""
    body = endpoint.body
    package_arns = sorted(
        {
            c["ModelPackageArn"]
            for v in body.get("Variants", [])
            for c in v["Containers"]
            if c.get("ModelPackageArn")
        }
    )
    packages = [p for p in (tx.get_package_by_arn(a) for a in package_arns) if p is not None]
    if not packages:
        return
    created_s = int(body.get("CreationTime", endpoint.created_us / 1e6))
    stem = f"{endpoint.name}-{created_s}"
    context_params = {
        "ContextName": f"{stem}-aws-endpoint",
        "Source": {"SourceUri": endpoint.arn},
        "ContextType": "Endpoint",
    }
    context = new_named(tx, ctx, CONTEXT, context_params)[0]
    config_arn = arns.sagemaker(
        endpoint.region, ctx.account, "endpoint-config", body.get("EndpointConfigName", "")
    )
    action_params = {
        "ActionName": f"{stem}-{body['Change']}-aws-model-deployment",
        "Source": {"SourceUri": config_arn},
        "ActionType": "ModelDeployment",
        "Status": "Completed",
        "Properties": {
            "EndpointName": body["EndpointName"],
            "EndpointConfigName": body.get("EndpointConfigName", ""),
            "Change": str(body["Change"]),
        },
    }
    action, created = new_named(tx, ctx, ACTION, action_params)
    if not created:
        return  # recorded already (the change went live again after a restart)
    pairs = [(ensure_package_artifact(tx, ctx, p), action, "ContributedTo") for p in packages]
    pairs.append((action, context, "AssociatedWith"))
    tx.insert_associations(_link(ctx, pairs, ctx.now_us()))
