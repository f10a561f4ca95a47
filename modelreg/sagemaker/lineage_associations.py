"""Lineage associations: AddAssociation / DeleteAssociation / ListAssociations.

An association is a directed edge ``SourceArn -> DestinationArn`` between two existing lineage
entities (artifacts, actions, contexts), one per pair, stored in ``lineage_associations`` with the
types of both ends (so ListAssociations filters on them and QueryLineage knows a vertex's type
without loading it).
"""

from __future__ import annotations

from typing import Any

from modelreg.aws.dispatch import RequestContext, operation
from modelreg.errors import ResourceNotFound, ValidationException
from modelreg.sagemaker import lineage_backlog, pagination
from modelreg.sagemaker.common import epoch_param_us, us_to_epoch
from modelreg.sagemaker.lineage_entities import entity_name, entity_type, find_by_arn, require
from modelreg.store.base import Transaction
from modelreg.store.rows import AssociationQuery, AssociationRow, NamedResource


def association_row(
    ctx: RequestContext,
    source: NamedResource,
    destination: NamedResource,
    association_type: str | None,
    now: int,
) -> AssociationRow:
    """The association ``source -> destination`` as the store keeps it."""
    body: dict[str, Any] = {"CreatedBy": ctx.user_context()}
    return AssociationRow(
        source_arn=source.arn,
        destination_arn=destination.arn,
        created_us=now,
        body=body,
        association_type=association_type,
        source_type=entity_type(source),
        destination_type=entity_type(destination),
    )


@operation("sagemaker", "AddAssociation")
def add_association(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with lineage_backlog.writing(ctx) as tx:
        source = require(tx, params["SourceArn"])
        destination = require(tx, params["DestinationArn"])
        row = association_row(ctx, source, destination, params.get("AssociationType"), ctx.now_us())
        if not tx.insert_association(row):
            raise ValidationException(
                f"An association from {source.arn} to {destination.arn} already exists. "
                "Delete it first to change its AssociationType."
            )
    return {"SourceArn": source.arn, "DestinationArn": destination.arn}


@operation("sagemaker", "DeleteAssociation")
def delete_association(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    source, destination = params["SourceArn"], params["DestinationArn"]
    with lineage_backlog.writing(ctx) as tx:
        if not tx.delete_association(source, destination):
            raise ResourceNotFound(f"There is no association from {source} to {destination}.")
    return {"SourceArn": source, "DestinationArn": destination}


def _names(tx: Transaction, arns: set[str]) -> dict[str, str | None]:
    """Current names of the entities ``arns`` name (artifacts may have none, or be renamed)."""
    out: dict[str, str | None] = {}
    for arn in arns:
        entity = find_by_arn(tx, arn)
        out[arn] = entity_name(entity) if entity is not None else None
    return out


@operation("sagemaker", "ListAssociations")
def list_associations(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    query = AssociationQuery(
        arn_prefix=f"arn:aws:sagemaker:{ctx.region}:{ctx.account}:",
        source_arn=params.get("SourceArn"),
        destination_arn=params.get("DestinationArn"),
        source_type=params.get("SourceType"),
        destination_type=params.get("DestinationType"),
        association_type=params.get("AssociationType"),
        created_after_us=epoch_param_us(params, "CreatedAfter"),
        created_before_us=epoch_param_us(params, "CreatedBefore"),
        sort_by=params.get("SortBy") or "CreationTime",
        descending=(params.get("SortOrder") or "Descending") == "Descending",
    )
    with lineage_backlog.reading(ctx) as tx:
        rows, token = pagination.page(
            params,
            lambda after, n: tx.list_associations(query, after, n),
            lambda r: tx.association_cursor(r, query),
        )
        names = _names(tx, {r.source_arn for r in rows} | {r.destination_arn for r in rows})
    summaries = []
    for r in rows:
        summary: dict[str, Any] = {
            "SourceArn": r.source_arn,
            "DestinationArn": r.destination_arn,
            "SourceType": r.source_type,
            "DestinationType": r.destination_type,
            "AssociationType": r.association_type,
            "SourceName": names.get(r.source_arn),
            "DestinationName": names.get(r.destination_arn),
            "CreationTime": us_to_epoch(r.created_us),
            "CreatedBy": r.body.get("CreatedBy"),
        }
        summaries.append({k: v for k, v in summary.items() if v not in (None, "")})
    return {"AssociationSummaries": summaries, "NextToken": token}
