"""metrics as numbers and lineage associations

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_sources",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("package_arn", sa.String(length=256), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("member", sa.String(length=128), nullable=False),
        sa.Column("uri", sa.String(length=1024), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_sources")),
        sa.UniqueConstraint("package_arn", "member", name=op.f("uq_metric_sources_package_arn_member")),
    )
    with op.batch_alter_table("metric_sources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_metric_sources_status_id"), ["status", "id"], unique=False)

    op.create_table(
        "package_metrics",
        sa.Column("package_arn", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("source_uri", sa.String(length=1024), nullable=False),
        sa.PrimaryKeyConstraint("package_arn", "name", name=op.f("pk_package_metrics")),
    )
    with op.batch_alter_table("package_metrics", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_package_metrics_group_id_name_version"),
            ["group_id", "name", "version"],
            unique=False,
        )

    op.create_table(
        "lineage_associations",
        sa.Column("source_arn", sa.String(length=256), nullable=False),
        sa.Column("destination_arn", sa.String(length=256), nullable=False),
        sa.Column("association_type", sa.String(length=32), nullable=True),
        sa.Column("source_type", sa.String(length=64), nullable=True),
        sa.Column("destination_type", sa.String(length=64), nullable=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("source_arn", "destination_arn", name=op.f("pk_lineage_associations")),
    )
    with op.batch_alter_table("lineage_associations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lineage_associations_destination_arn"), ["destination_arn"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("lineage_associations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lineage_associations_destination_arn"))
    op.drop_table("lineage_associations")
    with op.batch_alter_table("package_metrics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_package_metrics_group_id_name_version"))
    op.drop_table("package_metrics")
    with op.batch_alter_table("metric_sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_metric_sources_status_id"))
    op.drop_table("metric_sources")
