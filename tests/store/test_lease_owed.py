"""LeaseBook rules the failover relies on, each through the public API
(server/store/lease.py's docstrings, docs/DEPLOYMENT.md): a frozen owner's
own connections are found by their name and ended at a takeover, the taker's
URL is what a standby reads, only an expired owner is ended, ``expires_in``
is the time left of a held lease, a release or renew of a hall not held
changes nothing, ``leave`` frees every hall, a fenced hall taken back is no
longer fenced, and a hall whose lease row is gone is fenced.

A frozen owner is a transaction of the owner's own store that waits on an
advisory lock the test holds: an *active* backend, which no PostgreSQL
timeout ends (the case ``end_stuck`` exists for). Waits poll with a deadline.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator

import psycopg
import pytest
import sqlalchemy as sa

from server.core.model import Event
from server.store import StaleState, Store, StoreError
from server.store.lease import PRESENCE_SPACE, Fenced, LeaseBook
from tests.helpers.failover import until

pytestmark = pytest.mark.postgres

GATE = 7001  # the advisory lock a frozen owner's transaction waits on
DEADLINE_S = 10.0


@pytest.fixture
def stores(pg_url: str) -> Iterator[tuple[Store, Store]]:
    a, b = Store(pg_url), Store(pg_url)
    yield a, b
    a.close()
    b.close()


def _event(n: int) -> list[Event]:
    return [Event("queue.changed", {"service": "gjj", "waiting": n, "eta_s": 0})]


def _take(book: LeaseBook, hall: str, url: str) -> int | None:
    try:
        return book.acquire(hall, url)
    except StaleState:  # the row is still locked: the next poll tries again
        return None


def _stuck(gate: psycopg.Connection, instance: str) -> bool:
    """A connection named after ``instance`` waits on the gate (frozen mid-transaction)."""
    row = gate.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
        "AND wait_event_type = 'Lock' AND xact_start IS NOT NULL",
        (f"qhall {instance}",)).fetchone()
    return bool(row and row[0])


@contextlib.contextmanager
def _frozen(book: LeaseBook, pg_url: str, hall: str | None) -> Iterator[psycopg.Connection]:
    """One transaction of ``book``'s own store stays open and active (holding
    the hall's lease row FOR SHARE when ``hall`` is given) until the block
    ends or someone ends its backend; yields the test's gate connection."""
    gate = psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://"),
                           autocommit=True)
    gate.execute("SELECT pg_advisory_lock(%s)", (GATE,))
    failed: list[BaseException] = []

    def frozen() -> None:
        try:
            with book.store.transaction() as conn:
                if hall is not None:
                    conn.execute(sa.text("SELECT epoch FROM hall_leases WHERE hall = :h FOR SHARE"),
                                 {"h": hall})
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": GATE})
        except StoreError as error:  # its backend was ended
            failed.append(error)

    thread = threading.Thread(target=frozen, daemon=True)
    thread.start()
    try:
        until(lambda: _stuck(gate, book.instance), DEADLINE_S, "the owner never froze")
        yield gate
    finally:
        gate.close()  # lets a transaction still waiting go on
        thread.join(DEADLINE_S)


def test_a_takeover_ends_the_frozen_owners_own_connection_and_records_the_takers_url(
        stores: tuple[Store, Store], pg_url: str) -> None:
    # The owner froze inside a transaction of its own store, holding the
    # lease row: its connections carry its name, by which the taker ends
    # them, and the taker's URL is what standbys read afterwards.
    a, b = LeaseBook(stores[0], "a", 0.6), LeaseBook(stores[1], "b", 0.6)
    assert a.acquire("h1", "ws://a/ws/h1") == 1
    with _frozen(a, pg_url, "h1") as gate:
        until(lambda: not b.owner("h1").live, DEADLINE_S,  # type: ignore[union-attr]
              "a's lease never ran out")
        taken: dict[str, int | None] = {}

        def took() -> bool:
            taken["epoch"] = _take(b, "h1", "ws://b/ws/h1")
            return taken["epoch"] is not None

        until(took, DEADLINE_S, "the frozen owner's transaction was never ended")
        assert taken["epoch"] == 2
        assert not _stuck(gate, "a")
    holder = b.owner("h1")
    assert holder is not None
    assert (holder.owner, holder.url, holder.epoch, holder.live) == ("b", "ws://b/ws/h1", 2, True)


