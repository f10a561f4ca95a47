"""model_packages.last_event_sequence: the sequence of a package's newest event, kept with the row

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for the rows written before: their next event looks its sequence up in the outbox
    with op.batch_alter_table("model_packages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_event_sequence", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_packages", schema=None) as batch_op:
        batch_op.drop_column("last_event_sequence")
