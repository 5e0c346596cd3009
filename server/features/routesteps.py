"""Per-step figures of joint-approval routes (联合审批) for ``qhall report``.

A route case is one ticket with one number; the report counts the *case*
once (``report.compute``: issued once, served when its last step completes)
and, here, each *step visit*: the ticket arriving at a step (issued at step
0, or ``ticket.routed`` there) until it leaves it again.

Definitions (docs/REPORTS.md):

* arrivals: visits to the step (a case sent back and coming again counts
  again); served: visits completed and sent on (or the case done at the last
  step); ended: cases ended early there (``route_end``); sent_back: visits
  that ended with ``route_back`` (材料补正), ``back_to`` counts them by the
  step they were sent to.
* wait of a visit = its last call - its arrival; service = leaving - start
  (- last call when never started); both over every visit that was called
  and then left the step (sent on, back, or ended).
* A case's wait and service time (for its service row) are the sums over its
  visits: the time it spent queueing, and at counters.
* Each visit that left is kept as a :class:`Leg` (with the counter of its
  last call and who was logged in there): the report credits counters and
  staff from these, so a visit's wait and service are computed here only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from server.wire.readers import counter_number

__all__ = ["Leg", "StepFigures", "RouteFigures", "RouteSteps"]


@dataclasses.dataclass
class StepFigures:
    """One step of one route."""

    route: str
    step: int  # 0-based
    service: str
    name: str
    arrivals: int = 0
    served: int = 0
    ended: int = 0
    sent_back: int = 0
    back_to: dict[int, int] = dataclasses.field(default_factory=dict)
    waits: list[float] = dataclasses.field(default_factory=list)
    service_times: list[float] = dataclasses.field(default_factory=list)

    def row(self) -> dict[str, Any]:
        def mean(xs: list[float]) -> float | None:
            return round(sum(xs) / len(xs), 1) if xs else None
        return {"route": self.route, "step": self.step + 1, "service": self.service,
                "name": self.name, "arrivals": self.arrivals, "served": self.served,
                "ended": self.ended, "sent_back": self.sent_back,
                "back_to": {str(k + 1): v for k, v in sorted(self.back_to.items())},
                "avg_wait_s": mean(self.waits), "avg_service_s": mean(self.service_times)}


@dataclasses.dataclass
class RouteFigures:
    """One route: its cases and its steps."""

    route: str
    name: str
    steps: list[StepFigures]
    issued: int = 0
    served: int = 0  # the last step completed
    ended_early: int = 0
    cases_sent_back: int = 0  # cases sent back at least once


@dataclasses.dataclass(frozen=True)
class Leg:
    """A step visit that was called and then left the step."""

    ticket: str
    step: int
    counter: int | None  # of the visit's last call
    staff: str | None  # logged in at that counter at that call
    wait: float
    service: float
    left: str  # "on" (sent on), "back" (route_back), "ended" (route_end), "done" (last step)


@dataclasses.dataclass
class _Visit:
    step: int
    arrived: dt.datetime
    called: dt.datetime | None = None
    started: dt.datetime | None = None
    counter: int | None = None
    staff: str | None = None


class RouteSteps:
    """Follows the route tickets' events (fed by ``report.compute``)."""

    def __init__(self, config: Any, staff_at: Mapping[int, tuple[str, str]] | None = None) -> None:
        """``staff_at``: who is logged in at each counter (number -> (id, name)),
        kept up to date by the caller as it reads the events."""
        self._staff_at: Mapping[int, tuple[str, str]] = staff_at if staff_at is not None else {}
        names = {s.id: s.name for s in config.services}
        self.routes: dict[str, RouteFigures] = {
            s.id: RouteFigures(s.id, s.name, [StepFigures(s.id, i, sid, names.get(sid, sid))
                                              for i, sid in enumerate(s.route)])
            for s in config.services if getattr(s, "route", ())}
        self._visits: dict[str, _Visit] = {}
        self._route_of: dict[str, str] = {}
        self._sent_back: set[str] = set()
        self.case_wait: dict[str, float] = {}
        self.case_service: dict[str, float] = {}
        self.legs: list[Leg] = []
        self.last_leg: dict[str, Leg] = {}

    def issued(self, tid: str, wire: dict[str, Any], at: dt.datetime) -> None:
        route = self.routes.get(wire.get("route_id") or "")
        if route is None:
            return
        self._route_of[tid] = route.route
        route.issued += 1
        self._arrive(tid, 0, at)

    def event(self, tid: str, name: str, data: dict[str, Any], at: dt.datetime) -> None:
        visit = self._visits.get(tid)
        if visit is None:
            return
        if name == "ticket.called" or name == "ticket.recalled":
            visit.called = at
            visit.counter = counter_number(data.get("counter"))
            visit.staff = self._staff_at.get(visit.counter, (None, None))[0] \
                if visit.counter is not None else None
            if name == "ticket.called":
                visit.started = None
        elif name == "ticket.started":
            visit.started = at
        elif name == "ticket.routed":
            to_step = (data.get("ticket") or {}).get("step")
            if not isinstance(to_step, int) or isinstance(to_step, bool):
                return
            step = self._step(tid, visit)
            if to_step > visit.step:
                step.served += 1
            else:
                step.sent_back += 1
                step.back_to[to_step] = step.back_to.get(to_step, 0) + 1
                self._sent_back.add(tid)
            self._leave(tid, visit, at, "on" if to_step > visit.step else "back")
            self._arrive(tid, to_step, at)
        elif name == "ticket.completed":
            step, route = self._step(tid, visit), self.routes[self._route_of[tid]]
            if data.get("route_ended"):
                step.ended += 1
                route.ended_early += 1
            else:
                step.served += 1
                route.served += 1
            route.cases_sent_back += tid in self._sent_back
            self._leave(tid, visit, at, "ended" if data.get("route_ended") else "done")
            del self._visits[tid]
        elif name == "ticket.cancelled":
            # A no-show keeps its visit: undone or re-queued, it goes on at its step.
            del self._visits[tid]

    def _step(self, tid: str, visit: _Visit) -> StepFigures:
        return self.routes[self._route_of[tid]].steps[visit.step]

    def _arrive(self, tid: str, step: int, at: dt.datetime) -> None:
        steps = self.routes[self._route_of[tid]].steps
        if not 0 <= step < len(steps):
            return
        steps[step].arrivals += 1
        self._visits[tid] = _Visit(step, at)

    def _leave(self, tid: str, visit: _Visit, at: dt.datetime, left: str) -> None:
        if visit.called is None:
            return
        wait = max(0.0, (visit.called - visit.arrived).total_seconds())
        service = max(0.0, (at - (visit.started or visit.called)).total_seconds())
        leg = Leg(tid, visit.step, visit.counter, visit.staff, wait, service, left)
        self.legs.append(leg)
        self.last_leg[tid] = leg
        step = self._step(tid, visit)
        step.waits.append(wait)
        step.service_times.append(service)
        self.case_wait[tid] = self.case_wait.get(tid, 0.0) + wait
        self.case_service[tid] = self.case_service.get(tid, 0.0) + service
