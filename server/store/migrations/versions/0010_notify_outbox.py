"""Webhook deliveries kept in the database; bookings keep the phone for them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30

``notify_outbox``: one row per webhook delivery still to make, written in the
same transaction as the events that call for it, deleted when the webhook
accepts it or it is given up (server/notify/). ``ticket_phones.soon``:
``ticket.soon`` is queued for the ticket (told once, also across restarts).
``bookings.phone``: the number itself while the booking is open, for the
notifications of its ticket (then NULL; the hash and mask stay).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notify_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("hall", sa.String(64), nullable=False),
        sa.Column("sink", sa.String(64), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("delivery", sa.String(32), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("next_at", sa.DateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_notify_outbox_hall_next", "notify_outbox", ["hall", "next_at"])
    with op.batch_alter_table("ticket_phones") as batch:
        batch.add_column(sa.Column("soon", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
    with op.batch_alter_table("bookings") as batch:
        batch.add_column(sa.Column("phone", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bookings") as batch:
        batch.drop_column("phone")
    with op.batch_alter_table("ticket_phones") as batch:
        batch.drop_column("soon")
    op.drop_index("ix_notify_outbox_hall_next", "notify_outbox")
    op.drop_table("notify_outbox")
