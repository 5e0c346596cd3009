"""Each instance's presence key on its heartbeat row (a killed process stops counting at once).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01

``instances.presence``: the key of the session advisory lock the process
holds for as long as it lives (``server/store/lease.py``), written with
every heartbeat. The processes sharing halls count one as live only while
some session holds that lock, so a SIGKILLed process leaves the even-share
count at once instead of a lease later; NULL (rows written before, a process
without its lock at that heartbeat): the heartbeat's age alone decides, as
before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("instances", sa.Column("presence", sa.Integer, nullable=True))


def downgrade() -> None:
    op.drop_column("instances", "presence")
