"""Per-hall keys of the resume tickets (a welcome's ticket spares the next hello scrypt).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30

``resume_keys`` holds one random HMAC key per hall, made by the first
instance that welcomes a device of the hall (``server/store/resumekeys.py``);
every instance serving the hall reads the same one, so a ticket one instance
gave is checked by any other (failover). docs/SECURITY.md says what reading
this table lets one do.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resume_keys",
        sa.Column("hall", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("resume_keys")
