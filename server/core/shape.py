"""Wire shaping: the core's values as PROTOCOL objects (pure, no state).

Rules:

* Times go on the wire in the hall's timezone, ISO 8601 with the offset,
  to the second (``2026-11-26T09:05:00+08:00``).
* An estimate is ``eta_s``, then ``eta_low_s``/``eta_high_s`` only when a
  range is given, then ``eta_after`` (null unless the wait resumes after a
  break).
* A ticket's ``counter`` is null while it waits; ``to_counter`` appears only
  on a waiting ticket transferred to a counter, ``slot_start`` only on an
  appointment; ``route_id``, ``route``, ``step`` and ``eta_route_s`` only on a ticket of a
  joint-approval route (``eta_route_s``: null once the case is over).

The :class:`~server.core.hall.Hall` computes what is live (people ahead,
estimates, the current ticket) and hands the values here; field order is
part of the output (replies and events are compared byte for byte).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from server.core.eta import Estimate
from server.core.model import CounterState, Ticket

__all__ = ["time", "estimate", "queue", "ticket", "counter", "recent_call"]


def time(moment: dt.datetime, tz: dt.tzinfo) -> str:
    """A wire time: hall-local ISO 8601 with the offset, to the second."""
    return moment.astimezone(tz).isoformat(timespec="seconds")


def estimate(e: Estimate, tz: dt.tzinfo) -> dict[str, Any]:
    """The PROTOCOL fields: ``eta_s``, ``eta_after`` and, when wide, the range."""
    out: dict[str, Any] = {"eta_s": e.eta_s}
    if e.low_s is not None and e.high_s is not None:
        out["eta_low_s"] = e.low_s
        out["eta_high_s"] = e.high_s
    out["eta_after"] = time(e.after, tz) if e.after is not None else None
    return out


def queue(waiting: int, e: Estimate, open_counters: int, tz: dt.tzinfo) -> dict[str, Any]:
    """A PROTOCOL queue object (the estimate is that of a ticket issued now)."""
    return {"waiting": waiting, **estimate(e, tz), "open_counters": open_counters}


def ticket(t: Ticket, ahead: int, e: Estimate, tz: dt.tzinfo,
           route_eta_s: int | None = None) -> dict[str, Any]:
    """The PROTOCOL ticket object (``route_eta_s``: the whole remaining route)."""
    wire: dict[str, Any] = {
        "id": t.id,
        "number": t.number,
        "service": t.service,
        "status": t.status,
        "priority": t.priority,
        "issued_at": time(t.issued_at, tz),
        "counter": None if t.status == "waiting" else t.counter,
        "ahead": ahead,
        **estimate(e, tz),
        "check": t.check,
    }
    if t.target_counter is not None and t.status == "waiting":
        wire["to_counter"] = t.target_counter
    if t.slot_start is not None:
        wire["slot_start"] = time(t.slot_start, tz)
    if t.remote:  # taken by phone: called only once present (server/core/remote.py)
        wire["remote"] = True
        wire["present"] = t.present
    if t.route:
        wire["route_id"] = t.route_id
        wire["route"] = list(t.route)
        wire["step"] = t.step
        wire["eta_route_s"] = route_eta_s
    return wire


def counter(cs: CounterState, name: str, current: dict[str, Any] | None) -> dict[str, Any]:
    """One counter of the welcome snapshot (``current``: its ticket object, if any)."""
    return {
        "name": name,
        "state": cs.state,
        "staff": {"id": cs.staff_id, "name": cs.staff_name} if cs.staff_id else None,
        "reason": cs.reason,
        "current": current,
    }


def recent_call(wire_ticket: dict[str, Any], number: int | None, name: str,
                at: dt.datetime, tz: dt.tzinfo) -> dict[str, Any]:
    """One entry of the snapshot's ``recent_calls``."""
    return {"ticket": wire_ticket, "counter": number, "counter_name": name,
            "at": time(at, tz)}
