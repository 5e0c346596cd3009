"""Appointments and follow-ups: bookings, booking_slots, followups, hall_secrets.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-02

``bookings`` hold no personal data in clear: a salted HMAC of the name, the
phone and of both together (``person``), plus masked forms for display.
``person_day`` is set while a booking holds its person's day (one booking per
person per day) and cleared on cancel; the unique constraint enforces the
rule against concurrent writers (NULLs never collide). ``booking_slots``
counts the bookings of each slot, advanced by a guarded UPDATE so capacity
holds on PostgreSQL too. ``hall_secrets`` keeps the per-hall HMAC salt.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bookings",
        sa.Column("hall", sa.String(64), primary_key=True),
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("slot_start", sa.DateTime, nullable=False),
        sa.Column("person", sa.String(64), nullable=False),
        sa.Column("name_hash", sa.String(64), nullable=False),
        sa.Column("phone_hash", sa.String(64), nullable=False),
        sa.Column("name_mask", sa.String(64), nullable=False),
        sa.Column("phone_mask", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("person_day", sa.String(80)),
        sa.Column("ticket", sa.String(64)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("hall", "person_day", name="uq_bookings_hall_person_day"),
    )
    op.create_index("ix_bookings_hall_person", "bookings", ["hall", "person"])
    op.create_index("ix_bookings_hall_day", "bookings", ["hall", "day"])
    op.create_table(
        "booking_slots",
        sa.Column("hall", sa.String(64), primary_key=True),
        sa.Column("service", sa.String(64), primary_key=True),
        sa.Column("slot_start", sa.DateTime, primary_key=True),
        sa.Column("booked", sa.Integer, nullable=False),
    )
    op.create_table(
        "followups",
        sa.Column("hall", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("ticket", sa.String(64), nullable=False),
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("counter", sa.Integer),
        sa.Column("staff_id", sa.String(64)),
        sa.Column("staff_name", sa.String(64)),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("served_at", sa.DateTime),
        sa.Column("opened_at", sa.DateTime, nullable=False),
        sa.Column("due", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("closed_at", sa.DateTime),
        sa.Column("closed_by", sa.String(128)),
        sa.Column("note", sa.Text),
        # One follow-up per ticket (one rating per ticket).
        sa.UniqueConstraint("hall", "ticket", name="uq_followups_hall_ticket"),
    )
    op.create_index("ix_followups_hall_status", "followups", ["hall", "status"])
    op.create_table(
        "hall_secrets",
        sa.Column("hall", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    op.drop_index("ix_followups_hall_status", "followups")
    op.drop_index("ix_bookings_hall_day", "bookings")
    op.drop_index("ix_bookings_hall_person", "bookings")
    for name in ("hall_secrets", "followups", "booking_slots", "bookings"):
        op.drop_table(name)
