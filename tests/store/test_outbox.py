"""The outbox commits with the events or not at all (SQLite and PostgreSQL).

A stager (``Store.stagers``) adds its write to the commit's transaction: when
the commit fails nothing of it is written and its memory change never runs;
when it succeeds the rows are there, due now, and ``done`` runs once.
"""

from __future__ import annotations

import datetime as dt

import pytest

from server.core.model import Event
from server.store import StaleState, Store
from server.store.outbox import Staged
from server.wire.clock import utcnow
from tests.store.samples import T0, issued, new_ticket


class Stager:
    """Queues one delivery per event; counts its memory changes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.done = 0
        self.fail = False  # raise after writing the rows (the commit then fails)

    def __call__(self, events: list[Event], at: dt.datetime) -> Staged:
        rows = [("sink", ev.name, f"d-{ev.name}-{i}", b"{}") for i, ev in enumerate(events)]

        def write(conn: object) -> None:
            self.store.outbox.insert(conn, "main", rows, utcnow())  # type: ignore[arg-type]
            if self.fail:
                raise StaleState("lost the race after the rows were written")

        def done() -> None:
            self.done += 1

        return Staged(write, done)


def test_deliveries_commit_with_their_events_or_not_at_all(store: Store) -> None:
    stager = Stager(store)
    store.stagers["main"] = stager
    store.commit("main", issued(new_ticket(1)))
    assert stager.done == 1
    due = store.outbox.due("main", "sink", utcnow(), 10)
    assert [d.event for d in due] == ["ticket.issued", "queue.changed"]
    assert store.outbox.count("main") == 2 and store.outbox.count("east") == 0

    stager.fail = True
    with pytest.raises(StaleState):
        store.commit("main", issued(new_ticket(2)))
    # Its rows went with the rolled-back events; its memory change never ran.
    assert stager.done == 1 and store.outbox.count("main") == 2
    assert store.last_seq("main") == 2
    stager.fail = False
    # Another hall's commits are not this stager's.
    store.commit("east", issued(new_ticket(1, tid="east-1")))
    assert stager.done == 1 and store.outbox.count("east") == 0


def test_a_failed_attempt_waits_and_done_rows_go(store: Store) -> None:
    store.stagers["main"] = Stager(store)
    store.commit("main", issued(new_ticket(1)))
    first, second = store.outbox.due("main", "sink", utcnow(), 10)
    later = utcnow() + dt.timedelta(seconds=30)
    store.outbox.retry(first.id, 1, later)
    assert [d.id for d in store.outbox.due("main", "sink", utcnow(), 10)] == [second.id]
    assert store.outbox.waiting("main", "sink")[1] == first.created_at  # second still due
    store.outbox.done([second.id])
    count, next_at = store.outbox.waiting("main", "sink")
    assert count == 1 and next_at is not None and abs((next_at - later).total_seconds()) < 1
    assert [d.attempts for d in store.outbox.due("main", "sink", later, 10)] == [1]
    assert store.outbox.orphans("main", ["another-sink"]) == [first.event]
    assert store.outbox.count("main") == 0


def _queue(store: Store, hall: str, rows: list[tuple[str, str, str, bytes]],
           now: dt.datetime) -> None:
    with store.transaction(write=True) as conn:
        store.outbox.insert(conn, hall, rows, now)


def test_deliveries_are_per_hall_and_sink_oldest_first_up_to_the_limit(store: Store) -> None:
    now = utcnow()
    _queue(store, "main", [("a", "ticket.called", f"d{i}", f'{{"n":{i}}}'.encode())
                           for i in range(3)], now)
    _queue(store, "main", [("b", "ticket.soon", "db", b"{}")], now)
    _queue(store, "east", [("a", "ticket.called", "de", b"{}")], now - dt.timedelta(hours=1))
    _queue(store, "main", [], now)  # nothing to queue: nothing written
    due = store.outbox.due("main", "a", now, 2)
    assert [(d.sink, d.event, d.delivery, d.body, d.attempts) for d in due] == [
        ("a", "ticket.called", "d0", b'{"n":0}', 0), ("a", "ticket.called", "d1", b'{"n":1}', 0)]
    assert abs((due[0].created_at - now).total_seconds()) < 1
    assert store.outbox.due("main", "a", now - dt.timedelta(seconds=5), 10) == []  # not yet
    assert store.outbox.waiting("main", "a")[0] == 3
    assert store.outbox.waiting("main", "b")[0] == 1
    assert store.outbox.waiting("east", "a")[0] == 1
    assert store.outbox.waiting("main", "none") == (0, None)
    # A webhook dropped from this hall's configuration: its rows go, another hall's stay.
    assert store.outbox.orphans("main", ["b"]) == ["ticket.called"] * 3
    assert store.outbox.count("main") == 1 and store.outbox.count("east") == 1
    assert store.outbox.orphans("main", []) == ["ticket.soon"]  # no webhook left
    assert store.outbox.count("east") == 1


def test_a_stager_writes_after_the_commits_own_extra_in_one_transaction(
        store: Store) -> None:
    # Both the caller's ``extra`` and the hall's stager write: the extra
    # first (it may refuse the commit before anything is queued), then the
    # deliveries, on the same connection.
    order: list[str] = []
    stager = Stager(store)

    def staging(events: list[Event], at: dt.datetime) -> Staged:
        staged = stager(events, at)

        def write(conn: object) -> None:
            order.append("stager")
            staged.write(conn)
        return Staged(write, staged.done)

    def extra(conn: object) -> None:
        order.append("extra")
        store.outbox.insert(conn, "main", [("x", "extra", "d-x", b"{}")], utcnow())  # type: ignore[arg-type]

    store.stagers["main"] = staging
    store.commit("main", issued(new_ticket(1)), extra=extra)
    assert order == ["extra", "stager"] and stager.done == 1
    assert [d.event for d in store.outbox.due("main", "x", utcnow(), 10)] == ["extra"]
    assert [d.event for d in store.outbox.due("main", "sink", utcnow(), 10)] == [
        "ticket.issued", "queue.changed"]


def test_a_stager_is_told_the_commits_time_in_utc(store: Store) -> None:
    # Deliveries are stamped by the commit's (the hall's) clock, not the
    # stager's; a commit without events stages nothing.
    seen: list[dt.datetime] = []
    stager = Stager(store)

    def staging(events: list[Event], at: dt.datetime) -> Staged:
        seen.append(at)
        return stager(events, at)

    store.stagers["main"] = staging
    store.commit("main", issued(new_ticket(1)), at=T0)
    store.commit("main", [], at=T0)
    assert seen == [T0] and seen[0].tzinfo == dt.UTC
