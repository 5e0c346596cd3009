"""The phones of tickets that get notifications (table ``ticket_phones``).

Remote tickets (migration 0008) and appointment tickets whose booking kept
a phone (0010). Only the keyed hash (``server/pii.py``) stays; the number
itself is kept while the ticket may still be told something and erased
(NULL) when it ends: done or cancelled (in the same transaction as the event,
server/notify/watch.py), a no-show once its 过号重排 window has passed, any
ticket of an earlier day (:meth:`PhoneRows.erase_lapsed`). ``soon`` records
that ``ticket.soon`` is queued. A new ticket's row is a
:data:`~server.store.commit.Write` that commits with the ticket.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from server.store.commit import Write
from server.store.engine import Database
from server.store.schema import ticket_phones_t, tickets
from server.wire.clock import naive_utc

__all__ = ["ACTIVE", "PhoneRows"]

#: Ticket statuses that hold a phone's place (one per phone per service).
ACTIVE = ("waiting", "called", "serving")


class PhoneRows:
    """The phones of every hall's notified tickets on one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    def add(hall: str, ticket: str, phone_hash: str, phone: str | None, service: str,
            day: dt.date) -> Write:
        """The write that records a ticket's phone (commit it with the ticket)."""
        def write(conn: Connection) -> None:
            conn.execute(sa.insert(ticket_phones_t).values(
                hall=hall, ticket=ticket, phone_hash=phone_hash, phone=phone,
                service=service, day=day))
        return write

    def active_tickets(self, hall: str, phone_hash: str, service: str) -> list[str]:
        """Ids of the phone's active tickets of ``service`` in this hall."""
        p, t = ticket_phones_t, tickets
        query = (sa.select(p.c.ticket)
                 .join(t, t.c.id == p.c.ticket)
                 .where(p.c.hall == hall, p.c.phone_hash == phone_hash, p.c.service == service,
                        t.c.status.in_(ACTIVE)))
        with self._db.transaction() as conn:
            return [row.ticket for row in conn.execute(query)]

    def live(self, hall: str) -> tuple[dict[str, str], set[str]]:
        """Ticket id -> phone for every ticket whose number is still kept, and
        which of them were told ``ticket.soon`` already."""
        p = ticket_phones_t
        with self._db.transaction() as conn:
            rows = conn.execute(sa.select(p.c.ticket, p.c.phone, p.c.soon).where(
                p.c.hall == hall, p.c.phone.is_not(None))).all()
        return {r.ticket: r.phone for r in rows}, {r.ticket for r in rows if r.soon}

    @staticmethod
    def kept(conn: Connection, hall: str, ticket_ids: Iterable[str]) -> dict[str, str]:
        """Inside a transaction: the kept numbers of these tickets (new ones)."""
        ids = list(ticket_ids)
        if not ids:
            return {}
        p = ticket_phones_t
        rows = conn.execute(sa.select(p.c.ticket, p.c.phone).where(
            p.c.hall == hall, p.c.ticket.in_(ids), p.c.phone.is_not(None)))
        return {r.ticket: r.phone for r in rows}

    @staticmethod
    def erase_in(conn: Connection, hall: str, ticket_ids: Iterable[str]) -> None:
        """Inside a transaction: forget these tickets' numbers (their hashes stay)."""
        ids = list(ticket_ids)
        if ids:
            p = ticket_phones_t
            conn.execute(sa.update(p).where(p.c.hall == hall, p.c.ticket.in_(ids))
                         .values(phone=None))

    @staticmethod
    def mark_soon(conn: Connection, hall: str, ticket_ids: Iterable[str], told: bool) -> None:
        """Inside a transaction: record that ``ticket.soon`` is (not) queued."""
        ids = list(ticket_ids)
        if ids:
            p = ticket_phones_t
            conn.execute(sa.update(p).where(p.c.hall == hall, p.c.ticket.in_(ids))
                         .values(soon=told))

    def erase_lapsed(self, hall: str, today: dt.date, missed_before: dt.datetime) -> list[str]:
        """Erase the numbers nothing will be sent to any more: tickets no longer
        active (a no-show only once it was missed before ``missed_before``, the
        end of its 过号重排 window) and tickets of days before ``today``.
        Returns the tickets erased."""
        p, t = ticket_phones_t, tickets
        finished = sa.select(t.c.id).where(
            t.c.id == p.c.ticket,
            sa.or_(t.c.status.in_(ACTIVE),
                   sa.and_(t.c.status == "no_show",
                           t.c.finished_at >= naive_utc(missed_before, "missed_before"))))
        lapsed = sa.and_(p.c.hall == hall, p.c.phone.is_not(None),
                         sa.or_(p.c.day < today, ~sa.exists(finished)))
        with self._db.transaction(write=True) as conn:
            ids = [row.ticket for row in conn.execute(sa.select(p.c.ticket).where(lapsed))]
            if ids:
                self.erase_in(conn, hall, ids)
        return ids
