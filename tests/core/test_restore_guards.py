"""Hall.restore's guards on the rows it is given and the marks it derives
(its docstring): a route step outside the route is refused, step 0 is a
step; a number is never reused whatever order the tickets come in; numbers
of no known series raise no service's count; a counter that called a
ticket *today* (hall-local day) is expected back after its lunch break,
one that worked only yesterday is not."""

from __future__ import annotations

import datetime as dt

import pytest

from server.core import Hall
from server.core.model import Ticket
from tests.core.builders import SHANGHAI, at, config, counter, service
from tests.core.test_routes import ROUTE_CFG
from tests.helpers.fakes import FakeClock

DAY = dt.date(2026, 11, 26)


def _ticket(tid: str, number: str, sid: str, seqno: int, **kw: object) -> Ticket:
    issued = kw.pop("issued_at", at(9))
    assert isinstance(issued, dt.datetime)
    return Ticket(id=tid, number=number, service=sid, seqno=seqno, issued_at=issued,
                  day=issued.astimezone(SHANGHAI).date(), rank=(1, issued.timestamp()),
                  **kw)  # type: ignore[arg-type]


def _route_ticket(step: int) -> Ticket:
    return _ticket("r1", "K001", ("gh", "js", "xf")[min(step, 2)], 1,
                   route=("gh", "js", "xf"), step=step, route_id="jj")


@pytest.mark.parametrize("step", [0, 1, 2])
def test_a_route_ticket_at_any_of_its_steps_restores(step: int) -> None:
    hall = Hall.restore(ROUTE_CFG, FakeClock(at(9)), [_route_ticket(step)])
    t = hall.ticket("r1")
    assert t is not None and t.step == step and hall.waiting(t.service) == 1


@pytest.mark.parametrize("step", [-1, 3, 4])
def test_a_route_step_outside_the_route_is_refused(step: int) -> None:
    with pytest.raises(ValueError, match="bad route"):
        Hall.restore(ROUTE_CFG, FakeClock(at(9)), [_route_ticket(step)])


def test_the_highest_number_of_a_series_counts_whatever_the_order() -> None:
    tickets = [_ticket("t2", "A002", "gjj", 2, status="done"),
               _ticket("t1", "A001", "gjj", 1, status="done")]
    hall = Hall.restore(config(), FakeClock(at(9)), tickets, ids=lambda: "t3",
                        codes=lambda: "C3")
    assert hall.last_numbers == {("gjj", DAY): 2}
    assert hall.issue("gjj")[0].data["ticket"]["number"] == "A003"


def test_a_number_of_no_known_series_counts_for_no_service() -> None:
    # Z is no service's prefix (a series removed from the configuration since)
    hall = Hall.restore(config(), FakeClock(at(9)),
                        [_ticket("t1", "Z007", "gjj", 7, status="done")])
    assert hall.last_numbers == {}


# One service open 06:00-07:00 and 07:30-12:00; its only counter closed for the
# break. 07:10 in Shanghai is 23:10 UTC of the day before: the day is the hall's.
_BREAK_CFG = config(
    services=[service("gjj", "A", hours=((dt.time(6), dt.time(7)),
                                         (dt.time(7, 30), dt.time(12))))],
    counters=[counter(1, ["gjj"])])


def _after_break(called_day: int) -> dict[str, object]:
    served = _ticket("t1", "A001", "gjj", 1, status="done", counter=1,
                     issued_at=at(6, 20, day=called_day), called_at=at(6, 30, day=called_day),
                     started_at=at(6, 31, day=called_day), finished_at=at(6, 40, day=called_day))
    waiting = _ticket("t2", "A002", "gjj", 2, issued_at=at(7, 5))
    hall = Hall.restore(_BREAK_CFG, FakeClock(at(7, 10)), [served, waiting])
    live = hall.ticket("t2")
    assert live is not None
    return hall.wire_ticket(live)


def test_a_counter_that_called_today_is_expected_back_after_its_break() -> None:
    wire = _after_break(26)
    # back at 07:30 (20 min), then one cycle of 10 min
    assert wire["eta_s"] == 1800
    assert wire["eta_after"] == "2026-11-26T07:30:00+08:00"


def test_a_counter_that_worked_only_yesterday_is_not_expected_back() -> None:
    wire = _after_break(25)
    # nobody expected: the estimate stays finite, as one counter, with no time after
    assert wire["eta_s"] == 600
    assert wire["eta_after"] is None
