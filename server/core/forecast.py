"""The ETA glue: what the hall has learnt about time, and a ticket's estimate.

DESIGN's "people ahead / counters serving the service x recent mean", with
each term measured the way counters really spend their time; the pure
arithmetic (schedules, supplies, draining work, ranges) is
``server/core/eta.py``, this module feeds it from the live hall.

Rules:

* A service's mean is that of the *cycle* times (call -> complete) of its
  last :data:`HISTORY` completions (``Service.default_service_s`` without
  any); ``mean_service_s`` (for the figures) keeps start -> complete.
* Arrival rates (all issues, and tickets issued ahead of the normal group)
  are counted over :data:`RATE_WINDOW_S` as of the last command, so a
  queue's estimate only moves when something happens. The window is
  hall-wide: a command on one service can push another service's stamps
  out of it, so :meth:`Forecast.advance` names the services whose estimate
  that may move (the hall tells their boards too).
* Appointments booked and not checked in are counts per slot
  (:attr:`Forecast.booked`, fed by ``Hall.set_appointments``).
* Everything here follows from the tickets (and the counters' schedules),
  so a restored hall estimates the same (:meth:`Forecast.rebuild_rates`);
  but for the route steps a ticket has left: a ticket holds only its
  current step, so a restore reads them from the day's events
  (:func:`route_steps`, :data:`ROUTE_EVENTS`; :meth:`Forecast.rebuild_history`).

The :class:`Forecast` shares the hall's live maps (tickets, counters, open
counts, waiting lists) by reference and never changes them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from server.config import HallConfig
from server.core import eta
from server.core.model import CounterState, Layout, Ticket
from server.core.queues import Entry, Queues

__all__ = ["Forecast", "HISTORY", "RATE_WINDOW_S", "MIN_SHARE", "ROUTE_EVENTS", "StepLeft",
           "route_steps", "service_time"]

#: Completions per service the rolling mean service time looks at.
HISTORY = 20
#: Arrival rates (ETA: work that will come first) are counted over this window.
RATE_WINDOW_S = 1800.0
#: An ordered counter still gives a later service at least this share of its
#: time (its earlier services' queues empty now and then).
MIN_SHARE = 0.1


def _ts(moment: dt.datetime) -> float:
    return moment.timestamp()


class Timed(Protocol):
    """What a completion teaches the forecast: a ticket, or a route step it left."""

    @property
    def service(self) -> str: ...
    @property
    def called_at(self) -> dt.datetime | None: ...
    @property
    def started_at(self) -> dt.datetime | None: ...
    @property
    def finished_at(self) -> dt.datetime | None: ...


class Forecast:
    """The estimates of one hall (owned by its :class:`~server.core.hall.Hall`).

    Args:
        config: the hall configuration; layout: its lookups (shared with the hall).
        tickets, counters, open_counts, queues: the hall's live maps (read only).
        now: the hall's clock (aware).
    """

    def __init__(self, config: HallConfig, layout: Layout, tickets: dict[str, Ticket],
                 counters: dict[int, CounterState], open_counts: dict[str, int],
                 queues: Queues, now: Callable[[], dt.datetime]) -> None:
        self._tz = config.tz
        self._dispatch = config.dispatch
        self._services, self._cfg_counters, self._by_prefix, self._served_by = layout
        self._tickets = tickets
        self._counters = counters
        self._open = open_counts
        self._queues = queues
        self._now = now
        self._history: dict[str, deque[float]] = {
            sid: deque(maxlen=HISTORY) for sid in self._services
        }
        # Call -> complete/no-show times: what a ticket costs a counter (ETA).
        self._cycles: dict[str, deque[float]] = {
            sid: deque(maxlen=HISTORY) for sid in self._services
        }
        self._cycle_mean = {sid: float(svc.default_service_s)
                            for sid, svc in self._services.items()}
        # Recent issues per service, and tickets issued ahead of the normal group
        # (priority, appointments whose slot has started): the rates at which
        # other work will come before a waiting normal ticket. Both follow from
        # the tickets alone, so a restored hall estimates the same.
        self._arrivals: dict[str, deque[float]] = {sid: deque() for sid in self._services}
        self._jumps: dict[str, deque[float]] = {sid: deque() for sid in self._services}
        #: Appointments booked for today and not checked in: (slot ts, count) per
        #: service, sorted; fed by the booking layer (set_appointments), counts only.
        self.booked: dict[str, list[tuple[float, int]]] = {sid: [] for sid in self._services}
        #: The rates are read as of the last command, so a queue's estimate only
        #: moves when something happens (and boards hear of it), not as the
        #: window slides between commands.
        self.rates_at = 0.0
        # At most every list's oldest stamp: while it is still in the window
        # no stamp can leave it (_expire's own test), so most commands skip
        # advance()'s pass over every service.
        self._oldest_at = math.inf
        # Whose estimate reads a service's issue stamps: the services after it
        # on an ordered counter they share (its arrivals come first there).
        self._arrival_readers: dict[str, set[str]] = {sid: set() for sid in self._services}
        for c in config.counters:
            if len(c.services) > 1 and c.mode != "oldest":
                for i, later in enumerate(c.services):
                    for earlier in c.services[:i]:
                        self._arrival_readers[earlier].add(later)
        # Each counter's working hours (its services' hours, merged) and the
        # day it was last open: who the estimate expects back after a break.
        self._schedules = {c.number: eta.schedule(self._services[s].hours for s in c.services)
                           for c in config.counters}
        #: The day each counter was last open (the hall records it).
        self.worked: dict[int, dt.date] = {}
        # (counter, open, worked today) -> its segments at _supply_at: one command
        # estimates many queues at the same instant.
        self._supply_cache: dict[tuple[int, bool, bool], tuple[eta.Segment, ...]] = {}
        self._supply_at = -1.0

    # -- what the hall tells it -------------------------------------------
    def issued(self, sid: str, now: dt.datetime, jumps: bool) -> None:
        """A ticket of ``sid`` was issued now; ``jumps``: ahead of the normal group."""
        stamp = _ts(now)
        self._arrivals[sid].append(stamp)
        if jumps:
            self._jumps[sid].append(stamp)
        self._oldest_at = min(self._oldest_at, stamp)

    def completed(self, t: Timed) -> None:
        """A ticket was completed: its service and cycle times join the history."""
        self._history[t.service].append(service_time(t))
        cycles = self._cycles[t.service]
        cycles.append(_cycle_time(t))
        self._cycle_mean[t.service] = sum(cycles) / len(cycles)

    def advance(self, now: float) -> set[str]:
        """Read the rates as of ``now`` (a command's time) from here on.

        Returns the services whose estimate read a stamp that has just left
        the window: their ETA may move although no command touched them.
        """
        self.rates_at = now
        moved: set[str] = set()
        if not self._oldest_at < now - RATE_WINDOW_S:
            return moved  # no list's oldest stamp is out of the window yet
        for sid in self._services:
            if _expire(self._jumps[sid], now):
                moved.add(sid)
            if _expire(self._arrivals[sid], now):
                moved |= self._arrival_readers[sid]
        self._oldest_at = self._oldest()
        return moved

    def _oldest(self) -> float:
        # The oldest stamp still counted (inf without any).
        return min((stamps[0] for lists in (self._arrivals, self._jumps)
                    for stamps in lists.values() if stamps), default=math.inf)

    # -- what it answers ----------------------------------------------------
    def mean_service_s(self, sid: str) -> float:
        """Rolling mean service time of the service's last completions (or its default)."""
        history = self._history[sid]
        if history:
            return sum(history) / len(history)
        return float(self._services[sid].default_service_s)

    def previous_eta_s(self, sid: str, ahead: int) -> int:
        """The estimator before the clock-aware one (issue #17): counters open now
        serve for ever, closed ones never (the simulator's baseline)."""
        calls = ahead + 1 - sum(1 for n in self._served_by[sid] if self._counters[n].state
                                == "open" and self._counters[n].current is None)
        if calls <= 0:
            return 0
        cycle = self.cycle_s(sid)
        supplies = self.supplies(sid, max(self._queues.waiting[sid], ahead + 1) * cycle,
                                 self._now(), False)
        result = eta.drain(supplies, calls * cycle)
        return round(result[0] if result is not None else calls * cycle)

    def estimate(self, sid: str, ahead: int, t: Ticket | None = None) -> eta.Estimate:
        """Estimated wait of a ticket of ``sid`` with ``ahead`` tickets before it.

        DESIGN's "people ahead / counters serving the service x recent mean",
        with each term measured the way counters really spend their time and
        the clock (``server/core/eta.py``):

        * people: the ticket itself needs a counter to come free too, so the
          calls to get through before it are ``ahead + 1 - free counters``
          (no wait when a free counter can take it at once); plus, for a
          waiting ticket ``t``, the appointments checked in for a later slot
          that will overtake it because their slot starts before it is reached,
          and the appointments booked and not checked in yet
          (:meth:`Hall.set_appointments`) whose slot starts by then; for a normal
          ticket all those specials count at most ``priority_per_normal`` per
          call it waits for (the interleaving rule);
        * mean: the rolling mean *cycle* time (call to complete or 过号:
          walk-up, service and no-shows take counter time alike);
        * counters: the capacity the counters give this service over the
          coming hours (:meth:`supplies`): open ones until their schedule
          breaks, those on a scheduled break from its end; a counter's own
          transfers come first. Paused and closed ones give none.

        Cost: O(counters of the service x their services).
        """
        free = sum(1 for n in self._served_by[sid]
                   if self._counters[n].state == "open" and self._counters[n].current is None)
        calls = ahead + 1 - free
        if calls <= 0:
            return eta.Estimate(0)
        cycle = self.cycle_s(sid)
        now = self._now()
        supplies = self.supplies(sid, max(self._queues.waiting[sid], ahead + 1) * cycle, now, True)
        stamp = _ts(now)
        normal = t is None or self._queues.in_normal(t)
        jump_rate = _rate(self._jumps[sid], self.rates_at) if normal else 0.0
        booking = bool(self.booked[sid]) and (t is None or (
            t.target_counter is None and not self._queues.in_appointments(t)))
        limit = self._dispatch.priority_per_normal
        # An appointment ticket is overtaken only by bookings for earlier slots:
        # those for its slot or later check in after it and rank behind it.
        own_slot = (_ts(t.slot_start) - 1e-3 if t is not None and t.slot_start is not None
                    else math.inf)
        overtaking, wait = 0.0, 0.0
        for _ in range(10):  # who overtakes depends on how long it waits: iterate
            work = (calls + overtaking) * cycle
            result = eta.drain(supplies, work)
            # Nobody open or expected: as one counter, so it stays finite.
            wait, resumed, idle = result if result is not None else (work, 0.0, 0.0)
            more = jump_rate * wait + (self._overtaking(t, stamp + wait) if t is not None else 0)
            if booking:  # interleaving: specials overtake a normal ticket k per call at most
                room = max(0.0, limit * calls - more) if normal else math.inf
                more += min(self._booked_due(sid, stamp, min(stamp + wait, own_slot)), room)
            if abs(more - overtaking) < 0.05:
                break
            overtaking = more
        if result is None:
            return eta.Estimate(round(wait))
        rng = eta.spread(wait, idle, calls + round(overtaking))
        return eta.Estimate(
            round(wait), rng[0] if rng else None, rng[1] if rng else None,
            now + dt.timedelta(seconds=resumed) if resumed > 0 else None)

    def _overtaking(self, t: Ticket, until: float) -> int:
        """Appointments not counted ahead of ``t`` that their slot (by ``until``) puts ahead."""
        if t.target_counter is not None or t.status != "waiting":
            return 0
        if self._queues.in_appointments(t):
            return 0
        mine, normal = Entry.of(t), self._queues.in_normal(t)
        return sum(1 for slot, entry in self._queues.pending[t.service]
                   if slot <= until and entry.ticket_id != t.id
                   and (not normal or entry > mine))

    def _booked_due(self, sid: str, now: float, until: float) -> int:
        """Booked appointments of ``sid`` that will check in and go first by ``until``:
        slots starting by then whose check-in window is still open at ``now``
        (one past it is a miss)."""
        appt = self._services[sid].appointments
        late = appt.late_checkin_min * 60.0 if appt is not None else 0.0
        return sum(n for slot, n in self.booked[sid] if now - late < slot <= until)

    def supplies(self, sid: str, own_load: float, now: dt.datetime,
                  clock_aware: bool) -> list[eta.Supply]:
        """What each counter of ``sid`` gives it (see :func:`server.core.eta.drain`).

        Each counter gives ``sid``, from some start on, a share of its time:

        * a counter of this service only: all of it;
        * ``oldest`` mode: its share of the work waiting for its services
          (load = waiting x mean cycle time, ``own_load`` for ``sid``);
        * ``ordered`` mode: all of it, but only once it has cleared its part
          of its earlier services' load (their load / their open counters).

        ``clock_aware``: over its schedule's segments (breaks give nothing,
        a counter on a scheduled break comes back), after the tickets
        transferred to it; otherwise (the previous estimator) open counters
        from now on, for ever.
        """
        local = now.astimezone(self._tz)
        now_s = local.hour * 3600.0 + local.minute * 60.0 + local.second
        today = local.date()
        out: list[eta.Supply] = []
        for n in self._served_by[sid]:
            open_now = self._counters[n].state == "open"
            if clock_aware:
                if self._supply_at != now_s:
                    self._supply_cache.clear()
                    self._supply_at = now_s
                key = (n, open_now, self.worked.get(n) == today)
                segments = self._supply_cache.get(key)  # type: ignore[assignment]
                if segments is None:
                    segments = self._supply_cache[key] = eta.supply(
                        self._schedules[n], now_s, open_now, key[2])
            else:
                segments = ((0.0, math.inf),) if open_now else ()
            if not segments:
                continue
            cfg = self._cfg_counters[n]
            share, begin = 1.0, 0.0
            if len(cfg.services) > 1 and cfg.mode == "oldest":
                total = own_load + sum(self._queues.waiting[s] * self.cycle_s(s)
                                       for s in cfg.services if s != sid)
                share = own_load / total if total > 0 else 1.0
            elif len(cfg.services) > 1:
                busy = 0.0
                for s in cfg.services:
                    if s == sid:
                        break
                    begin += self._queues.waiting[s] * self.cycle_s(s) / max(1, self._open[s])
                    busy += (_rate(self._arrivals[s], self.rates_at) * self.cycle_s(s)
                             / max(1, self._open[s]))
                if clock_aware:  # the earlier services' new arrivals come first too
                    share = max(MIN_SHARE, 1.0 - busy)
            if clock_aware:
                begin += sum(self.cycle_s(self._tickets[e.ticket_id].service)
                             for e in self._queues.targeted[n])
            out.append(eta.Supply(segments, share, begin))
        return out

    def cycle_s(self, sid: str) -> float:
        """Rolling mean cycle time of a service (its default without history)."""
        return self._cycle_mean[sid]

    def rebuild_rates(self) -> None:
        """The recent issue and jump stamps, from the tickets (after a restore)."""
        arrivals: dict[str, list[float]] = {sid: [] for sid in self._services}
        jumps: dict[str, list[float]] = {sid: [] for sid in self._services}
        for t in self._tickets.values():
            origin = self._by_prefix.get(t.number.rstrip("0123456789"), t.service)
            origin = (self._services[origin].route or (origin,))[0]  # a route: its first step
            arrivals[origin].append(_ts(t.issued_at))
            if t.priority == "priority" or (
                    t.slot_start is not None and t.slot_start <= t.issued_at):
                jumps[origin].append(_ts(t.issued_at))
        for sid in self._services:
            self._arrivals[sid] = deque(sorted(arrivals[sid]))
            self._jumps[sid] = deque(sorted(jumps[sid]))
        self._oldest_at = self._oldest()
        moments = [_ts(m) for t in self._tickets.values()
                   for m in (t.issued_at, t.called_at, t.started_at, t.finished_at) if m]
        self.rates_at = max(moments, default=_ts(self._now()))  # ~ the last command

    def rebuild_history(self, steps: Iterable[StepLeft] = ()) -> None:
        """The service and cycle histories, from the done tickets and the route
        steps left (:func:`route_steps`), in the order they were finished
        (after a restore)."""
        done: list[tuple[dt.datetime, str, Timed]] = [
            (t.finished_at, t.id, t) for t in self._tickets.values()
            if t.status == "done" and t.finished_at]
        done += [(s.finished_at, "", s) for s in steps if s.service in self._services]
        done.sort(key=lambda item: (item[0], item[1]))
        for _, _, t in done:
            self.completed(t)


@dataclasses.dataclass(frozen=True)
class StepLeft:
    """A route step a ticket left (``ticket.routed``): its service and times."""

    service: str
    called_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime


#: The events :func:`route_steps` reads (``Store.events(..., names=ROUTE_EVENTS)``).
ROUTE_EVENTS = ("ticket.called", "ticket.started", "ticket.transferred", "ticket.requeued",
                "ticket.no_show_undone", "ticket.routed")


def route_steps(events: Iterable[Mapping[str, Any]]) -> list[StepLeft]:
    """The route steps left, from the day's events (``{"name", "data", "at"}``
    in seq order): each ``ticket.routed`` with the last call and start before
    it, as the hall had them when it fed :meth:`Forecast.completed`."""
    called: dict[str, dt.datetime] = {}
    started: dict[str, dt.datetime] = {}
    out: list[StepLeft] = []
    for ev in events:
        data = ev.get("data") or {}
        wire = data.get("ticket") or {}
        tid, at = wire.get("id"), ev.get("at")
        if not wire.get("route") or not isinstance(tid, str) or not isinstance(at, dt.datetime):
            continue  # not a route ticket's
        name = ev.get("name")
        if name == "ticket.called":  # a recall keeps the call time, as the hall does
            called[tid] = at
            started.pop(tid, None)
        elif name == "ticket.started":
            started[tid] = at
        elif name == "ticket.routed":
            out.append(StepLeft(str(data.get("from_service")), called.get(tid),
                                started.pop(tid, None), at))
        else:  # transferred, re-queued, a no-show undone: not started there
            started.pop(tid, None)
    return out


def _expire(stamps: deque[float], now: float) -> bool:
    """Drop the stamps older than :data:`RATE_WINDOW_S` before ``now``; whether any were."""
    dropped = False
    while stamps and stamps[0] < now - RATE_WINDOW_S:
        stamps.popleft()
        dropped = True
    return dropped


def _rate(stamps: deque[float], now: float) -> float:
    """Events per second over the last :data:`RATE_WINDOW_S` (old stamps dropped)."""
    _expire(stamps, now)
    return len(stamps) / RATE_WINDOW_S


def service_time(t: Timed) -> float:
    """Start (or call) to complete: how long the citizen was served."""
    begin = t.started_at or t.called_at
    if begin is None or t.finished_at is None:
        return 0.0
    return max(0.0, (t.finished_at - begin).total_seconds())


def _cycle_time(t: Timed) -> float:
    """Call to complete/no-show: the counter time a ticket took."""
    if t.called_at is None or t.finished_at is None:
        return 0.0
    return max(0.0, (t.finished_at - t.called_at).total_seconds())
