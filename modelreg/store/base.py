"""The Store contract: what the business rules may ask of persistence.

A ``Store`` hands out transactions. Everything a request writes (the resource row, its history
entries, its tags, its idempotency record) goes through ONE write transaction, so it commits
together or not at all, and a committed write is durable (it survives ``kill -9`` of the server).

Rows (``modelreg.store.rows``) carry the indexed columns as attributes and the rest of the
resource as ``body`` (a dict in the wire's own PascalCase shape). Lists are keyset-paginated: a
call returns at most ``limit`` rows strictly after the ``after`` cursor (the sort key of the last
row of the previous page), so a page costs the same however deep it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from modelreg.store.rows import (
    AssociationQuery,
    AssociationRow,
    Cursor,
    Delivery,
    DeliveryAttempt,
    DeliveryQuery,
    DeploymentRow,
    GroupQuery,
    GroupRow,
    HistoryEntry,
    MetricPoint,
    MetricSource,
    NamedResource,
    OutboxEvent,
    PackageQuery,
    PackageRow,
    TakenVersion,
)


class StoreBusy(Exception):
    """``write(timeout=...)`` found the database held by another write transaction of this process
    for longer than the timeout."""


class InvalidCursor(ValueError):
    """A listing's ``after`` cursor that does not fit its order (its length or the type of a value):
    a NextToken a client made up or changed."""


class DuplicateKey(Exception):
    """An insert collided with a unique key (a name that is already taken).

    The transaction it was raised in cannot be used further (PostgreSQL aborts it): let the
    exception leave the ``write()`` block, which rolls back."""


class RegistryTransaction(Protocol):
    """The registry half of a transaction: groups, packages, tags, history, idempotency."""

    # groups
    def insert_group(self, row: GroupRow) -> GroupRow:
        """Insert and return the row with its id; ``DuplicateKey`` if the name is taken in the region."""

    def get_group(self, region: str, name: str, *, for_update: bool = False) -> GroupRow | None:
        """Look a group up by name (case-insensitive); ``for_update`` locks it until commit."""

    def update_group(self, row: GroupRow) -> None:
        """Write back ``body`` and ``policy`` of a group."""

    def delete_group(self, group_id: int) -> None: ...

    def group_has_packages(self, group_id: int) -> bool: ...

    def list_groups(self, query: GroupQuery, after: Cursor | None, limit: int) -> list[GroupRow]: ...

    def group_cursor(self, row: GroupRow, query: GroupQuery) -> Cursor:
        """The cursor that continues a group listing after ``row``."""

    # packages
    def next_version_of(
        self, region: str, name: str, now_us: int, *, resource_kind: str | None = None
    ) -> TakenVersion | None:
        """Hand out the next version number of the group ``name`` in ``region`` and its creation
        time, in this transaction and one statement, or None when there is no such group. With
        them come the body of the group's named resource of ``resource_kind`` (the promotion
        policy) and, where the store can, an id reserved for the new package (see
        ``TakenVersion``); on PostgreSQL all in that one statement, so that a registration sends
        no other before it writes.

        The group row is locked until commit, so concurrent registrations (from any number of
        servers) never share a number; the time is strictly greater than that of the previous
        version, so sorting by version and by creation time always agree."""

    def insert_package(self, row: PackageRow) -> PackageRow:
        """Insert; ``DuplicateKey`` if an unversioned name (or a group's version) is taken. A row
        whose ``id`` is already set (one ``next_version_of`` reserved) is held back like an append
        (see ``Transaction``): its ``DuplicateKey`` comes with the next statement or the commit."""

    def get_package_by_arn(self, arn: str, *, for_update: bool = False) -> PackageRow | None: ...

    def get_package_and_group_resource(
        self, arn: str, resource_kind: str, *, for_update: bool = False
    ) -> tuple[PackageRow, dict[str, Any] | None] | None:
        """``get_package_by_arn`` and, in the same statement, the body of the package's group's
        named resource of ``resource_kind`` (named by the group's key; None when it has none, or
        the package is unversioned). With ``for_update`` only the package row is locked, and the
        resource is read as it was when the statement began, before any wait for that lock: the
        caller acts as if before a change to it committed meanwhile."""

    def get_package_by_name(self, region: str, name: str, *, for_update: bool = False) -> PackageRow | None:
        """An unversioned package by name (case-insensitive)."""

    def get_package_version(
        self, group_id: int, version: int, *, for_update: bool = False
    ) -> PackageRow | None: ...

    def update_package(self, row: PackageRow) -> None:
        """Write back ``approval_status``, ``body`` and ``last_event_sequence``; held back like an
        append (see ``Transaction``)."""

    def delete_package(self, package_id: int) -> None: ...

    def list_packages(self, query: PackageQuery, after: Cursor | None, limit: int) -> list[PackageRow]: ...

    def package_cursor(self, row: PackageRow, query: PackageQuery) -> Cursor: ...

    def iter_packages(
        self, region: str, group_id: int | None = None, batch: int = 500
    ) -> Iterator[PackageRow]:
        """Every package of a region (or of one group), in creation order, fetched in batches."""

    def iter_groups(self, region: str, batch: int = 500) -> Iterator[GroupRow]: ...

    # tags
    def put_tags(self, arn: str, tags: dict[str, str]) -> None:
        """Add or overwrite tags of a resource."""

    def delete_tags(self, arn: str, keys: Sequence[str]) -> None: ...

    def list_tags(
        self, arn: str, after_key: str | None = None, limit: int | None = None
    ) -> list[tuple[str, str]]:
        """Tags of one resource as (key, value), sorted by key, after ``after_key``."""

    def tags_for(self, arns: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        """Tags of several resources in one query."""

    def count_tags(self, arn: str) -> int: ...

    # history (append-only)
    def append_history(self, entry: HistoryEntry) -> None: ...

    def list_history(self, arn: str) -> list[HistoryEntry]: ...

    # idempotency
    def get_client_token(self, region: str, operation: str, token: str) -> tuple[str, str] | None:
        """(request_hash, result) recorded for a ClientToken, if any."""

    def put_client_token(
        self, region: str, operation: str, token: str, request_hash: str, result: str, now_us: int
    ) -> None:
        """Record a ClientToken's request and result; ``DuplicateKey`` if the token is taken (see
        ``Transaction`` on when an append's error surfaces)."""


class EventTransaction(Protocol):
    """The events half of a transaction: named resources, the outbox and deliveries."""

    def insert_resource(self, resource: NamedResource) -> NamedResource:
        """Insert; ``DuplicateKey`` if (region, kind, name) is taken."""

    def get_resource(
        self, region: str, kind: str, name: str, *, for_update: bool = False
    ) -> NamedResource | None: ...

    def update_resource(self, resource: NamedResource) -> None:
        """Write back ``body`` (and ``arn``)."""

    def delete_resource(self, resource_id: int) -> None: ...

    def list_resources(
        self, region: str, kind: str, name_prefix: str | None, after: str | None, limit: int
    ) -> list[NamedResource]:
        """Resources of one kind sorted by name, strictly after the name ``after``."""

    def append_event(self, event: OutboxEvent) -> OutboxEvent:
        """Add an event to the outbox (it commits with the change it describes, or not at all).
        It is written with the transaction's next statement or its commit, so ``event.id`` stays
        None; ``claim_undispatched_events`` and ``events_between`` give the row id."""

    def next_event_sequence(self, resource_arn: str) -> int:
        """1 + the highest sequence of the resource's events so far (1 for the first)."""

    def claim_undispatched_events(self, limit: int) -> list[OutboxEvent]:
        """The oldest events not yet matched against rules, locked for this transaction (other
        servers on the same PostgreSQL database skip them)."""

    def mark_dispatched(self, event_row_ids: Sequence[int]) -> None: ...

    def has_undispatched_events(self) -> bool: ...

    def next_delivery_due_us(self) -> int | None:
        """When the earliest pending delivery can be claimed: its next attempt, or the end of its
        lease if later (None when nothing is pending)."""

    def events_between(
        self, region: str, start_us: int, end_us: int, after_id: int, limit: int
    ) -> list[OutboxEvent]:
        """Events of a region created in [start_us, end_us), by id after ``after_id`` (for replay)."""

    def get_event(self, event_row_id: int) -> OutboxEvent | None: ...

    def insert_delivery(self, delivery: Delivery) -> Delivery: ...

    def claim_due_deliveries(self, now_us: int, lease_us: int, limit: int) -> list[Delivery]:
        """Pending deliveries whose next attempt is due and whose lease has lapsed; leases them to
        the caller until ``now_us + lease_us`` so no other worker sends them meanwhile."""

    def update_delivery(self, delivery: Delivery) -> None:
        """Write back status, attempts, next attempt, last status code and error; clears the lease."""

    def get_delivery(self, delivery_id: int) -> Delivery | None: ...

    def list_deliveries(self, query: DeliveryQuery, after_id: int | None, limit: int) -> list[Delivery]:
        """Newest first, ids strictly below ``after_id``."""

    def add_attempt(self, attempt: DeliveryAttempt) -> None: ...

    def list_attempts(self, delivery_id: int) -> list[DeliveryAttempt]: ...


class EndpointTransaction(Protocol):
    """The serving half of a transaction: deployment history and artifact digests (models, endpoint
    configs and endpoints themselves are ``NamedResource`` rows of kinds model, endpoint-config and
    endpoint)."""

    def insert_deployments(self, rows: Sequence[DeploymentRow]) -> None:
        """Append the variants of one endpoint change."""

    def list_deployments(
        self, *, endpoint_arn: str | None = None, package_arn: str | None = None
    ) -> list[DeploymentRow]:
        """Rows of one endpoint or of one model package version, oldest first."""

    def settle_deployment(
        self, endpoint_arn: str, change: int, outcome: str, at_us: int, failure_reason: str | None = None
    ) -> None:
        """Record how a change ended: ``InService`` makes it live from ``at_us`` and ends every
        earlier live change of the endpoint; ``Failed`` records the reason."""

    def last_deployment_change(self, endpoint_arn: str) -> int:
        """The highest change number the endpoint's history holds (0 for none); it outlives a
        deleted endpoint, so one re-created under its name continues the numbering."""

    def end_deployments(self, endpoint_arn: str, at_us: int) -> None:
        """The endpoint stopped serving (deleted): end whatever was live or pending."""

    def package_serving_endpoints(self, package_arn: str) -> list[str]:
        """Names of the endpoints a model package version serves (or is being deployed to)."""

    def get_artifact_digest(self, owner_arn: str, uri: str) -> str | None: ...

    def put_artifact_digest(self, owner_arn: str, uri: str, sha256: str, at_us: int) -> None: ...


class MetricsTransaction(Protocol):
    """The metrics half of a transaction: the metrics files of versions and their numbers."""

    def add_metric_sources(self, sources: Sequence[MetricSource]) -> None:
        """Record a new version's metrics URIs (pending), in the transaction that registers it;
        held back like an append (see ``Transaction``)."""

    def claim_metric_sources(self, now_us: int, lease_us: int, limit: int) -> list[MetricSource]:
        """Pending sources due at ``now_us``, oldest first, leased to the caller until
        ``now_us + lease_us`` (their ``updated_us``); other servers on the same PostgreSQL skip the
        rows while this transaction holds them and the lease keeps them off afterwards."""

    def next_metric_source_due_us(self) -> int | None:
        """When the earliest pending source may be claimed (None when nothing is pending)."""

    def settle_metric_source(self, source: MetricSource, metrics: dict[str, float] | None) -> bool:
        """Write back ``status``, ``sha256``, ``error``, ``attempts`` and ``updated_us`` of a
        claimed source. ``metrics`` (a dict, empty when it failed) replaces the numbers the source
        gave its version; None leaves them alone (a file that gives none, or a retry to come).
        False (and nothing written) when the source is no longer pending (its version was deleted)."""

    def reset_metric_sources(self, package_arn: str, now_us: int) -> int:
        """Make every source of a version pending again (read anew); how many there are."""

    def list_metric_sources(self, package_arns: Sequence[str]) -> list[MetricSource]:
        """The sources of these versions, in the order they were recorded."""

    def metrics_of(self, package_arns: Sequence[str]) -> dict[str, dict[str, float]]:
        """Metrics by package ARN (every ARN asked for is a key), each sorted by name."""

    def metric_values(self, names: Sequence[str], group_id: int | None = None) -> dict[str, dict[str, float]]:
        """The metrics called ``names`` of every version (of one group), by package ARN."""

    def metric_trend(
        self,
        group_id: int,
        name: str,
        after_version: int | None,
        limit: int,
        approval_status: str | None = None,
    ) -> list[MetricPoint]:
        """Metric ``name`` of the group's versions that have it, by version, after ``after_version``."""

    def list_packages_by_metric(
        self,
        group_id: int,
        name: str,
        *,
        descending: bool,
        approval_status: str | None,
        after: Cursor | None,
        limit: int,
    ) -> list[tuple[PackageRow, float | None]]:
        """The group's versions sorted by metric ``name`` (ties by version, the same way), those
        without it last; keyset-paginated with ``metric_cursor``."""

    def metric_cursor(self, row: PackageRow, value: float | None) -> Cursor:
        """The cursor that continues ``list_packages_by_metric`` after ``row``."""

    def delete_package_metrics(self, package_arn: str) -> None:
        """Forget a deleted version's sources and numbers."""


class LineageTransaction(Protocol):
    """The lineage half of a transaction: associations between lineage entities (artifacts,
    actions and contexts are ``NamedResource`` rows of kinds artifact, action and context)."""

    def insert_resource_if_absent(self, resource: NamedResource) -> tuple[NamedResource, bool]:
        """Insert unless (region, kind, name) is taken: (the stored row, whether it was inserted).
        Unlike ``insert_resource`` a collision leaves the transaction usable (a concurrent writer
        that got there first wins and its row is returned once it commits)."""

    def get_resources(
        self, region: str, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], NamedResource]:
        """The resources ``keys`` ((kind, name) pairs) name that exist, by key, in one query."""

    def insert_resources(self, resources: Sequence[NamedResource]) -> None:
        """Insert resources known to be new in one statement (ids are not filled in);
        ``DuplicateKey`` if a name is taken after all."""

    def insert_resources_if_absent(self, resources: Sequence[NamedResource]) -> set[tuple[str, str]]:
        """Insert those of ``resources`` (all of one region, distinct keys, each with an ARN of its
        own) whose (region, kind, name) is free; the (kind, name) keys inserted (ids are not filled
        in). As with ``insert_resource_if_absent``, a collision leaves the transaction usable."""

    def page_resources(
        self,
        region: str,
        kind: str,
        *,
        by_name: bool,
        descending: bool,
        after: Cursor | None,
        created_after_us: int | None,
        created_before_us: int | None,
        limit: int,
    ) -> list[NamedResource]:
        """At most ``limit`` resources of ``kind`` in ``region`` created in the given range (bounds
        included, None for open), in keyset order: by (name, id) or by (created_us, id), strictly
        after the cursor ``after`` (such a pair). An index range scan whatever the table's size
        (the lineage listings: there can be millions of artifacts)."""

    def insert_association(self, row: AssociationRow) -> bool:
        """Add an association; False (nothing written, transaction still usable) if the pair exists."""

    def insert_associations(self, rows: Sequence[AssociationRow]) -> None:
        """Add associations known to be new (an end was created in this transaction), in one
        statement; ``DuplicateKey`` if a pair exists after all."""

    def get_association(self, source_arn: str, destination_arn: str) -> AssociationRow | None: ...

    def defer_lineage(self, package_id: int) -> None:
        """Put a version on the lineage backlog: its automatic lineage is to be recorded later."""

    def last_deferred_lineage(self) -> int | None:
        """The newest package id on the lineage backlog, None when it is empty (one index probe)."""

    def count_deferred_lineage(self) -> int:
        """How many versions are on the lineage backlog."""

    def deferred_lineage(self, limit: int, *, up_to: int | None = None) -> list[PackageRow]:
        """At most ``limit`` versions on the lineage backlog (with package ids up to ``up_to``, if
        given), oldest first. In a write transaction on PostgreSQL their backlog rows are locked:
        with ``up_to``, waiting for those another transaction holds (a reader catching up must find
        them recorded, or record them); without, skipping them (concurrent background recorders
        take disjoint batches)."""

    def undefer_lineage(self, package_ids: Sequence[int]) -> int:
        """Take versions off the lineage backlog; how many were on it. The one transaction that
        takes a version off (the others wait for it, then find it gone) records its lineage."""

    def delete_association(self, source_arn: str, destination_arn: str) -> bool:
        """Remove one association; False if there was none."""

    def delete_associations_of(self, arn: str) -> int:
        """Remove every association from or to ``arn``; how many there were."""

    def list_associations(
        self, query: AssociationQuery, after: Cursor | None, limit: int
    ) -> list[AssociationRow]:
        """Associations matching ``query`` in its order, strictly after the cursor ``after``."""

    def association_cursor(self, row: AssociationRow, query: AssociationQuery) -> Cursor:
        """The cursor that continues an association listing after ``row``."""

    def associations_from(self, arns: Sequence[str], limit: int) -> list[AssociationRow]:
        """Outgoing associations of any of ``arns`` (an index lookup), at most ``limit``."""

    def associations_to(self, arns: Sequence[str], limit: int) -> list[AssociationRow]:
        """Incoming associations of any of ``arns`` (an index lookup), at most ``limit``."""


