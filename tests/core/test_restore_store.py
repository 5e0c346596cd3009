"""The restore seam for real: events committed by the store, loaded back,
``Hall.restore`` gives a hall that looks and behaves the same."""

from __future__ import annotations

import itertools

from server.core import Hall
from server.store import Store
from tests.core.builders import at, make_hall


def restore(hall, clock, tickets, counters, last_numbers) -> Hall:
    ids = itertools.count(100)
    return Hall.restore(hall.config, clock, tickets=tickets, counters=counters,
                        last_numbers=last_numbers,
                        ids=lambda: f"t{next(ids)}", codes=lambda: f"C{next(ids)}")


def test_hall_survives_a_round_trip_through_the_store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'hall.db'}")
    try:
        hall, clock = make_hall(start=at(9), open_all=False)
        def do(events):
            store.commit(hall.config.id, events)

        for c in (1, 2, 3):
            do(hall.open_counter(c, f"s{c}", f"员工{c}"))
        for i in range(12):
            do(hall.issue(("gjj", "tax", "bdc")[i % 3], ("normal", "priority")[i % 2]))
            clock.advance(13)
        do(hall.issue("gjj", "appointment", slot_start=at(9, 5)))
        for c in (1, 2, 3):
            do(hall.call_next(c))
        do(hall.start(1))
        clock.advance(200)
        do(hall.complete(1))
        do(hall.no_show(2))
        do(hall.transfer(3, to_counter=1))
        do(hall.call_next(1))
        do(hall.transfer(1, service="bdc"))
        do(hall.pause(2, "break"))
        missed = next(t.id for t in hall.tickets() if t.status == "no_show")
        do(hall.requeue(missed))
        do(hall.call_next(3))
        assert any(cs.streak for cs in hall.counter_states())  # interleaving in play

        loaded = store.load(hall.config.id, at(9).date())
        from_store = restore(hall, clock, loaded.tickets, loaded.counters, loaded.last_numbers)
        assert from_store.snapshot() == hall.snapshot()
        assert sorted((t.id, t.status, t.version, t.rank) for t in from_store.tickets()) == sorted(
            (t.id, t.status, t.version, t.rank) for t in hall.tickets())
        assert from_store.mean_service_s("gjj") == hall.mean_service_s("gjj")
        assert from_store.last_numbers == hall.last_numbers
        # The store keeps each counter's interleaving count (CounterState.streak),
        # so the restored hall takes tickets in exactly the original's order.
        assert {cs.number: cs.streak for cs in loaded.counters.values()} == {
            cs.number: cs.streak for cs in hall.counter_states()}
        for c in (1, 2, 3):
            assert [t.id for t in from_store.queue(c)] == [t.id for t in hall.queue(c)]
        # the next number continues, never reused
        assert from_store.issue("gjj")[0].ticket.number == hall.issue("gjj")[0].ticket.number
    finally:
        store.close()
