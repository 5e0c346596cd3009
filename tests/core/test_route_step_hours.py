"""A route step's estimate (``Hall._step_estimate``): nobody is reached before
the step's service opens, so a step outside its hours waits at least until
then and resumes at the opening (``eta_after``); a range whose low end falls
before the opening is dropped. A route's queue object is that of a ticket
waiting at its first step; the ordinary service's own queue object does not
wait for its hours. A route ticket's own estimate is that of *its* ticket
(a priority ticket is overtaken by no jumps).

STEP_CFG: route r = b -> a. b (cycle 2400 s) is open 08:30-12:00 and
13:30-17:30, a (300 s) all day; counter 1 serves b then a (ordered), so its
schedule runs all day and the forecast alone would let it serve b at 12:30.
"""

from __future__ import annotations

import datetime as dt

from server.core import Hall
from tests.core.builders import at, config, counter, make_hall, service

STEP_CFG = config(
    services=[service("a", "A", default_service_s=300),
              service("b", "B", default_service_s=2400,
                      hours=((dt.time(8, 30), dt.time(12, 0)), (dt.time(13, 30), dt.time(17, 30)))),
              service("r", "R", route=("b", "a"))],
    counters=[counter(1, ["b", "a"])],
)


def busy_hall_with_two_at_b(end: dt.datetime) -> Hall:
    """At ``end``: counter 1 busy with an ``a`` ticket, two route tickets
    waiting at b (issued one second apart, the last at ``end``): a
    ticket issued now has 3 calls to wait for, 3 x 2400 = 7200 s, range
    7200 -/+ 7200/2 = 3600..10800."""
    hall, clock = make_hall(STEP_CFG, end - dt.timedelta(seconds=2))
    hall.issue("a")
    hall.call_next(1)
    for _ in range(2):
        clock.advance(1)
        hall.issue("r")
    return hall


def test_a_first_step_outside_its_hours_resumes_at_the_opening_and_keeps_a_range_from_it() -> None:
    hall = busy_hall_with_two_at_b(at(12, 30))
    route = hall.queue_wire("r")
    # 7200 s is past the opening (3600 s away) but the forecast gave no
    # resumption time: the step's says 13:30. The range's low end is exactly
    # the opening: kept.
    assert route == {"waiting": 2, "eta_s": 7200, "eta_low_s": 3600, "eta_high_s": 10800,
                     "eta_after": "2026-11-26T13:30:00+08:00", "open_counters": 1}
    # b's own queue object is that of an ordinary service: no wait for its hours.
    plain = hall.queue_wire("b")
    assert plain == {**route, "eta_after": None}


def test_a_range_starting_before_the_opening_is_dropped() -> None:
    hall = busy_hall_with_two_at_b(at(12, 0))
    route = hall.queue_wire("r")
    # The opening is 5400 s away, the range would start at 3600: no range at all.
    assert route == {"waiting": 2, "eta_s": 7200,
                     "eta_after": "2026-11-26T13:30:00+08:00", "open_counters": 1}
    assert hall.queue_wire("b")["eta_low_s"] == 3600


def test_a_priority_route_ticket_is_not_overtaken_by_the_jumps() -> None:
    hall, clock = make_hall(STEP_CFG, at(9))
    hall.issue("a")
    hall.call_next(1)
    for _ in range(3):  # recent priority tickets: a normal ticket would expect more
        clock.advance(1)
        hall.issue("b", "priority")
    clock.advance(1)
    wire = hall.issue("r", "priority")[0].data["ticket"]
    # b is open: the step's estimate is the forecast's for this very ticket,
    # (ahead + 1) calls of 2400 s, nobody overtaking it.
    assert wire["ahead"] == 3
    assert wire["eta_s"] == 4 * 2400
    assert hall.queue_wire("r")["eta_s"] > 5 * 2400  # a normal newcomer: jumps overtake it
    # The whole route: this wait, b's cycle, then a's wait at its head and its cycle.
    assert wire["eta_route_s"] == wire["eta_s"] + 2400 + hall.eta_s("a") + 300
    live = hall.ticket(wire["id"])
    assert live is not None
    assert hall.wire_ticket(live)["eta_s"] == wire["eta_s"]
    assert hall.route_eta_s(live) == wire["eta_route_s"]


# Pins a bug found by mutation testing (session 6), fixed since: _step_estimate returns the
# forecast as it is when it already resumes at the opening, range included; the forecast
# lets the counter work on the step before its break (its schedule is merged with another
# service's), so the range starts before the opening
def test_no_part_of_the_range_falls_before_the_opening() -> None:
    # Counter 1 serves b then c (c open until 12:45): its schedule runs to 12:45,
    # then a break to 13:30, b's opening.
    cfg = config(
        services=[*STEP_CFG.services[:2],
                  service("c", "C", hours=((dt.time(8, 0), dt.time(12, 45)),)),
                  STEP_CFG.services[2]],
        counters=[counter(1, ["b", "c"])])
    hall, _clock = make_hall(cfg, at(12, 30))
    hall.issue("c")
    hall.call_next(1)
    route = hall.queue_wire("r")
    assert route["eta_s"] >= 3600 and route["eta_after"] == "2026-11-26T13:30:00+08:00"
    # 13:30 is 3600 s away: nobody is reached at b before then.
    assert route.get("eta_low_s", 3600) >= 3600


def test_a_step_already_past_its_opening_without_a_range_is_the_forecasts() -> None:
    # Counter 1 serves b alone (b's hours are its schedule): at 12:30 it is
    # open but on its break, back at 13:30. A route ticket waits at b; the
    # next one would be called 300 s after the opening (b's cycle here is
    # 300 s), with no range: the forecast's estimate, taken as it is.
    cfg = config(
        services=[STEP_CFG.services[0],
                  service("b", "B", default_service_s=300, hours=STEP_CFG.services[1].hours),
                  STEP_CFG.services[2]],
        counters=[counter(1, ["b"]), counter(2, ["a"])])
    hall, _clock = make_hall(cfg, at(12, 30))
    hall.issue("r")
    assert hall.queue_wire("r") == {"waiting": 1, "eta_s": 3600 + 300,
                                    "eta_after": "2026-11-26T13:30:00+08:00",
                                    "open_counters": 1}
