"""Lineage entities: artifacts, actions and contexts (Create / Describe / List / Update / Delete).

Each entity is a ``NamedResource`` row: kind ``artifact`` named by its hex id (its ARN is
``artifact/<id>``), kinds ``action`` and ``context`` named by their lower-cased name (ARNs
``action/<name>``, ``context/<name>``), the wire shape in ``body``. Two index rows make artifacts
cheap to find without scanning: kind ``artifact-source`` named ``<sha(SourceUri)>/<sha(SourceTypes)>``
(an artifact is identified by its Source: creating a second artifact with the same Source is a
ValidationException, and ListArtifacts(SourceUri=...) is a prefix lookup) and kind ``artifact-name``
(ArtifactName is unique in a region). Deleting an entity deletes its associations with it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from modelreg import arns
from modelreg.aws.dispatch import RequestContext, operation
from modelreg.errors import ResourceNotFound, ValidationException
from modelreg.sagemaker import lineage_backlog, named, pagination
from modelreg.sagemaker.common import epoch_param_us, tag_dict, us_to_epoch
from modelreg.store.base import DuplicateKey, InvalidCursor, Transaction
from modelreg.store.rows import NamedResource

ARTIFACT, ACTION, CONTEXT = "artifact", "action", "context"
SOURCE_INDEX, NAME_INDEX = "artifact-source", "artifact-name"
#: ARN resource type -> QueryLineage's LineageType
LINEAGE_TYPES = {ARTIFACT: "Artifact", ACTION: "Action", CONTEXT: "Context"}
TYPE_MEMBER = {ARTIFACT: "ArtifactType", ACTION: "ActionType", CONTEXT: "ContextType"}
NAME_MEMBER = {ARTIFACT: "ArtifactName", ACTION: "ActionName", CONTEXT: "ContextName"}
_LABEL = {ARTIFACT: "Artifact", ACTION: "Action", CONTEXT: "Context"}
MAX_PROPERTIES = 30


# --------------------------------------------------------------------------- lookups


def _sha(text: str, n: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def uri_key(uri: str) -> str:
    """The prefix every Source index row of ``uri`` starts with."""
    return _sha(uri, 40) + "/"


def source_key(uri: str, source_types: list[dict[str, Any]] | None) -> str:
    """The Source index name of an artifact: its URI and its SourceTypes (in any order)."""
    if not source_types:
        return uri_key(uri) + _NO_SOURCE_TYPES
    canonical = json.dumps(
        sorted([t.get("SourceIdType", ""), t.get("Value", "")] for t in source_types),
        separators=(",", ":"),
    )
    return uri_key(uri) + _sha(canonical, 16)


_NO_SOURCE_TYPES = _sha("[]", 16)  # what source_key appends for an artifact without SourceTypes


def entity_type(resource: NamedResource) -> str:
    """ArtifactType, ActionType or ContextType of an entity."""
    return resource.body.get(TYPE_MEMBER[resource.kind], "")


def entity_name(resource: NamedResource) -> str | None:
    return resource.body.get(NAME_MEMBER[resource.kind])


def kind_of(arn: str) -> str | None:
    """``artifact`` / ``action`` / ``context`` for a lineage entity ARN, else None."""
    parsed = arns.parse(arn)
    if parsed is None or parsed.service != "sagemaker" or parsed.resource_type not in LINEAGE_TYPES:
        return None
    return parsed.resource_type


def find_by_arn(tx: Transaction, arn: str, *, for_update: bool = False) -> NamedResource | None:
    """The artifact, action or context ``arn`` names (in the ARN's region and account), if it exists."""
    parsed = arns.parse(arn)
    if parsed is None or parsed.service != "sagemaker" or parsed.resource_type not in LINEAGE_TYPES:
        return None
    found = tx.get_resource(
        parsed.region, parsed.resource_type, parsed.resource.lower(), for_update=for_update
    )
    return found if found is not None and found.arn == arn.lower() else None


def not_found(kind: str, arn: str) -> ResourceNotFound:
    return ResourceNotFound(f"{_LABEL.get(kind, 'Entity')} {arn} does not exist.")


def require(tx: Transaction, arn: str, *, for_update: bool = False) -> NamedResource:
    """The entity ``arn`` names, or SageMaker's ResourceNotFound."""
    found = find_by_arn(tx, arn, for_update=for_update)
    if found is None:
        raise not_found(kind_of(arn) or "", arn)
    return found


def artifact_by_source(
    tx: Transaction, region: str, uri: str, source_types: list[dict[str, Any]] | None
) -> NamedResource | None:
    index = tx.get_resource(region, SOURCE_INDEX, source_key(uri, source_types))
    return None if index is None else find_by_arn(tx, index.arn)


def artifact_ref(index: NamedResource) -> NamedResource:
    """Enough of an artifact to associate it (its ARN and type) from its Source index row, without
    loading it (ArtifactType never changes)."""
    return NamedResource(
        index.region, ARTIFACT, index.arn.rsplit("/", 1)[-1], index.arn, index.created_us,
        {"ArtifactArn": index.arn, "ArtifactType": index.body.get("ArtifactType", "")},
    )  # fmt: skip


def source_index_rows(tx: Transaction, region: str, uri: str) -> list[NamedResource]:
    """The Source index rows of ``uri`` (one per SourceTypes): an index range scan from the URI's
    key, page by page until the names leave its prefix."""
    prefix, batch = uri_key(uri), 100
    after, rows = prefix[:-1], []  # every name with the prefix sorts after the bare hash
    while True:
        page = tx.list_resources(region, SOURCE_INDEX, None, after, batch)
        matching = [r for r in page if r.name.startswith(prefix)]
        rows += matching
        if len(matching) < batch:
            return rows
        after = page[-1].name


def artifacts_by_uri(tx: Transaction, region: str, uri: str) -> list[NamedResource]:
    """Every artifact whose SourceUri is ``uri`` (whatever its SourceTypes)."""
    found = []
    for index in source_index_rows(tx, region, uri):
        artifact = find_by_arn(tx, index.arn)
        if artifact is not None and artifact.body["Source"]["SourceUri"] == uri:
            found.append(artifact)
    return found


def named_arn(ctx: RequestContext, kind: str, name_or_arn: str) -> str:
    return arns.sagemaker(ctx.region, ctx.account, kind, arns.name_from(name_or_arn, kind))


def by_name(
    tx: Transaction, ctx: RequestContext, kind: str, name_or_arn: str, *, for_update: bool = True
) -> NamedResource:
    """An action or context by name or ARN, or ResourceNotFound."""
    found = named.get(tx, ctx, kind, name_or_arn, for_update=for_update)
    if found is None:
        raise not_found(kind, named_arn(ctx, kind, name_or_arn))
    return found


# --------------------------------------------------------------------------- creation


def _stamp(ctx: RequestContext, body: dict[str, Any], now: int) -> dict[str, Any]:
    body.update(
        CreationTime=us_to_epoch(now),
        CreatedBy=ctx.user_context(),
        LastModifiedTime=us_to_epoch(now),
        LastModifiedBy=ctx.user_context(),
    )
    return body


def artifact_rows(
    ctx: RequestContext, params: dict[str, Any], now: int, index_name: str | None = None
) -> tuple[NamedResource, NamedResource]:
    """A new artifact for ``params`` (CreateArtifact members) and its Source index row (named
    ``index_name`` if given), not yet stored."""
    source = params["Source"]
    artifact_id = uuid.uuid4().hex
    arn = arns.sagemaker(ctx.region, ctx.account, ARTIFACT, artifact_id)
    key = index_name or source_key(source["SourceUri"], source.get("SourceTypes"))
    index = NamedResource(ctx.region, SOURCE_INDEX, key, arn, now, {"ArtifactType": params["ArtifactType"]})
    members = ("ArtifactName", "Source", "ArtifactType", "MetadataProperties")
    body = {k: params[k] for k in members if k in params}
    body["ArtifactArn"] = arn
    body["Properties"] = dict(params.get("Properties") or {})
    return NamedResource(ctx.region, ARTIFACT, artifact_id, arn, now, _stamp(ctx, body, now)), index


def new_artifact(tx: Transaction, ctx: RequestContext, params: dict[str, Any]) -> tuple[NamedResource, bool]:
    """Create the artifact ``params`` (CreateArtifact members) describe, or find the one with the
    same Source: (artifact, created)."""
    now = ctx.now_us()
    artifact, index_row = artifact_rows(ctx, params, now)
    index, created = tx.insert_resource_if_absent(index_row)
    if not created:
        existing = find_by_arn(tx, index.arn)
        if existing is None:  # an index row without its artifact cannot happen: both go together
            raise ValidationException(f"Artifact {index.arn} is being deleted; try again.")
        return existing, False
    name = params.get("ArtifactName")
    if name:
        _, free = tx.insert_resource_if_absent(
            NamedResource(ctx.region, NAME_INDEX, name.lower(), artifact.arn, now, {})
        )
        if not free:
            raise ValidationException(f"An artifact named {name} already exists in {ctx.region}.")
    return tx.insert_resource(artifact), True


def new_named(
    tx: Transaction, ctx: RequestContext, kind: str, params: dict[str, Any], *, now: int | None = None
) -> tuple[NamedResource, bool]:
    """Create the action or context ``params`` describe (Create* members), or find the one that
    already has its name: (entity, created)."""
    now = now or ctx.now_us()
    name = params[NAME_MEMBER[kind]]
    arn = arns.sagemaker(ctx.region, ctx.account, kind, name)
    members = {
        ACTION: ("ActionName", "Source", "ActionType", "Description", "Status", "MetadataProperties"),
        CONTEXT: ("ContextName", "Source", "ContextType", "Description"),
    }[kind]
    body = {k: params[k] for k in members if k in params}
    body[f"{_LABEL[kind]}Arn"] = arn
    body["Properties"] = dict(params.get("Properties") or {})
    return tx.insert_resource_if_absent(
        NamedResource(ctx.region, kind, name.lower(), arn, now, _stamp(ctx, body, now))
    )


def _check_properties(properties: dict[str, Any]) -> None:
    if len(properties) > MAX_PROPERTIES:
        raise ValidationException(
            f"An entity can have at most {MAX_PROPERTIES} properties; it would have {len(properties)}."
        )


@operation("sagemaker", "CreateArtifact")
def create_artifact(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with lineage_backlog.writing(ctx) as tx:
        artifact, created = new_artifact(tx, ctx, params)
        if not created:
            source = params["Source"]
            raise ValidationException(
                f"An artifact with SourceUri {source['SourceUri']} and the same SourceTypes already exists: "
                f"{artifact.arn}. Use it, or give different SourceTypes (for example an S3ETag or S3Version)."
            )
        if params.get("Tags"):
            tx.put_tags(artifact.arn, tag_dict(params["Tags"]))
    return {"ArtifactArn": artifact.arn}


def _create_named(ctx: RequestContext, kind: str, params: dict[str, Any]) -> dict[str, Any]:
    with lineage_backlog.writing(ctx) as tx:
        entity, created = new_named(tx, ctx, kind, params)
        if not created:
            raise ValidationException(f"{_LABEL[kind]} {entity.arn} already exists.")
        if params.get("Tags"):
            tx.put_tags(entity.arn, tag_dict(params["Tags"]))
    return {f"{_LABEL[kind]}Arn": entity.arn}


@operation("sagemaker", "CreateAction")
def create_action(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _create_named(ctx, ACTION, params)


@operation("sagemaker", "CreateContext")
def create_context(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _create_named(ctx, CONTEXT, params)


# --------------------------------------------------------------------------- describe


def describe_body(resource: NamedResource) -> dict[str, Any]:
    body = dict(resource.body)
    if not body.get("Properties"):
        body.pop("Properties", None)
    return body


@operation("sagemaker", "DescribeArtifact")
def describe_artifact(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with lineage_backlog.reading(ctx) as tx:
        found = find_by_arn(tx, params["ArtifactArn"])
        if found is None or found.kind != ARTIFACT:
            raise not_found(ARTIFACT, params["ArtifactArn"])
        return describe_body(found)


@operation("sagemaker", "DescribeAction")
def describe_action(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with lineage_backlog.reading(ctx) as tx:
        return describe_body(by_name(tx, ctx, ACTION, params["ActionName"], for_update=False))


@operation("sagemaker", "DescribeContext")
def describe_context(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with lineage_backlog.reading(ctx) as tx:
        return describe_body(by_name(tx, ctx, CONTEXT, params["ContextName"], for_update=False))


# --------------------------------------------------------------------------- list


def _page_by_creation(
    rows: list[NamedResource], params: dict[str, Any]
) -> tuple[list[NamedResource], str | None]:
    """One keyset page of ``rows`` held in memory, by creation time (the cursor ``_sort_key``
    makes, as ``_scanned_page`` does), SortOrder defaulting to Descending, MaxResults to 10."""

    def key(row: NamedResource) -> list[Any]:
        return _sort_key(row, by_name=False)

    descending = (params.get("SortOrder") or "Descending") == "Descending"
    rows = sorted(rows, key=key, reverse=descending)
    cursor = pagination.decode_cursor(params, int, int)
    if cursor is not None:
        rows = [r for r in rows if (key(r) < cursor if descending else key(r) > cursor)]
    limit = params.get("MaxResults") or 10
    page = rows[:limit]
    token = pagination.encode_token(key(page[-1]), params) if len(rows) > limit else None
    return page, token


def _filtered(rows: list[NamedResource], kind: str, params: dict[str, Any]) -> list[NamedResource]:
    uri, wanted_type = params.get("SourceUri"), params.get(TYPE_MEMBER[kind])
    after, before = epoch_param_us(params, "CreatedAfter"), epoch_param_us(params, "CreatedBefore")
    return [
        r
        for r in rows
        if (uri is None or r.body["Source"]["SourceUri"] == uri)
        and (wanted_type is None or entity_type(r) == wanted_type)
        and (after is None or r.created_us >= after)
        and (before is None or r.created_us <= before)
    ]


#: rows read per statement while a listing fills its page past the rows its filters leave out
_SCAN_BATCH = 200


def _scanned_page(
    tx: Transaction, region: str, kind: str, params: dict[str, Any]
) -> tuple[list[NamedResource], str | None]:
    """One page of a List* call read from the index in its order (SortBy Name or CreationTime,
    SortOrder defaulting to Descending), from the NextToken's cursor on, until MaxResults + 1 rows
    pass the filters (the creation range is in the query; SourceUri and the type are checked here):
    memory stays that of a page however many entities there are."""
    by_name = params.get("SortBy") == "Name"
    descending = (params.get("SortOrder") or "Descending") == "Descending"
    cursor = pagination.decode_token(params.get("NextToken"), params)
    limit = params.get("MaxResults") or 10
    after, before = epoch_param_us(params, "CreatedAfter"), epoch_param_us(params, "CreatedBefore")
    found: list[NamedResource] = []
    while len(found) <= limit:
        try:
            batch = tx.page_resources(
                region,
                kind,
                by_name=by_name,
                descending=descending,
                after=cursor,
                created_after_us=after,
                created_before_us=before,
                limit=_SCAN_BATCH,
            )
        except InvalidCursor:
            raise pagination.invalid_token() from None
        found += _filtered(batch, kind, params)
        if len(batch) < _SCAN_BATCH:
            break
        cursor = _sort_key(batch[-1], by_name)
    page = found[:limit]
    token = pagination.encode_token(_sort_key(page[-1], by_name), params) if len(found) > limit else None
    return page, token


def _sort_key(row: NamedResource, by_name: bool) -> list[Any]:
    return [row.name if by_name else row.created_us, row.id or 0]


def _summary(resource: NamedResource, members: tuple[str, ...]) -> dict[str, Any]:
    return {k: resource.body[k] for k in members if k in resource.body}


@operation("sagemaker", "ListArtifacts")
def list_artifacts(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with lineage_backlog.reading(ctx) as tx:
        if params.get("SourceUri"):  # a few rows, through the Source index
            rows = _filtered(artifacts_by_uri(tx, ctx.region, params["SourceUri"]), ARTIFACT, params)
            page, token = _page_by_creation(rows, params)
        else:
            page, token = _scanned_page(tx, ctx.region, ARTIFACT, params)
    members = ("ArtifactArn", "ArtifactName", "Source", "ArtifactType", "CreationTime", "LastModifiedTime")
    return {"ArtifactSummaries": [_summary(r, members) for r in page], "NextToken": token}


def _list_named(
    ctx: RequestContext, kind: str, params: dict[str, Any], members: tuple[str, ...]
) -> dict[str, Any]:
    with lineage_backlog.reading(ctx) as tx:
        page, token = _scanned_page(tx, ctx.region, kind, params)
    return {f"{_LABEL[kind]}Summaries": [_summary(r, members) for r in page], "NextToken": token}


@operation("sagemaker", "ListActions")
def list_actions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    members = (
        "ActionArn",
        "ActionName",
        "Source",
        "ActionType",
        "Status",
        "CreationTime",
        "LastModifiedTime",
    )
    return _list_named(ctx, ACTION, params, members)


@operation("sagemaker", "ListContexts")
def list_contexts(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    members = ("ContextArn", "ContextName", "Source", "ContextType", "CreationTime", "LastModifiedTime")
    return _list_named(ctx, CONTEXT, params, members)


# --------------------------------------------------------------------------- update


def _apply_update(
    ctx: RequestContext, entity: NamedResource, params: dict[str, Any], members: tuple[str, ...]
) -> None:
    properties = dict(entity.body.get("Properties") or {})
    properties.update(params.get("Properties") or {})
    for key in params.get("PropertiesToRemove") or []:
        properties.pop(key, None)
    _check_properties(properties)
    entity.body["Properties"] = properties
    for member in members:
        if params.get(member) is not None:
            entity.body[member] = params[member]
    now = ctx.now_us()
    entity.body.update(LastModifiedTime=us_to_epoch(now), LastModifiedBy=ctx.user_context())


@operation("sagemaker", "UpdateArtifact")
def update_artifact(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    try:
        with lineage_backlog.writing(ctx) as tx:
            artifact = find_by_arn(tx, params["ArtifactArn"], for_update=True)
            if artifact is None or artifact.kind != ARTIFACT:
                raise not_found(ARTIFACT, params["ArtifactArn"])
            old_name, new_name = artifact.body.get("ArtifactName"), params.get("ArtifactName")
            if new_name and (old_name or "").lower() != new_name.lower():
                tx.insert_resource(
                    NamedResource(ctx.region, NAME_INDEX, new_name.lower(), artifact.arn, ctx.now_us(), {})
                )
                _drop_name_index(tx, ctx.region, old_name)
            _apply_update(ctx, artifact, params, ("ArtifactName",))
            tx.update_resource(artifact)
    except DuplicateKey:
        raise ValidationException(
            f"An artifact named {params['ArtifactName']} already exists in {ctx.region}."
        ) from None
    return {"ArtifactArn": artifact.arn}


@operation("sagemaker", "UpdateAction")
def update_action(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with lineage_backlog.writing(ctx) as tx:
        action = by_name(tx, ctx, ACTION, params["ActionName"])
        _apply_update(ctx, action, params, ("Description", "Status"))
        tx.update_resource(action)
    return {"ActionArn": action.arn}


@operation("sagemaker", "UpdateContext")
def update_context(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with lineage_backlog.writing(ctx) as tx:
        context = by_name(tx, ctx, CONTEXT, params["ContextName"])
        _apply_update(ctx, context, params, ("Description",))
        tx.update_resource(context)
    return {"ContextArn": context.arn}


# --------------------------------------------------------------------------- delete


def _drop_name_index(tx: Transaction, region: str, name: str | None) -> None:
    if name:
        index = tx.get_resource(region, NAME_INDEX, name.lower())
        if index is not None and index.id is not None:
            tx.delete_resource(index.id)


def remove(tx: Transaction, entity: NamedResource) -> None:
    """Delete an entity with its index rows, tags and every association from or to it."""
    assert entity.id is not None
    if entity.kind == ARTIFACT:
        source = entity.body["Source"]
        for index in source_index_rows(tx, entity.region, source["SourceUri"]):
            if index.arn == entity.arn and index.id is not None:
                tx.delete_resource(index.id)
        _drop_name_index(tx, entity.region, entity.body.get("ArtifactName"))
    tx.delete_associations_of(entity.arn)
    named.delete_with_tags(tx, entity)


@operation("sagemaker", "DeleteArtifact")
def delete_artifact(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    arn, source = params.get("ArtifactArn"), params.get("Source")
    if not arn and not source:
        raise ValidationException("Either ArtifactArn or Source must be specified.")
    with lineage_backlog.writing(ctx) as tx:
        if arn:
            artifact = find_by_arn(tx, arn, for_update=True)
            if artifact is None or artifact.kind != ARTIFACT:
                raise not_found(ARTIFACT, arn)
        else:
            assert source is not None
            artifact = artifact_by_source(tx, ctx.region, source["SourceUri"], source.get("SourceTypes"))
            if artifact is None:
                raise ResourceNotFound(
                    f"No artifact has the Source {source['SourceUri']} with these SourceTypes."
                )
        remove(tx, artifact)
    return {"ArtifactArn": artifact.arn}


@operation("sagemaker", "DeleteAction")
def delete_action(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with lineage_backlog.writing(ctx) as tx:
        action = by_name(tx, ctx, ACTION, params["ActionName"])
        remove(tx, action)
    return {"ActionArn": action.arn}


@operation("sagemaker", "DeleteContext")
def delete_context(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with lineage_backlog.writing(ctx) as tx:
        context = by_name(tx, ctx, CONTEXT, params["ContextName"])
        remove(tx, context)
    return {"ContextArn": context.arn}
