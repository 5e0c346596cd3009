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


def _many(store: Store) -> dict[str, BookingRow]:
    """Bookings over two slots and two services (and one in another hall)."""
    later = SLOT + dt.timedelta(hours=1)
    rows = {
        "CODE0003": booking("CODE0003", "p3"),
        "CODE0001": booking("CODE0001", "p1", later),
        "CODE0002": dataclasses.replace(booking("CODE0002", "p2"), service="tax"),
        "CODE0004": booking("CODE0004", "p4", later),
        "CODE0005": booking("CODE0005", "p5", SLOT + dt.timedelta(days=1)),
    }
    for row in rows.values():
        made(store, row)
    elsewhere = dataclasses.replace(booking("CODE0009", "p9"), hall="east")
    store.commit("east", [Event("booking.made", {})], at=NOW,
                 extra=store.bookings.book(elsewhere, 2))
    return rows


def test_a_days_bookings_by_slot_then_code_of_a_service(store: Store) -> None:
    _many(store)
    assert [r.code for r in store.bookings.of_day(HALL, DAY)] == [
        "CODE0002", "CODE0003", "CODE0001", "CODE0004"]
    assert [r.code for r in store.bookings.of_day(HALL, DAY, "tax")] == ["CODE0002"]
    assert [r.code for r in store.bookings.of_day(HALL, service="gjj")] == [
        "CODE0003", "CODE0001", "CODE0004", "CODE0005"]
    assert [r.code for r in store.bookings.of_day("east")] == ["CODE0009"]


def test_due_counts_the_booked_per_service_and_slot(store: Store) -> None:
    rows = _many(store)
    later = SLOT + dt.timedelta(hours=1)
    assert sorted(store.bookings.due(HALL, DAY)) == [
        ("gjj", SLOT, 1), ("gjj", later, 2), ("tax", SLOT, 1)]
    store.commit(HALL, [], at=NOW, extra=store.bookings.cancel(rows["CODE0004"], NOW))
    store.commit(HALL, [], at=NOW,
                 extra=store.bookings.check_in(rows["CODE0003"], "checked_in", "t1", NOW))
    assert sorted(store.bookings.due(HALL, DAY)) == [("gjj", later, 1), ("tax", SLOT, 1)]
    assert store.bookings.due("east", DAY) == [("gjj", SLOT, 1)]


def test_a_cancel_frees_its_own_slot_only(store: Store) -> None:
    rows = _many(store)
    later = SLOT + dt.timedelta(hours=1)
    when = NOW + dt.timedelta(minutes=5)
    store.commit(HALL, [], at=when, extra=store.bookings.cancel(rows["CODE0004"], when))
    assert store.bookings.taken(HALL, "gjj", [SLOT, later]) == {SLOT: 1, later: 1}
    assert store.bookings.taken(HALL, "gjj", [later]) == {later: 1}  # the slots asked only
    with pytest.raises(ValueError, match="slot must be timezone-aware"):
        store.bookings.taken(HALL, "gjj", [later.replace(tzinfo=None)])
    assert store.bookings.taken(HALL, "tax", [SLOT]) == {SLOT: 1}
    assert store.bookings.taken("east", "gjj", [SLOT]) == {SLOT: 1}
    got = store.bookings.get(HALL, "CODE0004")
    assert got is not None and got.updated_at == when and got.status == "cancelled"
    # the other booking of that slot is untouched
    assert store.bookings.get(HALL, "CODE0001") == rows["CODE0001"]


