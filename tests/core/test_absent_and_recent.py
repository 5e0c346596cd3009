"""Two edges of what a hall shows and calls: a recent call whose counter is no
longer configured (the snapshot names it by its number), and absent remote
tickets passed over (several at the head of one list; an appointment with a
slot goes back within its own group)."""

from __future__ import annotations

import dataclasses

import pytest

from server.core import Hall
from tests.core.builders import at, config, counter, make_hall, service
from tests.helpers.fakes import FakeClock


def test_a_recent_call_at_a_counter_no_longer_configured_is_named_by_its_number() -> None:
    hall, clock = make_hall()
    hall.issue("bdc")
    hall.call_next(3)
    hall.complete(3)
    clock.advance(60)
    hall.issue("gjj")
    hall.call_next(1)
    cfg = hall.config
    smaller = dataclasses.replace(cfg, counters=cfg.counters[:2])  # counter 3 removed
    again = Hall.restore(smaller, clock, hall.tickets(),
                         [cs for cs in hall.counter_states() if cs.number != 3])
    recent = again.snapshot()["recent_calls"]
    assert [(r["ticket"]["number"], r["counter"], r["counter_name"]) for r in recent] == [
        ("A001", 1, "1号窗口"), ("C001", 3, "3")]


def remote_hall() -> tuple[Hall, FakeClock]:
    return make_hall(config([service("gjj", "A")], [counter(1, ["gjj"])], requeue_places=1))


@pytest.mark.timeout(10)  # a skip count that does not grow would pick the same ticket for ever
def test_two_absent_remote_tickets_at_the_head_are_both_passed_over() -> None:
    hall, clock = remote_hall()
    for remote in (True, True, False, False):  # A001, A002 absent; A003, A004 here
        hall.issue("gjj", remote=remote)
        clock.advance(10)
    events = hall.call_next(1)
    assert events[0].name == "ticket.called" and events[0].data["ticket"]["number"] == "A003"
    assert [e.data["ticket"]["number"] for e in events if e.name == "ticket.deferred"] == [
        "A001", "A002"]
    # Each goes one place behind the head of the list as it is then: A001
    # behind A002, then A002 behind A001; both stay before A004.
    assert [t.number for t in hall.queue(1)] == ["A001", "A002", "A004"]
    hall.complete(1)
    assert [e.data["ticket"]["number"] for e in hall.call_next(1)
            if e.name in ("ticket.called", "ticket.deferred")] == ["A004", "A001", "A002"]


def test_an_absent_remote_appointment_goes_back_within_the_appointments() -> None:
    hall, clock = remote_hall()
    hall.issue("gjj", "appointment", at(8, 50), remote=True)   # A001: its slot has started
    hall.issue("gjj", "appointment", at(8, 55))                # A002: here, slot started
    hall.issue("gjj", "appointment", at(8, 58))                # A003
    hall.issue("gjj")                                          # A004: a normal ticket
    clock.advance(10)
    events = hall.call_next(1)
    assert events[0].data["ticket"]["number"] == "A002"
    deferred = [e.data["ticket"] for e in events if e.name == "ticket.deferred"]
    assert [(w["number"], w["priority"], w["slot_start"]) for w in deferred] == [
        ("A001", "appointment", "2026-11-26T08:50:00+08:00")]
    # One place behind the head of its group (A003). In dispatch order the
    # normal A004 comes between them: two appointments in a row, then a normal one.
    assert [t.number for t in hall.queue(1)] == ["A003", "A004", "A001"]
