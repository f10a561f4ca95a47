"""an index of replays alone, so that looking for them does not scan every lineage entity

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

_REPLAYS = sa.text("kind = 'replay'")


def upgrade() -> None:
    op.create_index(
        "ix_named_resources_replays",
        "named_resources",
        ["name"],
        unique=False,
        sqlite_where=_REPLAYS,
        postgresql_where=_REPLAYS,
    )


def downgrade() -> None:
    op.drop_index("ix_named_resources_replays", table_name="named_resources")
