"""Model packages (versions): register, describe, list, update (approval, lifecycle, metadata), delete.

Every approval or lifecycle change is appended to the history ledger in the same transaction as
the change itself (``history.record_changes``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from modelreg import arns
from modelreg.aws.dispatch import RequestContext, operation
from modelreg.errors import ConflictException, ServiceError, ValidationException
from modelreg.events import outbox
from modelreg.json_text import dumps_bytes
from modelreg.sagemaker import history, lineage, metrics_ingest, pagination, promotion
from modelreg.sagemaker.common import (
    epoch_param_us,
    find_package,
    get_package,
    get_package_and_group_resource,
    group_name_and_region,
    tag_dict,
    take_next_version,
    us_to_epoch,
)
from modelreg.sagemaker.models import refuse_approval_on_deploy
from modelreg.store.base import DuplicateKey, Transaction
from modelreg.store.rows import PackageQuery, PackageRow

PENDING = "PendingManualApproval"
# request members that are not part of the stored resource
_NOT_STORED = {"ClientToken", "Tags"}
#: UpdateModelPackage members a version's automatic lineage derives from
LINEAGE_MEMBERS = frozenset(
    {"InferenceSpecification", "CustomerMetadataProperties", "CustomerMetadataPropertiesToRemove"}
)
_SUMMARY_MEMBERS = (
    "ModelPackageName",
    "ModelPackageGroupName",
    "ModelPackageVersion",
    "ModelPackageArn",
    "ModelPackageDescription",
    "CreationTime",
    "ModelPackageStatus",
    "ModelApprovalStatus",
    "ModelLifeCycle",
    "ModelPackageRegistrationType",
)
_BATCH_SUMMARY_MEMBERS = (
    "ModelPackageGroupName",
    "ModelPackageVersion",
    "ModelPackageArn",
    "ModelPackageDescription",
    "CreationTime",
    "InferenceSpecification",
    "ModelPackageStatus",
    "ModelApprovalStatus",
    "ModelPackageRegistrationType",
)


def request_digest(params: dict[str, Any]) -> str:
    """What a ClientToken is remembered with: the SHA-256 of the request's other members."""
    return hashlib.sha256(dumps_bytes(_digested(params), sort_keys=True)).hexdigest()


def _digested(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != "ClientToken"}


def _same_request(digest: str, params: dict[str, Any]) -> bool:
    if digest == request_digest(params):
        return True
    # tokens remembered before 2026-11-27 have the digest of the standard library's JSON text
    legacy = json.dumps(_digested(params), sort_keys=True)
    return digest == hashlib.sha256(legacy.encode()).hexdigest()


def replay_client_token(tx: Transaction, ctx: RequestContext, params: dict[str, Any]) -> str | None:
    """The result recorded for this request's ClientToken, if the same request was made before.

    The same token with different parameters is an error, as in SageMaker."""
    token = params.get("ClientToken")
    if not token:
        return None
    seen = tx.get_client_token(ctx.region, ctx.operation, token)
    if seen is None:
        return None
    digest, result = seen
    if not _same_request(digest, params):
        raise ValidationException(
            f"ClientToken {token} was already used with different parameters; "
            "use a new token for a new request."
        )
    return result


def remember_client_token(tx: Transaction, ctx: RequestContext, params: dict[str, Any], result: str) -> None:
    token = params.get("ClientToken")
    if token:
        tx.put_client_token(ctx.region, ctx.operation, token, request_digest(params), result, ctx.now_us())


