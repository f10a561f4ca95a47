"""The tables. Columns that are filtered or sorted on are real, indexed columns; the rest of a
resource lives in ``body`` as JSON text, exactly as the wire returns it.

Times are integer microseconds since the epoch (``*_us``): exact, sortable, the same on both dialects.
Names are looked up through ``key`` (the name lower-cased), because SageMaker ARNs lower-case names.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

model_package_groups = sa.Table(
    "model_package_groups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("key", sa.String(63), nullable=False),
    sa.Column("name", sa.String(63), nullable=False),
    sa.Column("arn", sa.String(256), nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    # The last version number handed out (never reused) and the creation time it got, so that
    # versions and creation times of one group always sort the same way.
    sa.Column("last_version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_created_us", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("policy", sa.Text, nullable=True),
    sa.UniqueConstraint("region", "key"),
    sa.Index(None, "region", "created_us", "id"),
    sa.Index(None, "region", "name", "id"),
)

model_packages = sa.Table(
    "model_packages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("group_id", sa.Integer, sa.ForeignKey("model_package_groups.id"), nullable=True),
    sa.Column("version", sa.Integer, nullable=True),
    # lower-cased name of an unversioned package; NULL for versioned ones
    sa.Column("key", sa.String(63), nullable=True),
    # group name (versioned) or package name (unversioned), as given
    sa.Column("name", sa.String(63), nullable=False),
    sa.Column("arn", sa.String(256), nullable=False, unique=True),
    sa.Column("approval_status", sa.String(32), nullable=True),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    # the ``sequence`` of the package's newest outbox event, so that the next one needs no lookup
    # (NULL: not known here, look it up); written under the row's lock with the event
    sa.Column("last_event_sequence", sa.Integer, nullable=True),
    sa.UniqueConstraint("group_id", "version"),
    sa.UniqueConstraint("region", "key"),
    # the orders ListModelPackages pages in: a group's approved versions (latest approved), a
    # group's or the unversioned packages by creation time, every package by creation time or
    # by name (keyset order: name, then id)
    sa.Index(None, "group_id", "approval_status", "created_us", "id"),
    sa.Index(None, "region", "group_id", "created_us", "id"),
    sa.Index(None, "region", "created_us", "id"),
    sa.Index(None, "region", "name", "id"),
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("arn", sa.String(256), primary_key=True),
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)

history = sa.Table(
    "history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("arn", sa.String(256), nullable=False),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("principal", sa.String(256), nullable=False),
    sa.Column("field", sa.String(64), nullable=False),
    sa.Column("old_value", sa.Text, nullable=True),
    sa.Column("new_value", sa.Text, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Index(None, "arn", "id"),
)

client_tokens = sa.Table(
    "client_tokens",
    metadata,
    sa.Column("region", sa.String(32), primary_key=True),
    sa.Column("operation", sa.String(64), primary_key=True),
    sa.Column("token", sa.String(64), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("result", sa.Text, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
)

# --------------------------------------------------------------------------- events

#: the kinds of ``named_resources`` that background workers list in every region at once
CROSS_REGION_KINDS = ("replay", "endpoint")

#: Resources addressed by name, ``kind`` says which: EventBridge rules (with their targets),
#: connections, API destinations, archives and replays, and lineage entities (artifacts, actions,
#: contexts and their source index: several per registered version, so this table is large).
named_resources = sa.Table(
    "named_resources",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("arn", sa.String(512), nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.UniqueConstraint("region", "kind", "name"),
    # ListArtifacts, ListActions and ListContexts page by creation time
    sa.Index(None, "region", "kind", "created_us", "id"),
    # The background workers list two kinds across every region, often: the delivery worker its
    # replays (twice a second), the endpoint reconciler its endpoints. Each kind has an index of
    # its rows alone (one on kind would cost every lineage insert a page; without one, each look
    # was a scan of the whole table, lineage included).
    *(
        sa.Index(
            f"ix_named_resources_{kind}s",
            "name",
            sqlite_where=sa.text(f"kind = '{kind}'"),
            postgresql_where=sa.text(f"kind = '{kind}'"),
        )
        for kind in CROSS_REGION_KINDS
    ),
)

#: The outbox: every event, written in the transaction of the change it describes, kept for
#: replay. ``dispatched`` turns true once the event has been matched against the rules.
events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(64), nullable=False, unique=True),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("source", sa.String(256), nullable=False),
    sa.Column("detail_type", sa.String(256), nullable=False),
    sa.Column("resource_arn", sa.String(512), nullable=True),
    sa.Column("sequence", sa.Integer, nullable=True),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("dispatched", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("body", sa.Text, nullable=False),
    sa.Index(None, "dispatched", "id"),
    sa.Index(None, "resource_arn", "sequence"),
    sa.Index(None, "region", "created_us"),
)

#: One row per (event, rule, target): what must be sent, and how it went.
deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_row_id", sa.Integer, sa.ForeignKey("events.id"), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("rule_name", sa.String(256), nullable=False),
    sa.Column("target_id", sa.String(64), nullable=False),
    sa.Column("target", sa.Text, nullable=False),  # the target's configuration when the event matched
    sa.Column("status", sa.String(16), nullable=False),  # pending | succeeded | dead
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_us", sa.BigInteger, nullable=False),
    sa.Column("lease_until_us", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("updated_us", sa.BigInteger, nullable=False),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Index(None, "status", "next_attempt_us"),
    sa.Index(None, "rule_name", "id"),
)

delivery_attempts = sa.Table(
    "delivery_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.Integer, sa.ForeignKey("deliveries.id"), nullable=False),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("duration_us", sa.BigInteger, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Index(None, "delivery_id", "id"),
)

# --------------------------------------------------------------------------- endpoints

#: Deployment history: one row per variant of each change an endpoint goes through (create, update,
#: weights, rollback, delete). ``change`` is the endpoint's generation number; the rows of one change
#: share it. ``live_us``/``ended_us`` say from when to when that configuration served traffic.
deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("endpoint_arn", sa.String(256), nullable=False),
    sa.Column("endpoint_name", sa.String(63), nullable=False),
    sa.Column("change", sa.Integer, nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("config_name", sa.String(63), nullable=True),
    sa.Column("variant_name", sa.String(63), nullable=True),
    sa.Column("model_name", sa.String(63), nullable=True),
    sa.Column("package_arn", sa.String(256), nullable=True),
    sa.Column("weight", sa.Float, nullable=True),
    sa.Column("instance_count", sa.Integer, nullable=True),
    sa.Column("principal", sa.String(256), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("requested_us", sa.BigInteger, nullable=False),
    sa.Column("live_us", sa.BigInteger, nullable=True),
    sa.Column("ended_us", sa.BigInteger, nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),  # pending | InService | Failed
    sa.Column("failure_reason", sa.Text, nullable=True),
    sa.Column("body", sa.Text, nullable=False),  # the variant as deployed: containers, digests, type
    sa.Index(None, "endpoint_arn", "change", "id"),
    sa.Index(None, "package_arn", "id"),
)

#: The SHA-256 of a model artifact as first deployed for a model package version (or a model's
#: own container): later starts refuse bytes that differ.
artifact_digests = sa.Table(
    "artifact_digests",
    metadata,
    sa.Column("owner_arn", sa.String(256), primary_key=True),
    sa.Column("uri", sa.String(1024), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("recorded_us", sa.BigInteger, nullable=False),
)

# --------------------------------------------------------------------------- metrics and lineage

#: Each ModelMetrics URI of a version, read after the version commits: ``status`` pending | read |
#: failed, with the file's SHA-256 or the reason it could not be read or parsed.
metric_sources = sa.Table(
    "metric_sources",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("package_arn", sa.String(256), nullable=False),
    sa.Column("group_id", sa.Integer, nullable=True),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("member", sa.String(128), nullable=False),  # e.g. ModelQuality.Statistics
    sa.Column("uri", sa.String(1024), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated_us", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("package_arn", "member"),
    sa.Index(None, "status", "id"),
)

#: A version's metrics as numbers (from ``metric_sources``), for search, sorting, compare and trends.
package_metrics = sa.Table(
    "package_metrics",
    metadata,
    sa.Column("package_arn", sa.String(256), primary_key=True),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("group_id", sa.Integer, nullable=True),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("source_uri", sa.String(1024), nullable=False),
    sa.Index(None, "group_id", "name", "version"),
)

#: SageMaker lineage associations between artifacts, actions, contexts, model packages, endpoints...
lineage_associations = sa.Table(
    "lineage_associations",
    metadata,
    sa.Column("source_arn", sa.String(256), primary_key=True),
    sa.Column("destination_arn", sa.String(256), primary_key=True),
    sa.Column("association_type", sa.String(32), nullable=True),
    sa.Column("source_type", sa.String(256), nullable=True),
    sa.Column("destination_type", sa.String(256), nullable=True),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Index(None, "destination_arn"),
)

#: Versions whose automatic lineage (``modelreg.sagemaker.lineage``) is not recorded yet: a
#: registration adds its package id here instead of writing its lineage rows, which are recorded
#: later in batches, and always before anything reads or changes lineage.
lineage_backlog = sa.Table(
    "lineage_backlog",
    metadata,
    sa.Column("package_id", sa.Integer, primary_key=True, autoincrement=False),
)
