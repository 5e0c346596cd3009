"""Store behaviour on SQLite and PostgreSQL (see conftest.db_url)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from server.core.model import Event, Ticket
from server.store import (
    REPLY_TTL_S,
    SCHEMA_REVISION,
    TICKET_COLUMNS,
    CounterState,
    StaleState,
    Store,
    StoreError,
)

SH = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 11, 26)
T0 = dt.datetime(2026, 11, 26, 9, 0, 1, 123456, tzinfo=SH)


def new_ticket(n: int, service: str = "gjj", prefix: str = "A", day: dt.date = DAY,
               tid: str | None = None) -> Ticket:
    return Ticket(id=tid or f"{service}-{day}-{n}", number=f"{prefix}{n:03d}", service=service,
                  seqno=n, issued_at=T0 + dt.timedelta(minutes=n), day=day,
                  rank=(3, float(n) + 0.5), check=f"k{service}{n}")


def issued(t: Ticket) -> list[Event]:
    return [Event("ticket.issued", {"ticket": {"id": t.id, "number": t.number}}, t.copy(), None),
            Event("queue.changed", {"service": t.service, "waiting": 1, "eta_s": 300})]


def changed(t: Ticket, name: str = "ticket.called", **changes) -> tuple[Ticket, Event]:
    after = dataclasses.replace(t, **changes, version=t.version + 1)
    return after, Event(name, {"ticket": {"id": t.id}, "counter": after.counter}, after.copy(),
                        t.version)


def snapshot(store: Store, hall: str = "main"):
    """Everything a failed commit must leave untouched."""
    loaded = store.load(hall, DAY)
    return loaded, store.events_since(hall, 0), store.last_seq(hall)


# --------------------------------------------------------------------------- round trip


def test_commit_load_round_trip(store: Store) -> None:
    a1, a2, b1 = new_ticket(1), new_ticket(2), new_ticket(1, service="tax", prefix="B")
    b1.slot_start, b1.priority = T0 + dt.timedelta(hours=1), "appointment"
    for t in (a1, a2, b1):
        store.commit("main", issued(t))
    store.commit("main", [Event("counter.opened",
                                {"counter": 3, "staff": {"id": "s001", "name": "王芳"}})])
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
    assert loaded.counters == {3: CounterState(3, "open", "s001", "王芳", None,
                                               loaded.counters[3].since)}
    assert loaded.last_seq == 3 * 2 + 1 + 1 + 1 + 2
    assert store.load("other", DAY).last_seq == 2


def test_every_ticket_field_is_stored() -> None:
    # A field added to Ticket must get a column (and a migration) here.
    assert set(TICKET_COLUMNS) == {f.name for f in dataclasses.fields(Ticket)}


def test_counter_rows_follow_counter_events(store: Store) -> None:
    def state(n: int = 5) -> CounterState:
        return store.load("main", DAY).counters[n]

    store.commit("main", [Event("counter.opened", {"counter": 5, "staff": {"id": "s1",
                                                                          "name": "李"}})])
    store.commit("main", [Event("counter.paused", {"counter": 5, "reason": "lunch"})])
    assert (state().state, state().staff_id, state().reason) == ("paused", "s1", "lunch")
    store.commit("main", [Event("counter.resumed", {"counter": 5})])
    assert (state().state, state().staff_name, state().reason) == ("open", "李", None)
    store.commit("main", [Event("counter.closed", {"counter": 5})])
    assert (state().state, state().staff_id, state().staff_name) == ("closed", None, None)
    with pytest.raises(ValueError, match="integer 'counter'"):
        store.commit("main", [Event("counter.opened", {"staff": "s1"})])


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


def test_unique_number_is_a_second_guard(store: Store) -> None:
    # Two services misconfigured with one prefix: their numbering rows differ,
    # but (hall, day, number) is still unique.
    store.commit("main", issued(new_ticket(1, service="s1", prefix="Z")))
    before = snapshot(store)
    with pytest.raises(StaleState):
        store.commit("main", issued(new_ticket(1, service="s2", prefix="Z")))
    assert snapshot(store) == before


# --------------------------------------------------------------------------- replies


def test_idempotent_replies(db_url: str) -> None:
    now = [T0]
    store = Store(db_url, clock=lambda: now[0])
    try:
        reply = json.dumps({"type": "ok", "re": "r1", "ticket": {"number": "A001"}})
        store.commit("main", issued(new_ticket(1)), reply=("kiosk-1", "r1", reply))
        assert store.recall_reply("main", "kiosk-1", "r1") == reply
        assert store.recall_reply("main", "kiosk-2", "r1") is None
        assert store.recall_reply("east", "kiosk-1", "r1") is None

        # the same request handled twice (two processes): the second rolls back
        before = snapshot(store)
        with pytest.raises(StaleState):
            store.commit("main", issued(new_ticket(2)), reply=("kiosk-1", "r1", "{}"))
        assert snapshot(store) == before
        assert store.recall_reply("main", "kiosk-1", "r1") == reply

        # remembered outside a commit: the first reply stands
        expires = T0 + dt.timedelta(seconds=60)
        assert store.remember_reply("main", "counter-3", "x", '{"a":1}', expires) is True
        assert store.remember_reply("main", "counter-3", "x", '{"a":2}', expires) is False
        assert store.recall_reply("main", "counter-3", "x") == '{"a":1}'

        now[0] = T0 + dt.timedelta(seconds=61)
        assert store.recall_reply("main", "counter-3", "x") is None
        assert store.recall_reply("main", "kiosk-1", "r1") == reply  # kept REPLY_TTL_S
        assert store.purge_replies() == 1
        now[0] = T0 + dt.timedelta(seconds=REPLY_TTL_S + 1)
        assert store.recall_reply("main", "kiosk-1", "r1") is None
        assert store.purge_replies() == 1 and store.purge_replies() == 0
    finally:
        store.close()


# --------------------------------------------------------------------------- bad input


def test_bad_events_are_refused_before_writing(store: Store) -> None:
    naive = dataclasses.replace(new_ticket(1), issued_at=dt.datetime(2026, 1, 1, 9))
    with pytest.raises(ValueError, match="timezone-aware"):
        store.commit("main", issued(naive))
    with pytest.raises(ValueError, match="not JSON"):
        store.commit("main", [Event("queue.changed", {"x": object()})])
    with pytest.raises(TypeError, match="Event objects"):
        store.commit("main", [{"name": "x"}])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="hall_id"):
        store.commit("", [Event("queue.changed", {})])
    t = new_ticket(1)
    with pytest.raises(ValueError, match="must be above prev_version"):
        store.commit("main", [Event("ticket.called", {}, t, prev_version=1)])
    assert store.last_seq("main") == 0 and store.load("main", DAY).tickets == []


@pytest.mark.parametrize("url, message", [
    ("", "empty"),
    ("not a url", "not a database URL"),
    ("mysql://u@localhost/x", "unsupported database 'mysql'"),
])
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        Store(url)


def test_unreachable_databases_give_clean_errors(tmp_path) -> None:
    with pytest.raises(StoreError, match="cannot open or migrate") as info:
        Store(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    assert "SELECT" not in str(info.value)
    with pytest.raises(StoreError, match="cannot open or migrate") as info:
        Store("postgresql://qhall:s3cret@127.0.0.1:1/qhall")
    assert "s3cret" not in str(info.value) and "***" in str(info.value)


def test_in_memory_sqlite_works(tmp_path) -> None:
    with Store("sqlite://") as store:
        store.commit("main", issued(new_ticket(1)))
        assert store.load("main", DAY).last_numbers == {("gjj", DAY): 1}


# --------------------------------------------------------------------------- migrations


def _tables(url: str) -> tuple[set[str], str | None]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            names = set(sa.inspect(conn).get_table_names())
            version = None
            if "alembic_version" in names:
                version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            return names, version
    finally:
        engine.dispose()


def test_migrations_create_the_schema_and_are_idempotent(db_url: str) -> None:
    assert _tables(db_url) == (set(), None)
    with Store(db_url) as store:
        store.commit("main", issued(new_ticket(1)))
    names, version = _tables(db_url)
    assert names == {"alembic_version", "halls", "tickets", "numbering", "events", "counters",
                     "replies", "bookings", "booking_slots", "followups", "hall_secrets",
                     "login_failures", "ticket_phones"}
    assert version == SCHEMA_REVISION
    # again, the fast path (already at head) and the full Alembic path
    with Store(db_url) as store:
        with store._engine.connect() as conn, conn.begin():
            store._run_alembic(conn)
        assert store.last_seq("main") == 2
        assert store.commit("main", issued(new_ticket(2))) == [3, 4]
    assert _tables(db_url) == (names, SCHEMA_REVISION)


def test_migration_head_matches_the_store_tables(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from server import store as store_module

    config = Config()
    config.set_main_option("script_location", str(store_module._MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [SCHEMA_REVISION]
    with store._engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert compare_metadata(context, store_module._metadata) == []