def test_only_an_expired_owners_transactions_are_ended_and_they_are_counted(
        stores: tuple[Store, Store], pg_url: str) -> None:
    lease = 1.2
    a, b = LeaseBook(stores[0], "a", lease), LeaseBook(stores[1], "b", lease)
    assert b.end_stuck("never-held") == 0  # no lease row: nothing to end
    assert a.acquire("h1", "ws://a") == 1
    with _frozen(a, pg_url, None) as gate:
        # a's transaction is older than half a lease, but a is alive (renewed):
        # its work is left alone.
        until(lambda: any(line.startswith("qhall a ") for line in b.stuck_sessions(lease / 2)),
              DEADLINE_S, "a's transaction never got old")
        assert a.renew("h1")
        assert b.end_stuck("h1") == 0
        assert _stuck(gate, "a")
        # a stops renewing: once its lease ran out, its old transaction goes.
        until(lambda: not b.owner("h1").live, DEADLINE_S,  # type: ignore[union-attr]
              "a's lease never ran out")
        assert b.end_stuck("h1") == 1
        until(lambda: not _stuck(gate, "a"), DEADLINE_S, "the ended backend stayed")
    assert b.end_stuck("h1") == 0  # nothing left to end


def test_expires_in_is_the_time_left_of_a_held_lease_and_none_once_released(
        stores: tuple[Store, Store]) -> None:
    a, b = LeaseBook(stores[0], "a", 30), LeaseBook(stores[1], "b", 30)
    a.acquire("h1", "ws://a")
    held = a.owner("h1")
    assert held is not None and held.live
    assert held.expires_in is not None and 0 < held.expires_in <= 30
    # Renewing or releasing a hall b does not hold changes nothing.
    assert not b.renew("h1")
    b.release("h1")
    b.release("never-held")
    after = b.owner("h1")
    assert after is not None and (after.owner, after.epoch, after.live) == ("a", 1, True)
    a.release("h1")
    free = b.owner("h1")
    assert free is not None and (free.owner, free.live, free.expires_in) == (None, False, None)


def test_leave_releases_every_hall_at_once(stores: tuple[Store, Store]) -> None:
    a, b = LeaseBook(stores[0], "a", 30), LeaseBook(stores[1], "b", 30)
    assert a.acquire("h1", "ws://a") == 1 and a.acquire("h2", "ws://a") == 1
    a.leave()
    assert a.epochs == {}
    # A 30 s lease: b takes both now only because a gave them up.
    assert b.acquire("h1", "ws://b") == 2 and b.acquire("h2", "ws://b") == 2


def test_a_fenced_hall_taken_back_is_no_longer_fenced(stores: tuple[Store, Store]) -> None:
    a, b = LeaseBook(stores[0], "a", 30), LeaseBook(stores[1], "b", 30)
    a.acquire("h1", "ws://a")
    a.release("h1")
    assert b.acquire("h1", "ws://b") == 2
    with pytest.raises(Fenced):
        a.store.commit("h1", _event(1))
    assert "h1" in a.fenced
    b.release("h1")
    assert a.acquire("h1", "ws://a") == 3
    assert "h1" not in a.fenced  # the caller would otherwise stop serving it again
    assert a.store.commit("h1", _event(2)) == [1]


