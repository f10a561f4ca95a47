"""model_packages indexes that match the orders ListModelPackages pages in: (region, created_us,
id) for listings across groups, (region, name, id) for SortBy Name; (group_id, created_us, id)
duplicated (region, group_id, created_us, id) and (region, name, version, id) sorted within a name

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 16:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_packages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_packages_group_id_created_us_id"))
        batch_op.drop_index(batch_op.f("ix_model_packages_region_name_version_id"))
        batch_op.create_index(
            batch_op.f("ix_model_packages_region_created_us_id"), ["region", "created_us", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_model_packages_region_name_id"), ["region", "name", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("model_packages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_packages_region_name_id"))
        batch_op.drop_index(batch_op.f("ix_model_packages_region_created_us_id"))
        batch_op.create_index(
            batch_op.f("ix_model_packages_region_name_version_id"),
            ["region", "name", "version", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_model_packages_group_id_created_us_id"),
            ["group_id", "created_us", "id"],
            unique=False,
        )
