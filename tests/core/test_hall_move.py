"""Hall.move: a supervisor moves a waiting ticket (the console's 转移)."""

from __future__ import annotations

import datetime as dt

import pytest

from server.core import BadRequest, Closed, Hall, NotFound
from server.core.machine import IllegalMove
from tests.helpers.server import small_config

CFG = small_config("sqlite://")
T0 = dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)


def _hall() -> tuple[Hall, list[dt.datetime]]:
    now = [T0]
    return Hall(CFG, lambda: now[0]), now


def test_a_waiting_ticket_moves_to_another_service_in_its_issue_place():
    hall, now = _hall()
    moved = hall.issue("gjj")[0].data["ticket"]
    now[0] += dt.timedelta(minutes=1)
    hall.issue("tax")
    events = hall.move(moved["id"], service="tax")
    assert [e.name for e in events] == ["ticket.transferred", "queue.changed", "queue.changed"]
    data = events[0].data
    assert (data["from_counter"], data["to_service"], data["to_counter"]) == (None, "tax", None)
    assert data["ticket"]["number"] == moved["number"] and data["ticket"]["status"] == "waiting"
    assert (hall.waiting("gjj"), hall.waiting("tax")) == (0, 2)
    hall.open_counter(3, "s003", "张伟")  # tax first: the moved ticket was issued first
    assert hall.call_next(3)[0].data["ticket"]["number"] == moved["number"]


def test_a_move_to_a_counter_needs_it_open():
    hall, _ = _hall()
    t = hall.issue("gjj")[0].data["ticket"]
    with pytest.raises(Closed):
        hall.move(t["id"], to_counter=2)
    hall.open_counter(2, "s002", "李强")
    data = hall.move(t["id"], to_counter=2)[0].data
    assert data["to_counter"] == 2 and data["ticket"]["to_counter"] == 2


def test_refused_moves_change_nothing():
    hall, _ = _hall()
    t = hall.issue("gjj")[0].data["ticket"]
    with pytest.raises(BadRequest):
        hall.move(t["id"])
    with pytest.raises(NotFound):
        hall.move(t["id"], service="nope")
    with pytest.raises(NotFound):
        hall.move("nope", service="tax")
    assert hall.waiting("gjj") == 1 and hall.ticket(t["id"]).version == 1
    hall.open_counter(1, "s001", "王芳")
    hall.call_next(1)
    with pytest.raises(IllegalMove):
        hall.move(t["id"], service="tax")


def test_a_move_hands_the_store_the_ticket_and_its_version_before():
    # The store writes Event.ticket and checks prev_version (optimistic concurrency).
    hall, now = _hall()
    t = hall.issue("gjj")[0].data["ticket"]
    before = hall.ticket(t["id"]).version
    now[0] += dt.timedelta(minutes=3)
    event = hall.move(t["id"], service="tax")[0]
    live = hall.ticket(t["id"])
    assert event.ticket == live and event.ticket is not live  # a copy, after the move
    assert (event.prev_version, live.version) == (before, before + 1)
    assert event.ticket.service == "tax"


def test_a_moved_ticket_waits_by_issue_time_not_by_move_time():
    hall, now = _hall()
    early = hall.issue("gjj")[0].data["ticket"]
    now[0] += dt.timedelta(minutes=5)
    hall.issue("tax")
    now[0] += dt.timedelta(minutes=5)
    hall.move(early["id"], service="tax")  # moved last, issued first: first in line
    assert hall.waiting("tax") == 2
    hall.open_counter(3, "s003", "张伟")
    assert hall.call_next(3)[0].data["ticket"]["id"] == early["id"]


def test_a_ticket_no_longer_waiting_is_refused_with_what_it_is():
    hall, _ = _hall()
    t = hall.issue("gjj")[0].data["ticket"]
    hall.open_counter(1, "s001", "王芳")
    hall.call_next(1)
    with pytest.raises(IllegalMove, match="called") as refused:
        hall.move(t["id"], service="tax")
    assert refused.value.code == "conflict"
    assert t["number"] in str(refused.value)
