"""The histories a restore rebuilds (server/core/forecast.py): the route
steps left, read back from the day's events (``route_steps``: each
``ticket.routed`` with the last call and start before it; a recall,
transfer, re-queue or undone no-show clears the start; only a route
ticket's events with an id and a time count); a completion's service and
cycle times (0 without the times, never negative, not rounded up); the
last ``HISTORY`` completions by the time they finished, ties included."""

from __future__ import annotations

import datetime as dt
from typing import Any

from server.core import Hall
from server.core.forecast import HISTORY, StepLeft, _cycle_time, route_steps, service_time
from server.core.model import Ticket
from tests.core.builders import at, config
from tests.helpers.fakes import FakeClock

ROUTE = ["gh", "js"]


def _ev(name: str, minute: int | None, tid: str = "r1", route: list[str] | None = ROUTE,
        **data: Any) -> dict[str, Any]:
    ticket: dict[str, Any] = {"id": tid}
    if route is not None:
        ticket["route"] = route
    return {"name": name, "data": {"ticket": ticket, **data},
            "at": at(9, minute) if minute is not None else None}


def test_a_step_left_carries_its_last_call_and_its_start() -> None:
    steps = route_steps([_ev("ticket.called", 0), _ev("ticket.started", 2),
                         _ev("ticket.routed", 10, from_service="gh")])
    assert steps == [StepLeft("gh", at(9, 0), at(9, 2), at(9, 10))]


def test_a_step_left_without_a_start_has_none() -> None:
    steps = route_steps([_ev("ticket.called", 0), _ev("ticket.routed", 10, from_service="gh")])
    assert steps == [StepLeft("gh", at(9, 0), None, at(9, 10))]


def test_a_recall_and_an_undone_no_show_clear_the_start() -> None:
    recalled = route_steps([_ev("ticket.called", 0), _ev("ticket.started", 2),
                            _ev("ticket.called", 3), _ev("ticket.routed", 10, from_service="gh")])
    assert recalled == [StepLeft("gh", at(9, 3), None, at(9, 10))]
    undone = route_steps([_ev("ticket.called", 0), _ev("ticket.started", 2),
                          _ev("ticket.no_show_undone", 3),
                          _ev("ticket.routed", 10, from_service="gh")])
    assert undone == [StepLeft("gh", at(9, 0), None, at(9, 10))]


def test_only_route_tickets_events_with_an_id_and_a_time_count() -> None:
    assert route_steps([_ev("ticket.routed", 10, route=None, from_service="gh")]) == []
    assert route_steps([_ev("ticket.routed", None, from_service="gh")]) == []


def test_times_of_a_completion_are_never_made_up() -> None:
    fin = at(9, 10)
    assert service_time(StepLeft("gh", None, None, fin)) == 0.0
    assert _cycle_time(StepLeft("gh", None, at(9, 5), fin)) == 0.0
    assert service_time(StepLeft("gh", fin, fin, fin)) == 0.0
    assert _cycle_time(StepLeft("gh", fin, None, fin)) == 0.0
    assert service_time(StepLeft("gh", at(9), None, fin)) == 600.0


def _done(tid: str, finished: dt.datetime, cycle_s: int) -> Ticket:
    called = finished - dt.timedelta(seconds=cycle_s)
    return Ticket(id=tid, number=f"A{tid[1:]}", service="gjj", status="done", counter=1,
                  issued_at=at(8), day=at(8).date(), seqno=int(tid[1:]),
                  called_at=called, started_at=called, finished_at=finished)


def test_the_history_keeps_the_last_completions_by_finish_time_not_by_id() -> None:
    # t00 finished last (a 20-minute cycle); t01..t20 earlier, one minute each;
    # t19 and t20 at the same instant. The first finished (t01) drops out.
    tickets = [_done("t00", at(11), 1200)]
    tickets += [_done(f"t{i:02d}", at(9, min(i, 19)), 60) for i in range(1, HISTORY + 1)]
    # two route steps left at 09:30 also count: r1 never called (cycle 0), r2
    # called at 09:20 (cycle 600)
    routed = [_ev("ticket.called", 20, tid="r2")]
    routed += [_ev("ticket.routed", 30, tid=tid, from_service="gjj") for tid in ("r1", "r2")]
    hall = Hall.restore(config(), FakeClock(at(12)), tickets, route_events=routed)
    expected = (17 * 60 + 0 + 600 + 1200) / HISTORY
    assert hall._forecast.cycle_s("gjj") == expected