@operation("sagemaker", "CreateModelPackage", inline=True)
def create_model_package(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    group_name, package_name = params.get("ModelPackageGroupName"), params.get("ModelPackageName")
    if group_name and package_name:
        raise ValidationException(
            "Both ModelPackageName and ModelPackageGroupName are provided in the input. "
            "Cannot determine which one to use."
        )
    if not group_name and not package_name:
        raise ValidationException(
            "Missing ARN. Give ModelPackageGroupName (a versioned package in a group) "
            "or ModelPackageName (an unversioned package)."
        )
    if group_name and params.get("Tags"):
        raise ValidationException(
            "Tags cannot be set on a versioned model package: it uses the tags of its "
            "model package group. Tag the group instead."
        )
    try:
        arn = promotion.with_metrics(
            ctx, lambda metrics: _create(ctx, params, group_name, package_name, metrics)
        )
    except (DuplicateKey, ServiceError):
        # The ClientToken is looked up only when the create fails (boto3 sends one with every
        # request, and a lookup first would cost each registration a round trip): the token is
        # written at the commit, so a request that used it before fails there, or earlier on
        # what that request did (the package it created exists). Answer with that request's result.
        if not params.get("ClientToken"):
            raise
        with ctx.store.read() as tx:
            replayed = replay_client_token(tx, ctx, params)
        if replayed is None:
            raise
        return {"ModelPackageArn": replayed}
    if metrics_ingest.has_sources(params):
        ctx.signals.fire_metrics_pending()
    return {"ModelPackageArn": arn}


def _create(
    ctx: RequestContext,
    params: dict[str, Any],
    group_name: str | None,
    package_name: str | None,
    metrics: promotion.MetricsCache,
) -> str:
    """CreateModelPackage's write transaction; the ARN of the new package. A ClientToken used
    before fails the commit with ``DuplicateKey`` (``create_model_package`` then replays it)."""
    with ctx.store.write() as tx:
        if group_name:
            arn = _create_version(tx, ctx, params, group_name, metrics)
        else:
            assert package_name is not None
            arn = _create_unversioned(tx, ctx, params, package_name)
        remember_client_token(tx, ctx, params, arn)
    return arn


def _stored_members(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in params.items() if k not in _NOT_STORED and v is not None}
    body.setdefault("CertifyForMarketplace", False)
    body["ModelPackageStatus"] = "Completed"
    body["ModelPackageStatusDetails"] = {"ValidationStatuses": [], "ImageScanStatuses": []}
    body["CreatedBy"] = ctx.user_context()
    return body


def _create_version(
    tx: Transaction,
    ctx: RequestContext,
    params: dict[str, Any],
    group_ref: str,
    metrics: promotion.MetricsCache,
) -> str:
    """Register the group's next version; its promotion policy may approve it or refuse it."""
    taken = take_next_version(tx, ctx, group_ref, resource_kind=promotion.KIND)
    group, policy = taken.group, promotion.policy_in(taken.resource_body)
    version, created_us = group.last_version, group.last_created_us
    arn = arns.model_package(group.region, ctx.account, group.name, version)
    body = _stored_members(ctx, params)
    body.update(
        {
            "ModelPackageName": group.name,
            "ModelPackageGroupName": group.name,
            "ModelPackageVersion": version,
            "ModelPackageArn": arn,
            "CreationTime": us_to_epoch(created_us),
            "LastModifiedTime": us_to_epoch(created_us),
            "ModelApprovalStatus": params.get("ModelApprovalStatus") or PENDING,
        }
    )
    row = PackageRow(
        region=group.region,
        name=group.name,
        arn=arn,
        created_us=created_us,
        body=body,
        group_id=group.id,
        version=version,
        approval_status=body["ModelApprovalStatus"],
        id=taken.package_id,
        last_event_sequence=1,  # its Created event, below
    )
    tx.insert_package(row)
    metrics_ingest.record_sources(tx, row, params, created_us)
    history.record_changes(tx, ctx, arn, None, body, created_us, params)
    lineage.on_version_created(tx, row)
    promotion.on_create(tx, ctx, group, policy, row, metrics)
    outbox.model_package_changed(tx, ctx, row, None, body, created_us)
    return arn


def _create_unversioned(tx: Transaction, ctx: RequestContext, params: dict[str, Any], name: str) -> str:
    if arns.parse(name) is not None:
        raise ValidationException(
            "ModelPackageName must be a name, not an ARN, when creating a model package."
        )
    arn = arns.model_package(ctx.region, ctx.account, name)
    now = ctx.now_us()
    body = _stored_members(ctx, params)
    body.update(
        {
            "ModelPackageName": name,
            "ModelPackageArn": arn,
            "CreationTime": us_to_epoch(now),
            "LastModifiedTime": us_to_epoch(now),
        }
    )
    row = PackageRow(
        region=ctx.region,
        name=name,
        arn=arn,
        created_us=now,
        body=body,
        approval_status=body.get("ModelApprovalStatus"),
    )
    # the Created event first: a name used again continues its numbers, and the row keeps the
    # event's (a duplicate name rolls both back)
    outbox.model_package_changed(tx, ctx, row, None, body, now)
    try:
        tx.insert_package(row)
    except DuplicateKey:
        raise ValidationException(f"ModelPackage already exists: {arn}") from None
    tx.put_tags(arn, tag_dict(params.get("Tags")))
    metrics_ingest.record_sources(tx, row, params, now)
    history.record_changes(tx, ctx, arn, None, body, now, params)
    return arn


@operation("sagemaker", "DescribeModelPackage", inline=True)
def describe_model_package(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as tx:
        return get_package(tx, ctx, params["ModelPackageName"]).body


@operation("sagemaker", "BatchDescribeModelPackage", inline=True)
def batch_describe_model_package(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    summaries: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    with ctx.store.read() as tx:
        for arn in params["ModelPackageArnList"]:
            row = find_package(tx, ctx, arn)
            if row is None:
                errors[arn] = {
                    "ErrorCode": "ValidationException",
                    "ErrorResponse": f"ModelPackage {arn} does not exist.",
                }
            else:
                summaries[arn] = {k: row.body[k] for k in _BATCH_SUMMARY_MEMBERS if k in row.body}
    return {"ModelPackageSummaries": summaries, "BatchDescribeModelPackageErrorMap": errors}


@operation("sagemaker", "ListModelPackages", inline=True)
def list_model_packages(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    group_ref = params.get("ModelPackageGroupName")
    # AWS's defaults: a group's versions when a group is named, else only unversioned packages.
    package_type = params.get("ModelPackageType") or ("Versioned" if group_ref else "Unversioned")
    query = PackageQuery(
        region=ctx.region,
        versioned={"Versioned": True, "Unversioned": False}.get(package_type),
        approval_status=params.get("ModelApprovalStatus"),
        name_contains=params.get("NameContains"),
        created_after_us=epoch_param_us(params, "CreationTimeAfter"),
        created_before_us=epoch_param_us(params, "CreationTimeBefore"),
        sort_by=params.get("SortBy") or "CreationTime",
        descending=(params.get("SortOrder") or "Ascending") == "Descending",
    )
    with ctx.store.read() as tx:
        if group_ref:
            if package_type == "Unversioned":
                return {"ModelPackageSummaryList": []}
            name, region = group_name_and_region(ctx, group_ref)
            query.group_name = (region, name)  # no such group: no versions
        rows, token = pagination.page(
            params, lambda after, n: tx.list_packages(query, after, n), lambda r: tx.package_cursor(r, query)
        )
    summaries = [{k: r.body[k] for k in _SUMMARY_MEMBERS if k in r.body} for r in rows]
    return {"ModelPackageSummaryList": summaries, "NextToken": token}


@operation("sagemaker", "UpdateModelPackage", inline=True)
def update_model_package(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Apply an update in one transaction; an approval the group's promotion policy forbids is
    refused before anything is written."""
    arn = promotion.with_metrics(ctx, lambda metrics: _update(ctx, params, metrics))
    return {"ModelPackageArn": arn}


def _update(ctx: RequestContext, params: dict[str, Any], metrics: promotion.MetricsCache) -> str:
    with ctx.store.write() as tx:
        if replay_client_token(tx, ctx, params) is not None:
            return str(params["ModelPackageArn"])
        row, policy = get_package_and_group_resource(
            tx, ctx, params["ModelPackageArn"], promotion.KIND, for_update=True
        )
        refuse_approval_on_deploy(ctx, params, row.approval_status)
        if not LINEAGE_MEMBERS.isdisjoint(params):  # its lineage is as it was registered
            lineage.record_if_deferred(tx, ctx, row)
        before = dict(row.body)
        row.body = apply_update(row, params)
        promotion.check_approval(tx, ctx, row, before, promotion.policy_in(policy), metrics)
        now = ctx.now_us()
        row.body["LastModifiedTime"] = us_to_epoch(now)
        row.body["LastModifiedBy"] = ctx.user_context()
        row.approval_status = row.body.get("ModelApprovalStatus")
        history.record_changes(tx, ctx, row.arn, before, row.body, now, params)
        outbox.model_package_changed(tx, ctx, row, before, row.body, now)
        tx.update_package(row)  # with the event's number
        remember_client_token(tx, ctx, params, row.arn)
    return row.arn


def apply_update(row: PackageRow, params: dict[str, Any]) -> dict[str, Any]:
    """The package body after ``params`` (UpdateModelPackage members) are applied; members not sent stay."""
    body = dict(row.body)
    status = params.get("ModelApprovalStatus")
    if status is not None:
        if row.version is None:
            raise ValidationException(
                f"ModelApprovalStatus applies only to versioned model packages; {row.arn} is unversioned."
            )
        body["ModelApprovalStatus"] = status
    for member in (
        "ApprovalDescription",
        "InferenceSpecification",
        "SourceUri",
        "ModelCard",
        "ModelLifeCycle",
        "ModelPackageRegistrationType",
    ):
        if params.get(member) is not None:
            body[member] = params[member]
    metadata = dict(body.get("CustomerMetadataProperties") or {})
    metadata.update(params.get("CustomerMetadataProperties") or {})
    for key in params.get("CustomerMetadataPropertiesToRemove") or []:
        metadata.pop(key, None)
    if metadata:
        body["CustomerMetadataProperties"] = metadata
    else:
        body.pop("CustomerMetadataProperties", None)
    additions = params.get("AdditionalInferenceSpecificationsToAdd") or []
    if additions:
        existing = list(body.get("AdditionalInferenceSpecifications") or [])
        names = {spec["Name"] for spec in existing}
        for spec in additions:
            if spec["Name"] in names:
                raise ValidationException(
                    f"An additional inference specification named {spec['Name']} already exists on {row.arn}."
                )
            names.add(spec["Name"])
            existing.append(spec)
        body["AdditionalInferenceSpecifications"] = existing
    return body


@operation("sagemaker", "DeleteModelPackage", inline=True)
def delete_model_package(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.write() as tx:
        remove_package(tx, ctx, get_package(tx, ctx, params["ModelPackageName"], for_update=True))
    return {}


def remove_package(tx: Transaction, ctx: RequestContext, row: PackageRow) -> None:
    """Delete a package with its tags, appending the deletion to its history and its event to the
    outbox; a version that serves an endpoint is a ConflictException."""
    assert row.id is not None
    serving = tx.package_serving_endpoints(row.arn)
    if serving:
        raise ConflictException(
            f"ModelPackage {row.arn} serves the endpoint(s) {', '.join(serving)}: update or delete "
            "those endpoints first."
        )
    lineage.record_if_deferred(tx, ctx, row)  # the lineage of a deleted version stays
    tx.delete_tags(row.arn, [k for k, _ in tx.list_tags(row.arn)])
    tx.delete_package_metrics(row.arn)
    tx.delete_package(row.id)
    now = ctx.now_us()
    history.record_deletion(tx, ctx, row.arn, row.body, now)
    outbox.model_package_changed(tx, ctx, row, row.body, None, now)
