"""The phones of remote tickets (table ``ticket_phones``, migration 0008).

Only the keyed hash (``server/pii.py``) stays; the number itself is kept
while its ticket is active, for notification delivery, and erased (NULL)
when the ticket ends or its day closes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from server.store import Store, ticket_phones_t, tickets

__all__ = ["ACTIVE", "add", "active_tickets", "live", "erase", "erase_ended"]

#: Ticket statuses that hold a phone's place (one per phone per service).
ACTIVE = ("waiting", "called", "serving")


def add(conn: Connection, hall: str, ticket: str, phone_hash: str, phone: str,
        service: str, day: dt.date) -> None:
    """Record a remote ticket's phone (inside the commit that issues it)."""
    conn.execute(sa.insert(ticket_phones_t).values(
        hall=hall, ticket=ticket, phone_hash=phone_hash, phone=phone, service=service,
        day=day))


def active_tickets(store: Store, hall: str, phone_hash: str, service: str) -> list[str]:
    """Ids of the phone's active tickets of ``service`` in this hall."""
    p, t = ticket_phones_t, tickets
    query = (sa.select(p.c.ticket)
             .join(t, t.c.id == p.c.ticket)
             .where(p.c.hall == hall, p.c.phone_hash == phone_hash, p.c.service == service,
                    t.c.status.in_(ACTIVE)))
    with store.transaction() as conn:
        return [row.ticket for row in conn.execute(query)]


def live(store: Store, hall: str) -> dict[str, str]:
    """Ticket id -> phone, for every ticket whose number is still kept."""
    p = ticket_phones_t
    with store.transaction() as conn:
        rows = conn.execute(sa.select(p.c.ticket, p.c.phone).where(
            p.c.hall == hall, p.c.phone.is_not(None)))
        return {row.ticket: row.phone for row in rows}


def erase(store: Store, hall: str, ticket_ids: Iterable[str]) -> None:
    """Forget the numbers of these tickets (their hashes stay)."""
    ids = list(ticket_ids)
    if not ids:
        return
    p = ticket_phones_t
    with store.transaction(write=True) as conn:
        conn.execute(sa.update(p).where(p.c.hall == hall, p.c.ticket.in_(ids))
                     .values(phone=None))


def erase_ended(store: Store, hall: str) -> int:
    """Erase the numbers of tickets no longer active (a crash between a ticket's
    end and its erasure leaves one; the server runs this at start). Returns how many."""
    p, t = ticket_phones_t, tickets
    ended = sa.select(t.c.id).where(t.c.id == p.c.ticket, t.c.status.in_(ACTIVE))
    with store.transaction(write=True) as conn:
        result = conn.execute(sa.update(p).where(
            p.c.hall == hall, p.c.phone.is_not(None), ~sa.exists(ended)).values(phone=None))
        return int(result.rowcount or 0)
