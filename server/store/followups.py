"""好差评 follow-up rows (migration 0002); the rules are server/features/ratings.py.

Times are aware UTC on both sides. Writes are returned as
:data:`~server.store.commit.Write` for ``Store.commit(..., extra=...)``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from server.store.commit import Write
from server.store.engine import Database
from server.store.errors import StaleState
from server.store.schema import followups_t
from server.wire.clock import aware_utc, naive_utc

__all__ = ["FollowUpRow", "FollowUpRows"]

_TIMES = ("served_at", "opened_at", "closed_at")


@dataclasses.dataclass(frozen=True)
class FollowUpRow:
    """One follow-up case (a followups row)."""

    hall: str
    id: str
    ticket: str
    number: str
    service: str
    counter: int | None
    staff_id: str | None
    staff_name: str | None
    score: int
    served_at: dt.datetime | None
    opened_at: dt.datetime
    due: dt.date
    status: str
    closed_at: dt.datetime | None = None
    closed_by: str | None = None
    note: str | None = None
    reason: str | None = None


def _row(row: Any) -> FollowUpRow:
    values = dict(row._mapping)
    for name in _TIMES:
        values[name] = aware_utc(values[name])
    return FollowUpRow(**values)


class FollowUpRows:
    """The follow-up queries of every hall on one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def _select(self, query: Any) -> list[FollowUpRow]:
        t = followups_t
        with self._db.transaction() as conn:
            return [_row(r) for r in conn.execute(query.order_by(t.c.opened_at, t.c.id))]

    def with_status(self, hall: str, status: str | None = "open") -> list[FollowUpRow]:
        """Cases (``status`` open/closed, None for all), oldest first."""
        query = sa.select(followups_t).where(followups_t.c.hall == hall)
        if status is not None:
            query = query.where(followups_t.c.status == status)
        return self._select(query)

    def open_at(self, hall: str, moment: dt.datetime) -> list[FollowUpRow]:
        """Cases open at ``moment`` (opened before, not closed before), oldest first."""
        t, at = followups_t, naive_utc(moment, "moment")
        return self._select(sa.select(t).where(
            t.c.hall == hall, t.c.opened_at < at,
            sa.or_(t.c.closed_at.is_(None), t.c.closed_at >= at)))

    def get(self, hall: str, case_id: str) -> FollowUpRow | None:
        found = self._select(sa.select(followups_t).where(
            followups_t.c.hall == hall, followups_t.c.id == case_id))
        return found[0] if found else None

    def insert(self, row: FollowUpRow) -> Write:
        values = dataclasses.asdict(row)
        for name in _TIMES:
            values[name] = naive_utc(values[name], name)

        def write(conn: Connection) -> None:
            conn.execute(followups_t.insert(), values)

        return write

    def close(self, row: FollowUpRow) -> Write:
        """Close a case still open (``row``: the case as closed)."""
        t = followups_t
        closed_at = naive_utc(row.closed_at, "closed_at")

        def write(conn: Connection) -> None:
            done = conn.execute(sa.update(t).where(
                t.c.hall == row.hall, t.c.id == row.id, t.c.status == "open",
            ).values(status="closed", closed_at=closed_at, closed_by=row.closed_by,
                     note=row.note)).rowcount
            if done != 1:
                raise StaleState(f"follow-up {row.id} changed meanwhile")

        return write
