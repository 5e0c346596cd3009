"""A hall taken over is loaded off the event loop; its hellos meanwhile are
never sent away from the owner.

In-process :class:`server.halls.Halls` on a throwaway PostgreSQL serving two
halls: ``east`` is loaded at the start, ``west`` is held by a "dead"
instance (its lease never renewed) and taken once that lease runs out.
Another PostgreSQL connection holds a lock on a table the load reads, so
west's load waits on it as long as the test says. Before, the load ran on
the event loop: nothing else of the process was answered until it ended (a
city instance taking a dead one's halls stalled seconds per hall), and a
hello to a hall still loading after 10 s was refused with ``owner: null``
by the very process that owned it.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import sqlalchemy as sa

from server import halls as halls_module
from server.config import HallConfig
from server.halls import Halls
from server.owner import State
from server.serve import Server, build_server
from server.store import Store
from server.store.lease import LeaseBook
from server.tools.chaos import chaos_config
from server.tools.pgcluster import PgCluster
from tests.helpers.failover import fresh_database, hello_reply, steal_lease

pytestmark = pytest.mark.postgres

DEAD_LEASE_S = 4.0
LEASE_S = 3.0
#: Read by every load (``server/store/load.py``), by nothing a loaded hall's
#: hello or upkeep reads.
LOCKED = "numbering"
#: Without the test's word the lock is let go after this (a load on the
#: event loop keeps the test from giving it).
LOCK_BOUND_S = 8.0


@pytest.fixture
def database(pg_cluster: PgCluster, monkeypatch: pytest.MonkeyPatch) -> str:
    return fresh_database(pg_cluster, monkeypatch, "ld")


class TableLock:
    """``LOCKED`` locked by another connection, in a thread of its own, until
    :attr:`release` is set (or ``LOCK_BOUND_S``); :attr:`waiting` is set
    once another backend waits for it (the load)."""

    def __init__(self, url: str) -> None:
        self.locked = threading.Event()
        self.waiting = threading.Event()
        self.release = threading.Event()
        self._engine = sa.create_engine(url)
        self._thread = threading.Thread(target=self._hold, name="table-lock")
        self._thread.start()

    def _hold(self) -> None:
        with self._engine.connect() as conn:
            conn.exec_driver_sql(f"LOCK TABLE {LOCKED} IN ACCESS EXCLUSIVE MODE")
            self.locked.set()
            deadline = time.monotonic() + LOCK_BOUND_S
            while time.monotonic() < deadline and not self.release.is_set():
                waiters = conn.exec_driver_sql(
                    f"SELECT count(*) FROM pg_locks WHERE NOT granted "
                    f"AND relation = '{LOCKED}'::regclass").scalar()
                if waiters:
                    self.waiting.set()
                    break
                self.release.wait(0.05)
            self.release.wait(max(0.0, deadline - time.monotonic()))
            conn.rollback()

    def close(self) -> None:
        self.release.set()
        self._thread.join()
        self._engine.dispose()


async def _until(what, timeout: float, why: str) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, why
        await asyncio.sleep(0.05)


def _taking_west_under_a_lock(database: str, scenario, events: list[str]):
    """Run ``scenario(halls, lock)`` once west's takeover load waits on ``lock``;
    ``events`` gets ``built <hall>`` as each hall's server is built."""
    configs = [chaos_config(h, database) for h in ("east", "west")]

    def make(cfg: HallConfig, store: Store) -> Server:
        server = build_server(cfg, store)
        events.append(f"built {cfg.id}")
        return server

    async def main():
        halls = Halls(configs, make, lease_s=LEASE_S, instance="alive")  # migrates
        lock: TableLock | None = None
        try:
            store = Store(database)
            try:
                dead = LeaseBook(store, "dead", DEAD_LEASE_S, present=False)
                assert dead.acquire("west", "ws://127.0.0.1:9/ws/west") is not None
            finally:
                store.close()
            await halls.start("127.0.0.1", 0)
            west = halls.slots["west"]
            assert halls.slots["east"].server is not None
            lock = TableLock(database)
            await _until(lock.locked.is_set, 10, "the table was not locked")
            assert west.server is None and not west.pending, \
                "the dead one's lease ran out before the lock (a very slow machine)"
            await _until(lock.waiting.is_set, 30, "west was not taken and loaded")
            return await scenario(halls, lock)
        finally:
            if lock is not None:
                lock.close()
            await halls.stop()
            halls.close()

    return asyncio.run(main())


