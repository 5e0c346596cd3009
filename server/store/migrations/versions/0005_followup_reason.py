"""Follow-up cases keep the citizen's reason for a bad rating.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

``reason`` is what the rating pad sent with a 1 or 2 (不满意): the chosen
GB/T 39734 reasons and any free text. NULL for older cases and when the
citizen gave none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("followups") as batch:
        batch.add_column(sa.Column("reason", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("followups") as batch:
        batch.drop_column("reason")
