"""The phones of remote tickets (table ``ticket_phones``, migration 0008).

Only the keyed hash (``server/pii.py``) stays; the number itself is kept
while its ticket is active, for notification delivery, and erased (NULL)
when the ticket ends or its day closes. Reads and erasures run in their own
transaction; the row of a new ticket is a :data:`~server.store.commit.Write`
for ``Store.commit(..., extra=...)``, so it commits with the ticket.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from server.store.commit import Write
from server.store.engine import Database
from server.store.schema import ticket_phones_t, tickets

__all__ = ["ACTIVE", "PhoneRows"]

#: Ticket statuses that hold a phone's place (one per phone per service).
ACTIVE = ("waiting", "called", "serving")


class PhoneRows:
    """The remote tickets' phones of every hall on one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    def add(hall: str, ticket: str, phone_hash: str, phone: str, service: str,
            day: dt.date) -> Write:
        """The write that records a remote ticket's phone (commit it with the ticket)."""
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

    def live(self, hall: str) -> dict[str, str]:
        """Ticket id -> phone, for every ticket whose number is still kept."""
        p = ticket_phones_t
        with self._db.transaction() as conn:
            rows = conn.execute(sa.select(p.c.ticket, p.c.phone).where(
                p.c.hall == hall, p.c.phone.is_not(None)))
            return {row.ticket: row.phone for row in rows}

    def erase(self, hall: str, ticket_ids: Iterable[str]) -> None:
        """Forget the numbers of these tickets (their hashes stay)."""
        ids = list(ticket_ids)
        if not ids:
            return
        p = ticket_phones_t
        with self._db.transaction(write=True) as conn:
            conn.execute(sa.update(p).where(p.c.hall == hall, p.c.ticket.in_(ids))
                         .values(phone=None))

    def erase_ended(self, hall: str) -> int:
        """Erase the numbers of tickets no longer active (a crash between a ticket's
        end and its erasure leaves one; the server runs this at start). Returns how many."""
        p, t = ticket_phones_t, tickets
        active = sa.select(t.c.id).where(t.c.id == p.c.ticket, t.c.status.in_(ACTIVE))
        with self._db.transaction(write=True) as conn:
            result = conn.execute(sa.update(p).where(
                p.c.hall == hall, p.c.phone.is_not(None), ~sa.exists(active)).values(phone=None))
            return int(result.rowcount or 0)
