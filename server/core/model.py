"""The core's data: tickets and events.

These are plain dataclasses shared by the core (which changes them), the
store (which persists them) and the server (which puts them on the wire).
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from server.config import Counter, HallConfig, Service
from server.wire.lifecycle import STATUSES

__all__ = ["STATUSES", "PRIORITIES", "COUNTER_STATES", "Ticket", "CounterState", "Event",
           "Layout"]

PRIORITIES = ("normal", "priority", "appointment")
COUNTER_STATES = ("closed", "open", "paused")


@dataclass
class Ticket:
    """One ticket of one day. ``version`` rises by 1 on every change."""

    id: str
    number: str  # "A001": service prefix + at least 3 digits
    service: str  # service id; changes on transfer, the number does not
    status: str = "waiting"
    priority: str = "normal"
    issued_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    day: dt.date = field(default_factory=dt.date.today)  # the hall-local day
    seqno: int = 0  # the numeric part of ``number``
    counter: int | None = None  # counter serving / that last called it
    target_counter: int | None = None  # transferred to this counter only
    rank: tuple[int, float] = (1, 0.0)  # queue order key within its group
    called_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    calls: int = 0
    check: str = ""  # short public code for /t/<check>
    slot_start: dt.datetime | None = None  # appointments: slot start
    staff: str | None = None  # staff id who served (for reports)
    rating: int | None = None
    version: int = 1
    # A remote ticket (taken by phone) keeps its place but is called only once
    # ``present``; ``deferrals`` counts its moves back while absent.
    remote: bool = False
    present: bool = True
    deferrals: int = 0
    # Joint-approval route (联合审批): the step services in order, the index of
    # the one ``service`` is on now, and the route service it was issued for
    # (its number's series); (), 0, "" for an ordinary ticket.
    route: tuple[str, ...] = ()
    step: int = 0
    route_id: str = ""

    def copy(self) -> Ticket:
        return copy.copy(self)


@dataclass
class CounterState:
    """The live state of one counter (the config ``Counter`` is its static part).

    ``current`` is the id of the ticket the counter has called or is serving.
    ``streak`` counts the priority/appointment tickets this counter called in a
    row while a normal ticket was waiting (the interleaving rule); the store
    keeps it so a restored hall dispatches exactly as before.
    """

    number: int
    state: str = "closed"  # closed | open | paused
    staff_id: str | None = None
    staff_name: str | None = None
    reason: str = ""  # pause reason
    current: str | None = None
    streak: int = 0
    version: int = 1
    since: dt.datetime | None = None  # when ``state`` last changed (pause timeouts)

    def copy(self) -> CounterState:
        return copy.copy(self)

    @classmethod
    def read(cls, item: Any) -> CounterState:
        """A CounterState from ours, a mapping, or any object with the same attributes
        (the store's own counter rows carry no ``streak``: it then restarts at 0)."""
        if isinstance(item, CounterState):
            cs = item.copy()
        else:
            if isinstance(item, Mapping):
                get = item.get
            elif hasattr(item, "number") and hasattr(item, "state"):
                def get(key: str, default: Any = None) -> Any:
                    return getattr(item, key, default)
            else:
                raise ValueError(f"cannot read a counter state from {item!r}")
            staff = get("staff") or {}
            if not isinstance(staff, Mapping):
                staff = {}
            cs = cls(
                number=int(get("number") or 0),
                state=get("state") or "closed",
                staff_id=get("staff_id", staff.get("id")),
                staff_name=get("staff_name", staff.get("name")),
                reason=get("reason") or "",
                streak=int(get("streak") or 0),
                version=int(get("version") or 1),
                since=get("since"),
            )
        if cs.state not in COUNTER_STATES:
            raise ValueError(f"counter {cs.number}: unknown state {cs.state!r}")
        return cs


@dataclass
class Event:
    """One state change: PROTOCOL event ``name`` and ``data``.

    ``ticket`` is a copy of the ticket after the change and ``prev_version``
    the version it had before (None for a new ticket); the store uses them
    for its optimistic-concurrency check. ``counter`` is a copy of the
    counter's state after a change to it (counter.* events and calls), so the
    store can persist counters too. ``seq`` and ``at`` are set when the
    store has committed the event, and ``data_text``: ``data`` as the JSON
    text the store wrote, which the wire frame reuses (encoded once).
    """

    name: str
    data: dict[str, Any]
    ticket: Ticket | None = None
    prev_version: int | None = None
    seq: int | None = None
    at: dt.datetime | None = None
    counter: CounterState | None = None
    data_text: str | None = field(default=None, compare=False, repr=False)


class Layout(NamedTuple):
    """A hall config's lookups, built once (the hall and its forecast share them)."""

    services: dict[str, Service]  # by id
    counters: dict[int, Counter]  # by number
    by_prefix: dict[str, str]  # number prefix -> service id
    served_by: dict[str, tuple[int, ...]]  # service id -> the counters serving it

    @classmethod
    def of(cls, config: HallConfig) -> Layout:
        services = {s.id: s for s in config.services}
        return cls(
            services,
            {c.number: c for c in config.counters},
            {s.prefix: s.id for s in config.services},
            {sid: tuple(c.number for c in config.counters if sid in c.services)
             for sid in services},
        )
