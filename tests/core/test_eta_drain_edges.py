"""More edges of the ETA's pure arithmetic (server/core/eta.py), each by the
docstrings' words: a counter giving the service no share is neither supply
nor "working", owed time counted to the second, a break only where no
counter works (back-to-back counters leave none), no work takes no time but
nothing supplied is still None, the range of a single call, a closed
counter at the very start of an interval is not on a break."""

from __future__ import annotations

import math

from server.core import eta

INF = math.inf
OPEN = ((0.0, INF),)


def test_a_counter_giving_no_share_is_skipped_not_the_end_of_the_list() -> None:
    # The zero-share counter comes first: the one after it still supplies.
    assert eta.drain([eta.Supply(OPEN, 0.0), eta.Supply(OPEN)], 100) == (100, 0, 0)


def test_a_counter_giving_no_share_does_not_count_as_working() -> None:
    # The only counter serving the service starts at 100 s: that wait is a
    # break although a counter with no share for it is open meanwhile.
    later = eta.Supply(((100.0, INF),))
    assert eta.drain([eta.Supply(OPEN, 0.0), later], 50) == (150, 100, 100)


def test_owed_time_of_one_second_is_owed() -> None:
    assert eta.drain([eta.Supply(OPEN, 1.0, 1.0)], 10) == (11, 0, 0)
    assert eta.drain([eta.Supply(OPEN, 1.0, 0.5)], 10) == (10.5, 0, 0)


def test_owed_time_is_taken_from_each_segments_own_length() -> None:
    # 150 s owed: the first segment's 100 s, then 50 s of the second (from 300 s).
    segments = ((100.0, 200.0), (300.0, INF))
    assert eta.drain([eta.Supply(segments, 1.0, 150.0)], 100) == (450, 300, 200)


def test_back_to_back_counters_leave_no_break() -> None:
    early, late = eta.Supply(((0.0, 50.0),)), eta.Supply(((50.0, INF),))
    assert eta.drain([early, late], 100) == (100, 0, 0)
    # with a gap between them there is one
    gap = eta.Supply(((60.0, INF),))
    assert eta.drain([early, gap], 100) == (110, 60, 10)


def test_no_work_takes_no_time_even_before_the_supply_starts() -> None:
    assert eta.drain([eta.Supply(((100.0, INF),))], 0) == (0, 0, 0)
    assert eta.drain([eta.Supply(OPEN)], 1) == (1, 0, 0)


def test_nothing_supplied_is_none_even_for_no_work() -> None:
    # the owed time uses up the counter's only segment: it gives nothing
    used_up = eta.Supply(((0.0, 100.0),), 1.0, 200.0)
    assert eta.drain([used_up], 0) is None
    assert eta.drain([used_up], 10) is None


def test_a_single_call_has_a_range() -> None:
    # half = 3600 / sqrt(2) = 2545.6: low 1054.4 -> 1020, high 6145.6 -> 6180
    assert eta.spread(3600, 0, 1) == (1020, 6180)
    assert eta.spread(3600, 0, 0) is None


def test_a_closed_counter_at_the_start_of_an_interval_is_not_on_a_break() -> None:
    sched = ((3600.0, 7200.0), (9000.0, 10800.0))
    assert eta.supply(sched, 3600.0, False, True) == ()
    assert eta.supply(sched, 7200.0, False, True) == ((1800.0, INF),)
