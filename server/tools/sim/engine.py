"""The discrete-event engine: one hall day in virtual time on the real core.

Every dispatch decision is the real :class:`server.core.Hall`'s: the engine
only plays the citizens and the staff. A heap of timed events (arrivals,
citizens reaching the counter, service completions, no-show timeouts,
walk-outs, staffing changes) advances a virtual clock that the hall reads.

Staff behaviour, per counter:

* when it opens (its hour in the plan starts, at the first moment one of its
  services issues tickets) and whenever it is free, it calls ``call_next``;
  when nobody waits it idles until a ticket of one of its services arrives;
* a called citizen walks up (``walk_s``) and is served (``start``, then
  ``complete`` after the visitor's service time); a no-show is given
  ``no_show_wait_s`` then marked 过号;
* at an hour boundary a counter leaving the plan finishes its ticket and
  closes; when its services have all stopped issuing (lunch, evening) it
  first serves its remaining queue (the usual "serve every number taken");
* ``overtime_min`` after the day's last closing, the day is closed out and
  whoever still waits is counted as unserved.
"""

from __future__ import annotations

import collections
import datetime as dt
import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from server.config import HallConfig
from server.core import Hall
from server.core.errors import CoreError, QueueEmpty
from server.tools.sim.model import Arrival, SimParams, StaffingPlan, open_intervals

__all__ = ["TicketRecord", "CounterLog", "DayResult", "run_day"]

# Event kinds, in tie-break order at the same instant: staffing first (a
# counter opening at 08:30 is ready for the 08:30 visitor), then counters'
# own steps, then arrivals, then walk-outs.
_STAFF, _OPEN, _SIT, _DONE, _NOSHOW, _ARRIVE, _RETURN, _WALKOUT, _END = range(9)


@dataclass
class TicketRecord:
    """What happened to one visitor (times in seconds after midnight)."""

    index: int
    service: str
    priority: str
    issued: float
    eta_s: int | None = None  # the ETA printed on the ticket
    ahead: int | None = None  # people ahead at issue
    # Baselines at issue (docs/SIMULATION.md): last-to-enter-service delay of
    # its service, and the estimator qhall used before issue #17.
    eta_les_s: int | None = None
    eta_prev_s: int | None = None
    status: str = "refused"  # refused | waiting | called | done | no_show | cancelled | walked_out
    refused: str = ""  # wire code when no ticket was issued (closed, quota_reached)
    called: float | None = None
    counter: int | None = None
    finished: float | None = None
    ticket_id: str | None = None
    calls: int = 0  # times called (a 过号 who came back, a transfer: more than once)
    transferred: bool = False
    came_back: bool = False
    step: int = 0  # a joint-approval route's current step

    @property
    def wait(self) -> float | None:
        return None if self.called is None else self.called - self.issued


@dataclass
class CounterLog:
    """One counter's day: open intervals and busy intervals (seconds)."""

    number: int
    opened: list[tuple[float, float]] = field(default_factory=list)
    busy: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class DayResult:
    """The simulated day: per-visitor records and per-counter logs."""

    day: dt.date
    records: list[TicketRecord]
    counters: dict[int, CounterLog]
    end_s: float
    core_calls: int = 0


class _Counter:
    __slots__ = ("number", "services", "state", "leaving", "draining", "since",
                 "busy_since", "ticket", "log")

    def __init__(self, number: int, services: tuple[str, ...]) -> None:
        self.number = number
        self.services = services
        self.state = "closed"  # closed | idle | busy
        self.leaving = False  # close when free (out of the plan)
        self.draining = False  # ...but serve the remaining queue first
        self.since = 0.0
        self.busy_since = 0.0
        self.ticket: int | None = None  # record index of the current ticket
        self.log = CounterLog(number)


