"""Many processes on one database: claims and numbers never collide.

Eight spawned processes race on one queue, on SQLite and on PostgreSQL:
claiming by a version-checked ``ticket.called`` commit (retried on
StaleState), and issuing numbers by numbering compare-and-set. The issuing
workers also open the store on a brand-new database at the same moment, so
the concurrent first migration is exercised too.
"""

from __future__ import annotations

import collections
import datetime as dt
import multiprocessing as mp
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import pytest

from server.core.model import Event
from server.store import SCHEMA_REVISION, Store
from tests.helpers.procs import barrier_pool
from tests.store import _workers

PROCS = 8
pytestmark = pytest.mark.slow
DAY = dt.date(2026, 11, 26)


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    """PROCS spawned processes, reused by every test here (spawning is the slow part)."""
    with barrier_pool(PROCS, _workers.init) as executor:
        yield executor
    assert not mp.active_children()


def _run(pool: ProcessPoolExecutor, target, args_for) -> list[tuple]:
    # Every task waits on the shared barrier, so the PROCS tasks of a round
    # necessarily run in PROCS different processes, all at once.
    futures = [pool.submit(target, *args_for(i)) for i in range(1, PROCS + 1)]
    return [f.result(timeout=120) for f in futures]


def _assert_seqs_contiguous(store: Store, hall: str) -> list[dict]:
    events = store.events_since(hall, 0)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert store.last_seq(hall) == len(events)
    return events


def test_each_ticket_claimed_exactly_once(pool: ProcessPoolExecutor, db_url: str) -> None:
    tickets = 64
    with Store(db_url) as store:
        for n in range(1, tickets + 1):
            t = _workers.make_ticket(f"t{n}", n, "gjj", DAY)
            store.commit("main", [Event("ticket.issued", {}, t, None)])

    results = _run(pool, _workers.claim_worker, lambda i: (db_url, "main", DAY, i))

    claims = [(counter, tid) for counter, claimed, _ in results for tid in claimed]
    by_ticket = collections.Counter(tid for _, tid in claims)
    assert max(by_ticket.values()) == 1, "a ticket was claimed twice"
    assert len(by_ticket) == tickets, "a ticket was lost"
    assert sum(r[2] for r in results) > 0, "no claim ever conflicted: the race was not tested"
    with Store(db_url) as store:
        rows = {t.id: t for t in store.load("main", DAY).tickets}
        assert {tid: (rows[tid].status, rows[tid].counter, rows[tid].version)
                for _, tid in claims} == {tid: ("called", c, 2) for c, tid in claims}
        numbers = [t.number for t in rows.values()]
        assert len(set(numbers)) == tickets
        events = _assert_seqs_contiguous(store, "main")
        called = [e["data"]["ticket"]["id"] for e in events if e["name"] == "ticket.called"]
        assert sorted(called) == sorted(by_ticket)


def test_concurrent_issuing_never_duplicates_or_skips(pool: ProcessPoolExecutor,
                                                      db_url: str) -> None:
    per_proc = 10
    results = _run(pool, _workers.issue_worker,
                   lambda i: (db_url, "main", DAY, "gjj", per_proc, i))

    numbers = sorted(n for _, issued, _ in results for _, n in issued)
    assert numbers == list(range(1, PROCS * per_proc + 1))
    with Store(db_url) as store:
        loaded = store.load("main", DAY)
        assert loaded.last_numbers == {("gjj", DAY): PROCS * per_proc}
        assert sorted(t.seqno for t in loaded.tickets) == numbers
        assert {t.id: t.seqno for t in loaded.tickets} == {
            tid: n for _, issued, _ in results for tid, n in issued}
        _assert_seqs_contiguous(store, "main")
        with store._engine.connect() as conn:
            versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        assert versions == [(SCHEMA_REVISION,)]
