"""deployment history and artifact digests

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("endpoint_arn", sa.String(length=256), nullable=False),
        sa.Column("endpoint_name", sa.String(length=63), nullable=False),
        sa.Column("change", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("config_name", sa.String(length=63), nullable=True),
        sa.Column("variant_name", sa.String(length=63), nullable=True),
        sa.Column("model_name", sa.String(length=63), nullable=True),
        sa.Column("package_arn", sa.String(length=256), nullable=True),
        sa.Column("weight", sa.Float(), nullable=True),
        sa.Column("instance_count", sa.Integer(), nullable=True),
        sa.Column("principal", sa.String(length=256), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("requested_us", sa.BigInteger(), nullable=False),
        sa.Column("live_us", sa.BigInteger(), nullable=True),
        sa.Column("ended_us", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
    )
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deployments_endpoint_arn_change_id"),
            ["endpoint_arn", "change", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_deployments_package_arn_id"), ["package_arn", "id"], unique=False
        )

    op.create_table(
        "artifact_digests",
        sa.Column("owner_arn", sa.String(length=256), nullable=False),
        sa.Column("uri", sa.String(length=1024), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("recorded_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("owner_arn", "uri", name=op.f("pk_artifact_digests")),
    )


def downgrade() -> None:
    op.drop_table("artifact_digests")
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployments_package_arn_id"))
        batch_op.drop_index(batch_op.f("ix_deployments_endpoint_arn_change_id"))
    op.drop_table("deployments")
