"""Model package groups: create, describe, list, delete, and their resource policies."""

from __future__ import annotations

from typing import Any

from modelreg import json_text
from modelreg.aws.dispatch import RequestContext, operation
from modelreg.errors import ConflictException, ValidationException
from modelreg.events import outbox
from modelreg.sagemaker import pagination, promotion
from modelreg.sagemaker.common import epoch_param_us, get_group, group_arn, tag_dict, us_to_epoch
from modelreg.store.base import DuplicateKey
from modelreg.store.rows import GroupQuery, GroupRow

_SUMMARY_MEMBERS = (
    "ModelPackageGroupName",
    "ModelPackageGroupArn",
    "ModelPackageGroupDescription",
    "CreationTime",
    "ModelPackageGroupStatus",
)


@operation("sagemaker", "CreateModelPackageGroup", inline=True)
def create_model_package_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["ModelPackageGroupName"]
    arn = group_arn(ctx, name)
    now = ctx.now_us()
    body = {
        "ModelPackageGroupName": name,
        "ModelPackageGroupArn": arn,
        "CreationTime": us_to_epoch(now),
        "CreatedBy": ctx.user_context(),
        "ModelPackageGroupStatus": "Completed",
    }
    if params.get("ModelPackageGroupDescription") is not None:
        body["ModelPackageGroupDescription"] = params["ModelPackageGroupDescription"]
    row = GroupRow(region=ctx.region, name=name, arn=arn, created_us=now, body=body)
    try:
        with ctx.store.write() as tx:
            tx.insert_group(row)
            tx.put_tags(arn, tag_dict(params.get("Tags")))
            outbox.model_package_group_changed(tx, ctx, arn, body, "Created", now)
    except DuplicateKey:
        raise ValidationException(f"Model Package Group already exists: {arn}") from None
    return {"ModelPackageGroupArn": arn}


@operation("sagemaker", "DescribeModelPackageGroup", inline=True)
def describe_model_package_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as tx:
        return get_group(tx, ctx, params["ModelPackageGroupName"]).body


@operation("sagemaker", "ListModelPackageGroups", inline=True)
def list_model_package_groups(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    query = GroupQuery(
        region=ctx.region,
        name_contains=params.get("NameContains"),
        created_after_us=epoch_param_us(params, "CreationTimeAfter"),
        created_before_us=epoch_param_us(params, "CreationTimeBefore"),
        sort_by=params.get("SortBy") or "CreationTime",
        descending=(params.get("SortOrder") or "Ascending") == "Descending",
    )
    with ctx.store.read() as tx:
        rows, token = pagination.page(
            params, lambda after, n: tx.list_groups(query, after, n), lambda r: tx.group_cursor(r, query)
        )
    summaries = [{k: r.body[k] for k in _SUMMARY_MEMBERS if k in r.body} for r in rows]
    return {"ModelPackageGroupSummaryList": summaries, "NextToken": token}


@operation("sagemaker", "DeleteModelPackageGroup", inline=True)
def delete_model_package_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.write() as tx:
        group = get_group(tx, ctx, params["ModelPackageGroupName"], for_update=True)
        assert group.id is not None
        if tx.group_has_packages(group.id):
            raise ConflictException(
                f"Model Package Group {group.arn} cannot be deleted: it still contains model packages. "
                "Delete its model packages first."
            )
        tx.delete_tags(group.arn, [k for k, _ in tx.list_tags(group.arn)])
        promotion.delete_policy(tx, group.region, group.name)
        tx.delete_group(group.id)
        outbox.model_package_group_changed(tx, ctx, group.arn, group.body, "Deleted", ctx.now_us())
    return {}


@operation("sagemaker", "PutModelPackageGroupPolicy", inline=True)
def put_model_package_group_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    policy = params["ResourcePolicy"]
    try:
        parsed = json_text.loads(policy)
    except ValueError as exc:
        raise ValidationException(f"The resource policy is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise ValidationException("The resource policy must be a JSON object.")
    with ctx.store.write() as tx:
        group = get_group(tx, ctx, params["ModelPackageGroupName"], for_update=True)
        group.policy = policy
        tx.update_group(group)
    return {"ModelPackageGroupArn": group.arn}


@operation("sagemaker", "GetModelPackageGroupPolicy", inline=True)
def get_model_package_group_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as tx:
        group = get_group(tx, ctx, params["ModelPackageGroupName"])
    if group.policy is None:
        raise ValidationException(f"Cannot find resource policy for ModelPackageGroup {group.arn}.")
    return {"ResourcePolicy": group.policy}


@operation("sagemaker", "DeleteModelPackageGroupPolicy", inline=True)
def delete_model_package_group_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.write() as tx:
        group = get_group(tx, ctx, params["ModelPackageGroupName"], for_update=True)
        if group.policy is None:
            raise ValidationException(f"Cannot find resource policy for ModelPackageGroup {group.arn}.")
        group.policy = None
        tx.update_group(group)
    return {}