def test_legacy_rows_take_the_current_key_and_the_old_salt_goes_last(store: Store) -> None:
    old, new = "o" * 40, "n" * 40
    legacy = [dataclasses.replace(booking(f"LEGACY0{n}", old, SLOT + dt.timedelta(days=n)),
                                  hash_scheme="legacy") for n in range(2)]
    other = dataclasses.replace(booking("LEGACY09", "x" * 40), hash_scheme="legacy")
    for row in [*legacy, other]:
        made(store, row)
    legacy_east = dataclasses.replace(legacy[0], hall="east")
    store.commit("east", [Event("booking.made", {})], at=NOW,
                 extra=store.bookings.book(legacy_east, 2))
    with store.transaction(write=True) as conn:
        for hall in (HALL, "east"):
            conn.exec_driver_sql(
                "INSERT INTO hall_secrets (hall, name, value) VALUES "
                f"('{hall}', 'booking_salt', 'abcd')")
    assert store.bookings.legacy_salt(HALL) == "abcd"
    who = {"person": new, "name_hash": "nh", "phone_hash": "ph2"}
    fresh = booking("CODE0001", new, SLOT + dt.timedelta(days=3))
    store.commit(HALL, [Event("booking.made", {})], at=NOW,
                 extra=store.bookings.book(fresh, 2, rekey=(old, who)))
    for n, row in enumerate(legacy):
        got = store.bookings.get(HALL, row.code)
        assert got == dataclasses.replace(
            row, person=new, name_hash="nh", phone_hash="ph2", hash_scheme="pii",
            person_day=f"{new}:{(SLOT + dt.timedelta(days=n)).date().isoformat()}")
    assert store.bookings.get(HALL, "LEGACY09") == other      # another person's row
    assert store.bookings.get("east", "LEGACY00") == legacy_east  # another hall's row
    assert store.bookings.legacy_salt(HALL) == "abcd"          # LEGACY09 still needs it
    who_x = {"person": "y" * 40, "name_hash": "a", "phone_hash": "b"}
    store.commit(HALL, [Event("booking.made", {})], at=NOW,
                 extra=store.bookings.book(booking("CODE0002", "y" * 40,
                                                   SLOT + dt.timedelta(days=4)),
                                           2, rekey=("x" * 40, who_x)))
    assert store.bookings.legacy_salt(HALL) is None            # no legacy row left
    assert store.bookings.legacy_salt("east") == "abcd"


def test_a_cancelled_legacy_row_keeps_no_person_day(store: Store) -> None:
    old = "o" * 40
    row = dataclasses.replace(booking("LEGACY01", old), hash_scheme="legacy")
    made(store, row)
    store.commit(HALL, [], at=NOW, extra=store.bookings.cancel(row, NOW))
    who = {"person": "n" * 40, "name_hash": "nh", "phone_hash": "ph2"}
    store.commit(HALL, [Event("booking.made", {})], at=NOW,
                 extra=store.bookings.book(booking("CODE0001", "n" * 40), 2, rekey=(old, who)))
    got = store.bookings.get(HALL, "LEGACY01")
    assert got is not None and got.person_day is None and got.person == "n" * 40


def _twin_elsewhere(store: Store, row: BookingRow) -> BookingRow:
    """The same code and person in hall "east": a write to ``row`` must not touch it."""
    twin = dataclasses.replace(row, hall="east")
    store.commit("east", [Event("booking.made", {})], at=NOW, extra=store.bookings.book(twin, 2))
    return twin


def test_what_deciding_a_booking_reads_is_this_halls_rows_of_those_persons(store: Store) -> None:
    rows = _many(store)
    later = SLOT + dt.timedelta(hours=1)
    _twin_elsewhere(store, rows["CODE0003"])
    store.commit(HALL, [], at=later,
                 extra=store.bookings.mark_missed(HALL, ["CODE0003"], later))
    store.commit(HALL, [], at=NOW, extra=store.bookings.cancel(rows["CODE0004"], NOW))
    store.commit(HALL, [], at=later,
                 extra=store.bookings.check_in(rows["CODE0002"], "late", "t2", later))
    seen = store.bookings.person_day(HALL, ["p1", "p2", "p3", "p4"], ["p1:2026-11-27"],
                                     "gjj", later)
    # misses, late arrivals and open bookings count; a cancelled one does not
    assert sorted(seen.history) == [("gjj", SLOT, "missed"), ("gjj", later, "booked"),
                                    ("tax", SLOT, "late")]
    assert (seen.holder, seen.booked) == ("CODE0001", 1)      # CODE0004 gave its place back
    # another hall's rows of the same person and day are not this hall's
    east = store.bookings.person_day("east", ["p3"], ["p3:2026-11-27"], "gjj", SLOT)
    assert (east.history, east.holder, east.booked) == ([("gjj", SLOT, "booked")],
                                                        "CODE0003", 2)  # and CODE0009
    nobody = store.bookings.person_day(HALL, ["p9"], ["p9:2026-11-27"], "tax", later)
    assert (nobody.history, nobody.holder, nobody.booked) == ([], None, 0)
    assert store.bookings.person_day(HALL, ["p9"], [], "tax", SLOT).booked == 1


