"""The hall's configuration, kept in the database as versions.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30

``hall_configs`` holds every version of a hall's whole TOML configuration:
who stored it (a staff id, or ``import``/``serve`` for the command line),
when and why. The newest version is the hall's configuration
(docs/CONFIG.md, docs/CONSOLE.md). ``counter_days`` holds the services a
supervisor assigned to a counter for one hall-local day (an extra counter for
a service today), ids joined by ",".
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hall_configs",
        sa.Column("hall", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("staff", sa.String(64), nullable=False),
        sa.Column("note", sa.String(400), nullable=False),
    )
    op.create_table(
        "counter_days",
        sa.Column("hall", sa.String(64), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("counter", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("services", sa.String(400), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("staff", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("counter_days")
    op.drop_table("hall_configs")
