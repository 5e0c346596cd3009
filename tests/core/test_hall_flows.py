"""Core rules that keep a citizen from being stranded: transfers only to open
counters and back to the head when the counter closes or stays paused past
``transfer_timeout``; 撤销过号 within 30 s; the missed list; look-up by number;
``open_counters`` on queue objects."""

from __future__ import annotations

import pytest

from server.core import Closed, Conflict, Expired, Forbidden, Hall, IllegalMove
from server.core.hall import NO_SHOW_UNDO_S
from tests.core.builders import config, make_hall


def numbers(tickets) -> list[str]:
    return [t.number for t in tickets]


def issue_n(hall: Hall, clock, n: int, sid: str = "gjj") -> list[str]:
    ids = []
    for _ in range(n):
        ids.append(hall.issue(sid)[0].ticket.id)
        clock.advance(10)
    return ids


def test_transfer_to_a_closed_or_paused_counter_is_refused_and_changes_nothing():
    hall, clock = make_hall()
    issue_n(hall, clock, 2)
    hall.call_next(1)
    hall.close_counter(2)
    with pytest.raises(Closed, match="closed"):
        hall.transfer(1, to_counter=2)
    hall.open_counter(2, "s2", "员工2")
    hall.pause(2, "午休")
    with pytest.raises(Closed, match="paused"):
        hall.transfer(1, to_counter=2)
    assert hall.ticket("t1").status == "called"
    assert hall.counter_state(1).current == "t1"


def test_ticket_waiting_for_a_counter_that_closes_returns_to_the_head():
    hall, clock = make_hall()
    issue_n(hall, clock, 3)  # A001..A003
    hall.call_next(1)  # A001
    hall.transfer(1, to_counter=2)
    events = hall.close_counter(2)
    names = [e.name for e in events]
    assert names[:2] == ["counter.closed", "ticket.transferred"]
    back = events[1].data
    assert back["reason"] == "counter_closed" and back["from_counter"] == 2
    assert back["to_counter"] is None and back["to_service"] == "gjj"
    assert "to_counter" not in back["ticket"] and back["ticket"]["ahead"] == 0
    assert hall.ticket("t1").target_counter is None
    assert numbers(hall.queue(1)) == ["A001", "A002", "A003"]


def test_ticket_returns_after_the_counter_stays_paused_past_the_timeout():
    hall, clock = make_hall(config(transfer_timeout=600))
    issue_n(hall, clock, 3)
    hall.call_next(1)
    hall.transfer(1, to_counter=2)
    hall.pause(2, "会议")
    clock.advance(599)
    assert hall.expire_transfers() == []
    assert hall.ticket("t1").target_counter == 2
    clock.advance(1)
    events = hall.expire_transfers()
    assert [e.name for e in events][0] == "ticket.transferred"
    assert events[0].data["reason"] == "transfer_timeout"
    assert events[0].data["ticket"]["ahead"] == 0
    assert hall.ticket("t1").target_counter is None
    assert hall.call_next(1)[0].ticket.number == "A001"  # at the head
    assert hall.expire_transfers() == []


def test_pause_then_resume_in_time_keeps_the_transfer():
    hall, clock = make_hall(config(transfer_timeout=600))
    issue_n(hall, clock, 1)
    hall.call_next(1)
    hall.transfer(1, to_counter=2)
    hall.pause(2)
    clock.advance(300)
    hall.resume(2)
    clock.advance(900)
    assert hall.expire_transfers() == []
    assert hall.call_next(2)[0].ticket.number == "A001"


def test_timeout_survives_a_restore_with_the_counter_since():
    hall, clock = make_hall(config(transfer_timeout=600))
    issue_n(hall, clock, 2)
    hall.call_next(1)
    hall.transfer(1, to_counter=2)
    hall.pause(2)
    paused = hall.counter_state(2)
    clock.advance(400)
    again = Hall.restore(hall.config, clock, hall.tickets(), hall.counter_states())
    assert again.counter_state(2).since == paused.since
    clock.advance(199)
    assert again.expire_transfers() == []
    clock.advance(1)
    assert again.expire_transfers()[0].data["reason"] == "transfer_timeout"


def test_restored_ticket_waiting_for_a_closed_counter_is_returned_by_the_ticker():
    hall, clock = make_hall()
    issue_n(hall, clock, 1)
    hall.call_next(1)
    hall.transfer(1, to_counter=2)
    counters = [c if c.number != 2 else type(c)(number=2) for c in hall.counter_states()]
    again = Hall.restore(hall.config, clock, hall.tickets(), counters)
    events = again.expire_transfers()
    assert events[0].data["reason"] == "counter_closed"
    assert again.ticket("t1").target_counter is None


def test_no_show_can_be_undone_at_the_same_counter_within_30_s():
    hall, clock = make_hall()
    issue_n(hall, clock, 2)
    hall.call_next(1)
    hall.no_show(1)
    clock.advance(NO_SHOW_UNDO_S)
    events = hall.unmiss(1, "t1")
    assert events[0].name == "ticket.no_show_undone"
    assert all(e.name == "queue.changed" for e in events[1:])
    assert events[0].data["counter"] == 1 and events[0].data["ticket"]["status"] == "called"
    assert hall.counter_state(1).current == "t1"
    assert hall.stats(1)["no_shows"] == 0
    hall.start(1)
    hall.complete(1)


def test_no_show_undo_refusals():
    hall, clock = make_hall()
    issue_n(hall, clock, 3)
    hall.call_next(1)
    hall.no_show(1)
    with pytest.raises(Forbidden):
        hall.unmiss(2, "t1")
    hall.call_next(1)  # counter 1 called A002 meanwhile
    with pytest.raises(Conflict):
        hall.unmiss(1, "t1")
    hall.complete(1)
    clock.advance(NO_SHOW_UNDO_S + 1)
    with pytest.raises(Expired):
        hall.unmiss(1, "t1")
    with pytest.raises(IllegalMove):
        hall.unmiss(1, "t2")  # done, not a no-show
    assert hall.ticket("t1").status == "no_show"


def test_missed_lists_recent_no_shows_newest_first_within_the_return_window():
    hall, clock = make_hall(config(no_show_return_s=1800))
    issue_n(hall, clock, 3)
    for _ in range(2):
        hall.call_next(1)
        hall.no_show(1)
        clock.advance(60)
    hall.call_next(2)
    hall.no_show(2)
    assert numbers(hall.missed(1)) == ["A002", "A001"]
    assert numbers(hall.missed()) == ["A003", "A002", "A001"]
    clock.advance(1800 - 60 + 1)
    assert numbers(hall.missed(1)) == []
    assert numbers(hall.missed()) == ["A003"]


def test_by_number_finds_todays_ticket():
    hall, clock = make_hall()
    issue_n(hall, clock, 2)
    assert hall.by_number("a002").id == "t2"
    assert hall.by_number("A009") is None


def test_queue_objects_say_how_many_counters_are_open():
    hall, clock = make_hall()
    assert hall.snapshot()["queues"]["gjj"]["open_counters"] == 2
    events = hall.close_counter(1)
    changed = {e.data["service"]: e.data for e in events if e.name == "queue.changed"}
    assert changed["gjj"]["open_counters"] == 1
    hall.close_counter(2)
    assert hall.snapshot()["queues"]["gjj"]["open_counters"] == 0
