"""lineage_backlog: versions whose automatic lineage is recorded after their registration

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 05:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lineage_backlog",
        sa.Column("package_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("package_id", name=op.f("pk_lineage_backlog")),
    )


def downgrade() -> None:
    op.drop_table("lineage_backlog")