def _port(halls: Halls) -> int:
    assert halls.ws_server is not None
    return int(next(iter(halls.ws_server.sockets)).getsockname()[1])


async def _hello(halls: Halls, hall: str) -> dict:
    """A device's hello to ``hall`` on this process: its answer."""
    return await hello_reply(f"ws://127.0.0.1:{_port(halls)}/ws/{hall}")


def test_another_halls_device_is_welcomed_while_a_hall_taken_over_loads(
        database: str) -> None:
    events: list[str] = []

    async def scenario(halls: Halls, lock: TableLock) -> None:
        reply = await _hello(halls, "east")
        assert reply["type"] == "welcome", reply
        events.append("welcome east")
        lock.release.set()
        await _until(lambda: halls.slots["west"].server is not None, 30, "west was not loaded")

    _taking_west_under_a_lock(database, scenario, events)
    # Loaded on the loop, west's load kept east's device waiting until the
    # lock was let go: west was built before east's welcome.
    assert events == ["built east", "welcome east", "built west"], events


def test_a_hello_to_a_hall_still_loading_is_told_this_process_owns_it(
        database: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    # The wait for the load ends long before the load (the lock) does.
    monkeypatch.setattr(halls_module, "WELCOME_WITHIN_S", 1.0, raising=False)

    async def scenario(halls: Halls, lock: TableLock) -> tuple[dict, dict, str]:
        refused = await _hello(halls, "west")
        still_loading = halls.slots["west"].pending
        lock.release.set()
        await _until(lambda: halls.slots["west"].server is not None, 30, "west was not loaded")
        assert still_loading, "west was loaded before the refusal"
        return refused, await _hello(halls, "west"), halls.hall_url("west")

    refused, back, own_url = _taking_west_under_a_lock(database, scenario, [])
    # The owner, still loading: "come back here", not "owner: null".
    assert refused["type"] == "error" and refused["code"] == "standby", refused
    assert refused["owner"] == own_url, refused
    assert back["type"] == "welcome", back
    # The log says which hello waited for the load and how it ended.
    lines = [r.getMessage() for r in caplog.records if " waited " in r.getMessage()]
    assert [line.split(" waited ")[0] for line in lines] == ["hall west: hello of board-1"], lines
    assert lines[0].endswith(f"(loading): bounded out, refused naming {own_url}"), lines


def test_a_hall_lost_while_it_loads_is_not_served(database: str) -> None:
    """Another instance takes west while its load waits (this process frozen
    a while, say): once built, west's server is dropped, never attached."""
    events: list[str] = []
    thief = "ws://127.0.0.1:10/ws/west"

    async def scenario(halls: Halls, lock: TableLock) -> tuple[int, object, str | None]:
        west = halls.slots["west"]
        await asyncio.to_thread(steal_lease, database, "west", thief)
        # Its next renewal is refused: a standby of the thief's.
        await _until(lambda: west.machine is not None
                     and west.machine.state is State.STANDBY, 30, "west was not stepped down")
        lock.release.set()
        await _until(lambda: "built west" in events, 30, "west's load did not end")
        # What the load's end does on the loop is done once the hall is no
        # longer marked as loading.
        await _until(lambda: not west.loading, 30, "west's load did not end")
        return west.took_over, west.server, west.owner_url

    took_over, server, owner = _taking_west_under_a_lock(database, scenario, events)
    assert events == ["built east", "built west"], events
    # On the loop, the load ended before the renewal's answer was applied:
    # west was served (took over once), then stepped down.
    assert took_over == 0 and server is None, (took_over, server)
    assert owner in (None, thief), owner
