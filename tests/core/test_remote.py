"""Remote tickets in the core: a place in line, called only once present."""

from __future__ import annotations

import pytest

from server.core import Hall, IllegalMove, QueueEmpty
from server.core.remote import MAX_DEFERRALS
from tests.core.builders import config, counter, make_hall, service
from tests.helpers.fakes import FakeClock


def one_counter_hall(requeue_places: int = 2) -> tuple[Hall, FakeClock]:
    cfg = config([service("gjj", "A")], [counter(1, ["gjj"])], requeue_places=requeue_places)
    return make_hall(cfg)


def take(hall: Hall, clock: FakeClock, remote: bool = False) -> str:
    ticket = hall.issue("gjj", remote=remote)[0].ticket
    assert ticket is not None
    clock.advance(10)
    return ticket.number


def waiting_order(hall: Hall) -> list[str]:
    return [t.number for t in hall.queue(1)]


def test_remote_ticket_is_numbered_in_line_and_says_it_is_absent() -> None:
    hall, clock = one_counter_hall()
    take(hall, clock)
    events = hall.issue("gjj", remote=True)
    wire = events[0].data["ticket"]
    assert (wire["number"], wire["remote"], wire["present"], wire["ahead"]) == (
        "A002", True, False, 1)
    # A kiosk ticket's object is unchanged (no remote fields).
    assert "remote" not in hall.wire_ticket(hall.by_number("A001"))  # type: ignore[arg-type]


def test_absent_when_due_moves_back_places_and_the_next_present_is_called() -> None:
    hall, clock = one_counter_hall(requeue_places=2)
    take(hall, clock, remote=True)  # A001, absent
    for _ in range(4):
        take(hall, clock)  # A002..A005
    events = hall.call_next(1)
    assert events[0].name == "ticket.called"
    assert events[0].data["ticket"]["number"] == "A002"
    deferred = [e for e in events if e.name == "ticket.deferred"]
    assert [e.data["ticket"]["number"] for e in deferred] == ["A001"]
    assert deferred[0].data["deferrals"] == 1
    # Two places back: behind A003 and A004.
    assert waiting_order(hall) == ["A003", "A004", "A001", "A005"]


def test_absent_three_times_expires() -> None:
    hall, clock = one_counter_hall(requeue_places=1)
    take(hall, clock, remote=True)  # A001
    for _ in range(6):
        take(hall, clock)
    names = []
    for _ in range(6):  # each call takes one present ticket; A001 is due every other call
        events = hall.call_next(1)
        names += [(e.name, e.data.get("reason")) for e in events
                  if e.data.get("ticket", {}).get("number") == "A001"]
        hall.complete(1)
    assert names == [("ticket.deferred", None)] * MAX_DEFERRALS + [("ticket.cancelled", "absent")]
    assert hall.by_number("A001").status == "cancelled"  # type: ignore[union-attr]
    assert "A001" not in waiting_order(hall)


def test_arrived_ticket_is_called_in_its_place() -> None:
    hall, clock = one_counter_hall()
    first = hall.issue("gjj", remote=True)[0].ticket
    assert first is not None
    take(hall, clock)
    events = hall.arrived(first.id)
    assert [e.name for e in events] == ["ticket.arrived"]
    assert events[0].data["ticket"]["present"] is True
    assert hall.arrived(first.id) == []  # once
    called = hall.call_next(1)
    assert called[0].data["ticket"]["number"] == "A001"
    assert all(e.name != "ticket.deferred" for e in called)


def test_only_absent_tickets_waiting_gives_queue_empty_and_changes_nothing() -> None:
    hall, clock = one_counter_hall()
    tid = hall.issue("gjj", remote=True)[0].ticket.id  # type: ignore[union-attr]
    before = hall.ticket(tid).version  # type: ignore[union-attr]
    with pytest.raises(QueueEmpty, match="present"):
        hall.call_next(1)
    t = hall.ticket(tid)
    assert t is not None and (t.version, t.deferrals, t.status) == (before, 0, "waiting")


def test_arrived_refuses_kiosk_and_finished_tickets() -> None:
    hall, clock = one_counter_hall()
    kiosk = hall.issue("gjj")[0].ticket
    assert kiosk is not None
    with pytest.raises(IllegalMove):
        hall.arrived(kiosk.id)
    remote = hall.issue("gjj", remote=True)[0].ticket
    assert remote is not None
    hall.call(1, remote.id)  # a counter may still call it by name
    with pytest.raises(IllegalMove):
        hall.arrived(remote.id)


def test_restore_keeps_presence_and_deferrals() -> None:
    hall, clock = one_counter_hall()
    take(hall, clock, remote=True)
    take(hall, clock)
    take(hall, clock)
    hall.call_next(1)
    restored = Hall.restore(hall.config, clock, hall.tickets())
    t = restored.by_number("A001")
    assert t is not None and (t.remote, t.present, t.deferrals) == (True, False, 1)
    assert [x.number for x in restored.queue(1)] == [x.number for x in hall.queue(1)]


def test_a_kiosk_scan_requeue_of_an_absent_remote_ticket_is_its_arrival() -> None:
    hall, clock = one_counter_hall()
    t = hall.issue("gjj", remote=True)[0].ticket
    assert t is not None
    events = hall.requeue(t.id)
    assert [e.name for e in events] == ["ticket.arrived"]
    with pytest.raises(IllegalMove):  # present now: re-queue is for no-shows only
        hall.requeue(t.id)


def test_a_kiosk_tickets_arrival_is_refused_with_what_staff_can_act_on() -> None:
    hall, clock = one_counter_hall()
    kiosk = hall.issue("gjj")[0].ticket
    assert kiosk is not None
    with pytest.raises(IllegalMove, match="A001 was taken at the hall; it needs no arrival") \
            as refused:
        hall.arrived(kiosk.id)
    assert (refused.value.command, refused.value.state) == ("arrive", "waiting")
    assert refused.value.ticket.id == kiosk.id


def test_moving_back_and_expiring_are_events_of_no_counter_one_version_on() -> None:
    hall, clock = one_counter_hall(requeue_places=1)
    remote = hall.issue("gjj", remote=True)[0].ticket
    assert remote is not None
    for _ in range(6):
        take(hall, clock)
    versions = [remote.version]
    seen, expired_at = [], None
    for _ in range(6):
        for e in hall.call_next(1):
            if e.data.get("ticket", {}).get("number") == "A001":
                seen.append(e)
                if e.name == "ticket.cancelled":
                    expired_at = clock()
        hall.complete(1)
        clock.advance(60)
    assert [e.name for e in seen] == ["ticket.deferred"] * MAX_DEFERRALS + ["ticket.cancelled"]
    assert [e.data["places"] for e in seen[:-1]] == [1] * MAX_DEFERRALS
    assert seen[-1].data["reason"] == "absent"
    assert all(e.counter is None and e.data.get("counter") is None for e in seen)
    for e in seen:                                   # each event steps the version by one
        assert e.prev_version == versions[-1] and e.ticket is not None
        versions.append(e.ticket.version)
        assert versions[-1] == versions[-2] + 1
    t = hall.ticket(remote.id)
    assert t is not None and expired_at is not None and t.finished_at == expired_at
