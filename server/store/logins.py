"""Wrong PINs (migration 0004): one row per failure and per key it counts against."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from server.store.convert import check_key
from server.store.engine import Database
from server.store.schema import login_failures_t
from server.wire.clock import aware_utc, naive_utc

__all__ = ["add", "clear", "since"]


def add(db: Database, hall: str, keys: list[str], at: dt.datetime) -> None:
    check_key(hall, "hall_id")
    when = naive_utc(at, "at")
    rows = [{"hall": hall, "key": check_key(k, "key", 200), "at": when} for k in keys]
    with db.transaction(write=True) as conn:
        conn.execute(login_failures_t.insert(), rows)


def since(db: Database, hall: str, start: dt.datetime) -> list[tuple[str, dt.datetime]]:
    """``(key, at)`` at or after ``start``, oldest first; deletes the older ones."""
    when = naive_utc(start, "since")
    table = login_failures_t
    with db.transaction(write=True) as conn:
        conn.execute(table.delete().where(table.c.hall == hall, table.c.at < when))
        rows = conn.execute(sa.select(table.c.key, table.c.at).where(
            table.c.hall == hall).order_by(table.c.at, table.c.id)).all()
    return [(r.key, aware_utc(r.at)) for r in rows]


def clear(db: Database, hall: str, key: str) -> None:
    with db.transaction(write=True) as conn:
        conn.execute(login_failures_t.delete().where(
            login_failures_t.c.hall == hall, login_failures_t.c.key == key))
