"""AddTags / ListTags / DeleteTags on the registry's taggable resources.

Taggable here: model package groups, unversioned model packages, models, endpoint configs,
endpoints and lineage artifacts, actions and contexts. A versioned model package
uses its group's tags, so tagging one is refused, as SageMaker refuses it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from modelreg import arns
from modelreg.aws.dispatch import RequestContext, operation
from modelreg.errors import ResourceLimitExceeded, ResourceNotFound, ValidationException
from modelreg.sagemaker import lineage_backlog, named, pagination
from modelreg.sagemaker.common import tag_dict, tag_list
from modelreg.store.base import Transaction

MAX_TAGS = 50
LINEAGE_KINDS = ("artifact", "action", "context")  # lineage entities (associations take no tags)


def _opening(ctx: RequestContext, arn_text: str, write: bool) -> AbstractContextManager[Transaction]:
    """The transaction to tag ``arn_text`` in: for a lineage entity, one that sees every version's
    lineage (the entity may be a version's artifact not recorded yet)."""
    parsed = arns.parse(arn_text)
    if parsed is not None and parsed.resource_type in LINEAGE_KINDS:
        return lineage_backlog.writing(ctx) if write else lineage_backlog.reading(ctx)
    return ctx.store.write() if write else ctx.store.read()


def _taggable_arn(tx: Transaction, arn_text: str, *, for_update: bool = False) -> str:
    """The stored ARN of the resource ``arn_text`` names, if it exists and can carry tags;
    ``for_update`` locks the resource's row until commit, so that the tag writes of concurrent
    requests (on PostgreSQL, from any server) take turns."""
    arn = arns.parse(arn_text)
    if arn is None or arn.service != "sagemaker":
        raise ValidationException(f"{arn_text} is not a valid SageMaker resource ARN.")
    if arn.resource_type == "model-package-group":
        group = tx.get_group(arn.region, arn.resource, for_update=for_update)
        if group is None:
            raise ResourceNotFound(f"Resource {arn_text} does not exist.")
        return group.arn
    if arn.resource_type == "model-package":
        row = tx.get_package_by_arn(arn_text.lower(), for_update=for_update)
        if row is None:
            raise ResourceNotFound(f"Resource {arn_text} does not exist.")
        if row.version is not None:
            raise ValidationException(
                f"Tags cannot be added to or removed from a versioned model package ({arn_text}): "
                "it uses the tags of its model package group."
            )
        return row.arn
    if arn.resource_type in (named.MODEL, named.ENDPOINT_CONFIG, named.ENDPOINT, *LINEAGE_KINDS):
        resource = tx.get_resource(arn.region, arn.resource_type, arn.resource.lower(), for_update=for_update)
        if resource is None:
            raise ResourceNotFound(f"Resource {arn_text} does not exist.")
        return resource.arn
    raise ValidationException(f"modelreg does not support tags on {arn.resource_type} resources yet.")


@operation("sagemaker", "AddTags", inline=True)
def add_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    tags = tag_dict(params["Tags"])
    with _opening(ctx, params["ResourceArn"], write=True) as tx:
        arn = _taggable_arn(tx, params["ResourceArn"], for_update=True)
        existing = {k for k, _ in tx.list_tags(arn)}
        if len(existing | set(tags)) > MAX_TAGS:
            raise ResourceLimitExceeded(
                f"A resource can have at most {MAX_TAGS} tags; {arn} would have {len(existing | set(tags))}."
            )
        tx.put_tags(arn, tags)
    return {"Tags": params["Tags"]}


@operation("sagemaker", "ListTags", inline=True)
def list_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with _opening(ctx, params["ResourceArn"], write=False) as tx:
        arn = _taggable_arn(tx, params["ResourceArn"])
        rows, token = pagination.page(
            params,
            lambda after, n: tx.list_tags(arn, after[0] if after else None, n),
            lambda pair: [pair[0]],
            default_limit=50,
            shape=(str,),
        )
    return {"Tags": tag_list(rows), "NextToken": token}


@operation("sagemaker", "DeleteTags", inline=True)
def delete_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with _opening(ctx, params["ResourceArn"], write=True) as tx:
        arn = _taggable_arn(tx, params["ResourceArn"], for_update=True)
        tx.delete_tags(arn, params["TagKeys"])
    return {}
