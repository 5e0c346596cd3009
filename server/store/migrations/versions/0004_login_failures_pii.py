"""Wrong-PIN records that survive a restart; booking hashes keyed outside the database.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

``login_failures``: one row per wrong PIN and per key it counts against
(``staff:<id>`` and ``device:<id>``), so a lockout (``[limits] pin_failures``
per 5 minutes) holds across a restart. Rows older than the window are
deleted by the server.

``bookings.hash_scheme``: which key made a row's ``person``/``name_hash``/
``phone_hash``. Rows made before this revision were keyed by the salt kept in
``hall_secrets`` (``legacy``); new rows are keyed by the PII key that lives
outside the database (``pii``). Legacy rows are still matched (the server can
compute both digests) and are re-keyed on their next successful match; once no
legacy row is left the database salt is deleted. Existing masks are cut to the
last 4 digits of the phone here, since the old mask showed 7 of 11.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _short_mask(mask: str) -> str:
    digits = mask[-4:] if len(mask) >= 4 else mask
    return "*" * max(0, len(mask) - 4) + digits


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("hall", sa.String(64), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_login_failures_hall_at", "login_failures", ["hall", "at"])
    with op.batch_alter_table("bookings") as batch:
        batch.add_column(sa.Column("hash_scheme", sa.String(8), nullable=False,
                                   server_default="legacy"))
    conn = op.get_bind()
    bookings = sa.table("bookings", sa.column("hall"), sa.column("code"),
                        sa.column("phone_mask"))
    for hall, code, mask in conn.execute(sa.select(bookings.c.hall, bookings.c.code,
                                                   bookings.c.phone_mask)).all():
        conn.execute(bookings.update().where(bookings.c.hall == hall, bookings.c.code == code)
                     .values(phone_mask=_short_mask(mask)))


def downgrade() -> None:
    with op.batch_alter_table("bookings") as batch:
        batch.drop_column("hash_scheme")
    op.drop_index("ix_login_failures_hall_at", "login_failures")
    op.drop_table("login_failures")
