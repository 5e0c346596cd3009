"""Webhook deliveries still to make (table ``notify_outbox``, migration 0010).

A delivery is written in the SAME transaction as the events that call for it
(:class:`Staged`, run by ``Store.commit`` through ``Store.stagers``), so a
committed ``ticket.called`` always has its delivery queued, across a crash, a
restart or a failover (the hall's next owner reads the same table). The
delivering process (server/notify/sender.py) reads the rows that are due,
deletes each once its webhook accepted it or it was given up, and moves the
others' ``next_at`` on. Times are naive UTC in the table, aware outside.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from server.store.commit import Write
from server.store.engine import Database
from server.store.schema import notify_outbox_t
from server.wire.clock import aware_utc, naive_utc

__all__ = ["Delivery", "OutboxRows", "Staged"]


@dataclasses.dataclass(frozen=True)
class Staged:
    """What a commit's events add to its transaction, and the memory change
    to make once it committed (never if it fails)."""

    write: Write
    done: Callable[[], None]


@dataclasses.dataclass(frozen=True)
class Delivery:
    """One pending delivery (a ``notify_outbox`` row)."""

    id: int
    sink: str
    event: str
    delivery: str
    body: bytes
    created_at: dt.datetime
    attempts: int


def _delivery(row: Any) -> Delivery:
    return Delivery(row.id, row.sink, row.event, row.delivery, row.body.encode(),
                    aware_utc(row.created_at), int(row.attempts))


class OutboxRows:
    """The pending webhook deliveries of every hall on one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    def insert(conn: Connection, hall: str, rows: Sequence[tuple[str, str, str, bytes]],
               now: dt.datetime) -> None:
        """Queue ``(sink, event, delivery id, body)`` rows (inside a commit's transaction)."""
        if not rows:
            return
        stamp = naive_utc(now, "now")
        conn.execute(sa.insert(notify_outbox_t), [
            {"hall": hall, "sink": sink, "event": event, "delivery": delivery,
             "body": body.decode(), "created_at": stamp, "next_at": stamp, "attempts": 0}
            for sink, event, delivery, body in rows])

    def due(self, hall: str, sink: str, now: dt.datetime, limit: int) -> list[Delivery]:
        """The sink's deliveries due at ``now``, oldest first."""
        o = notify_outbox_t
        with self._db.transaction() as conn:
            rows = conn.execute(sa.select(o).where(
                o.c.hall == hall, o.c.sink == sink, o.c.next_at <= naive_utc(now, "now"),
            ).order_by(o.c.id).limit(limit))
            return [_delivery(r) for r in rows]

    def waiting(self, hall: str, sink: str) -> tuple[int, dt.datetime | None]:
        """How many deliveries the sink has pending, and when the next is due."""
        o = notify_outbox_t
        with self._db.transaction() as conn:
            count, first = conn.execute(sa.select(sa.func.count(), sa.func.min(o.c.next_at))
                                        .where(o.c.hall == hall, o.c.sink == sink)).one()
        return int(count), aware_utc(first)

    def count(self, hall: str) -> int:
        """The hall's pending deliveries, over all its webhooks."""
        o = notify_outbox_t
        with self._db.transaction() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(o)
                                    .where(o.c.hall == hall)).scalar() or 0)

    def done(self, ids: Iterable[int]) -> None:
        """Delete these deliveries (accepted, or given up)."""
        ids = list(ids)
        if ids:
            with self._db.transaction(write=True) as conn:
                conn.execute(sa.delete(notify_outbox_t).where(notify_outbox_t.c.id.in_(ids)))

    def retry(self, delivery_id: int, attempts: int, next_at: dt.datetime) -> None:
        """Record a failed attempt: try again at ``next_at``."""
        o = notify_outbox_t
        with self._db.transaction(write=True) as conn:
            conn.execute(sa.update(o).where(o.c.id == delivery_id).values(
                attempts=attempts, next_at=naive_utc(next_at, "next_at")))

    def orphans(self, hall: str, sinks: Iterable[str]) -> list[str]:
        """Delete the hall's deliveries to webhooks no longer configured; their events."""
        o = notify_outbox_t
        kept = list(sinks)
        gone = sa.and_(o.c.hall == hall, o.c.sink.not_in(kept)) if kept else o.c.hall == hall
        with self._db.transaction(write=True) as conn:
            events = [row.event for row in conn.execute(sa.select(o.c.event).where(gone))]
            if events:
                conn.execute(sa.delete(o).where(gone))
        return events
