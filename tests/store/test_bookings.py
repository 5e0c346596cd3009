"""Appointment rows and their guarded writes, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from server.core.model import Event
from server.store import BookingRow, StaleState, Store

HALL = "main"
DAY = dt.date(2026, 11, 27)
SLOT = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
NOW = dt.datetime(2026, 11, 26, 1, 0, 0, 123456, tzinfo=dt.UTC)


def booking(code: str, person: str = "p1", slot: dt.datetime = SLOT) -> BookingRow:
    return BookingRow(hall=HALL, code=code, service="gjj", day=slot.date(), slot_start=slot,
                      person=person, name_hash="n", phone_hash="ph", name_mask="王*",
                      phone_mask="*******5678", status="booked",
                      person_day=f"{person}:{slot.date().isoformat()}", ticket=None,
                      created_at=NOW, created_by="test", updated_at=NOW)


def made(store: Store, row: BookingRow, capacity: int = 2) -> list[int]:
    return store.commit(HALL, [Event("booking.made", {"code": row.code})], at=NOW,
                        extra=store.bookings.book(row, capacity))


def test_a_booking_round_trips_with_aware_times(store: Store) -> None:
    row = booking("CODE0001")
    made(store, row)
    assert store.bookings.get(HALL, "CODE0001") == row
    assert store.bookings.get("other", "CODE0001") is None
    assert store.bookings.of_day(HALL, DAY) == [row]
    assert store.bookings.of_day(HALL, NOW.date()) == []
    assert store.bookings.taken(HALL, "gjj", [SLOT, SLOT + dt.timedelta(hours=1)]) == {SLOT: 1}
    assert store.bookings.due(HALL, DAY) == [("gjj", SLOT, 1)]


def test_a_full_slot_loses_and_writes_nothing(store: Store) -> None:
    made(store, booking("CODE0001", "p1"), capacity=1)
    with pytest.raises(StaleState, match="filled up"):
        made(store, booking("CODE0002", "p2"), capacity=1)
    assert store.bookings.get(HALL, "CODE0002") is None
    assert [e["name"] for e in store.events_since(HALL, 0)] == ["booking.made"]


def test_one_booking_per_person_and_day(store: Store) -> None:
    made(store, booking("CODE0001", "p1"))
    with pytest.raises(StaleState):  # the unique person_day
        made(store, booking("CODE0002", "p1"))
    seen = store.bookings.person_day(HALL, ["p1"], ["p1:2026-11-27"], "gjj", SLOT)
    assert (seen.holder, seen.booked, seen.history) == ("CODE0001", 1, [("gjj", SLOT, "booked")])


def test_cancel_frees_the_place_once(store: Store) -> None:
    row = booking("CODE0001")
    made(store, row)
    store.commit(HALL, [], at=NOW, extra=store.bookings.cancel(row, NOW))
    got = store.bookings.get(HALL, "CODE0001")
    assert got is not None and (got.status, got.person_day) == ("cancelled", None)
    assert store.bookings.taken(HALL, "gjj", [SLOT]) == {SLOT: 0}
    with pytest.raises(StaleState, match="changed meanwhile"):
        store.commit(HALL, [], at=NOW, extra=store.bookings.cancel(row, NOW))


def test_check_in_and_sweep_are_guarded_by_the_status_read(store: Store) -> None:
    row = booking("CODE0001")
    made(store, row)
    late = SLOT + dt.timedelta(hours=1)
    assert [r.code for r in store.bookings.booked_before(HALL, late)] == ["CODE0001"]
    store.commit(HALL, [], at=late, extra=store.bookings.mark_missed(HALL, ["CODE0001"], late))
    assert store.bookings.booked_before(HALL, late) == []
    # Decided on the row as "booked": the sweep got there first.
    with pytest.raises(StaleState):
        store.commit(HALL, [], at=late, extra=store.bookings.check_in(row, "late", "t1", late))
    missed = store.bookings.get(HALL, "CODE0001")
    assert missed is not None
    store.commit(HALL, [], at=late, extra=store.bookings.check_in(missed, "late", "t1", late))
    got = store.bookings.get(HALL, "CODE0001")
    assert got == dataclasses.replace(missed, status="late", ticket="t1", updated_at=late)
