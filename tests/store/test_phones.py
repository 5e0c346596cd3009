"""The remote tickets' phones (store.phones) on SQLite and PostgreSQL.

The rules the phone feature relies on: a phone row commits with its ticket or
not at all; "active tickets of this phone" means this hall, this service and
a ticket still waiting, called or serving; erasing a number keeps its hash and
touches only the hall and the tickets named.
"""

from __future__ import annotations

import datetime as dt

import pytest

from server.store import StaleState, Store
from tests.store.samples import DAY, changed, issued, new_ticket

HASH, OTHER_HASH = "h" * 64, "g" * 64


def _remote(store: Store, n: int, *, hall: str = "main", service: str = "gjj",
            phone_hash: str = HASH, phone: str = "13812345678"):
    t = new_ticket(n, service=service, prefix=service[0].upper(), tid=f"{hall}-{service}-{n}")
    store.commit(hall, issued(t),
                 extra=store.phones.add(hall, t.id, phone_hash, phone, service, DAY))
    return t


def test_a_phone_row_commits_with_its_ticket_or_not_at_all(store: Store) -> None:
    first = _remote(store, 1)
    clash = new_ticket(1, tid="another-id")   # the same number of the same day: refused
    with pytest.raises(StaleState):
        store.commit("main", issued(clash),
                     extra=store.phones.add("main", clash.id, HASH, "13900000000", "gjj", DAY))
    assert store.phones.live("main")[0] == {first.id: "13812345678"}
    assert store.phones.active_tickets("main", HASH, "gjj") == [first.id]


def test_active_tickets_are_of_this_hall_phone_and_service_and_still_active(
        store: Store) -> None:
    waiting = _remote(store, 1)
    called = _remote(store, 2)
    store.commit("main", [changed(called, status="called", counter=1)[1]])
    done = _remote(store, 3)
    store.commit("main", [changed(done, "ticket.cancelled", status="cancelled")[1]])
    _remote(store, 1, service="tax")                       # another service
    _remote(store, 4, phone_hash=OTHER_HASH)               # another phone
    _remote(store, 1, hall="east")                         # another hall, same phone
    assert sorted(store.phones.active_tickets("main", HASH, "gjj")) == sorted(
        [waiting.id, called.id])
    assert store.phones.active_tickets("main", HASH, "bdc") == []
    assert store.phones.active_tickets("east", HASH, "gjj") == ["east-gjj-1"]


def test_erase_forgets_the_numbers_named_in_this_hall_only_and_keeps_the_hashes(
        store: Store) -> None:
    a, b = _remote(store, 1), _remote(store, 2)
    east = _remote(store, 1, hall="east")
    with store.transaction(write=True) as conn:
        store.phones.erase_in(conn, "main", [])            # nothing named: nothing erased
        store.phones.erase_in(conn, "east", [a.id])        # not a ticket of that hall
    assert store.phones.live("main")[0] == {a.id: "13812345678", b.id: "13812345678"}
    with store.transaction(write=True) as conn:
        store.phones.erase_in(conn, "main", iter([a.id]))
    assert store.phones.live("main")[0] == {b.id: "13812345678"}
    assert store.phones.live("east")[0] == {east.id: "13812345678"}
    # the hash stays: the erased ticket still counts as the phone's active one
    assert sorted(store.phones.active_tickets("main", HASH, "gjj")) == sorted([a.id, b.id])


def test_erase_lapsed_clears_the_numbers_of_ended_tickets_of_this_hall(store: Store) -> None:
    active = _remote(store, 1)
    served = _remote(store, 2)
    store.commit("main", [changed(served, "ticket.completed", status="done")[1]])
    gone = _remote(store, 3)
    store.commit("main", [changed(gone, "ticket.cancelled", status="cancelled")[1]])
    east = _remote(store, 1, hall="east")
    store.commit("east", [changed(east, "ticket.cancelled", status="cancelled")[1]])
    window_end = dt.datetime.combine(DAY, dt.time(0), tzinfo=dt.UTC)
    assert sorted(store.phones.erase_lapsed("main", DAY, window_end)) == sorted(
        [served.id, gone.id])
    assert store.phones.live("main")[0] == {active.id: "13812345678"}
    assert store.phones.live("east")[0] == {east.id: "13812345678"}
    assert store.phones.erase_lapsed("main", DAY, window_end) == []  # already erased