class Transaction(
    RegistryTransaction,
    EventTransaction,
    EndpointTransaction,
    MetricsTransaction,
    LineageTransaction,
    Protocol,
):
    """Reads and writes inside one transaction; obtained from ``Store.read()`` / ``Store.write()``.

    Appends (``append_history``, ``append_event``, ``put_client_token``, ``defer_lineage``,
    ``add_metric_sources``), ``update_package`` and ``insert_package`` of a row with a reserved id
    may be held back and sent with the transaction's next statement or its commit, several as one
    statement where the database allows; every later statement of the transaction sees them. So an
    append's error (``DuplicateKey`` for a taken client token) may surface at that statement or at
    the end of the ``with`` block, and never after a commit."""


class Store(Protocol):
    """A database of registry resources."""

    url: str
    #: True when no store call waits on a network round trip (SQLite in this process): short
    #: handlers may then run on the server's event loop (see ``modelreg.aws.dispatch``).
    local: bool

    def read(self, *, keep_connection: bool = False) -> AbstractContextManager[Transaction]:
        """A transaction for reading only.

        ``keep_connection``: the calling thread reads often, one request at a time (the event
        loop): the store may keep a connection for it between reads rather than take one from
        its pool each time. A read nested in another on the same thread still works."""

    def write(self, *, timeout: float | None = None) -> AbstractContextManager[Transaction]:
        """A transaction that commits on a clean exit and rolls back on an exception.

        ``timeout`` (seconds): when writes are serialised in this process (SQLite) and another
        write transaction holds the database longer than that, raise ``StoreBusy`` instead of
        waiting on. None waits as long as it takes."""

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every write transaction that commits."""

    def close(self) -> None: ...
