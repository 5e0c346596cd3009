"""The ETA's pure arithmetic (server/core/eta.py) at its edges: where a
segment starts and ends, owed time skipped across segments, breaks counted
only when no counter works, the range's width at exactly its minimum."""

from __future__ import annotations

import datetime as dt
import math

from server.core import eta

_T = dt.time
INF = math.inf
HOURS = ((_T(8, 30), _T(12)), (_T(13, 30), _T(17, 30)))
H = 3600.0


# ------------------------------------------------------------------ schedule
def test_touching_hours_merge_and_a_contained_one_changes_nothing() -> None:
    assert eta.schedule([((_T(9), _T(12)), (_T(12), _T(13)))]) == ((9 * H, 13 * H),)
    assert eta.schedule([((_T(9), _T(17)),), ((_T(10), _T(11)),)]) == ((9 * H, 17 * H),)
    assert eta.schedule([((_T(14), _T(15)),), ((_T(9), _T(10)),)]) == (
        (9 * H, 10 * H), (14 * H, 15 * H))  # sorted
    assert eta.schedule([((_T(9, 0, 30), _T(10)),)]) == ((9 * H + 30, 10 * H),)


def test_hours_closing_at_midnight_run_to_the_end_of_the_day() -> None:
    assert eta.schedule([((_T(22), _T(0)),)]) == ((22 * H, 24 * H),)
    assert eta.schedule([((_T(22), _T(22)),)]) == ((22 * H, 24 * H),)


# -------------------------------------------------------------------- supply
def test_an_interval_includes_its_start_and_excludes_its_end() -> None:
    sched = eta.schedule([HOURS])
    # 12:00 sharp is the lunch break: an open counter is expected back at 13:30
    assert eta.supply(sched, 12 * H, True, True) == ((1.5 * H, INF),)
    # 08:30 sharp is inside: it gives time from now to 12:00, then after lunch
    assert eta.supply(sched, 8.5 * H, True, True) == ((0.0, 3.5 * H), (5 * H, INF))
    # before the hours an open counter starts giving at the opening
    assert eta.supply(sched, 8 * H, True, False) == ((0.5 * H, 4 * H), (5.5 * H, INF))


def test_a_closed_counter_comes_back_only_from_a_break_of_a_day_it_worked() -> None:
    sched = eta.schedule([HOURS])
    assert eta.supply(sched, 12 * H, False, True) == ((1.5 * H, INF),)
    assert eta.supply(sched, 12 * H, False, False) == ()
    assert eta.supply(sched, 10 * H, False, True) == ()    # closed in its hours
    assert eta.supply(sched, 18 * H, False, True) == ()    # after its last interval
    assert eta.supply((), 10 * H, False, True) == ()       # all day, closed


# --------------------------------------------------------------------- drain
def test_work_ending_exactly_at_a_break_is_done_before_it() -> None:
    two = eta.Supply(((0.0, 100.0), (400.0, INF)))
    assert eta.drain([two], 100) == (100.0, 0.0, 0.0)
    assert eta.drain([two], 100.5) == (400.5, 400.0, 300.0)


def test_nothing_supplied_or_nothing_to_do() -> None:
    always = eta.Supply(((0.0, INF),))
    assert eta.drain([eta.Supply(((0.0, INF),), share=0.0)], 50) is None
    assert eta.drain([eta.Supply(((0.0, INF),), share=-1.0)], 50) is None
    assert eta.drain([always], 0) == (0.0, 0.0, 0.0)
    assert eta.drain([always], -5) == (0.0, 0.0, 0.0)
    assert eta.drain([], 0) is None
    # a supply that stops for good before the work is done never gets there
    assert eta.drain([eta.Supply(((0.0, 100.0),))], 150) is None


def test_owed_time_is_skipped_across_segments_and_is_no_break() -> None:
    # 150 s owed: all of the first segment and 50 s of the second
    owed = eta.Supply(((0.0, 100.0), (400.0, INF)), begin=150)
    assert eta.drain([owed], 10) == (460.0, 400.0, 300.0)
    # owing time is working: no break while another counter's work comes first
    busy = eta.Supply(((0.0, INF),), begin=300)
    assert eta.drain([busy], 60) == (360.0, 0.0, 0.0)
    late = eta.Supply(((300.0, INF),))
    assert eta.drain([late], 60) == (360.0, 300.0, 300.0)


def test_counters_add_up_and_a_break_is_only_when_none_works() -> None:
    full = eta.Supply(((0.0, INF),))
    half = eta.Supply(((0.0, INF),), share=0.5)
    assert eta.drain([full, half], 150) == (100.0, 0.0, 0.0)
    morning = eta.Supply(((0.0, 100.0), (400.0, INF)))
    other = eta.Supply(((200.0, 300.0),))
    # 100 by the first, 100 by the other over 200..300, then the first again at 400
    assert eta.drain([morning, other], 250) == (450.0, 400.0, 200.0)
    assert eta.drain([morning, other], 200) == (300.0, 200.0, 100.0)


# -------------------------------------------------------------------- spread
def test_a_range_exactly_at_its_minimum_width_is_shown() -> None:
    assert eta.spread(600, 0, 3) == (300, 900)          # 600 +- 300: 10 minutes wide
    assert eta.spread(500, 0, 3) is None                # 240 .. 780: 9 minutes
    assert eta.spread(590, 0, 3) == (240, 900)          # rounded out to whole minutes
    assert eta.spread(600, 0, 0) is None and eta.spread(600, 0, -1) is None


def test_breaks_are_not_uncertain() -> None:
    # 3000 s of the 3900 are a break: only 900 s get the 1/sqrt(3) spread
    assert eta.spread(3900, 3000, 2) == (3360, 4440)
    assert eta.spread(3900, 0, 2) == (1620, 6180)