def test_the_sweep_reads_and_marks_this_halls_booked_rows_whose_slot_began(
        store: Store) -> None:
    rows = _many(store)
    later = SLOT + dt.timedelta(hours=1)
    twin = _twin_elsewhere(store, rows["CODE0003"])
    # strictly before: a slot starting at that moment has not begun to be missed
    assert sorted(r.code for r in store.bookings.booked_before(HALL, later)) == [
        "CODE0002", "CODE0003"]
    assert store.bookings.booked_before(HALL, SLOT) == []
    store.commit(HALL, [], at=NOW,
                 extra=store.bookings.check_in(rows["CODE0002"], "checked_in", "t2", NOW))
    assert [r.code for r in store.bookings.booked_before(HALL, later)] == ["CODE0003"]
    swept = later + dt.timedelta(minutes=1)
    store.commit(HALL, [], at=swept, extra=store.bookings.mark_missed(
        HALL, ["CODE0003", "CODE0002", "CODE0009"], swept))
    missed = store.bookings.get(HALL, "CODE0003")
    assert missed is not None and (missed.status, missed.updated_at) == ("missed", swept)
    checked = store.bookings.get(HALL, "CODE0002")       # checked in: not a miss
    assert checked is not None and (checked.status, checked.ticket) == ("checked_in", "t2")
    assert store.bookings.get("east", "CODE0003") == twin
    assert sorted(r.code for r in store.bookings.booked_before("east", later)) == [
        "CODE0003", "CODE0009"]


def test_a_check_in_or_cancel_changes_this_halls_booking_only(store: Store) -> None:
    rows = _many(store)
    twin = _twin_elsewhere(store, rows["CODE0003"])
    store.commit(HALL, [], at=NOW,
                 extra=store.bookings.check_in(rows["CODE0003"], "checked_in", "t1", NOW))
    store.commit(HALL, [], at=NOW, extra=store.bookings.cancel(rows["CODE0001"], NOW))
    assert store.bookings.get("east", "CODE0003") == twin
    assert store.bookings.taken("east", "gjj", [SLOT]) == {SLOT: 2}
    store.commit("east", [], at=NOW, extra=store.bookings.cancel(twin, NOW))
    got = store.bookings.get(HALL, "CODE0003")
    assert got is not None and (got.status, got.ticket, got.updated_at) == (
        "checked_in", "t1", NOW)
    assert store.bookings.taken(HALL, "gjj", [SLOT]) == {SLOT: 1}
    assert store.bookings.taken("east", "gjj", [SLOT]) == {SLOT: 1}


def test_erase_lapsed_forgets_the_numbers_no_ticket_will_need(store: Store) -> None:
    cut = SLOT + dt.timedelta(hours=1)  # check-in windows of slots before it have passed
    early = dataclasses.replace(booking("EARLY001", "p1"), phone="13800000001")
    at_cut = dataclasses.replace(booking("ATCUT001", "p2", slot=cut), phone="13800000002")
    # Ended with its number still there (the writers of today erase it as they
    # end a booking; rows of an older release or a crash may keep it).
    gone = dataclasses.replace(booking("GONE0001", "p3", slot=cut), phone="13800000003",
                               status="checked_in", person_day=None)
    silent = booking("NOPHONE1", "p4", slot=cut)  # no number kept: nothing to erase
    for row in (early, at_cut, gone, silent):
        made(store, row, capacity=4)
    elsewhere = dataclasses.replace(early, hall="east")
    store.commit("east", [], at=NOW, extra=store.bookings.book(elsewhere, 2))
    assert store.bookings.erase_lapsed(HALL, cut) == 2  # the early slot's, the ended one
    phones = {code: store.bookings.get(HALL, code).phone
              for code in ("EARLY001", "ATCUT001", "GONE0001", "NOPHONE1")}
    assert phones == {"EARLY001": None, "ATCUT001": "13800000002", "GONE0001": None,
                      "NOPHONE1": None}
    assert store.bookings.get("east", "EARLY001").phone == "13800000001"  # another hall
    assert store.bookings.erase_lapsed(HALL, cut) == 0
    with pytest.raises(ValueError, match="slots_before must be timezone-aware"):
        store.bookings.erase_lapsed(HALL, cut.replace(tzinfo=None))


