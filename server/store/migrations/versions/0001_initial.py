"""Initial schema: halls, tickets, numbering, events, counters, replies.

Revision ID: 0001
Revises:
Create Date: 2026-01-01

Timestamps are naive UTC (``TIMESTAMP WITHOUT TIME ZONE`` / SQLite text):
``server.store`` converts to and from aware UTC datetimes, so both databases
hold the same values.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per hall: the last event seq, advanced in every commit.
    op.create_table(
        "halls",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("hall", sa.String(64), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("seqno", sa.Integer, nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("issued_at", sa.DateTime, nullable=False),
        sa.Column("counter", sa.Integer),
        sa.Column("target_counter", sa.Integer),
        sa.Column("rank_group", sa.Integer, nullable=False),
        sa.Column("rank_key", sa.Double, nullable=False),
        sa.Column("called_at", sa.DateTime),
        sa.Column("started_at", sa.DateTime),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("check_code", sa.String(32), nullable=False),
        sa.Column("slot_start", sa.DateTime),
        sa.Column("staff", sa.String(64)),
        sa.Column("rating", sa.Integer),
        sa.Column("version", sa.Integer, nullable=False),
        # The second guard against a duplicate number (the first is the
        # numbering compare-and-set); also the index load() reads by.
        sa.UniqueConstraint("hall", "day", "number", name="uq_tickets_hall_day_number"),
    )
    # Last number issued per (hall, service, day), advanced by compare-and-set.
    op.create_table(
        "numbering",
        sa.Column("hall", sa.String(64), primary_key=True),
        sa.Column("service", sa.String(64), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("last_number", sa.Integer, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("hall", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("ticket", sa.String(64)),
    )
    op.create_index("ix_events_hall_at", "events", ["hall", "at"])
    op.create_table(
        "counters",
        sa.Column("hall", sa.String(64), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("staff_id", sa.String(64)),
        sa.Column("staff_name", sa.String(64)),
        sa.Column("reason", sa.String(200)),
        sa.Column("since", sa.DateTime, nullable=False),
    )
    # Idempotency: the first reply to (device, request id), kept until expiry.
    op.create_table(
        "replies",
        sa.Column("hall", sa.String(64), primary_key=True),
        sa.Column("device", sa.String(128), primary_key=True),
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("reply", sa.Text, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_replies_expires_at", "replies", ["expires_at"])


def downgrade() -> None:
    for name in ("replies", "counters", "events", "numbering", "tickets", "halls"):
        op.drop_table(name)
