"""Helpers shared by the registry handlers: time conversion and resource resolution."""

from __future__ import annotations

from typing import Any

from modelreg import arns
from modelreg.aws.dispatch import RequestContext
from modelreg.aws.protocol import parse_timestamp
from modelreg.errors import ValidationException
from modelreg.store.base import Transaction
from modelreg.store.rows import GroupRow, PackageRow, TakenVersion


def us_to_epoch(us: int) -> float:
    return us / 1_000_000


def epoch_param_us(params: dict[str, Any], member: str) -> int | None:
    """An optional timestamp member as integer microseconds."""
    value = params.get(member)
    if value is None:
        return None
    return round(parse_timestamp(value, member) * 1_000_000)


def group_name_and_region(ctx: RequestContext, name_or_arn: str) -> tuple[str, str]:
    arn = arns.parse(name_or_arn)
    if arn is not None and arn.resource_type == "model-package-group":
        return arn.resource, arn.region or ctx.region
    return name_or_arn, ctx.region


def group_arn(ctx: RequestContext, name: str, region: str | None = None) -> str:
    return arns.model_package_group(region or ctx.region, ctx.account, name)


def get_group(
    tx: Transaction, ctx: RequestContext, name_or_arn: str, *, for_update: bool = False
) -> GroupRow:
    """The group named (or ARN'd) by the caller, or SageMaker's "does not exist" error."""
    name, region = group_name_and_region(ctx, name_or_arn)
    group = tx.get_group(region, name, for_update=for_update)
    if group is None:
        raise _no_group(ctx, name, region)
    return group


def take_next_version(
    tx: Transaction, ctx: RequestContext, name_or_arn: str, *, resource_kind: str
) -> TakenVersion:
    """The group named (or ARN'd) by the caller with its next version number taken and its named
    resource of ``resource_kind`` read (see ``Transaction.next_version_of``), or SageMaker's "does
    not exist" error."""
    name, region = group_name_and_region(ctx, name_or_arn)
    taken = tx.next_version_of(region, name, ctx.now_us(), resource_kind=resource_kind)
    if taken is None:
        raise _no_group(ctx, name, region)
    return taken


def _no_group(ctx: RequestContext, name: str, region: str) -> ValidationException:
    return ValidationException(f"ModelPackageGroup {group_arn(ctx, name, region)} does not exist.")


def find_package(
    tx: Transaction, ctx: RequestContext, name_or_arn: str, *, for_update: bool = False
) -> PackageRow | None:
    """A package by ARN (versioned or not), by unversioned name, or by ``<group>/<version>``."""
    arn = arns.parse(name_or_arn)
    if arn is not None:
        if arn.resource_type != "model-package":
            return None
        return tx.get_package_by_arn(name_or_arn.lower(), for_update=for_update) or _by_group_version(
            tx, arn.region, arn.resource, for_update
        )
    found = tx.get_package_by_name(ctx.region, name_or_arn, for_update=for_update)
    if found is None and "/" in name_or_arn:
        found = _by_group_version(tx, ctx.region, name_or_arn, for_update)
    return found


#: the largest version number a group can hand out (the stores keep it in a 32-bit integer)
MAX_VERSION = 2**31 - 1


def version_number(text: str) -> int | None:
    """The version number ``text`` spells, or None (not ASCII digits, or more than any version can
    be)."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_VERSION)):
        return None
    version = int(text)
    return version if version <= MAX_VERSION else None


def _by_group_version(tx: Transaction, region: str, rest: str, for_update: bool) -> PackageRow | None:
    group_name, _, text = rest.rpartition("/")
    version = version_number(text)
    if not group_name or version is None:
        return None
    group = tx.get_group(region, group_name)
    if group is None or group.id is None:
        return None
    return tx.get_package_version(group.id, version, for_update=for_update)


def package_arn_for(ctx: RequestContext, name_or_arn: str) -> str:
    """The ARN to name in a "does not exist" message."""
    if arns.parse(name_or_arn) is not None:
        return name_or_arn
    name, _, text = name_or_arn.rpartition("/")
    version = version_number(text)
    if name and version is not None:
        return arns.model_package(ctx.region, ctx.account, name, version)
    return arns.model_package(ctx.region, ctx.account, name_or_arn)


def get_package(
    tx: Transaction, ctx: RequestContext, name_or_arn: str, *, for_update: bool = False
) -> PackageRow:
    found = find_package(tx, ctx, name_or_arn, for_update=for_update)
    if found is None:
        raise _no_package(ctx, name_or_arn)
    return found


def _no_package(ctx: RequestContext, name_or_arn: str) -> ValidationException:
    return ValidationException(f"ModelPackage {package_arn_for(ctx, name_or_arn)} does not exist.")


def get_package_and_group_resource(
    tx: Transaction, ctx: RequestContext, name_or_arn: str, resource_kind: str, *, for_update: bool = False
) -> tuple[PackageRow, dict[str, Any] | None]:
    """``get_package`` and the body of the package's group's named resource of ``resource_kind``
    (None when it has none, or the package is unversioned): in one statement when the package is
    named by its ARN (see ``Transaction.get_package_and_group_resource``)."""
    arn = arns.parse(name_or_arn)
    if arn is not None and arn.resource_type == "model-package":
        found = tx.get_package_and_group_resource(name_or_arn.lower(), resource_kind, for_update=for_update)
        if found is not None:
            return found
        # what ``find_package`` tries after the ARN itself (another spelling of the version)
        row = _by_group_version(tx, arn.region, arn.resource, for_update)
    else:
        row = find_package(tx, ctx, name_or_arn, for_update=for_update)
    if row is None:
        raise _no_package(ctx, name_or_arn)
    if row.group_id is None:
        return row, None
    resource = tx.get_resource(row.region, resource_kind, row.name.lower())
    return row, None if resource is None else resource.body


def tag_list(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in pairs]


def tag_dict(tags: list[dict[str, Any]] | None) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in tags or []}
