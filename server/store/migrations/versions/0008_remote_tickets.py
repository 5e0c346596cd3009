"""Remote tickets: presence on the ticket, the phone kept apart.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

``tickets.remote`` / ``present`` / ``deferrals``: a ticket taken by phone is
called only once its citizen is present; ``deferrals`` counts its moves back
while absent. ``ticket_phones``: the phone's keyed hash (one active ticket
per phone per service) and, while the ticket is active, the number for
notification delivery (then NULL).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("remote", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("present", sa.Boolean, nullable=False,
                                   server_default=sa.true()))
        batch.add_column(sa.Column("deferrals", sa.Integer, nullable=False,
                                   server_default="0"))
    op.create_table(
        "ticket_phones",
        sa.Column("hall", sa.String(64), primary_key=True),
        sa.Column("ticket", sa.String(64), primary_key=True),
        sa.Column("phone_hash", sa.String(64), nullable=False),
        sa.Column("phone", sa.String(32)),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
    )
    op.create_index("ix_ticket_phones_hall_hash", "ticket_phones", ["hall", "phone_hash"])


def downgrade() -> None:
    op.drop_index("ix_ticket_phones_hall_hash", "ticket_phones")
    op.drop_table("ticket_phones")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("deferrals")
        batch.drop_column("present")
        batch.drop_column("remote")
