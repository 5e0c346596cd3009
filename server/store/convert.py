"""Conversions between the core's values and rows.

Timestamps are stored as naive UTC on both databases and come back as aware
UTC datetimes; a naive datetime given to the store is refused.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from server.core.model import CounterState, Ticket
from server.wire.clock import aware_utc, naive_utc

MAX_KEY = 64


_DIGITS = re.compile(r"(\d+)$")


def _seqno(t: Ticket) -> int:
    if t.seqno:
        return int(t.seqno)
    m = _DIGITS.search(t.number or "")
    if not m:
        raise ValueError(f"ticket {t.id}: number {t.number!r} has no numeric part")
    return int(m.group(1))


def ticket_params(hall: str, t: Ticket) -> dict[str, Any]:
    if not isinstance(t, Ticket):
        raise TypeError(f"event ticket must be a Ticket, not {type(t).__name__}")
    if not t.id or not isinstance(t.id, str) or len(t.id) > MAX_KEY:
        raise ValueError(f"ticket id must be a non-empty string of at most {MAX_KEY} chars")
    if not isinstance(t.day, dt.date) or isinstance(t.day, dt.datetime):
        raise TypeError(f"ticket {t.id}: day must be a date, not {type(t.day).__name__}")
    return {
        "id": t.id,
        "hall": hall,
        "day": t.day,
        "number": t.number,
        "seqno": _seqno(t),
        "service": t.service,
        "status": t.status,
        "priority": t.priority,
        "issued_at": naive_utc(t.issued_at, "issued_at"),
        "counter": t.counter,
        "target_counter": t.target_counter,
        "rank_group": int(t.rank[0]),
        "rank_key": float(t.rank[1]),
        "called_at": naive_utc(t.called_at, "called_at"),
        "started_at": naive_utc(t.started_at, "started_at"),
        "finished_at": naive_utc(t.finished_at, "finished_at"),
        "calls": t.calls,
        "check_code": t.check,
        "slot_start": naive_utc(t.slot_start, "slot_start"),
        "staff": t.staff,
        "rating": t.rating,
        "version": t.version,
        "remote": t.remote,
        "present": t.present,
        "deferrals": t.deferrals,
        # Service ids cannot hold a comma (config: lowercase letters, digits, - _).
        "route": ",".join(t.route) or None,
        "step": int(t.step),
        "route_id": t.route_id or None,
    }


def ticket_from_row(row: Any) -> Ticket:
    return Ticket(
        id=row.id,
        number=row.number,
        service=row.service,
        status=row.status,
        priority=row.priority,
        issued_at=aware_utc(row.issued_at),
        day=row.day,
        seqno=row.seqno,
        counter=row.counter,
        target_counter=row.target_counter,
        rank=(row.rank_group, row.rank_key),
        called_at=aware_utc(row.called_at),
        started_at=aware_utc(row.started_at),
        finished_at=aware_utc(row.finished_at),
        calls=row.calls,
        check=row.check_code,
        slot_start=aware_utc(row.slot_start),
        staff=row.staff,
        rating=row.rating,
        version=row.version,
        remote=bool(row.remote),
        present=bool(row.present),
        deferrals=row.deferrals,
        route=tuple(row.route.split(",")) if row.route else (),
        step=row.step or 0,
        route_id=row.route_id or "",
    )


def check_key(value: Any, what: str, limit: int = MAX_KEY) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ValueError(f"{what} must be a non-empty string of at most {limit} chars")
    return value


def event_dict(row: Any) -> dict[str, Any]:
    return {"seq": row.seq, "name": row.name, "data": json.loads(row.data),
            "at": aware_utc(row.at)}


def first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__




def counter_row(hall: str, cs: CounterState, when: dt.datetime) -> dict[str, Any]:
    """The counters row of a core ``CounterState`` (``when``: naive UTC, for a
    counter whose state never changed in this process)."""
    return {"hall": hall, "number": int(cs.number), "state": cs.state,
            "staff_id": cs.staff_id, "staff_name": cs.staff_name,
            "reason": (cs.reason or None) and cs.reason[:200],
            "since": naive_utc(cs.since, "since") if cs.since is not None else when,
            "streak": int(cs.streak)}


def counter_from_row(row: Any) -> CounterState:
    return CounterState(number=row.number, state=row.state, staff_id=row.staff_id,
                        staff_name=row.staff_name, reason=row.reason or "",
                        streak=row.streak, since=aware_utc(row.since))
