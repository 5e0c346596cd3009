"""A process taking several halls at once (a dead instance's) serves each as soon as it is loaded.

In-process :class:`server.halls.Halls` on a throwaway PostgreSQL: a "dead"
instance holds three halls' leases (short, never renewed); when they run out
the live process takes all three in one lease pass. Between two loads (each
in the load thread) the loop must get a turn: the upgrades
and hellos of the hall just loaded are answered before the next hall loads
(before, a takeover of seven halls kept every device waiting for all seven),
and a hello for a hall taken but still waiting its turn waits for it (a
standby names this process as soon as the lease is taken).
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from server import halls as halls_module
from server.config import HallConfig
from server.halls import Halls
from server.reference import demo_token
from server.serve import Server, build_server
from server.store import Store
from server.store.lease import LeaseBook
from server.tools.chaos import chaos_config
from server.tools.pgcluster import PgCluster
from tests.conftest import TEST_PII_KEY

pytestmark = pytest.mark.postgres

DEAD_LEASE_S = 4.0
LEASE_S = 3.0
HALLS = ("east", "west", "north")


@pytest.fixture
def database(pg_cluster: PgCluster, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("QHALL_PII_KEY", TEST_PII_KEY)
    return pg_cluster.create_database(f"tk{uuid.uuid4().hex[:12]}")


def _held_by_a_dead_instance(database: str, configs: list[HallConfig]) -> None:
    """Every hall's lease taken by an instance that will never renew it."""
    store = Store(database)
    try:
        book = LeaseBook(store, "dead", DEAD_LEASE_S)
        for cfg in configs:
            assert book.acquire(cfg.id, f"ws://127.0.0.1:9/ws/{cfg.id}") is not None
    finally:
        store.close()


async def _take_over(database: str, on_build) -> Halls:
    """A started process whose three halls a dead instance holds (taken over
    once those leases run out, a few seconds later)."""
    configs = [chaos_config(h, database) for h in HALLS]
    loop = asyncio.get_running_loop()

    def make(cfg: HallConfig, store: Store) -> Server:
        # In the load thread: ``on_build`` runs on the loop, as the load begins.
        asyncio.run_coroutine_threadsafe(_call(on_build, cfg.id), loop).result()
        return build_server(cfg, store)

    halls = Halls(configs, make, lease_s=LEASE_S, instance="alive")  # connects, migrates
    try:
        _held_by_a_dead_instance(database, configs)
        await halls.start("127.0.0.1", 0)
        assert not any(s.server or s.pending for s in halls.slots.values()), \
            "the dead one's leases ran out before the start (a very slow machine)"
    except BaseException:
        await halls.stop()
        halls.close()
        raise
    return halls


async def _call(fn, *args) -> None:
    fn(*args)


async def _until(what, timeout: float, why: str) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, why
        await asyncio.sleep(0.05)


def test_the_event_loop_gets_a_turn_between_two_halls_of_one_takeover(database: str) -> None:
    """Each load schedules a callback; the next load finds it has run."""
    ran: list[str] = []
    seen_at_build: list[list[str]] = []

    def on_build(hall: str) -> None:
        seen_at_build.append(list(ran))
        asyncio.get_running_loop().call_soon(ran.append, hall)

    async def main() -> list[str]:
        halls = await _take_over(database, on_build)
        try:
            await _until(lambda: all(s.server for s in halls.slots.values()), 30,
                         "the halls were not taken over")
            return [s.id for s in halls.slots.values() if s.server is not None]
        finally:
            await halls.stop()
            halls.close()

    owned = asyncio.run(main())
    assert sorted(owned) == sorted(HALLS)
    # Without the turn all three loads ran in one go: each saw [].
    assert [len(seen) for seen in seen_at_build] == [0, 1, 2], seen_at_build


def test_the_first_halls_device_is_welcomed_before_the_last_hall_is_loaded(
        database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A device of the first hall taken, waiting on the new owner, gets its
    welcome while the other halls of the takeover are still to be loaded
    (the gap between two loads widened, so a slow machine still fits a
    welcome in it; before, the loads ran back to back whatever the gap)."""
    from server.client.aio import AsyncClient

    monkeypatch.setattr(halls_module, "TAKE_GAP_S", 3.0, raising=False)

    order: list[str] = []
    port: list[int] = []
    device: list[asyncio.Task[None]] = []

    async def connect(hall: str) -> None:
        client = AsyncClient("board-1", None, token=demo_token("board-1"), timeout_s=30.0)
        await client.open(f"ws://127.0.0.1:{port[0]}/ws/{hall}")
        order.append(f"welcome {hall}")
        await client.close()

    def on_build(hall: str) -> None:
        order.append(f"load {hall}")
        if len(order) == 1:
            # The first hall's device is already waiting for its welcome
            # when the hall is loaded (it was named by a standby).
            device.append(asyncio.get_running_loop().create_task(connect(hall)))

    async def main() -> None:
        halls = await _take_over(database, on_build)
        assert halls.ws_server is not None
        port.append(int(next(iter(halls.ws_server.sockets)).getsockname()[1]))
        try:
            await _until(lambda: len(order) == 4, 60, f"no welcome and three loads: {order}")
            await device[0]
        finally:
            await halls.stop()
            halls.close()

    asyncio.run(main())
    first = order[0].split()[1]
    assert order.index(f"welcome {first}") < 3, order


def test_a_hello_for_a_hall_taken_but_not_loaded_yet_waits_for_its_load(
        database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A device of the last hall, connecting while the first one loads, is
    welcomed once its hall is loaded: never refused as if by a standby."""
    from server.client.aio import AsyncClient

    monkeypatch.setattr(halls_module, "TAKE_GAP_S", 1.0, raising=False)
    order: list[str] = []
    port: list[int] = []
    steps: list[str] = []
    device: list[asyncio.Task[None]] = []

    async def connect(hall: str) -> None:
        client = AsyncClient("board-1", None, token=demo_token("board-1"), timeout_s=30.0)
        try:
            await client.open(f"ws://127.0.0.1:{port[0]}/ws/{hall}")
            order.append(f"welcome {hall}")
        finally:
            assert client.session is not None
            steps.extend(what for _, what in client.session.trail)
            await client.close()

    def on_build(hall: str) -> None:
        order.append(f"load {hall}")

    async def main() -> None:
        halls = await _take_over(database, on_build)
        assert halls.ws_server is not None
        port.append(int(next(iter(halls.ws_server.sockets)).getsockname()[1]))
        try:
            # Every hall taken (the pass takes them one query at a time, off
            # the loop), one still to load: the last pending is loaded last
            # (a hall stays pending while it loads, in the load thread).
            await _until(lambda: all(s.pending or s.server for s in halls.slots.values())
                         and any(s.pending for s in halls.slots.values()), 30,
                         "the halls were not taken")
            last = next(s.id for s in reversed(halls.slots.values()) if s.pending)
            device.append(asyncio.get_running_loop().create_task(connect(last)))
            await _until(lambda: len(order) == 4, 60, f"no welcome and three loads: {order}")
            await device[0]
        finally:
            await halls.stop()
            halls.close()
        assert order[-1] == f"welcome {last}", order
        assert not [s for s in steps if s.startswith("standby")], steps

    asyncio.run(main())