def test_check_in_moves_the_number_to_the_ticket_only_when_asked(store: Store) -> None:
    kept = dataclasses.replace(booking("KEEP0001", "p1"), phone="13800000001")
    plain = dataclasses.replace(booking("PLAIN001", "p2"), phone="13800000002")
    silent = booking("SILENT01", "p3")  # no number: nothing to move
    for row in (kept, plain, silent):
        made(store, row, capacity=3)
    later = NOW + dt.timedelta(minutes=5)
    for row, ticket, keep in ((kept, "t1", {"keep_phone": True}), (plain, "t2", {}),
                              (silent, "t3", {"keep_phone": True})):
        store.commit(HALL, [], at=later,
                     extra=store.bookings.check_in(row, "checked_in", ticket, later, **keep))
        got = store.bookings.get(HALL, row.code)
        assert got.phone is None and got.updated_at == later  # erased from the booking
    with store.transaction() as conn:
        rows = conn.exec_driver_sql(
            "SELECT hall, ticket, phone_hash, phone, service, day FROM ticket_phones").all()
    assert [(*r[:5], str(r[5])) for r in rows] == [
        (HALL, "t1", "ph", "13800000001", "gjj", str(DAY))]


def test_a_booking_that_ends_unchecked_forgets_its_number(store: Store) -> None:
    # The phone number is kept only while it may still be needed for a
    # notification: a cancel or a miss erases it with the status change.
    cancelled = dataclasses.replace(booking("CANC0001", "p1"), phone="13800000001")
    missed = dataclasses.replace(booking("MISS0001", "p2"), phone="13800000002")
    for row in (cancelled, missed):
        made(store, row)
    store.commit(HALL, [], at=NOW, extra=store.bookings.cancel(cancelled, NOW))
    late = SLOT + dt.timedelta(hours=1)
    store.commit(HALL, [], at=late, extra=store.bookings.mark_missed(HALL, ["MISS0001"], late))
    got = {code: store.bookings.get(HALL, code) for code in ("CANC0001", "MISS0001")}
    assert {code: (r.status, r.phone) for code, r in got.items()} == {
        "CANC0001": ("cancelled", None), "MISS0001": ("missed", None)}


def test_a_cancel_and_the_slot_counts_are_per_hall_for_one_code_and_slot(
        store: Store) -> None:
    # The same code and slot in two halls (codes are unique per hall only).
    mine = booking("SAME0001", "p1")
    made(store, mine)
    made(store, booking("OTHR0001", "p2"))
    theirs = dataclasses.replace(mine, hall="east")
    store.commit("east", [], at=NOW, extra=store.bookings.book(theirs, 2))
    assert store.bookings.taken(HALL, "gjj", [SLOT]) == {SLOT: 2}
    assert store.bookings.taken("east", "gjj", [SLOT]) == {SLOT: 1}
    store.commit("east", [], at=NOW, extra=store.bookings.cancel(theirs, NOW))
    still = store.bookings.get(HALL, "SAME0001")
    assert still is not None and still.status == "booked" and still.person_day is not None
    assert store.bookings.taken(HALL, "gjj", [SLOT]) == {SLOT: 2}
    assert store.bookings.taken("east", "gjj", [SLOT]) == {SLOT: 0}
