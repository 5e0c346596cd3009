"""The whole route's estimate (``Hall.route_eta_s``, the ticket's
``eta_route_s``), by its docstring: the wait at the current step (0 once
called), that step's mean cycle, then for each *later* step the wait at the
head of its queue and its cycle. ROUTE_CFG: gh (cycle 600 s, counters 1 and
4) -> js (300 s, counter 2) -> xf (300 s, counter 3), every counter open."""

from __future__ import annotations

import pytest

from tests.core.builders import at
from tests.core.test_routes import issue, route_hall


def test_the_route_sums_each_steps_wait_and_cycle_from_the_current_one() -> None:
    hall = route_hall()
    t = issue(hall, "jj")
    # Waiting at gh with nobody ahead: 0 + 600, then js 0 + 300, xf 0 + 300.
    assert hall.route_eta_s(t) == 1200
    # People waiting at a later step do not count: the route joins at its head.
    issue(hall, "js")
    issue(hall, "js")
    assert hall.route_eta_s(t) == 1200
    called = hall.call_next(1)[0].ticket
    assert called is not None and called.id == t.id
    assert hall.route_eta_s(t) == 1200        # called: no wait left, the cycle stays
    hall.start(1)
    assert hall.route_eta_s(t) == 1200        # serving: the same
    hall.complete(1)
    # At js now (the head of its queue, two walk-ins behind): 0 + 300, then xf 0 + 300.
    # Asked with the copy taken at issue: the hall's own ticket counts.
    assert hall.route_eta_s(t) == 600
    hall.call_next(2)
    hall.complete(2)
    assert hall.route_eta_s(t) == 300         # the last step: its cycle only
    hall.call_next(3)
    hall.complete(3)
    assert hall.route_eta_s(t) is None        # over


def test_the_current_steps_wait_is_the_tickets_own_estimate() -> None:
    hall = route_hall()
    for counter in (1, 4):  # both gh counters busy (counter 1's citizen not come yet)
        issue(hall, "gh")
        hall.call_next(counter)
    hall.start(4)
    t = issue(hall, "jj")
    wire = hall.wire_ticket(hall.ticket(t.id))
    assert wire["eta_s"] > 0
    assert hall.route_eta_s(t) == wire["eta_s"] + 1200
    # Called at counter 1 (its citizen did not come) while counter 4 is still
    # busy: no wait is left at all.
    hall.no_show(1)
    assert hall.call_next(1)[0].ticket.id == t.id
    assert hall.route_eta_s(t) == 1200


@pytest.mark.parametrize(("clock", "whole"), [
    ((11, 59, 59), 1200),           # xf still open: its step joins at once
    ((12, 0, 0), 5400 + 1200),      # xf's morning ends at 12:00 (exclusive): wait to 13:30
    ((12, 30, 0), 3600 + 1200),
    ((13, 29, 59), 1 + 1200),
    ((13, 30, 0), 1200),            # open again from 13:30 (inclusive)
    ((8, 0, 0), 1800 + 1200),       # before the day's first opening
    ((17, 30, 0), 1200),            # after the last interval: it runs on (no later opening)
])
def test_a_later_step_outside_its_hours_waits_until_it_opens(clock, whole) -> None:
    # xf (08:30-12:00, 13:30-17:30) is the third step: nobody is reached there
    # before it opens, whatever the steps before take.
    hall = route_hall(at(*clock))
    t = issue(hall, "jj")
    assert hall.route_eta_s(t) == whole
