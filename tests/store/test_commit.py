"""Store.commit on SQLite and PostgreSQL (see conftest.db_url): rows, seqs, conflicts, bad input."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from server.core.model import CounterState, Event, Ticket
from server.store import (
    TICKET_COLUMNS,
    StaleState,
    Store,
)
from tests.store.samples import DAY, T0, changed, issued, new_ticket, snapshot

# --------------------------------------------------------------------------- round trip


def test_commit_load_round_trip(store: Store) -> None:
    a1, a2, b1 = new_ticket(1), new_ticket(2), new_ticket(1, service="tax", prefix="B")
    b1.slot_start, b1.priority = T0 + dt.timedelta(hours=1), "appointment"
    for t in (a1, a2, b1):
        store.commit("main", issued(t))
    opened = CounterState(3, "open", "s001", "王芳", since=T0)
    store.commit("main", [Event("counter.opened",
                                {"counter": 3, "staff": {"id": "s001", "name": "王芳"}},
                                counter=opened)])
    a1_called, ev = changed(a1, counter=3, status="called", calls=1,
                            called_at=T0 + dt.timedelta(minutes=30))
    store.commit("main", [ev])
    a1_done, ev = changed(a1_called, "ticket.completed", status="done", staff="s001",
                          started_at=T0 + dt.timedelta(minutes=31),
                          finished_at=T0 + dt.timedelta(minutes=40))
    store.commit("main", [ev])
    # another hall and another day stay out of this load
    store.commit("other", issued(new_ticket(1, tid="other-hall-1")))
    store.commit("main", issued(new_ticket(1, day=DAY + dt.timedelta(days=1))))

    loaded = store.load("main", DAY)
    assert sorted(loaded.tickets, key=lambda t: t.id) == sorted([a1_done, a2, b1],
                                                                key=lambda t: t.id)
    got = {t.id: t for t in loaded.tickets}
    # aware datetimes come back in UTC, same instant, microseconds kept
    assert got[a1.id].issued_at.tzinfo == dt.UTC
    assert got[a1.id].issued_at == a1.issued_at
    assert got[a1.id].rank == (3, 1.5) and got[b1.id].slot_start == b1.slot_start
    assert loaded.last_numbers == {("gjj", DAY): 2, ("tax", DAY): 1}
    assert loaded.counters == {3: CounterState(3, "open", "s001", "王芳", since=T0)}
    assert loaded.last_seq == 3 * 2 + 1 + 1 + 1 + 2
    assert store.load("other", DAY).last_seq == 2


def test_every_ticket_field_is_stored() -> None:
    # A field added to Ticket must get a column (and a migration) here.
    assert set(TICKET_COLUMNS) == {f.name for f in dataclasses.fields(Ticket)}


def test_counter_rows_follow_the_core_counter_state(store: Store) -> None:
    # Counters are persisted from Event.counter (the core's state after the
    # event), whatever the event's name or data say.
    def state(n: int = 5) -> CounterState:
        return store.load("main", DAY).counters[n]

    def commit(name: str, cs: CounterState, **data: object) -> None:
        store.commit("main", [Event(name, {"counter": cs.number, **data}, counter=cs)])

    cs = CounterState(5, "open", "s1", "李", since=T0)
    commit("counter.opened", cs, staff={"id": "s1", "name": "李"})
    assert state() == cs
    paused = dataclasses.replace(cs, state="paused", reason="lunch",
                                 since=T0 + dt.timedelta(minutes=5))
    commit("counter.paused", paused, reason="lunch")
    assert (state().state, state().staff_id, state().reason, state().since) == (
        "paused", "s1", "lunch", paused.since)
    # A call carries the counter too: its interleaving streak is kept.
    commit("ticket.called", dataclasses.replace(paused, state="open", reason="", streak=2))
    assert (state().state, state().staff_name, state().reason, state().streak) == (
        "open", "李", "", 2)
    commit("counter.closed", CounterState(5, "closed", since=T0 + dt.timedelta(hours=1)))
    assert (state().state, state().staff_id, state().staff_name) == ("closed", None, None)
    # An event without a counter state leaves the rows alone.
    store.commit("main", [Event("counter.opened", {"counter": 5, "staff": "s1"})])
    assert state().state == "closed"
    # Several states of one counter in one commit: the last one stands.
    store.commit("main", [Event("counter.opened", {"counter": 6}, counter=CounterState(
        6, "open", "s2", "王", since=T0)), Event("counter.paused", {"counter": 6},
        counter=CounterState(6, "paused", "s2", "王", "break", since=T0))])
    assert (state(6).state, state(6).reason) == ("paused", "break")
    # A counter whose state never changed in this process (no ``since``) is
    # stamped with the commit's time.
    at = T0 + dt.timedelta(hours=2)
    store.commit("main", [Event("counter.opened", {"counter": 7},
                                counter=CounterState(7, "open", "s3", "张"))], at=at)
    assert (state(7).state, state(7).since) == ("open", at)


def test_same_ticket_on_two_events_written_once(store: Store) -> None:
    t = new_ticket(1)
    first = Event("ticket.issued", {}, t.copy(), None)
    second = Event("ticket.issued.echo", {}, t.copy(), None)
    assert store.commit("main", [first, second]) == [1, 2]
    assert [x.id for x in store.load("main", DAY).tickets] == [t.id]


# --------------------------------------------------------------------------- seq


def test_seq_rises_by_one_without_gaps(store: Store) -> None:
    clock_times = iter(T0 + dt.timedelta(seconds=i) for i in range(100))
    store._clock = lambda: next(clock_times)  # the event time comes from the store clock
    all_seqs: list[int] = []
    for n in range(1, 8):
        t = new_ticket(n)
        events = issued(t)[: 1 + n % 2] + [Event("queue.changed", {"n": n}) for _ in range(n % 3)]
        seqs = store.commit("main", events)
        assert [e.seq for e in events] == seqs
        assert all(e.at is not None and e.at == events[0].at and e.at.tzinfo == dt.UTC
                   for e in events)
        all_seqs += seqs
    assert all_seqs == list(range(1, len(all_seqs) + 1))
    assert store.last_seq("main") == len(all_seqs) and store.oldest_seq("main") == 1
    assert store.commit("main", []) == []  # nothing to do: no seq used
    assert store.last_seq("main") == len(all_seqs)
    # other halls count on their own
    assert store.commit("east", [Event("queue.changed", {})]) == [1]
    assert store.last_seq("nowhere") == 0 and store.oldest_seq("nowhere") is None

    replay = store.events_since("main", 3, limit=4)
    assert [e["seq"] for e in replay] == [4, 5, 6, 7]
    full = store.events_since("main", 0)
    assert [e["seq"] for e in full] == all_seqs
    assert full[0]["name"] == "ticket.issued" and full[0]["data"]["ticket"]["number"] == "A001"
    assert full[0]["at"] == T0
    assert store.events_since("main", len(all_seqs)) == []



# --------------------------------------------------------------------------- conflicts


def test_version_conflict_raises_and_changes_nothing(store: Store) -> None:
    t = new_ticket(1)
    store.commit("main", issued(t))
    store.commit("main", [changed(t, counter=1, status="called")[1]])
    before = snapshot(store)

    # a second claim of the same version, batched after a valid new ticket:
    # the whole transaction must roll back, the new ticket included
    t2 = new_ticket(2)
    late = changed(t, counter=2, status="called")[1]
    events = [*issued(t2), late]
    with pytest.raises(StaleState, match="changed since version 1"):
        store.commit("main", events)
    assert snapshot(store) == before
    assert all(e.seq is None and e.at is None for e in events)
    assert store.load("main", DAY).tickets[0].counter == 1
    # and the rolled-back number is free again
    assert store.commit("main", issued(t2)) == [4, 5]


def test_numbering_compare_and_set(store: Store) -> None:
    store.commit("main", issued(new_ticket(1)))
    before = snapshot(store)
    # another process issued A001 too (ticket id differs)
    with pytest.raises(StaleState):
        store.commit("main", issued(new_ticket(1, tid="dup-1")))
    # skipping a number is refused: last is 1, not 2
    with pytest.raises(StaleState, match="A003 .* not the next one"):
        store.commit("main", issued(new_ticket(3)))
    assert snapshot(store) == before
    store.commit("main", issued(new_ticket(2)))
    with pytest.raises(StaleState):
        store.commit("main", issued(new_ticket(2, tid="dup-2")))
    assert store.load("main", DAY).last_numbers == {("gjj", DAY): 2}
    with pytest.raises(ValueError, match="start at 1"):
        store.commit("main", issued(dataclasses.replace(new_ticket(9), seqno=0, number="A000")))
    with pytest.raises(ValueError, match="no numeric part"):
        store.commit("main", issued(dataclasses.replace(new_ticket(9), seqno=0, number="A")))


def test_a_group_takes_each_series_run_of_numbers_at_once(store: Store) -> None:
    # One commit of a loop turn's issues: runs of consecutive numbers per
    # series (interleaved here), each taken in one step; a run may start at 1.
    group = [new_ticket(1), new_ticket(2), new_ticket(1, service="tax", prefix="B"),
             new_ticket(3), new_ticket(2, service="tax", prefix="B")]
    store.commit("main", [e for t in group for e in issued(t)])
    loaded = store.load("main", DAY)
    assert loaded.last_numbers == {("gjj", DAY): 3, ("tax", DAY): 2}
    assert sorted(t.number for t in loaded.tickets) == ["A001", "A002", "A003", "B001", "B002"]
    # the next group goes on from the run's last number
    store.commit("main", [e for n in (4, 5, 6) for e in issued(new_ticket(n))])
    assert store.load("main", DAY).last_numbers[("gjj", DAY)] == 6
    # a ticket issued and called in one group: inserted, then updated
    seven = new_ticket(7)
    called, ev = changed(seven, counter=2, status="called", calls=1)
    store.commit("main", [*issued(seven), ev])
    assert {t.id: t for t in store.load("main", DAY).tickets}[seven.id] == called


def test_a_route_tickets_number_is_taken_from_its_routes_series(store: Store) -> None:
    # R001 waits at its first step (gjj) but is numbered in the route's series:
    # in one group with A001 and A002 of gjj, neither series disturbs the other.
    route = dataclasses.replace(new_ticket(1, prefix="R", tid="route-1"), route_id="joint",
                                route=("gjj", "tax"))
    group = [new_ticket(1), route, new_ticket(2)]
    store.commit("main", [e for t in group for e in issued(t)])
    assert store.load("main", DAY).last_numbers == {("gjj", DAY): 2, ("joint", DAY): 1}
    store.commit("main", issued(dataclasses.replace(
        new_ticket(2, prefix="R", tid="route-2"), route_id="joint", route=("gjj", "tax"))))
    assert store.load("main", DAY).last_numbers == {("gjj", DAY): 2, ("joint", DAY): 2}


@pytest.mark.parametrize(("numbers", "refusal"), [
    ((4, 6), "A004, A006 of gjj .* do not run on one by one"),
    ((4, 4), "do not run on one by one"), ((5, 6), "A005 of gjj .* not the next one"),
    ((3, 4), "A003 of gjj .* not the next one"), ((4, 5, 5), "do not run on one by one"),
    ((5, 4), "do not run on one by one")],
    ids=["gap", "repeat", "not-next", "taken", "repeat-at-end", "backwards"])
def test_a_group_whose_numbers_do_not_follow_the_series_writes_nothing(
        store: Store, numbers: tuple[int, ...], refusal: str) -> None:
    for n in (1, 2, 3):
        store.commit("main", issued(new_ticket(n)))
    before = snapshot(store)
    group = [new_ticket(1, service="tax", prefix="B")]  # a good run of another series too
    group += [new_ticket(n, tid=f"g-{i}") for i, n in enumerate(numbers)]
    with pytest.raises(StaleState, match=refusal):
        store.commit("main", [e for t in group for e in issued(t)])
    assert snapshot(store) == before
    # a bad number anywhere in the group: refused before anything is written
    with pytest.raises(ValueError, match="start at 1"):
        store.commit("main", [*issued(new_ticket(4)), *issued(
            dataclasses.replace(new_ticket(9, service="tax"), seqno=0, number="B000"))])
    assert snapshot(store) == before
    store.commit("main", [e for n in (4, 5) for e in issued(new_ticket(n))])
    assert store.load("main", DAY).last_numbers == {("gjj", DAY): 5}


def test_unique_number_is_a_second_guard(store: Store) -> None:
    # Two services misconfigured with one prefix: their numbering rows differ,
    # but (hall, day, number) is still unique.
    store.commit("main", issued(new_ticket(1, service="s1", prefix="Z")))
    before = snapshot(store)
    with pytest.raises(StaleState):
        store.commit("main", issued(new_ticket(1, service="s2", prefix="Z")))
    assert snapshot(store) == before



# --------------------------------------------------------------------------- bad input


def test_bad_events_are_refused_before_writing(store: Store) -> None:
    naive = dataclasses.replace(new_ticket(1), issued_at=dt.datetime(2026, 1, 1, 9))
    with pytest.raises(ValueError, match="timezone-aware"):
        store.commit("main", issued(naive))
    with pytest.raises(ValueError, match="not JSON"):
        store.commit("main", [Event("queue.changed", {"x": object()})])
    with pytest.raises(TypeError, match="Event objects"):
        store.commit("main", [{"name": "x"}])  # type: ignore[list-item]
    # Each refusal names the argument at fault.
    with pytest.raises(ValueError, match="^hall_id must be"):
        store.commit("", [Event("queue.changed", {})])
    with pytest.raises(ValueError, match="^at must be timezone-aware"):
        store.commit("main", [Event("queue.changed", {})], at=dt.datetime(2026, 1, 1, 9))
    t = new_ticket(1)
    with pytest.raises(ValueError, match="must be above prev_version"):
        store.commit("main", [Event("ticket.called", {}, t, prev_version=1)])
    assert store.last_seq("main") == 0 and store.load("main", DAY).tickets == []
