"""Event reads for reports, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from server.core.model import Event
from server.store import (
    Store,
)
from tests.store.samples import DAY, T0, issued, new_ticket


def test_events_by_time_range_in_batches(store: Store) -> None:
    times = [T0 + dt.timedelta(minutes=i) for i in range(10)]
    for i, at in enumerate(times):
        store.commit("main", [Event("ticket.rated", {"score": 5, "i": i})], at=at)
    store.commit("other", [Event("ticket.rated", {"score": 1})], at=times[5])
    got = list(store.events("main", times[2], times[8], batch=2))
    assert [e["data"]["i"] for e in got] == [2, 3, 4, 5, 6, 7]
    assert [e["at"] for e in got] == times[2:8]
    assert list(store.events("main", times[9] + dt.timedelta(seconds=1),
                             times[9] + dt.timedelta(hours=1))) == []


def test_the_range_from_the_first_event_by_name_and_its_refusals(store: Store) -> None:
    store.commit("main", [Event("ticket.rated", {"i": 0}), Event("queue.changed", {"i": 1})],
                 at=T0)
    store.commit("main", [Event("ticket.rated", {"i": 2})], at=T0 + dt.timedelta(seconds=1))
    end = T0 + dt.timedelta(seconds=1)  # the end is excluded
    assert [e["seq"] for e in store.events("main", T0, end, batch=1)] == [1, 2]
    rated = store.events("main", T0, end + dt.timedelta(seconds=1), names=("ticket.rated",))
    assert [e["data"]["i"] for e in rated] == [0, 2]
    assert store.oldest_seq("main") == 1 and store.oldest_seq("other") is None
    naive = T0.replace(tzinfo=None)
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        list(store.events("main", naive, end))
    with pytest.raises(ValueError, match="end must be timezone-aware"):
        list(store.events("main", T0, naive))


def test_the_hall_of_a_check_code_is_the_newest_among_the_halls_asked(store: Store) -> None:
    today = new_ticket(1, tid="main-1")                     # check "kgjj1"
    store.commit("main", issued(today))
    earlier = new_ticket(1, day=DAY - dt.timedelta(days=1), tid="east-1")
    store.commit("east", issued(earlier))                   # the same code, a day before
    store.commit("west", issued(new_ticket(1, service="tax", prefix="B", tid="west-1")))
    assert store.hall_of_check("kgjj1", ["east", "main"]) == "main"
    assert store.hall_of_check("kgjj1", iter(["east"])) == "east"
    assert store.hall_of_check("kgjj1", ["west"]) is None   # another code there
    assert store.hall_of_check("ktax1", ["main", "east", "west"]) == "west"
    assert store.hall_of_check("kgjj1", []) is None
    # not a possible code: no read at all
    for bad in ("", "k" * 33, None, 7):
        assert store.hall_of_check(bad, ["main"]) is None  # type: ignore[arg-type]
    long_ok = new_ticket(2, tid="main-2")
    long_ok.check = "c" * 32
    store.commit("main", issued(long_ok))
    assert store.hall_of_check("c" * 32, ["main"]) == "main"


def test_reads_refuse_bad_arguments_and_a_limit_of_one_is_one(store: Store) -> None:
    for n in (1, 2, 3):
        store.commit("main", issued(new_ticket(n)), at=T0)
    with pytest.raises(TypeError, match="day must be a date"):
        store.load("main", T0)  # a datetime is not a day
    with pytest.raises(TypeError, match="seq must be an int"):
        store.events_since("main", True)  # type: ignore[arg-type]  # a bool is not a seq
    with pytest.raises(ValueError, match="limit must be a positive int"):
        store.events_since("main", 0, "2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit must be a positive int"):
        store.events_since("main", 0, 0)
    assert [e["seq"] for e in store.events_since("main", 0, 1)] == [1]
    assert [e["seq"] for e in store.events_since("main", 1, 2)] == [2, 3]
    assert [t.number for t in store.load("main", DAY).tickets] == ["A001", "A002", "A003"]


def test_a_days_tickets_load_in_issue_order_then_by_id(store: Store) -> None:
    # Ticket ids say nothing of the order (remote tickets, other kiosks):
    # the issue time does, the id only breaks a tie.
    late = new_ticket(1, tid="a-late")
    first = dataclasses.replace(new_ticket(2, tid="z-first"), issued_at=T0)
    tie = dataclasses.replace(new_ticket(3, tid="m-tie"), issued_at=T0)
    for t in (late, first, tie):  # committed in number order
        store.commit("main", issued(t), at=T0)
    assert [t.id for t in store.load("main", DAY).tickets] == ["m-tie", "z-first", "a-late"]
