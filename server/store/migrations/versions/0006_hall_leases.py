"""Hall leases and live instances (failover, several halls per server).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

``hall_leases``: one row per hall on PostgreSQL; the instance that writes
the hall (its owner) renews ``expires_at`` (database clock) and every commit
checks ``epoch``, which grows by one at each change of owner (fencing, see
``server/store/lease.py``). ``instances``: each ``qhall serve`` process
touches its row, so the processes sharing halls know how many they are and
take an even share.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hall_leases",
        sa.Column("hall", sa.String(64), primary_key=True),
        sa.Column("epoch", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.Column("url", sa.Text, nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "instances",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("url", sa.Text, nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("instances")
    op.drop_table("hall_leases")
