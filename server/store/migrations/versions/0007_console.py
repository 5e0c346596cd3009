"""The supervisor console's tables: sessions, audit log, acknowledged alerts.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

``console_sessions`` keeps a SHA-256 digest of each session cookie (never the
cookie), its CSRF token, and when it was last used (idle timeout);
``console_audit`` is who did what to what, when; ``console_acks`` the alerts
a supervisor acknowledged.
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
        "console_sessions",
        sa.Column("hall", sa.String(64), primary_key=True),
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("staff", sa.String(64), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("seen_at", sa.DateTime, nullable=False),
        sa.Column("ended_at", sa.DateTime),
    )
    op.create_table(
        "console_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("hall", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("staff", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_console_audit_hall_at", "console_audit", ["hall", "at"])
    op.create_table(
        "console_acks",
        sa.Column("hall", sa.String(64), primary_key=True),
        sa.Column("alert", sa.String(200), primary_key=True),
        sa.Column("staff", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("console_acks")
    op.drop_index("ix_console_audit_hall_at", "console_audit")
    op.drop_table("console_audit")
    op.drop_table("console_sessions")
