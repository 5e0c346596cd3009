"""The live floor: what the console shows of a hall at one moment (pure).

Built from the in-memory core (:class:`~server.core.Hall`: its counters,
today's tickets, its queues and estimates), the device faults the service
holds, and the clock. Every figure is "today" in the hall's timezone.

Per counter: state, staff, the current ticket with its serving time, served
today, and since when it has been idle (open with nobody called). Per
service: waiting, the longest wait now, the ETA of a ticket issued now,
served today and the service level today (share of served tickets whose
wait, last call − issue, is at most ``service_level_s``) beside the hall's
target (``[console] service_level_target``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from server.config import HallConfig
from server.core import Hall
from server.core.model import CounterState, Ticket

__all__ = ["WAITING_LISTED", "build", "service_level"]

#: Waiting tickets listed for the move/cancel actions (oldest first).
WAITING_LISTED = 300


def _local(moment: dt.datetime | None, tz: dt.tzinfo) -> str | None:
    return None if moment is None else moment.astimezone(tz).isoformat(timespec="seconds")


def _seconds(since: dt.datetime | None, now: dt.datetime) -> int | None:
    return None if since is None else max(0, int((now - since).total_seconds()))


def service_level(tickets: Iterable[Ticket], level_s: int) -> tuple[int, float | None]:
    """(served, share served within ``level_s``) of these tickets (None: none served)."""
    waits = [(t.called_at - t.issued_at).total_seconds() for t in tickets
             if t.status == "done" and t.called_at is not None]
    if not waits:
        return 0, None
    return len(waits), sum(1 for w in waits if w <= level_s) / len(waits)


def _counter(cs: CounterState, name: str, tickets: Mapping[str, Ticket],
             mine: list[Ticket], now: dt.datetime, tz: dt.tzinfo) -> dict[str, Any]:
    current = tickets.get(cs.current) if cs.current is not None else None
    idle_since = None
    if cs.state == "open" and current is None:
        finished = [t.finished_at for t in mine if t.finished_at is not None]
        idle_since = max([cs.since, *finished] if cs.since else finished, default=None)
    cur = None
    if current is not None:
        begun = current.started_at or current.called_at
        cur = {"id": current.id, "number": current.number, "service": current.service,
               "status": current.status, "called_at": _local(current.called_at, tz),
               "serving_s": _seconds(begun, now)}
    return {
        "number": cs.number, "name": name, "state": cs.state,
        "staff": {"id": cs.staff_id, "name": cs.staff_name} if cs.staff_id else None,
        "reason": cs.reason, "since": _local(cs.since, tz),
        "state_s": _seconds(cs.since, now), "current": cur,
        "served_today": sum(1 for t in mine if t.status == "done"),
        "idle_since": _local(idle_since, tz), "idle_s": _seconds(idle_since, now),
    }


def build(hall: Hall, config: HallConfig, faults: Mapping[str, Mapping[str, Any]],
          now: dt.datetime) -> dict[str, Any]:
    """The floor now (a JSON-ready dict: ``counters``, ``services``,
    ``waiting``, ``faults``, ``at``)."""
    tz = config.tz
    today = now.astimezone(tz).date()
    every = list(hall.tickets_view())  # read only: never changed here
    todays = [t for t in every if t.day == today]
    by_id = {t.id: t for t in every}
    per_counter: dict[int, list[Ticket]] = {}
    per_service: dict[str, list[Ticket]] = {}
    for t in todays:
        if t.counter is not None and t.status != "waiting":
            per_counter.setdefault(t.counter, []).append(t)
        per_service.setdefault(t.service, []).append(t)
    counters = []
    for cs in hall.counter_states():
        cfg = config.counter(cs.number)
        entry = _counter(cs, cfg.name if cfg else str(cs.number), by_id,
                         per_counter.get(cs.number, []), now, tz)
        entry["services"] = list(cfg.services) if cfg else []  # today's (with assignments)
        counters.append(entry)
    waiting = sorted((t for t in every if t.status == "waiting"),
                     key=lambda t: (t.issued_at, t.id))
    oldest_of: dict[str, Ticket] = {}
    for t in waiting:
        oldest_of.setdefault(t.service, t)
    services = []
    target = config.console.service_level_target
    for s in config.services:
        if s.id is None:
            continue
        q = hall.queue_wire(s.id)
        oldest = oldest_of.get(s.id)
        served, level = service_level(per_service.get(s.id, []), config.service_level_s)
        services.append({
            "id": s.id, "name": s.name, "waiting": q["waiting"], "eta_s": q["eta_s"],
            "open_counters": q["open_counters"],
            "longest_wait_s": _seconds(oldest.issued_at, now) if oldest else None,
            "oldest": oldest.id if oldest else None,
            "served_today": served, "service_level": level, "target": target,
        })
    return {
        "at": _local(now, tz),
        "counters": counters,
        "services": services,
        "waiting": [{"id": t.id, "number": t.number, "service": t.service,
                     "issued_at": _local(t.issued_at, tz), "wait_s": _seconds(t.issued_at, now)}
                    for t in waiting[:WAITING_LISTED]],
        "faults": [dict(f) for f in faults.values()],
    }
