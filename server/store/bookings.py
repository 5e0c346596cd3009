"""Appointment rows (migration 0002): bookings, per-slot counts, the legacy salt.

The booking rules live in server/features/booking.py; this module holds their
queries. Reads run in their own transaction; writes are returned as
:data:`~server.store.commit.Write` for ``Store.commit(..., extra=...)``, so
they commit with the events, guarded: a slot count ``booked < capacity``, a
booking still in the status it was decided on, a unique ``person_day``. A
lost guard raises ``StaleState`` (the caller decides again on fresh state).
Times are aware UTC on both sides.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from server.store.commit import Write
from server.store.engine import Database
from server.store.errors import StaleState
from server.store.prepared import dialect_of
from server.store.schema import booking_slots_t, bookings_t, hall_secrets_t, ticket_phones_t
from server.wire.clock import aware_utc, naive_utc

__all__ = ["BookingRow", "BookingRows", "PersonDay"]

_SALT = "booking_salt"


@dataclasses.dataclass(frozen=True)
class BookingRow:
    """One booking (a bookings row; the digests and masks, and the phone only
    while the booking is open)."""

    hall: str
    code: str
    service: str
    day: dt.date
    slot_start: dt.datetime
    person: str
    name_hash: str
    phone_hash: str
    name_mask: str
    phone_mask: str
    status: str
    person_day: str | None
    ticket: str | None
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    hash_scheme: str = "pii"
    #: The number itself while the booking is open, for its ticket's webhooks
    #: (erased when it is checked in, cancelled or lapses; migration 0010).
    phone: str | None = None

    def values(self) -> dict[str, Any]:
        """The row to insert (naive UTC times)."""
        out = dataclasses.asdict(self)
        for name in ("slot_start", "created_at", "updated_at"):
            out[name] = naive_utc(out[name], name)
        return out


@dataclasses.dataclass(frozen=True)
class PersonDay:
    """What deciding one booking reads, from one snapshot."""

    history: list[tuple[str, dt.datetime, str]]  # (service, slot start, status) that may be misses
    holder: str | None  # the code already holding the person's day
    booked: int  # bookings of the slot so far


def _row(row: Any) -> BookingRow:
    values = dict(row._mapping)
    for name in ("slot_start", "created_at", "updated_at"):
        values[name] = aware_utc(values[name])
    return BookingRow(**values)


class BookingRows:
    """The bookings queries of every hall on one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- reads ---------------------------------------------------------------
    def legacy_salt(self, hall: str) -> str | None:
        """The hex salt kept in the database before migration 0004, if any is left."""
        with self._db.transaction() as conn:
            return conn.execute(sa.select(hall_secrets_t.c.value).where(
                hall_secrets_t.c.hall == hall, hall_secrets_t.c.name == _SALT)).scalar()

    def get(self, hall: str, code: str) -> BookingRow | None:
        with self._db.transaction() as conn:
            row = conn.execute(sa.select(bookings_t).where(
                bookings_t.c.hall == hall, bookings_t.c.code == code)).first()
        return None if row is None else _row(row)

    def of_day(self, hall: str, day: dt.date | None = None,
             service: str | None = None) -> list[BookingRow]:
        """Bookings (of a day, of a service), by slot."""
        query = sa.select(bookings_t).where(bookings_t.c.hall == hall)
        if day is not None:
            query = query.where(bookings_t.c.day == day)
        if service is not None:
            query = query.where(bookings_t.c.service == service)
        with self._db.transaction() as conn:
            rows = conn.execute(query.order_by(bookings_t.c.slot_start, bookings_t.c.code))
            return [_row(r) for r in rows]

    def due(self, hall: str, day: dt.date) -> list[tuple[str, dt.datetime, int]]:
        """``(service, slot start, count)`` of the day's bookings not checked in yet."""
        t = bookings_t
        with self._db.transaction() as conn:
            rows = conn.execute(sa.select(t.c.service, t.c.slot_start, sa.func.count()).where(
                t.c.hall == hall, t.c.day == day, t.c.status == "booked",
            ).group_by(t.c.service, t.c.slot_start)).all()
        return [(service, aware_utc(slot), int(count)) for service, slot, count in rows]

    def taken(self, hall: str, service: str,
              starts: Sequence[dt.datetime]) -> dict[dt.datetime, int]:
        """Bookings per slot start (aware UTC keys; slots nobody booked are absent)."""
        s = booking_slots_t
        with self._db.transaction() as conn:
            rows = conn.execute(sa.select(s.c.slot_start, s.c.booked).where(
                s.c.hall == hall, s.c.service == service,
                s.c.slot_start.in_([naive_utc(x, "slot") for x in starts]))).all()
        return {aware_utc(slot): int(booked) for slot, booked in rows}

    def person_day(self, hall: str, persons: Sequence[str], days: Sequence[str],
                   service: str, slot: dt.datetime) -> PersonDay:
        """The person's possible misses, who holds their day, the slot's count."""
        t, s = bookings_t, booking_slots_t
        with self._db.transaction() as conn:
            history = [(r.service, aware_utc(r.slot_start), r.status) for r in conn.execute(
                sa.select(t.c.service, t.c.slot_start, t.c.status).where(
                    t.c.hall == hall, t.c.person.in_(persons),
                    t.c.status.in_(("missed", "late", "booked"))))]
            holder = conn.execute(sa.select(t.c.code).where(
                t.c.hall == hall, t.c.person_day.in_(days))).scalar()
            booked = conn.execute(sa.select(s.c.booked).where(
                s.c.hall == hall, s.c.service == service,
                s.c.slot_start == naive_utc(slot, "slot"))).scalar() or 0
        return PersonDay(history, holder, int(booked))

    def booked_before(self, hall: str, moment: dt.datetime) -> list[BookingRow]:
        """Bookings still ``booked`` whose slot started before ``moment``."""
        t = bookings_t
        with self._db.transaction() as conn:
            rows = conn.execute(sa.select(t).where(
                t.c.hall == hall, t.c.status == "booked",
                t.c.slot_start < naive_utc(moment, "moment"))).all()
        return [_row(r) for r in rows]

    # -- guarded writes (for Store.commit(..., extra=...)) -------------------
    def book(self, row: BookingRow, capacity: int,
             rekey: tuple[str, dict[str, str]] | None = None) -> Write:
        """Take a place in the slot (``booked < capacity``) and insert the booking.

        ``rekey``: ``(legacy person digest, the person's current digests)``:
        their rows from before migration 0004 take the current key first.
        """
        values = row.values()

        def write(conn: Connection) -> None:
            if rekey is not None:
                _rekey(conn, row.hall, *rekey)
            s = booking_slots_t
            conn.execute(dialect_of(conn).insert(s).on_conflict_do_nothing(),
                         {"hall": row.hall, "service": row.service,
                          "slot_start": values["slot_start"], "booked": 0})
            took = conn.execute(sa.update(s).where(
                s.c.hall == row.hall, s.c.service == row.service,
                s.c.slot_start == values["slot_start"], s.c.booked < capacity,
            ).values(booked=s.c.booked + 1)).rowcount
            if took != 1:
                raise StaleState("the slot filled up meanwhile")
            # A duplicate code or person_day is a unique violation -> StaleState.
            conn.execute(bookings_t.insert(), values)

        return write

    def cancel(self, row: BookingRow, now: dt.datetime) -> Write:
        """Cancel a still ``booked`` booking and free its place."""
        stamp = naive_utc(now, "now")

        def write(conn: Connection) -> None:
            t, s = bookings_t, booking_slots_t
            done = conn.execute(sa.update(t).where(
                t.c.hall == row.hall, t.c.code == row.code, t.c.status == "booked",
            ).values(status="cancelled", person_day=None, phone=None,
                     updated_at=stamp)).rowcount
            if done != 1:
                raise StaleState(f"booking {row.code} changed meanwhile")
            conn.execute(sa.update(s).where(
                s.c.hall == row.hall, s.c.service == row.service,
                s.c.slot_start == naive_utc(row.slot_start, "slot"),
            ).values(booked=s.c.booked - 1))

        return write

    def check_in(self, row: BookingRow, status: str, ticket: str, now: dt.datetime,
                 keep_phone: bool = False) -> Write:
        """Move the booking from its status as read to ``status`` with its ticket.

        The booking's number is erased; with ``keep_phone`` it moves to the
        ticket (``ticket_phones``), whose notifications need it.
        """
        stamp = naive_utc(now, "now")

        def write(conn: Connection) -> None:
            # The sweep may have marked a late arrival "missed" meanwhile.
            t = bookings_t
            done = conn.execute(sa.update(t).where(
                t.c.hall == row.hall, t.c.code == row.code, t.c.status == row.status,
            ).values(status=status, ticket=ticket, phone=None, updated_at=stamp)).rowcount
            if done != 1:
                raise StaleState(f"booking {row.code} changed meanwhile")
            if keep_phone and row.phone is not None:
                conn.execute(sa.insert(ticket_phones_t).values(
                    hall=row.hall, ticket=ticket, phone_hash=row.phone_hash, phone=row.phone,
                    service=row.service, day=row.day))

        return write

    def mark_missed(self, hall: str, codes: Sequence[str], now: dt.datetime) -> Write:
        """Mark these bookings ``missed`` (those still ``booked``)."""
        stamp = naive_utc(now, "now")

        def write(conn: Connection) -> None:
            t = bookings_t
            for code in codes:
                conn.execute(sa.update(t).where(
                    t.c.hall == hall, t.c.code == code, t.c.status == "booked",
                ).values(status="missed", phone=None, updated_at=stamp))

        return write

    def erase_lapsed(self, hall: str, slots_before: dt.datetime) -> int:
        """Erase the numbers of bookings that can no longer become a notified
        ticket: not open any more, or open with a slot before ``slots_before``
        (its check-in window has passed). Returns how many."""
        t = bookings_t
        with self._db.transaction(write=True) as conn:
            return int(conn.execute(sa.update(t).where(
                t.c.hall == hall, t.c.phone.is_not(None),
                sa.or_(t.c.status != "booked",
                       t.c.slot_start < naive_utc(slots_before, "slots_before")),
            ).values(phone=None)).rowcount or 0)


def _rekey(conn: Connection, hall: str, legacy: str, who: dict[str, str]) -> None:
    """Re-key a person's legacy rows with the current key (their phone is known now).

    When no legacy row is left, the old salt is deleted from the database.
    """
    t = bookings_t
    # person_day is "<person[:40]>:<day>": keep the day, swap the person.
    new_day = sa.case((t.c.person_day.is_(None), None),
                      else_=sa.literal(who["person"][:40]) + sa.func.substr(t.c.person_day, 41))
    conn.execute(sa.update(t).where(t.c.hall == hall, t.c.person == legacy,
                                    t.c.hash_scheme == "legacy").values(
        person=who["person"], name_hash=who["name_hash"], phone_hash=who["phone_hash"],
        person_day=new_day, hash_scheme="pii"))
    left = conn.execute(sa.select(sa.func.count()).select_from(t).where(
        t.c.hall == hall, t.c.hash_scheme == "legacy")).scalar()
    if not left:
        conn.execute(sa.delete(hall_secrets_t).where(hall_secrets_t.c.hall == hall,
                                                     hall_secrets_t.c.name == _SALT))
