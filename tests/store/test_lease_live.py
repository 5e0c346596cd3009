"""Who counts as live in the even share: the presence lock, else the heartbeat (#13).

``LeaseBook.heartbeat`` answers every live process sharing the halls, with
how many halls each owns; server/halls.py divides the halls by how many
there are. A process's heartbeat row names its presence key (migration
0014), and the process counts only while some session holds that lock: a
killed process (its connections closed, the lock with them) drops out at
once, though its last heartbeat is recent. A row with no key (a process of
an older release, or one without its lock) follows the heartbeat's age
alone, as every row did before.

The books' lease is far longer than the test (600 s): a heartbeat never
ages out by the clock here unless the test dates it back itself.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from server.store import Store
from server.store.lease import PRESENCE_SPACE, LeaseBook
from tests.helpers.failover import presence_held, until

pytestmark = pytest.mark.postgres

LEASE_S = 600.0
DEADLINE_S = 10.0


@pytest.fixture
def stores(pg_url: str) -> Iterator[list[Store]]:
    made = [Store(pg_url) for _ in range(3)]
    yield made
    for store in made:
        store.close()


def _row(store: Store, instance: str) -> tuple[int | None, bool]:
    """The instance's heartbeat row: its presence key, and whether its
    heartbeat is younger than a lease (by the database's clock)."""
    with store.transaction() as conn:
        row = conn.execute(sa.text(
            "SELECT presence, seen_at >= clock_timestamp() - make_interval(secs => :lease) "
            "FROM instances WHERE id = :id"), {"lease": LEASE_S, "id": instance}).one()
    return (None if row[0] is None else int(row[0])), bool(row[1])


def test_a_killed_instance_leaves_the_count_at_once_though_its_heartbeat_is_fresh(
        stores: list[Store]) -> None:
    a, c = LeaseBook(stores[0], "a", LEASE_S), LeaseBook(stores[1], "c", LEASE_S)
    assert c.acquire("h1", "ws://c/ws/h1") == 1
    assert c.heartbeat("ws://c") == {"c": 1}
    assert a.heartbeat("ws://a") == {"a": 0, "c": 1}
    key = c.presence
    stores[1].close()  # c was SIGKILLed: every connection of it closed, its presence lock too
    until(lambda: not presence_held(stores[0], key), DEADLINE_S,
          "c's presence lock was never released")
    assert _row(stores[0], "c") == (key, True)  # its row still says it was here a moment ago
    assert a.heartbeat("ws://a") == {"a": 0}  # yet only a is live: c's halls are a's share


def test_a_row_with_no_presence_key_follows_its_heartbeats_age(stores: list[Store]) -> None:
    a = LeaseBook(stores[0], "a", LEASE_S)
    # An instance without a presence lock (here a book told not to hold one;
    # in a rolling upgrade, a process of the release before 0014) writes no key.
    old = LeaseBook(stores[1], "old", LEASE_S, present=False)
    assert old.acquire("h1", "ws://old/ws/h1") == 1
    assert old.heartbeat("ws://old") == {"old": 1}
    assert a.heartbeat("ws://a") == {"a": 0, "old": 1}  # fresh: counted, with its hall
    assert _row(stores[0], "old") == (None, True)
    assert _row(stores[0], "a") == (a.presence, True)  # a holds its lock: its key
    # Its last heartbeat a little more than a lease ago: not live any more.
    with stores[0].transaction(write=True) as conn:
        conn.execute(sa.text(
            "UPDATE instances SET seen_at = clock_timestamp() - make_interval(secs => :age) "
            "WHERE id = 'old'"), {"age": LEASE_S + 5})
    assert a.heartbeat("ws://a") == {"a": 0}


def test_a_live_instance_is_counted_with_its_halls_while_its_lock_is_held(
        stores: list[Store]) -> None:
    a, c = LeaseBook(stores[0], "a", LEASE_S), LeaseBook(stores[1], "c", LEASE_S)
    assert c.acquire("h1", "ws://c/ws/h1") == 1 and c.acquire("h2", "ws://c/ws/h2") == 1
    assert c.heartbeat("ws://c") == {"c": 2}
    assert a.heartbeat("ws://a") == {"a": 0, "c": 2}
    # c's presence connection broke while c lives on (a network blip): until
    # c takes its lock again, the others cannot tell it from a dead one ...
    with stores[0].transaction(write=True) as conn:
        ended = conn.execute(sa.text(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_locks WHERE locktype = 'advisory' "
            "AND classid = CAST(:space AS oid) AND objid = CAST(:key AS oid)"),
            {"space": PRESENCE_SPACE, "key": c.presence}).fetchall()
    assert [tuple(row) for row in ended] == [(True,)]
    assert a.heartbeat("ws://a") == {"a": 0}
    # ... and at its next heartbeat (the lock taken again) it counts again,
    # with both its halls (their leases still run).
    assert c.heartbeat("ws://c") == {"a": 0, "c": 2}
    assert presence_held(stores[0], c.presence) and _row(stores[0], "c") == (c.presence, True)
    assert a.heartbeat("ws://a") == {"a": 0, "c": 2}
