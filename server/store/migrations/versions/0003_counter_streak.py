"""Counters keep the core's priority-interleaving streak.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

``streak`` counts the priority/appointment tickets a counter called in a row
while normal tickets waited (``Dispatch.priority_per_normal``). Persisting it
makes a restarted server interleave exactly as before the restart.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("counters") as batch:
        batch.add_column(sa.Column("streak", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("counters") as batch:
        batch.drop_column("streak")
