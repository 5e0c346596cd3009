"""The owner's presence key on its lease row (a SIGKILLed owner loses its halls at once).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30

``hall_leases.presence``: the key of the session advisory lock the owner
holds on a connection of its own for as long as its process lives
(``server/store/lease.py``). A standby may take a hall whose lease still
runs when no session holds that lock any more (the owner's connections
closed with its process); NULL (rows written before, fake owners in tests):
only expiry frees the hall, as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("hall_leases", sa.Column("presence", sa.Integer, nullable=True))


def downgrade() -> None:
    op.drop_column("hall_leases", "presence")
