"""Reads of the hall's state and event log: ``load`` for a restart, events for
replay (``since``) and reports (``between``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from server.core.model import CounterState, Ticket
from server.store.convert import check_key, counter_from_row, event_dict, ticket_from_row
from server.store.engine import Database
from server.store.schema import counters_t, events_t, halls, numbering, tickets
from server.wire.clock import naive_utc

__all__ = ["Loaded", "between", "last_seq", "load", "oldest_seq", "since"]


@dataclasses.dataclass
class Loaded:
    """What ``Hall.restore`` needs for one hall and day."""

    tickets: list[Ticket]
    counters: dict[int, CounterState]
    last_numbers: dict[tuple[str, dt.date], int]
    last_seq: int


def _event_columns() -> Any:
    return sa.select(events_t.c.seq, events_t.c.name, events_t.c.data, events_t.c.at)


def since(db: Database, hall: str, seq: int, limit: int) -> list[dict[str, Any]]:
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise TypeError("seq must be an int")
    if not isinstance(limit, int) or limit < 1:
        raise ValueError("limit must be a positive int")
    query = (_event_columns().where(events_t.c.hall == hall, events_t.c.seq > seq)
             .order_by(events_t.c.seq).limit(limit))
    with db.transaction(write=False) as conn:
        return [event_dict(row) for row in conn.execute(query)]


def oldest_seq(db: Database, hall: str) -> int | None:
    with db.transaction(write=False) as conn:
        return conn.execute(
            sa.select(sa.func.min(events_t.c.seq)).where(events_t.c.hall == hall)
        ).scalar()


def hall_of_check(db: Database, check: str, among: tuple[str, ...]) -> str | None:
    """The hall (one of ``among``) whose newest ticket has check code ``check``."""
    if not among:
        return None
    with db.transaction(write=False) as conn:
        return conn.execute(
            sa.select(tickets.c.hall).where(tickets.c.check_code == check,
                                           tickets.c.hall.in_(among))
            .order_by(tickets.c.day.desc()).limit(1)
        ).scalar()


def last_seq(conn: Connection, hall: str) -> int:
    value = conn.execute(sa.select(halls.c.last_seq).where(halls.c.id == hall)).scalar()
    return int(value or 0)


def load(db: Database, hall: str, day: dt.date) -> Loaded:
    check_key(hall, "hall_id")
    if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
        raise TypeError("day must be a date")
    with db.transaction(write=False) as conn:
        rows = conn.execute(
            sa.select(tickets).where(tickets.c.hall == hall, tickets.c.day == day)
            .order_by(tickets.c.issued_at, tickets.c.id)
        )
        ticket_list = [ticket_from_row(row) for row in rows]
        counters = {
            row.number: counter_from_row(row)
            for row in conn.execute(
                sa.select(counters_t).where(counters_t.c.hall == hall)
                .order_by(counters_t.c.number))
        }
        last_numbers = {
            (row.service, row.day): row.last_number
            for row in conn.execute(
                sa.select(numbering).where(numbering.c.hall == hall, numbering.c.day == day))
        }
        last = last_seq(conn, hall)
    return Loaded(ticket_list, counters, last_numbers, last)


def between(db: Database, hall: str, start: dt.datetime, end: dt.datetime, batch: int,
            names: tuple[str, ...] | None = None) -> Iterator[dict[str, Any]]:
    """Events with ``start <= at < end`` (of ``names`` when given), in seq order,
    read in batches of short transactions."""
    lo, hi = naive_utc(start, "start"), naive_utc(end, "end")
    after = 0
    while True:
        query = _event_columns().where(events_t.c.hall == hall, events_t.c.at >= lo,
                                       events_t.c.at < hi, events_t.c.seq > after)
        if names is not None:
            query = query.where(events_t.c.name.in_(names))
        with db.transaction(write=False) as conn:
            chunk = [event_dict(row) for row in
                     conn.execute(query.order_by(events_t.c.seq).limit(batch))]
        yield from chunk
        if len(chunk) < batch:
            return
        after = chunk[-1]["seq"]
