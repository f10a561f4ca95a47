"""lineage_associations.source_type and destination_type hold 256 characters, not 64

An ArtifactType, ActionType or ContextType may be 256 characters long, and an association copies
its ends' types. On PostgreSQL a longer type failed AddAssociation with a 500; SQLite does not
enforce the length. Costs: PostgreSQL widens a varchar without rewriting the table (instant);
SQLite copies the table, about 46 s for 3,000,000 associations (1,000,000 versions) here.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 17:35:18
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lineage_associations", schema=None) as batch_op:
        for column in ("source_type", "destination_type"):
            batch_op.alter_column(
                column, existing_type=sa.String(64), type_=sa.String(256), existing_nullable=True
            )


def downgrade() -> None:
    with op.batch_alter_table("lineage_associations", schema=None) as batch_op:
        for column in ("destination_type", "source_type"):
            batch_op.alter_column(
                column, existing_type=sa.String(256), type_=sa.String(64), existing_nullable=True
            )