def test_a_hall_whose_lease_row_is_gone_is_fenced(stores: tuple[Store, Store]) -> None:
    # The row deleted by hand (or a database restored from before the hall
    # was first taken): whatever epoch this process remembers, it owns nothing.
    a = LeaseBook(stores[0], "a", 30)
    a.acquire("h1", "ws://a")
    with a.store.transaction(write=True) as conn:
        conn.execute(sa.text("DELETE FROM hall_leases WHERE hall = 'h1'"))
    with pytest.raises(Fenced):
        a.store.commit("h1", _event(1))
    assert "h1" in a.fenced and "h1" not in a.epochs
    assert a.store.events_since("h1", 0) == []


def test_a_heartbeat_always_counts_the_asking_instance(stores: tuple[Store, Store]) -> None:
    # A lease shorter than the heartbeat's own round trip: the database's
    # window of live instances misses the row just written, yet the answer
    # still has this process with the halls it holds.
    a = LeaseBook(stores[0], "a", 1e-6)
    assert a.acquire("h1", "ws://a") == 1
    assert a.heartbeat("ws://a") == {"a": 1}



def _waiting(call: Callable[[], object], watcher: psycopg.Connection,
             instance: str) -> tuple[threading.Thread, list[object]]:
    """``call`` (a lease statement of ``instance``) on a thread of its own,
    once it waits for a row lock or has ended; its result (or StaleState)
    lands in the list."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except StaleState as error:
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    until(lambda: outcome or _stuck(watcher, instance), DEADLINE_S,
          f"{instance}'s statement neither waited nor failed")
    return thread, outcome


@pytest.mark.parametrize("wait", [True, False], ids=["default", "no-wait"])
def test_a_renewal_waits_for_a_commit_holding_the_lease_row_only_by_default(
        stores: tuple[Store, Store], pg_url: str, wait: bool) -> None:
    # renew()'s default (the lease thread's) waits for a commit in flight
    # holding the lease row, up to its lock bound (1 s with this lease), and
    # then renews; wait=False (the event loop's first try) fails at once,
    # so a row freed while it would still be waiting does not save it.
    a = LeaseBook(stores[0], "a", 30)
    assert a.acquire("h1", "ws://a") == 1
    url = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as watcher, psycopg.connect(url) as commit:
        commit.execute("SELECT epoch FROM hall_leases WHERE hall = 'h1' FOR SHARE")
        thread, outcome = _waiting(
            (lambda: a.renew("h1")) if wait else (lambda: a.renew("h1", wait=False)),
            watcher, "a")
        if wait:
            assert outcome == []  # waiting for the row, not failed at once
        else:
            # It fails while the row is still held: the watcher may see it
            # waiting inside its 1-ms bound, and on a busy machine a commit
            # right then could hand it the row before its timer fires.
            until(lambda: outcome, DEADLINE_S, "a's no-wait renewal never ended")
        commit.commit()  # the commit in flight ends: the row is free
        thread.join(DEADLINE_S)
    assert len(outcome) == 1 and a.epochs == {"h1": 1}  # still ours either way
    if wait:
        assert outcome == [True]
    else:
        assert isinstance(outcome[0], StaleState)


def test_a_renewal_waiting_behind_a_takeover_learns_the_hall_is_lost(
        stores: tuple[Store, Store], pg_url: str) -> None:
    # A takeover (the _ACQUIRE update, here by hand and held open) commits
    # while a's default renewal waits for the row: the renewal reads the
    # row as committed (a new epoch, another owner) and answers False, the
    # hall no longer ours, rather than a conflict to try again.
    a = LeaseBook(stores[0], "a", 30)
    assert a.acquire("h1", "ws://a") == 1
    url = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as watcher, psycopg.connect(url) as taker:
        taker.execute("UPDATE hall_leases SET epoch = epoch + 1, owner = 'b', url = 'ws://b' "
                      "WHERE hall = 'h1'")
        thread, outcome = _waiting(lambda: a.renew("h1"), watcher, "a")
        assert outcome == []
        taker.commit()
        thread.join(DEADLINE_S)
    assert outcome == [False] and a.epochs == {}
    holder = a.owner("h1")
    assert holder is not None and (holder.owner, holder.epoch) == ("b", 2)


def test_a_takeover_waiting_behind_another_answers_taken(
        stores: tuple[Store, Store], pg_url: str) -> None:
    # Two standbys race for a free hall: the one whose takeover waits for
    # the other's row lock reads the row as committed (a live owner) and
    # answers None (taken), rather than a conflict to try again.
    b = LeaseBook(stores[1], "b", 30)
    url = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as watcher, psycopg.connect(url) as other:
        other.execute("INSERT INTO hall_leases (hall, epoch) VALUES ('h1', 0)")
        other.commit()
        other.execute("UPDATE hall_leases SET epoch = epoch + 1, owner = 'c', url = 'ws://c', "
                      "expires_at = clock_timestamp() + interval '30 seconds' WHERE hall = 'h1'")
        thread, outcome = _waiting(lambda: b.acquire("h1", "ws://b"), watcher, "b")
        assert outcome == []
        other.commit()
        thread.join(DEADLINE_S)
    assert outcome == [None] and b.epochs == {}
    holder = b.owner("h1")
    assert holder is not None and (holder.owner, holder.epoch, holder.live) == ("c", 1, True)


def test_only_a_lease_taken_from_a_gone_owner_before_it_ran_out_is_logged(
        stores: tuple[Store, Store], caplog: pytest.LogCaptureFixture) -> None:
    # The warning names a takeover the presence lock allowed early; a lease
    # that ran out, or a hall taken back by its own owner, is no such case.
    a, b = LeaseBook(stores[0], "a", 0.6), LeaseBook(stores[1], "b", 0.6)
    with caplog.at_level("WARNING", logger="qhall.lease"):
        assert a.acquire("h1", "ws://a") == 1
        assert a.acquire("h1", "ws://a") == 2  # its own hall, its lease still running
        until(lambda: not b.owner("h1").live, DEADLINE_S,  # type: ignore[union-attr]
              "a's lease never ran out")
        assert b.acquire("h1", "ws://b") == 3  # a lives (its presence held): the lease ran out
    assert "whose process is gone" not in caplog.text


def test_a_gone_owner_whose_lease_ran_out_is_only_expired(stores: tuple[Store, Store]) -> None:
    # Holder.gone: the lease still runs but its owner's presence lock is
    # gone. Once the lease ran out too, the row is plainly expired.
    a, b = LeaseBook(stores[0], "a", 0.6), LeaseBook(stores[1], "b", 0.6)
    assert a.acquire("h1", "ws://a") == 1
    stores[0].close()  # a's process died: its presence lock went with its connections
    until(lambda: b.owner("h1").expires_in < 0, DEADLINE_S,  # type: ignore[union-attr, operator]
          "a's lease never ran out")
    holder = b.owner("h1")
    assert holder is not None and (holder.owner, holder.live, holder.gone) == ("a", False, False)


def _presence_locks(watcher: psycopg.Connection) -> list[tuple[int, str, int]]:
    """Every presence lock held now in this database: (key, the holder's
    application_name, its backend's pid)."""
    return [(int(row[0]), str(row[1]), int(row[2])) for row in watcher.execute(
        "SELECT l.objid, a.application_name, l.pid FROM pg_locks l JOIN pg_stat_activity a "
        "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
        "AND l.classid = %s AND l.database = (SELECT oid FROM pg_database "
        "WHERE datname = current_database())", (PRESENCE_SPACE,)).fetchall()]


def test_one_presence_lock_a_process_kept_across_heartbeats(
        stores: tuple[Store, Store], pg_url: str) -> None:
    # A healthy presence connection is kept (the same key, one lock, one
    # backend), not opened again at every heartbeat; a book told not to be
    # present holds none and says so.
    a = LeaseBook(stores[0], "a", 30)
    reader = LeaseBook(stores[1], "reader", 30, present=False)
    url = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as watcher:
        held = _presence_locks(watcher)
        assert [(key, name) for key, name, _ in held] == [(a.presence, "qhall a")]
        assert a.keep_present() and a.heartbeat("ws://a") == {"a": 0}
        assert a.keep_present()
        assert _presence_locks(watcher) == held  # the same key on the same connection
        assert not reader.keep_present()
        assert _presence_locks(watcher) == held


def _end_presence(watcher: psycopg.Connection, book: LeaseBook) -> None:
    """End the backend holding ``book``'s presence lock (its connection broke)."""
    ended = watcher.execute(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_locks WHERE locktype = 'advisory' "
        "AND classid = %s AND objid = %s", (PRESENCE_SPACE, book.presence)).fetchall()
    assert ended == [(True,)]


def test_a_presence_key_held_by_another_session_is_replaced(
        stores: tuple[Store, Store], pg_url: str) -> None:
    # The presence connection broke and another session took its key (one
    # chance in 2**31): the reopened connection takes a new key, and the
    # rows written afterwards carry it.
    a = LeaseBook(stores[0], "a", 30)
    url = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as watcher:
        old = a.presence
        _end_presence(watcher, a)
        watcher.execute("SELECT pg_advisory_lock(%s, %s)", (PRESENCE_SPACE, old))
        assert a.heartbeat("ws://a") == {"a": 0}
        assert a.presence != old
        keys = {(key, name) for key, name, _ in _presence_locks(watcher)}
        assert keys == {(old, ""), (a.presence, "qhall a")}
        assert a.acquire("h1", "ws://a") == 1
        row = watcher.execute("SELECT presence FROM hall_leases WHERE hall = 'h1'").fetchone()
        assert row == (a.presence,)


def test_a_presence_lock_that_cannot_be_taken_again_is_reported_and_retried(
        stores: tuple[Store, Store], pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    # The presence connection broke and the database takes no new connection:
    # keep_present says so (False), the log says why, the rows written
    # meanwhile carry no key (the lease alone decides), and the next call
    # takes the lock again.
    a = LeaseBook(stores[0], "a", 30)
    name = pg_url.rsplit("/", 1)[1]
    admin_url = pg_url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0]
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as admin:
        _end_presence(admin, a)
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            with caplog.at_level("WARNING", logger="qhall.lease"):
                assert a.keep_present() is False
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    assert any(re.fullmatch(r"cannot hold the presence lock: (?!None$|%s$).+", m, re.S)
               for m in caplog.messages), caplog.messages
    assert a.acquire("h1", "ws://a") == 1
    assert a.owner("h1").live  # type: ignore[union-attr]
    with a.store.transaction() as conn:
        assert conn.execute(sa.text("SELECT presence FROM hall_leases")).scalar() is None
    assert a.keep_present() is True


def test_an_owners_transaction_left_idle_is_ended_by_the_database(
        stores: tuple[Store, Store], pg_url: str) -> None:
    # A lease's connections end a transaction left idle for half a lease
    # (at least 1 s): a frozen owner's half-done commit frees the lease row.
    a = LeaseBook(stores[0], "a", 0.6)
    assert a.acquire("h1", "ws://a") == 1
    url = pg_url.replace("postgresql+psycopg://", "postgresql://")

    def idle() -> int:
        row = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'qhall a' "
            "AND state = 'idle in transaction'").fetchone()
        return int(row[0]) if row else 0

    with psycopg.connect(url, autocommit=True) as watcher:
        with pytest.raises(StoreError), a.store.transaction() as conn:
            conn.execute(sa.text("SELECT epoch FROM hall_leases WHERE hall = 'h1' FOR SHARE"))
            until(lambda: idle() == 1, DEADLINE_S, "the transaction never sat idle")
            until(lambda: idle() == 0, DEADLINE_S, "the idle transaction was never ended")
            conn.execute(sa.text("SELECT 1"))  # its session is gone