class _Day:
    """One run. Kept as a class so the handlers share state without globals."""

    def __init__(self, config: HallConfig, plan: StaffingPlan, arrivals: Sequence[Arrival],
                 params: SimParams, day: dt.date, settle_before: float | None,
                 progress: Callable[[float, float], None] | None = None):
        self.config = config
        self.plan = plan
        self.arrivals = arrivals
        self.params = params
        # Early stop: once every visitor arriving before this time has been
        # called (or has left), the rest of the day cannot change their waits.
        self.settle_before = settle_before
        self.progress = progress
        self.unsettled = (sum(1 for a in arrivals if a.at < settle_before)
                          if settle_before is not None else -1)
        self.midnight = dt.datetime.combine(day, dt.time(0), tzinfo=config.tz)
        self.now = 0.0
        ids = itertools.count(1)
        self.hall = Hall(config, self.clock, ids=lambda: f"t{next(ids)}",
                         codes=lambda: f"C{next(ids)}")
        self.services = {s.id: s for s in config.services}
        self.counters = {c.number: _Counter(c.number, c.services) for c in config.counters}
        self.serves: dict[str, list[int]] = {
            sid: [c.number for c in config.counters if sid in c.services]
            for sid in self.services
        }
        self.idle: deque[int] = deque()  # longest idle first
        self.records: list[TicketRecord] = []
        self.by_ticket: dict[str, int] = {}
        self.heap: list[tuple[float, int, int, int]] = []
        self.seq = itertools.count()
        self.core_calls = 0
        self.last_delay: dict[str, float] = {}  # service -> wait of its last ticket called
        # The day's appointments are booked ahead: until each checks in, the
        # hall is told the counts per slot (Hall.set_appointments), as the
        # booking layer tells the real one.
        self.booked: dict[str, collections.Counter[float]] = collections.defaultdict(
            collections.Counter)
        for a in arrivals:
            if a.slot_start_s is not None:
                self.booked[a.service][a.slot_start_s] += 1
        for sid in self.booked:
            self._tell_booked(sid)

    # ----------------------------------------------------------------- clock
    def clock(self) -> dt.datetime:
        return self.midnight + dt.timedelta(seconds=self.now)

    def push(self, at: float, kind: int, arg: int) -> None:
        heapq.heappush(self.heap, (at, kind, next(self.seq), arg))

    # ------------------------------------------------------------------- run
    def run(self) -> DayResult:
        for i, a in enumerate(self.arrivals):
            self.push(a.at, _ARRIVE, i)
        for hour in range(24):
            self.push(hour * 3600.0, _STAFF, hour)
        self.push(self._end_s(), _END, 0)
        handlers = {_STAFF: self._staff, _OPEN: self._open, _ARRIVE: self._arrive,
                    _SIT: self._sit, _DONE: self._done, _NOSHOW: self._noshow,
                    _WALKOUT: self._walkout, _RETURN: self._return}
        end = self._end_s()
        steps = 0
        while self.heap:
            at, kind, _seq, arg = heapq.heappop(self.heap)
            self.now = at
            steps += 1
            if self.progress is not None and steps % 2000 == 0:
                self.progress(at, end)
            if kind == _END:
                self._close_out()
                end = at
                break
            handlers[kind](arg)
            if self.unsettled == 0:
                end = at
                break
        for c in self.counters.values():
            if c.state != "closed":
                c.log.opened.append((c.since, end))
            if c.state == "busy":
                c.log.busy.append((c.busy_since, end))
        if self.progress is not None:
            self.progress(end, end)
        return DayResult(self.midnight.date(), self.records,
                         {n: c.log for n, c in self.counters.items()}, end, self.core_calls)

    def _end_s(self) -> float:
        last = 0.0
        for svc in self.services.values():
            for h in range(24):
                for _s, e in open_intervals(svc, h):
                    last = max(last, e)
        return last + self.params.overtime_min * 60.0

    # -------------------------------------------------------------- staffing
    def _staff(self, hour: int) -> None:
        wanted = self.plan.at(hour)
        for n, c in self.counters.items():
            if n in wanted:
                c.leaving = c.draining = False
                if c.state == "closed":
                    self.push(self._first_open(c, hour), _OPEN, n)
            elif c.state != "closed":
                c.leaving = True
                c.draining = not self._issuing_later(c)
                if c.state == "idle":
                    self._free(c)

    def _first_open(self, c: _Counter, hour: int) -> float:
        starts = [s for sid in c.services for s, _e in open_intervals(self.services[sid], hour)]
        return max(self.now, min(starts)) if starts else self.now

    def _issuing_later(self, c: _Counter) -> bool:
        """Does one of the counter's services still issue tickets today?"""
        now = self.now
        for sid in c.services:
            svc = self.services[sid]
            for h in range(int(now // 3600), 24):
                if any(e > now for _s, e in open_intervals(svc, h)):
                    return True
        return False

    def _open(self, n: int) -> None:
        c = self.counters[n]
        if c.state != "closed" or n not in self.plan.at(int(self.now // 3600)):
            return
        self._core(self.hall.open_counter, n, f"sim-{n}", f"模拟{n}")
        c.state, c.since = "idle", self.now
        self._free(c)

    # -------------------------------------------------------------- citizens
    def _arrive(self, i: int) -> None:
        a = self.arrivals[i]
        rec = TicketRecord(index=i, service=a.service, priority=a.priority, issued=self.now)
        self.records.append(rec)
        slot = (self.midnight + dt.timedelta(seconds=a.slot_start_s)
                if a.slot_start_s is not None else None)
        if a.slot_start_s is not None:  # checking in: no longer only booked
            self.booked[a.service][a.slot_start_s] -= 1
            self._tell_booked(a.service)
        try:
            events = self._core(self.hall.issue, a.service, a.priority, slot)
        except CoreError as exc:
            rec.refused = exc.code
            self._settled(rec)
            return
        wire = events[0].data["ticket"]
        rec.ticket_id = wire["id"]
        rec.eta_s = wire["eta_s"]
        rec.ahead = wire["ahead"]
        rec.eta_les_s = round(self.last_delay.get(a.service, 0.0))
        rec.eta_prev_s = self.hall.previous_eta_s(events[0].ticket)
        rec.status = "waiting"
        self.by_ticket[wire["id"]] = len(self.records) - 1
        if math.isfinite(a.patience_s):
            self.push(self.now + a.patience_s, _WALKOUT, len(self.records) - 1)
        self._wake(wire["service"])  # a route's ticket waits at its first step

    def _wake(self, service: str) -> None:
        serving = self.serves[service]
        for _ in range(len(self.idle)):
            n = self.idle.popleft()
            if n in serving and self.counters[n].state == "idle":
                self._free(self.counters[n])
                if self.counters[n].state == "busy":
                    return
            elif self.counters[n].state == "idle":
                self.idle.append(n)

    def _walkout(self, r: int) -> None:
        rec = self.records[r]
        if rec.status != "waiting":
            return
        self._core(self.hall.cancel, rec.ticket_id)
        rec.status, rec.finished = "walked_out", self.now
        self._settled(rec)

    # ----------------------------------------------------------------- staff
    def _free(self, c: _Counter) -> None:
        """The counter has no ticket: call the next one, idle, or close."""
        if c.leaving and not c.draining:
            self._close(c)
            return
        try:
            events = self._core(self.hall.call_next, c.number)
        except QueueEmpty:
            if c.leaving:
                self._close(c)
            elif c.state != "idle" or c.number not in self.idle:
                c.state = "idle"
                self.idle.append(c.number)
            return
        r = self.by_ticket[events[0].data["ticket"]["id"]]
        rec = self.records[r]
        if rec.called is None:
            self._settled(rec)
            self.last_delay[rec.service] = self.now - rec.issued
        rec.status, rec.counter = "called", c.number
        rec.called = self.now if rec.called is None else rec.called  # the first call
        rec.calls += 1
        c.state, c.ticket, c.busy_since = "busy", r, self.now
        if (self.arrivals[rec.index].no_show and not rec.came_back and not rec.transferred
                and rec.step == 0):
            self.push(self.now + self.params.no_show_wait_s, _NOSHOW, c.number)
        else:
            self.push(self.now + self.params.walk_s, _SIT, c.number)

    def _sit(self, n: int) -> None:
        c = self.counters[n]
        self._core(self.hall.start, n)
        rec = self.records[c.ticket]  # type: ignore[index]
        a = self.arrivals[rec.index]
        if rec.step:
            took = a.step_s[rec.step - 1]
        else:
            took = a.transfer_service_s if rec.transferred else a.service_s
        self.push(self.now + took, _DONE, n)

    def _done(self, n: int) -> None:
        c = self.counters[n]
        rec = self.records[c.ticket]  # type: ignore[index]
        a = self.arrivals[rec.index]
        if a.transfer_to is not None and not rec.transferred:
            # The case moves on: the counter transfers the ticket (same number).
            self._core(self.hall.transfer, n, a.transfer_to)
            rec.transferred, rec.status = True, "waiting"
            c.log.busy.append((c.busy_since, self.now))
            c.ticket, c.state = None, "idle"
            self._wake(a.transfer_to)
            self._free(c)
            return
        events = self._core(self.hall.complete, n)
        if events[0].name == "ticket.routed":
            # A route's step is done: the ticket moves on by itself (same number).
            rec.step, rec.status = rec.step + 1, "waiting"
            c.log.busy.append((c.busy_since, self.now))
            c.ticket, c.state = None, "idle"
            self._wake(events[0].data["to_service"])
            self._free(c)
            return
        self._finish(c, "done")

    def _noshow(self, n: int) -> None:
        c = self.counters[n]
        self._core(self.hall.no_show, n)
        r = c.ticket
        self._finish(c, "no_show")
        a = self.arrivals[self.records[r].index]  # type: ignore[index]
        if math.isfinite(a.returns_after_s):
            self.push(self.now + a.returns_after_s, _RETURN, r)  # type: ignore[arg-type]

    def _return(self, r: int) -> None:
        """过号重排: the citizen is back and re-queues at the kiosk."""
        rec = self.records[r]
        if rec.status != "no_show":
            return
        try:
            self._core(self.hall.requeue, rec.ticket_id)
        except CoreError:
            return  # too late: the return window has passed
        rec.status, rec.came_back, rec.finished = "waiting", True, None
        self._wake(rec.service)

    def _finish(self, c: _Counter, status: str) -> None:
        rec = self.records[c.ticket]  # type: ignore[index]
        rec.status, rec.finished = status, self.now
        c.log.busy.append((c.busy_since, self.now))
        c.ticket, c.state = None, "idle"
        self._free(c)

    def _close(self, c: _Counter) -> None:
        if c.state == "closed":
            return
        self._core(self.hall.close_counter, c.number)
        c.log.opened.append((c.since, self.now))
        c.state, c.leaving, c.draining = "closed", False, False
        if c.number in self.idle:
            self.idle.remove(c.number)

    def _close_out(self) -> None:
        for ev in self._core(self.hall.close_day):
            if ev.name == "ticket.cancelled" and ev.ticket is not None:
                r = self.by_ticket.get(ev.ticket.id)
                if r is not None and self.records[r].status in ("waiting", "called"):
                    self.records[r].status = "cancelled"
                    self.records[r].finished = self.now

    def _settled(self, rec: TicketRecord) -> None:
        if self.settle_before is not None and rec.issued < self.settle_before:
            self.unsettled -= 1

    def _tell_booked(self, sid: str) -> None:
        self._core(self.hall.set_appointments, sid,
                   [(self.midnight + dt.timedelta(seconds=start), n)
                    for start, n in self.booked[sid].items() if n > 0])

    def _core(self, fn, *args):  # type: ignore[no-untyped-def]
        self.core_calls += 1
        return fn(*args)


def run_day(config: HallConfig, plan: StaffingPlan, arrivals: Sequence[Arrival],
            params: SimParams | None = None, day: dt.date | None = None,
            settle_before: float | None = None,
            progress: Callable[[float, float], None] | None = None) -> DayResult:
    """Simulate one day of ``config`` under ``plan`` for the given visitors.

    Args:
        config: the hall (its services' hours and quotas apply).
        plan: which counters are open each hour.
        arrivals: the visitors, sorted by time (see ``draw_arrivals``).
        params: staff/citizen behaviour (walk time, no-show wait, overtime).
        day: the simulated date (default: a fixed Monday, so runs are reproducible).
        settle_before: stop the day early once every visitor arriving before
            this time (seconds after midnight) has been called or has left:
            the staffing search judges an hour without simulating the rest.
        progress: called now and then with (virtual seconds now, day end).

    Returns:
        The day's records; the core's own rules decided every call.
    """
    params = params or SimParams()
    params.check()
    return _Day(config, plan, arrivals, params, day or dt.date(2026, 3, 2), settle_before,
                progress).run()
