"""indexes on named_resources, which holds every lineage entity: one to page a kind by creation
time (ListArtifacts, ListActions, ListContexts) and, for the background workers that list replays
and endpoints in every region, an index of each of those kinds alone

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_CROSS_REGION_KINDS = ("replay", "endpoint")


def upgrade() -> None:
    with op.batch_alter_table("named_resources", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_named_resources_region_kind_created_us_id"),
            ["region", "kind", "created_us", "id"],
            unique=False,
        )
    for kind in _CROSS_REGION_KINDS:
        where = sa.text(f"kind = '{kind}'")
        op.create_index(
            f"ix_named_resources_{kind}s",
            "named_resources",
            ["name"],
            unique=False,
            sqlite_where=where,
            postgresql_where=where,
        )


def downgrade() -> None:
    for kind in _CROSS_REGION_KINDS:
        op.drop_index(f"ix_named_resources_{kind}s", table_name="named_resources")
    with op.batch_alter_table("named_resources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_named_resources_region_kind_created_us_id"))
