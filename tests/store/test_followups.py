"""Follow-up rows and their guarded close, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from server.store import FollowUpRow, StaleState, Store

HALL = "main"
T0 = dt.datetime(2026, 11, 26, 2, 0, 0, 250000, tzinfo=dt.UTC)


def case(case_id: str, opened: dt.datetime = T0) -> FollowUpRow:
    return FollowUpRow(hall=HALL, id=case_id, ticket=f"t-{case_id}", number="A001",
                       service="gjj", counter=2, staff_id="s002", staff_name="李",
                       score=1, served_at=opened - dt.timedelta(minutes=5), opened_at=opened,
                       due=dt.date(2026, 11, 30), status="open", reason="等候时间长")


def test_cases_round_trip_and_close_once(store: Store) -> None:
    first, second = case("c1"), case("c2", T0 + dt.timedelta(hours=1))
    for row in (second, first):
        store.commit(HALL, [], at=T0, extra=store.followups.insert(row))
    assert store.followups.with_status(HALL) == [first, second]
    assert store.followups.get(HALL, "c2") == second and store.followups.get(HALL, "x") is None
    later = T0 + dt.timedelta(hours=2)
    closed = dataclasses.replace(first, status="closed", closed_at=later, closed_by="admin-1",
                                 note="已回访")
    store.commit(HALL, [], at=later, extra=store.followups.close(closed))
    assert store.followups.with_status(HALL, "closed") == [closed]
    assert store.followups.with_status(HALL, None) == [closed, second]
    # open at a moment: opened before it, not closed before it
    assert store.followups.open_at(HALL, T0 + dt.timedelta(minutes=90)) == [closed, second]
    assert store.followups.open_at(HALL, later + dt.timedelta(seconds=1)) == [second]
    with pytest.raises(StaleState, match="changed meanwhile"):
        store.commit(HALL, [], at=later, extra=store.followups.close(closed))


def test_one_case_per_ticket(store: Store) -> None:
    store.commit(HALL, [], at=T0, extra=store.followups.insert(case("c1")))
    with pytest.raises(StaleState):
        store.commit(HALL, [], at=T0,
                     extra=store.followups.insert(dataclasses.replace(case("c2"), ticket="t-c1")))
    assert [c.id for c in store.followups.with_status(HALL)] == ["c1"]


def test_open_at_its_edges_and_per_hall_oldest_then_by_id(store: Store) -> None:
    a, b = case("c2"), case("c1")                      # opened at the same moment
    late = case("c3", T0 + dt.timedelta(hours=1))
    east = dataclasses.replace(case("c1"), hall="east", ticket="t-east")
    for row in (late, a, b):
        store.commit(HALL, [], at=T0, extra=store.followups.insert(row))
    store.commit("east", [], at=T0, extra=store.followups.insert(east))
    assert [c.id for c in store.followups.with_status(HALL)] == ["c1", "c2", "c3"]
    assert store.followups.open_at(HALL, T0) == []    # opened at that moment: not before it
    assert store.followups.open_at(HALL, T0 + dt.timedelta(microseconds=1)) == [b, a]
    closed_at = T0 + dt.timedelta(hours=2)
    closed = dataclasses.replace(b, status="closed", closed_at=closed_at, closed_by="admin-1",
                                 note="已回访")
    store.commit(HALL, [], at=closed_at, extra=store.followups.close(closed))
    # still open at its closing moment, gone one microsecond later
    assert store.followups.open_at(HALL, closed_at) == [closed, a, late]
    assert store.followups.open_at(HALL, closed_at + dt.timedelta(microseconds=1)) == [a, late]
    # the other hall's case of the same id is neither listed nor closed here
    assert store.followups.get("east", "c1") == east
    assert store.followups.open_at("east", closed_at + dt.timedelta(hours=1)) == [east]
    with pytest.raises(ValueError, match="moment"):
        store.followups.open_at(HALL, closed_at.replace(tzinfo=None))


def test_cases_come_oldest_first_whatever_their_ids_and_by_id_per_hall(store: Store) -> None:
    # Case ids are random: the order is the opening time's, the id only
    # breaks ties; a case id is a case of its own hall only.
    newer, older = case("a0", T0 + dt.timedelta(hours=1)), case("z9")
    for row in (newer, older):
        store.commit(HALL, [], at=T0, extra=store.followups.insert(row))
    twin = dataclasses.replace(case("z9"), hall="east", ticket="t-east", score=2)
    store.commit("east", [], at=T0, extra=store.followups.insert(twin))
    assert store.followups.with_status(HALL) == [older, newer]
    assert store.followups.open_at(HALL, T0 + dt.timedelta(hours=2)) == [older, newer]
    assert store.followups.get(HALL, "z9") == older
    assert store.followups.get("east", "z9") == twin
