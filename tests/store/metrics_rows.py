"""Groups, versions and metric sources written straight through a store, for the metrics tests."""

from __future__ import annotations

from typing import Any

from modelreg.store.base import Store
from modelreg.store.rows import GroupRow, MetricSource, PackageRow

ACCOUNT = "123456789012"


def add_group(store: Store, name: str, region: str = "us-east-1") -> int:
    with store.write() as tx:
        arn = f"arn:aws:sagemaker:{region}:{ACCOUNT}:model-package-group/{name}"
        group = tx.insert_group(GroupRow(region=region, name=name, arn=arn, created_us=1, body={}))
    assert group.id is not None
    return group.id


def add_version(
    store: Store,
    group_id: int,
    version: int,
    *,
    status: str | None = None,
    body: dict[str, Any] | None = None,
) -> PackageRow:
    """A version of the group (its number must be the group's next); ``body`` extends its body."""
    with store.write() as tx:
        groups = [g for g in tx.iter_groups("us-east-1") if g.id == group_id]
        group = groups[0]
        taken = tx.next_version_of(group.region, group.name, 1_000 * version)
        assert taken is not None
        number, created = taken.group.last_version, taken.group.last_created_us
        assert number == version, f"version {version} is not the group's next ({number})"
        arn = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/{group.name}/{version}"
        approval = status or "PendingManualApproval"
        row = PackageRow(
            region="us-east-1",
            name=group.name,
            arn=arn,
            created_us=created,
            body={"ModelPackageArn": arn, "ModelPackageVersion": version, **(body or {})},
            group_id=group_id,
            version=version,
            approval_status=approval,
        )
        tx.insert_package(row)
    return row


def source(row: PackageRow, member: str, due_us: int, uri: str | None = None) -> MetricSource:
    return MetricSource(
        package_arn=row.arn,
        member=member,
        uri=uri or f"s3://bucket/{row.version}/{member}.json",
        status="pending",
        updated_us=due_us,
        group_id=row.group_id,
        version=row.version,
    )
