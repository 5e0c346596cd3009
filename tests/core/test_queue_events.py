"""A board fed only by ``queue.changed`` shows what a snapshot shows.

The arrival rates the ETA reads are counted over a hall-wide window
(``RATE_WINDOW_S`` as of the last command): a command on one service can push
another service's stamps out of it. These sequences (found by
``test_properties.py::test_hall_machine``) reproduce that deterministically:
the service no command touched must hear of its new estimate too.
"""

from __future__ import annotations

from typing import Any

from server.core import Hall
from server.core.forecast import RATE_WINDOW_S
from tests.core.builders import config, counter, make_hall


class Board:
    """What a display knows: the welcome snapshot, then events only."""

    def __init__(self, hall: Hall) -> None:
        self.queues: dict[str, dict[str, Any]] = dict(hall.snapshot()["queues"])
        self.heard: list[str] = []

    def apply(self, events) -> None:
        for ev in events:
            if ev.name == "queue.changed":
                sid = ev.data["service"]
                self.heard.append(sid)
                self.queues[sid] = {k: v for k, v in ev.data.items() if k != "service"}

    def agrees_with(self, hall: Hall) -> bool:
        snapshot = hall.snapshot()["queues"]
        return {sid: {k: q[k] for k in self.queues[sid]} for sid, q in snapshot.items()} \
            == self.queues


def test_priority_stamps_leaving_the_window_reach_an_untouched_service() -> None:
    # gjj and tax share no counter: nothing done to gjj touches tax's queue.
    hall, clock = make_hall(config(counters=[counter(1, ["gjj"]), counter(2, ["tax"])]),
                            open_all=False)
    board = Board(hall)
    board.apply(hall.issue("tax", "priority"))  # a jump: more may come ahead of a normal one
    board.apply(hall.issue("tax"))
    before = board.queues["tax"]["eta_s"]
    clock.advance(RATE_WINDOW_S + 1)
    board.heard.clear()
    board.apply(hall.issue("gjj"))  # the window moves past tax's priority issue
    assert hall.queue_wire("tax")["eta_s"] < before
    assert "tax" in board.heard
    assert board.agrees_with(hall)


def test_arrivals_leaving_the_window_reach_the_later_service_of_an_ordered_counter() -> None:
    # Counter 1 takes gjj before tax: gjj's arrival rate costs tax a share of it.
    hall, clock = make_hall(config(counters=[counter(1, ["gjj", "tax"]), counter(3, ["bdc"])]))
    board = Board(hall)
    for _ in range(6):
        board.apply(hall.issue("gjj"))
    board.apply(hall.call_next(1))
    for _ in range(3):
        board.apply(hall.issue("tax"))
    before = board.queues["tax"]["eta_s"]
    clock.advance(RATE_WINDOW_S + 1)
    board.heard.clear()
    board.apply(hall.issue("bdc"))  # bdc shares no counter with gjj or tax
    assert hall.queue_wire("tax")["eta_s"] != before
    assert "tax" in board.heard and board.agrees_with(hall)


def test_a_window_that_drops_nothing_tells_no_one_else() -> None:
    hall, clock = make_hall(config(counters=[counter(1, ["gjj"]), counter(2, ["tax"])]),
                            open_all=False)
    board = Board(hall)
    board.apply(hall.issue("tax", "priority"))
    board.apply(hall.issue("tax"))
    clock.advance(RATE_WINDOW_S - 1)  # the priority issue is still inside the window
    board.heard.clear()
    board.apply(hall.issue("gjj"))
    assert board.heard == ["gjj"] and board.agrees_with(hall)


def _history(hall: Hall, clock) -> None:  # noqa: ANN001
    """Completions at different speeds, so the estimates read real cycle times."""
    for n in range(8):
        hall.issue(("gjj", "tax", "bdc")[n % 3])
    for c in (1, 2, 3):
        clock.advance(60)
        hall.call_next(c)
        clock.advance(200 + 90 * c)
        hall.complete(c)


def _batch(hall: Hall, clock) -> list:  # noqa: ANN001
    """Commands at one instant, as a group of requests is decided."""
    events = []
    for step in (lambda: hall.issue("gjj"), lambda: hall.issue("tax", "priority"),
                 lambda: hall.call_next(1), lambda: hall.issue("gjj"),
                 lambda: hall.call_next(3), lambda: hall.pause(2),
                 lambda: hall.issue("bdc"), lambda: hall.complete(1)):
        events += step()
    return events


def test_deferred_queue_events_equal_the_last_of_each_command_s_own() -> None:
    one, one_clock = make_hall()
    grouped, group_clock = make_hall()
    for hall, clock in ((one, one_clock), (grouped, group_clock)):
        _history(hall, clock)
    board_one, board_group = Board(one), Board(grouped)
    each = _batch(one, one_clock)
    grouped.defer_queue_events()
    deferred = _batch(grouped, group_clock)
    assert not [ev for ev in deferred if ev.name == "queue.changed"]
    flushed = grouped.flush_queue_events()
    assert [ev.name for ev in deferred] == [ev.name for ev in each
                                            if ev.name != "queue.changed"]
    last = {ev.data["service"]: ev.data for ev in each if ev.name == "queue.changed"}
    assert {ev.data["service"]: ev.data for ev in flushed} == last
    assert sorted(last) == ["bdc", "gjj", "tax"]
    assert len([ev for ev in each if ev.name == "queue.changed"]) > len(flushed)
    board_one.apply(each)
    board_group.apply(deferred + flushed)
    assert board_group.queues == board_one.queues
    assert board_group.agrees_with(grouped)
    # Deferring ends with the flush: the next command tells its own again.
    assert [ev.name for ev in grouped.issue("gjj")][-1] == "queue.changed"


def test_a_group_that_leaves_a_queue_as_it_found_it_tells_nothing() -> None:
    hall, _clock = make_hall(config(counters=[counter(1, ["gjj"]), counter(2, ["tax"])]))
    hall.issue("gjj")
    hall.defer_queue_events()
    hall.issue("gjj")
    hall.cancel(next(t.id for t in hall.tickets() if t.number == "A002"))
    assert hall.flush_queue_events() == []
    assert hall.flush_queue_events() == []  # nothing deferred any more
