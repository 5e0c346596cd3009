"""Idempotency replies: the reply to a ``(device, request id)``, kept ``REPLY_TTL_S``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from server.store.convert import check_key
from server.store.engine import Database
from server.store.prepared import PURGE_REPLIES, dialect_of
from server.store.schema import replies
from server.wire.clock import naive_utc

__all__ = ["REPLY_TTL_S", "live", "purge", "recall", "remember", "row"]

#: How long ``commit(..., reply=...)`` keeps an idempotency reply (PROTOCOL:
#: at least 10 minutes).
REPLY_TTL_S = 600


def row(hall: str, device: str, request_id: str, reply_json: str,
        expires_at: dt.datetime) -> dict[str, Any]:
    """The replies row (checks the keys; ``expires_at`` aware)."""
    check_key(device, "device", 128)
    check_key(request_id, "request_id", 128)
    if not isinstance(reply_json, str):
        raise TypeError("reply_json must be a str (the encoded reply)")
    return {"hall": hall, "device": device, "request_id": request_id,
            "reply": reply_json, "expires_at": naive_utc(expires_at, "expires_at")}


def remember(db: Database, values: dict[str, Any]) -> bool:
    """Insert unless that request already has a reply; True when inserted."""
    with db.transaction(write=True) as conn:
        # INSERT row counts are only kept when asked for (SQLAlchemy 2).
        stmt = (dialect_of(conn).insert(replies).on_conflict_do_nothing()
                .execution_options(preserve_rowcount=True))
        return conn.execute(stmt, values).rowcount == 1


def recall(db: Database, hall: str, device: str, request_id: str,
           now: dt.datetime) -> str | None:
    with db.transaction(write=False) as conn:
        return conn.execute(
            sa.select(replies.c.reply).where(
                replies.c.hall == hall, replies.c.device == device,
                replies.c.request_id == request_id, replies.c.expires_at > naive_utc(now, "now"))
        ).scalar()


def live(db: Database, hall: str, now: dt.datetime) -> list[tuple[str, str, str]]:
    with db.transaction(write=False) as conn:
        rows = conn.execute(
            sa.select(replies.c.device, replies.c.request_id, replies.c.reply)
            .where(replies.c.hall == hall, replies.c.expires_at > naive_utc(now, "now"))
        ).all()
    return [(r.device, r.request_id, r.reply) for r in rows]


def purge(db: Database, now: dt.datetime) -> int:
    with db.transaction(write=True) as conn:
        return int(conn.execute(PURGE_REPLIES, {"now": naive_utc(now, "now")}).rowcount)
