"""The records the Store contract (``modelreg.store.base``) passes in and out: rows, with the
indexed columns as attributes and the rest of the resource as ``body`` (a dict in the wire's own
PascalCase shape), and the queries that list them. ``Cursor`` is a listing's keyset position: the
sort key of the last row of the previous page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class GroupRow:
    region: str
    name: str
    arn: str
    created_us: int
    body: dict[str, Any]
    id: int | None = None
    last_version: int = 0
    last_created_us: int = 0
    policy: str | None = None

    @property
    def key(self) -> str:
        return self.name.lower()


@dataclass
class PackageRow:
    region: str
    name: str
    arn: str
    created_us: int
    body: dict[str, Any]
    group_id: int | None = None
    version: int | None = None
    approval_status: str | None = None
    id: int | None = None
    #: the ``sequence`` of the package's newest outbox event; None when it is to be looked up
    last_event_sequence: int | None = None

    @property
    def key(self) -> str | None:
        """Lookup key of an unversioned package (its lower-cased name); None for versions."""
        return None if self.version is not None else self.name.lower()


@dataclass
class TakenVersion:
    """What ``Transaction.next_version_of`` hands out with a version number."""

    #: the group as it is after the taking: its ``last_version`` and ``last_created_us`` are the
    #: new version's
    group: GroupRow
    #: the body of the group's named resource of the kind asked for (named by the group's key),
    #: None when it has none
    resource_body: dict[str, Any] | None
    #: an id reserved for the new version's package row, where the store hands one out with the
    #: number (PostgreSQL's sequence); None where the row's insert gives it (SQLite)
    package_id: int | None


@dataclass
class HistoryEntry:
    arn: str
    at_us: int
    principal: str
    field: str
    old_value: str | None
    new_value: str | None
    reason: str | None
    request_id: str
    id: int | None = None


@dataclass
class GroupQuery:
    region: str
    name_contains: str | None = None
    created_after_us: int | None = None
    created_before_us: int | None = None
    sort_by: str = "CreationTime"  # or "Name"
    descending: bool = True


@dataclass
class PackageQuery:
    region: str
    group_id: int | None = None  # restrict to this group's versions
    #: restrict to the versions of the group with this (region, name), looked up by the listing's
    #: own statement (none when there is no such group); for when the caller has no group id
    group_name: tuple[str, str] | None = None
    versioned: bool | None = None  # None: both kinds
    approval_status: str | None = None
    name_contains: str | None = None
    created_after_us: int | None = None
    created_before_us: int | None = None
    sort_by: str = "CreationTime"  # or "Name"
    descending: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class NamedResource:
    """A configuration object addressed by (region, kind, name): an EventBridge rule (targets in its
    body), connection, API destination, archive or replay."""

    region: str
    kind: str
    name: str
    arn: str
    created_us: int
    body: dict[str, Any]
    id: int | None = None


@dataclass
class OutboxEvent:
    """An EventBridge-shaped event; ``body`` is the whole event as targets receive it."""

    event_id: str
    region: str
    source: str
    detail_type: str
    created_us: int
    body: dict[str, Any]
    resource_arn: str | None = None
    sequence: int | None = None
    id: int | None = None


@dataclass
class Delivery:
    """One event to send to one target of one rule, and where that stands."""

    event_row_id: int
    region: str
    rule_name: str
    target_id: str
    target: dict[str, Any]
    status: str  # pending | succeeded | dead
    next_attempt_us: int
    created_us: int
    updated_us: int
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    id: int | None = None


@dataclass
class DeliveryAttempt:
    delivery_id: int
    at_us: int
    duration_us: int
    status_code: int | None
    error: str | None
    id: int | None = None


@dataclass
class DeploymentRow:
    """One variant of one change of an endpoint (its ``change`` is the endpoint's generation)."""

    region: str
    endpoint_arn: str
    endpoint_name: str
    change: int
    action: str  # Create | Update | UpdateWeightsAndCapacities | Rollback | Delete
    principal: str
    request_id: str
    requested_us: int
    body: dict[str, Any]  # the variant as deployed (containers with image, model data, digest)
    outcome: str = "pending"  # pending | InService | Failed
    config_name: str | None = None
    variant_name: str | None = None
    model_name: str | None = None
    package_arn: str | None = None
    weight: float | None = None
    instance_count: int | None = None
    live_us: int | None = None
    ended_us: int | None = None
    failure_reason: str | None = None
    id: int | None = None


@dataclass
class DeliveryQuery:
    region: str | None = None
    rule_name: str | None = None
    status: str | None = None


Cursor = Sequence[Any]


@dataclass
class MetricSource:
    """One ModelMetrics (or DriftCheckBaselines) URI of a version, and how reading it went.

    ``member`` is the path of the URI's source in the package, e.g. ``ModelQuality.Statistics`` or
    ``DriftCheckBaselines.ModelQuality.Constraints``. ``status`` is pending | read | failed. While
    pending, ``updated_us`` is the earliest time the source may be claimed (registration time, then
    the end of a claim's lease or of a retry's backoff); once settled, when it was settled."""

    package_arn: str
    member: str
    uri: str
    status: str
    updated_us: int
    group_id: int | None = None
    version: int | None = None
    sha256: str | None = None
    error: str | None = None
    attempts: int = 0
    id: int | None = None


@dataclass
class MetricPoint:
    """One version's value of one metric (a point of a trend)."""

    version: int
    value: float
    approval_status: str | None
    created_us: int
    package_arn: str


@dataclass
class AssociationRow:
    """A lineage association ``source_arn`` -> ``destination_arn`` (one per pair). The types are
    those of its ends (ArtifactType, ActionType or ContextType); ``body`` holds the rest of the
    AssociationSummary (CreatedBy, names)."""

    source_arn: str
    destination_arn: str
    created_us: int
    body: dict[str, Any]
    association_type: str | None = None
    source_type: str | None = None
    destination_type: str | None = None


@dataclass
class AssociationQuery:
    """ListAssociations filters; ``arn_prefix`` (``arn:aws:sagemaker:<region>:<account>:``) keeps a
    listing to one region and account. Creation bounds are inclusive, as in SageMaker."""

    arn_prefix: str | None = None
    source_arn: str | None = None
    destination_arn: str | None = None
    source_type: str | None = None
    destination_type: str | None = None
    association_type: str | None = None
    created_after_us: int | None = None
    created_before_us: int | None = None
    sort_by: str = "CreationTime"  # SourceArn | DestinationArn | SourceType | DestinationType
    descending: bool = True