def test_kept_numbers_of_the_tickets_named_in_this_hall(store: Store) -> None:
    a, b = _remote(store, 1), _remote(store, 2, phone="13900000002")
    _remote(store, 3)
    east = _remote(store, 1, hall="east", phone="13700000001")
    with store.transaction(write=True) as conn:
        store.phones.erase_in(conn, "main", [b.id])
    with store.transaction() as conn:
        assert store.phones.kept(conn, "main", []) == {}
        # b's number is erased, the third is not named, east's is another hall's
        assert store.phones.kept(conn, "main", iter([a.id, b.id, east.id])) == {
            a.id: "13812345678"}
        assert store.phones.kept(conn, "east", [east.id]) == {east.id: "13700000001"}


def test_soon_is_marked_and_unmarked_for_the_tickets_named_in_this_hall(store: Store) -> None:
    a, b = _remote(store, 1), _remote(store, 2)
    east = _remote(store, 1, hall="east")
    with store.transaction(write=True) as conn:
        store.phones.mark_soon(conn, "main", [], True)           # nothing named
        store.phones.mark_soon(conn, "east", [a.id], True)       # not that hall's ticket
    assert store.phones.live("main")[1] == set()
    with store.transaction(write=True) as conn:
        store.phones.mark_soon(conn, "main", iter([a.id, b.id]), True)
        store.phones.mark_soon(conn, "east", [east.id], True)
    assert store.phones.live("main")[1] == {a.id, b.id}
    with store.transaction(write=True) as conn:
        store.phones.mark_soon(conn, "main", [b.id], False)     # queued no more
    assert store.phones.live("main")[1] == {a.id}
    assert store.phones.live("east")[1] == {east.id}


def test_a_no_show_keeps_its_number_through_its_return_window(store: Store) -> None:
    window_end = dt.datetime.combine(DAY, dt.time(2, 0), tzinfo=dt.UTC)
    missed_early = _remote(store, 1)
    store.commit("main", [changed(missed_early, "ticket.no_show", status="no_show",
                                  finished_at=window_end - dt.timedelta(seconds=1))[1]])
    missed_at = _remote(store, 2)   # missed exactly at the window's end: still in it
    store.commit("main", [changed(missed_at, "ticket.no_show", status="no_show",
                                  finished_at=window_end)[1]])
    missed_late = _remote(store, 3)
    store.commit("main", [changed(missed_late, "ticket.no_show", status="no_show",
                                  finished_at=window_end + dt.timedelta(minutes=5))[1]])
    cancelled_late = _remote(store, 4)  # ended otherwise: no window to wait for
    store.commit("main", [changed(cancelled_late, "ticket.cancelled", status="cancelled",
                                  finished_at=window_end + dt.timedelta(minutes=5))[1]])
    assert sorted(store.phones.erase_lapsed("main", DAY, window_end)) == sorted(
        [missed_early.id, cancelled_late.id])
    assert sorted(store.phones.live("main")[0]) == sorted([missed_at.id, missed_late.id])


def test_the_next_day_erases_every_number_of_the_days_before(store: Store) -> None:
    waiting = _remote(store, 1)  # still waiting when the day ended
    window_end = dt.datetime.combine(DAY, dt.time(2, 0), tzinfo=dt.UTC)
    assert store.phones.erase_lapsed("main", DAY, window_end) == []
    assert store.phones.erase_lapsed("main", DAY + dt.timedelta(days=1), window_end) == [
        waiting.id]
    assert store.phones.live("main")[0] == {}
