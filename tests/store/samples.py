"""Tickets and events the store tests commit (one day of hall "main")."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

from server.core.model import Event, Ticket
from server.store import Store

SH = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 11, 26)
T0 = dt.datetime(2026, 11, 26, 9, 0, 1, 123456, tzinfo=SH)


def new_ticket(n: int, service: str = "gjj", prefix: str = "A", day: dt.date = DAY,
               tid: str | None = None) -> Ticket:
    return Ticket(id=tid or f"{service}-{day}-{n}", number=f"{prefix}{n:03d}", service=service,
                  seqno=n, issued_at=T0 + dt.timedelta(minutes=n), day=day,
                  rank=(3, float(n) + 0.5), check=f"k{service}{n}")


def issued(t: Ticket) -> list[Event]:
    return [Event("ticket.issued", {"ticket": {"id": t.id, "number": t.number}}, t.copy(), None),
            Event("queue.changed", {"service": t.service, "waiting": 1, "eta_s": 300})]


def changed(t: Ticket, name: str = "ticket.called", **changes) -> tuple[Ticket, Event]:
    after = dataclasses.replace(t, **changes, version=t.version + 1)
    return after, Event(name, {"ticket": {"id": t.id}, "counter": after.counter}, after.copy(),
                        t.version)


def snapshot(store: Store, hall: str = "main"):
    """Everything a failed commit must leave untouched."""
    loaded = store.load(hall, DAY)
    return loaded, store.events_since(hall, 0), store.last_seq(hall)
