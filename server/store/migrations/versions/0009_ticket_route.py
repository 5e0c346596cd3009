"""Tickets keep their joint-approval route (联合审批) and step.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

``route`` holds the step service ids in order, joined by "," (NULL for an
ordinary ticket); ``step`` the index of the current one (0 otherwise);
``route_id`` the route service the ticket was issued for, whose numbering
series its number is from (NULL otherwise).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("route", sa.String(400), nullable=True))
        batch.add_column(sa.Column("step", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("route_id", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("route_id")
        batch.drop_column("step")
        batch.drop_column("route")
