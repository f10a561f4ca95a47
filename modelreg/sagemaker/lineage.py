"""Lineage that modelreg records by itself, as SageMaker does, plus the lineage API handlers
(importing this module registers them: entities in ``lineage_entities``, associations in
``lineage_associations``, QueryLineage in ``lineage_query``).

For each registered version (``record_version_lineage``; a registration only puts the version on
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
from modelreg.store.base import AssociationRow, GroupRow, NamedResource, PackageRow, Store, Transaction

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


def _shared_artifacts(
    tx: Transaction,
    ctx: RequestContext,
    wanted: list[_Wanted],
    keys: list[tuple[str, str]],
    found: dict[tuple[str, str], NamedResource],
    now: int,
    new_rows: list[NamedResource],
) -> list[NamedResource]:
    """The artifacts of ``wanted`` (enough of each to associate it), given their Source index
    ``keys`` and the index rows ``found`` already; for each one missing, its Source index row is
    claimed now (a concurrent registration may get there first: then its artifact is used) and its
    row added to ``new_rows``."""
    refs = []
    for want, key in zip(wanted, keys, strict=True):
        index = found.get(key)
        if index is None:
            artifact, index_row = artifact_rows(ctx, want.params(), now, key[1])
            index, created = tx.insert_resource_if_absent(index_row)
            if created:
                new_rows.append(artifact)
            found[key] = index
        refs.append(artifact_ref(index))
    return refs


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
    """The action or context ``params`` name: from ``found``, or created now."""
    key = (kind, params[NAME_MEMBER[kind]].lower())
    return found.get(key) or new_named(tx, ctx, kind, params, now=now)[0]


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


def has_lineage(body: dict[str, Any]) -> bool:
    """Whether a version with these members has automatic lineage (anything to link)."""
    return bool(_wanted(body) or (body.get("MetadataProperties") or {}).get("GeneratedBy"))


def on_version_created(tx: Transaction, row: PackageRow) -> None:
    """A version was registered: put it on the lineage backlog if it has lineage to record
    (``lineage_backlog``; ``record_version_lineage`` writes it later, before anything reads it)."""
    assert row.id is not None
    if has_lineage(row.body):
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
        record_version_lineage(tx, registrant(ctx.settings, ctx.store, row), row)


def record_version_lineage(
    tx: Transaction, registrant: RequestContext, row: PackageRow, group: GroupRow | None = None
) -> None:
    """Record the lineage SageMaker records for the model package version ``row`` (see the module
    docstring) as of its registration: its rows carry its creation time and ``registrant``, the
    caller who registered it. One lookup for every entity that may exist already, an insert for
    each shared artifact that does not, one insert for the new rows and one for the associations;
    nothing at all when there is nothing to link."""
    wanted = _wanted(row.body)
    generated_by = (row.body.get("MetadataProperties") or {}).get("GeneratedBy")
    if not wanted and not generated_by:
        return
    ctx, now = registrant, row.created_us
    if group is None and row.group_id is not None:
        group = tx.get_group(row.region, row.name)
    linked = find_by_arn(tx, generated_by) if generated_by and kind_of(generated_by) else None
    generator = _generator_params(generated_by) if generated_by and linked is None else None
    context = _group_context_params(group) if group is not None else None
    source_keys = [(SOURCE_INDEX, source_key(w.uri, w.source_types)) for w in wanted]
    keys = [
        *source_keys,
        *([(ACTION, generator["ActionName"].lower())] if generator else []),
        *([(CONTEXT, context["ContextName"].lower())] if context else []),
    ]
    found = tx.get_resources(row.region, keys)

    new_rows: list[NamedResource] = []
    shared = _shared_artifacts(tx, ctx, wanted, source_keys, found, now, new_rows)
    upstream = [(ref, "ContributedTo") for ref in shared]
    if linked is not None or generator is not None:
        upstream.append((linked or _named(tx, ctx, ACTION, generator or {}, found, now), "Produced"))
    # the version is new to lineage: no artifact can have its key yet
    package, package_index = artifact_rows(ctx, _package_params(row), now, package_artifact_key(row))
    tx.insert_resources([*new_rows, package_index, package])
    pairs = [(entity, package, kind) for entity, kind in upstream]
    if context is not None:
        pairs.append((package, _named(tx, ctx, CONTEXT, context, found, now), "AssociatedWith"))
    tx.insert_associations(_link(ctx, pairs, now))  # one end is new: so are the pairs


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
