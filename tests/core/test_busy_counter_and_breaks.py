"""A busy counter's refusal to call (IllegalMove naming the live ticket, the
``call`` and its state, and the counter by name); a ticket no longer
waiting has no wait; a counter that worked today (the hall's day, not the
machine's) is expected back after its break, one never opened is not; a
route ended early is a change of the counter too; a closed counter listed
first leaves the others supplying; a later step opening
later today is waited for from the exact start of the day's hours."""

from __future__ import annotations

import datetime as dt

import pytest

from server.core import Hall
from server.core.machine import IllegalMove
from tests.core.builders import at, config, counter, make_hall, service
from tests.core.test_routes import issue, route_hall
from tests.helpers.fakes import FakeClock


def test_a_busy_counter_refuses_to_call_naming_its_ticket() -> None:
    hall, _clock = make_hall()
    tid = hall.issue("gjj")[0].data["ticket"]["id"]
    hall.issue("gjj")
    hall.call_next(1)
    with pytest.raises(IllegalMove) as refused:
        hall.call_next(1)
    assert refused.value.ticket is hall.ticket(tid)
    assert (refused.value.command, refused.value.state) == ("call", "called")
    assert "1号窗口 still has ticket A001 (called)" in str(refused.value)


def test_a_ticket_no_longer_waiting_has_no_wait() -> None:
    hall, _clock = make_hall()
    hall.issue("gjj")
    called = hall.call_next(1)[0]
    assert called.data["ticket"]["eta_s"] == 0
    hall.start(1)
    assert hall.complete(1)[0].data["ticket"]["eta_s"] == 0


# gjj open 06:00-07:00 and 07:30-12:00, counters 1 and 2. 06:30 in Shanghai is
# 22:30 UTC of the day before: the day a counter worked is the hall's.
_BREAK_CFG = config(
    services=[service("gjj", "A", hours=((dt.time(6), dt.time(7)),
                                         (dt.time(7, 30), dt.time(12))))],
    counters=[counter(1, ["gjj"]), counter(2, ["gjj"])])


def test_only_the_counter_that_worked_today_is_expected_back_after_the_break() -> None:
    clock = FakeClock(at(6, 30))
    hall = Hall(_BREAK_CFG, clock)
    hall.open_counter(1, "s1", "王芳")  # counter 2 never opens today
    hall.issue("gjj")
    waiting = hall.issue("gjj")[0].data["ticket"]["id"]
    hall.call_next(1)
    clock.now = at(6, 50)
    hall.complete(1)  # a 20-minute cycle
    clock.now = at(7)
    hall.close_counter(1)  # the break
    clock.now = at(7, 10)
    wire = hall.wire_ticket(hall.ticket(waiting))  # type: ignore[arg-type]
    # counter 1 alone, back at 07:30 (20 min), then one cycle of 20 min
    assert (wire["eta_s"], wire["eta_after"]) == (2400, "2026-11-26T07:30:00+08:00")


def test_a_route_ended_early_is_a_change_of_its_counter() -> None:
    hall = route_hall()
    issue(hall, "jj")
    hall.call_next(1)
    before = hall.counter_state(1).version
    ended = hall.route_end(1, "材料不全")[0]
    assert ended.counter is not None and ended.counter.version == before + 1
    assert ended.counter.current is None


def test_a_later_step_is_waited_for_from_the_exact_start_of_the_days_hours() -> None:
    # xf (08:30-12:00, 13:30-17:30) is open at 08:30 sharp: the route joins at once
    hall = route_hall(at(8, 30))
    assert hall.route_eta_s(issue(hall, "jj")) == 1200


def test_a_closed_counter_listed_first_leaves_the_open_ones_supplying() -> None:
    # gjj is served by counters 1 and 2; 1 is closed, 2 (tax first, then gjj)
    # is busy with a tax ticket and one more tax ticket waits: gjj gets
    # counter 2 after that tax ticket (300 s) and at 1 - 2/1800 x 300 = 2/3
    # of its time (tax arrivals come first): 300 + 300 / (2/3) = 750 s.
    hall, _clock = make_hall()
    hall.close_counter(1)
    hall.issue("tax")
    hall.issue("tax")
    hall.call_next(2)
    assert hall.issue("gjj")[0].data["ticket"]["eta_s"] == 750
