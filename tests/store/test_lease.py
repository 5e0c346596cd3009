"""Owner leases and fencing on PostgreSQL; the SQLite file lock.

Leases here are short (a fraction of a second) so a lease running out is
waited for by polling with a deadline, never by a fixed sleep.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from server.core.model import Event
from server.store import StaleState, Store
from server.store.lease import AlreadyServed, Fenced, LeaseBook, lock_sqlite
from tests.helpers.pg import PgCluster

LEASE_S = 0.6


def _until(what: Callable[[], object], timeout: float = 10.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        got = what()
        if got:
            return got
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _event(n: int) -> list[Event]:
    return [Event("queue.changed", {"service": "gjj", "waiting": n, "eta_s": 0})]


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    return pg_cluster.create_database(f"lease{uuid.uuid4().hex[:12]}")


@pytest.fixture
def two(pg_url: str) -> Iterator[tuple[LeaseBook, LeaseBook]]:
    a, b = Store(pg_url), Store(pg_url)
    yield LeaseBook(a, "a", LEASE_S), LeaseBook(b, "b", LEASE_S)
    a.close()
    b.close()


@pytest.mark.postgres
def test_one_owner_at_a_time_and_the_standby_learns_its_url(two) -> None:
    a, b = two
    assert a.acquire("h1", "ws://a/ws/h1") == 1
    assert b.acquire("h1", "ws://b/ws/h1") is None
    holder = b.owner("h1")
    assert holder is not None and (holder.owner, holder.url, holder.epoch, holder.live) == (
        "a", "ws://a/ws/h1", 1, True)
    # Another hall is free: leases are per hall.
    assert b.acquire("h2", "ws://b/ws/h2") == 1
    assert b.owner("nope") is None


@pytest.mark.postgres
def test_renewing_keeps_the_hall_and_a_lapsed_lease_passes_with_a_new_epoch(two) -> None:
    a, b = two
    a.acquire("h1", "ws://a")
    b.owner("h1")  # b's first connection is opened before anything is timed
    renewed_over = time.monotonic() + 3 * LEASE_S  # past the first lease's end
    checked = 0
    while time.monotonic() < renewed_over or checked < 3:
        assert time.monotonic() < renewed_over + 30, "the machine never answered in time"
        sent = time.monotonic()
        assert a.renew("h1")
        taken = b.acquire("h1", "ws://b")
        if time.monotonic() - sent < LEASE_S:
            # b asked within a lease of a's renewal by this clock, so within
            # one by the database's too (it ran between the two): never taken.
            assert taken is None
            checked += 1
        elif taken is not None:
            # This machine stalled a whole lease between the two statements:
            # b rightly took the lapsed lease. a takes it back and goes on.
            b.release("h1")
            assert a.acquire("h1", "ws://a") is not None
        time.sleep(LEASE_S / 4)
    epoch = a.epochs["h1"]
    assert _until(lambda: b.acquire("h1", "ws://b")) == epoch + 1
    assert not a.renew("h1")
    assert "h1" not in a.epochs


@pytest.mark.postgres
def test_an_old_owner_commits_nothing(two) -> None:
    a, b = two
    a.acquire("h1", "ws://a")
    assert a.store.commit("h1", _event(1)) == [1]
    _until(lambda: b.acquire("h1", "ws://b"))  # a froze: its lease ran out
    with pytest.raises(Fenced):
        a.store.commit("h1", _event(2))
    assert "h1" in a.fenced
    assert b.store.commit("h1", _event(3)) == [2]
    assert [e["data"]["waiting"] for e in b.store.events_since("h1", 0)] == [1, 3]
    # Taking its own hall back after a lapse moves the epoch on too.
    b.release("h1")
    assert a.acquire("h1", "ws://a") == 3
    with pytest.raises(Fenced):
        b.store.commit("h1", _event(4))


@pytest.mark.postgres
def test_release_hands_over_at_once_and_heartbeats_count_instances(two) -> None:
    a, b = two
    a.acquire("h1", "ws://a")
    a.release("h1")
    assert b.acquire("h1", "ws://b") == 2
    assert a.heartbeat("ws://a") == {"a": 0}
    assert b.heartbeat("ws://b") == {"a": 0, "b": 1}  # who is alive, owning how many
    a.leave()
    assert b.heartbeat("ws://b") == {"b": 1}
    assert LeaseBook.share(20, 3) == 7 and LeaseBook.share(20, 2) == 10


def test_leases_need_postgresql(tmp_path) -> None:
    with Store(f"sqlite:///{tmp_path / 'x.db'}") as store, pytest.raises(Exception) as err:
        LeaseBook(store, "a", 1.0)
    assert str(err.value) == "leases need PostgreSQL (SQLite is one process: see lock_sqlite)"


def test_a_second_process_on_one_sqlite_file_is_refused(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'hall.db'}"
    with Store(url) as first, Store(url) as second:
        held = lock_sqlite(first)
        assert held is not None
        with pytest.raises(AlreadyServed) as err:
            lock_sqlite(second)
        assert "already served by another qhall serve process" in str(err.value)
        held.close()  # the first process ended
        again = lock_sqlite(second)
        assert again is not None
        again.close()
    with Store("sqlite://") as memory:
        assert lock_sqlite(memory) is None


def test_the_sqlite_lock_file_names_the_process_that_holds_it(tmp_path) -> None:
    # Operators find the lock beside the database, and the refusal names the
    # pid to look for; an in-memory database (either spelling) has no file.
    url = f"sqlite:///{tmp_path / 'hall.db'}"
    with Store(url) as first, Store(url) as second:
        held = lock_sqlite(first)
        assert held is not None
        assert (tmp_path / "hall.db.qhall-lock").read_text(encoding="utf-8") == f"{os.getpid()}\n"
        with pytest.raises(AlreadyServed) as err:
            lock_sqlite(second)
        assert f"(pid {os.getpid()})" in str(err.value)
        held.close()
    for memory_url in ("sqlite://", "sqlite:///:memory:"):
        with Store(memory_url) as one, Store(memory_url) as two:
            assert lock_sqlite(one) is None and lock_sqlite(two) is None


@pytest.mark.postgres
def test_a_takeover_ends_the_stuck_transaction_of_an_owner_whose_lease_ran_out(
        two, pg_url: str) -> None:
    # a's commit froze holding the lease row (FOR SHARE) where no PostgreSQL
    # timeout ends it (this connection has none, like a backend frozen
    # mid-statement): b's takeover ends it instead of waiting forever.
    import psycopg

    a, b = two
    a.acquire("h1", "ws://a")
    stuck = psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://"),
                            application_name="qhall a")  # named as a's connections are
    try:
        stuck.execute("SELECT epoch FROM hall_leases WHERE hall = 'h1' FOR SHARE")
        _until(lambda: not b.owner("h1").live)  # type: ignore[union-attr]
        # What chaos prints about a slow takeover: who sits in a transaction.
        assert any(line.startswith("qhall a ") for line in b.stuck_sessions(LEASE_S / 2))
        assert _until(lambda: b.acquire("h1", "ws://b")) == 2
        with pytest.raises(psycopg.OperationalError):
            stuck.execute("SELECT 1")
    finally:
        stuck.close()
    holder = b.owner("h1")
    assert holder is not None and (holder.owner, holder.epoch, holder.live) == ("b", 2, True)
    # A live owner's transactions are never ended: its lease has not run out.
    assert b.end_stuck("h1") == 0 and a.end_stuck("h1") == 0


@pytest.mark.postgres
def test_a_renewal_that_may_not_wait_fails_at_once_on_a_locked_row(two, pg_url: str) -> None:
    # What the owner tries on its event loop first: a locked row (its own
    # commit in flight) is a StaleState at once, nothing renewed or lost;
    # the lease thread then renews with the full wait.
    import psycopg

    a, _ = two
    a.acquire("h1", "ws://a")
    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://"),
                         application_name="a commit in flight") as locker:
        locker.execute("SELECT epoch FROM hall_leases WHERE hall = 'h1' FOR SHARE")
        with pytest.raises(StaleState):
            a.renew("h1", wait=False)
        assert a.epochs == {"h1": 1}  # still ours: only this try failed
    assert a.renew("h1", wait=False)


@pytest.fixture
def long_two(pg_url: str) -> Iterator[tuple[LeaseBook, LeaseBook]]:
    # A lease far longer than the test: whatever is taken here is taken
    # before it runs out, by construction and not by a clock.
    a, b = Store(pg_url), Store(pg_url)
    yield LeaseBook(a, "a", 600), LeaseBook(b, "b", 600)
    a.close()
    b.close()


@pytest.mark.postgres
def test_a_dead_owners_hall_is_taken_before_its_lease_runs_out(long_two, caplog) -> None:
    a, b = long_two
    assert a.acquire("h1", "ws://a") == 1
    assert b.acquire("h1", "ws://b") is None  # a lives: its presence lock is held
    a.store.close()  # a's process died: every connection of it closed
    holder = b.owner("h1")
    assert holder is not None and holder.owner == "a" and holder.gone and not holder.live
    assert holder.expires_in is not None and holder.expires_in > 0  # the lease still runs
    with caplog.at_level("WARNING", logger="qhall.lease"):
        assert b.acquire("h1", "ws://b") == 2
    # The whole line, as an operator reads it: which hall, from whom, how early.
    assert any(re.fullmatch(r"hall h1: taken from a, whose process is gone \(no presence lock\); "
                            r"its lease still had \d+\.\d s", m) for m in caplog.messages)
    holder = b.owner("h1")
    assert holder is not None and (holder.owner, holder.live, holder.gone) == ("b", True, False)


@pytest.mark.postgres
def test_a_frozen_owner_keeps_its_hall_until_its_lease_runs_out(long_two, pg_url, caplog) -> None:
    import psycopg

    a, b = long_two
    assert a.acquire("h1", "ws://a") == 1
    # a froze: it renews nothing, but its connections (its presence) stay.
    assert b.acquire("h1", "ws://b") is None
    holder = b.owner("h1")
    assert holder is not None and holder.live and not holder.gone
    # Its presence connection broke (the process lives): reopened at the
    # next heartbeat, the same lock taken again; the hall stays a's.
    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://"),
                         autocommit=True) as admin:
        ended = admin.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_locks WHERE locktype = 'advisory' "
            "AND objid = %s", (a.presence,)).fetchall()
    assert ended == [(True,)]
    with caplog.at_level("WARNING", logger="qhall.lease"):
        assert a.heartbeat("ws://a") == {"a": 1}
    # The operator is told why, with the driver's own reason.
    broke = r"presence connection broke \((?!None\)|%s\)).+\); reopening it"
    assert any(re.fullmatch(broke, m, re.S) for m in caplog.messages), caplog.messages
    assert b.acquire("h1", "ws://b") is None
    assert a.renew("h1")
    # A row without a presence key (written before it existed): the lease alone.
    a.store.close()
    with b.store.transaction(write=True) as conn:
        conn.execute(sa.text("UPDATE hall_leases SET presence = NULL WHERE hall = 'h1'"))
    assert b.acquire("h1", "ws://b") is None and b.owner("h1").live  # type: ignore[union-attr]
