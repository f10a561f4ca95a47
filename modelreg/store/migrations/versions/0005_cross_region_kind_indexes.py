"""an index of replays alone and one of endpoints alone, so that background workers listing them
in every region do not scan every lineage entity

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

_KINDS = ("replay", "endpoint")


def upgrade() -> None:
    for kind in _KINDS:
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
    for kind in _KINDS:
        op.drop_index(f"ix_named_resources_{kind}s", table_name="named_resources")
