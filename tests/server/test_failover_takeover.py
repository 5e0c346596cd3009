"""A process taking several halls at once (a dead instance's) serves each as soon as it is loaded.

In-process :class:`server.halls.Halls` on a throwaway PostgreSQL: a "dead"
instance holds three (or more) halls' leases (short, never renewed); when
they run out the live process takes them all in one lease pass. Between two
loads of one loader (each in a load thread) the loop must get a turn: the
upgrades and hellos of the hall just loaded are answered before the next
hall loads (before, a takeover of seven halls kept every device waiting for
all seven); and a hello for a hall taken but still waiting its turn waits
for it (a standby names this process as soon as the lease is taken), its
hall loaded before the halls nobody waits for yet (before, in the halls'
order: a city instance's 15-20 halls, the last ones seconds after their
devices had come).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
from websockets.asyncio.client import connect as ws_connect

from server import halls as halls_module
from server.config import HallConfig
from server.halls import Halls
from server.reference import demo_token
from server.serve import Server, build_server
from server.store import Store
from server.store.lease import LeaseBook
from server.tools.chaos import chaos_config
from server.tools.pgcluster import PgCluster
from tests.helpers.failover import fresh_database

pytestmark = pytest.mark.postgres

DEAD_LEASE_S = 4.0
LEASE_S = 3.0
HALLS = ("east", "west", "north")


@pytest.fixture
def database(pg_cluster: PgCluster, monkeypatch: pytest.MonkeyPatch) -> str:
    return fresh_database(pg_cluster, monkeypatch, "tk")


def _held_by_a_dead_instance(database: str, configs: list[HallConfig]) -> None:
    """Every hall's lease taken by an instance that will never renew it."""
    store = Store(database)
    try:
        book = LeaseBook(store, "dead", DEAD_LEASE_S, present=False)
        for cfg in configs:
            assert book.acquire(cfg.id, f"ws://127.0.0.1:9/ws/{cfg.id}") is not None
    finally:
        store.close()


async def _take_over(database: str, on_build, names: tuple[str, ...] = HALLS,
                     gate=None) -> Halls:
    """A started process whose halls (``names``) a dead instance holds (taken
    over once those leases run out, a few seconds later). ``gate(hall)``, when
    given, runs in the load thread after ``on_build`` (a build waits on it)."""
    configs = [chaos_config(h, database) for h in names]
    loop = asyncio.get_running_loop()

    def make(cfg: HallConfig, store: Store) -> Server:
        # In the load thread: ``on_build`` runs on the loop, as the load begins.
        asyncio.run_coroutine_threadsafe(_call(on_build, cfg.id), loop).result()
        if gate is not None:
            gate(cfg.id)
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


def test_the_event_loop_gets_a_turn_between_two_halls_of_one_takeover(
        database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each load schedules a callback; the next load finds it has run (one
    loader: two loaders' loads overlap, each loader's own in turn)."""
    monkeypatch.setattr(halls_module, "LOADERS", 1, raising=False)
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


def test_a_hall_whose_hello_waits_is_loaded_before_the_halls_nobody_waits_for(
        database: str) -> None:
    """Every loader busy (its build held), two halls still to load: a device
    says hello to the later one in the halls' order. Its hall is loaded next
    and the device welcomed while the earlier hall's build is still held;
    never refused as if by a standby. Before, the halls loaded in their
    order: the device waited for the earlier hall (here for ever: refused
    after the 12 s bound, naming this process)."""
    loaders = getattr(halls_module, "LOADERS", 1)
    names = ("east", "west", "north", "south", "centre")[:loaders + 2]
    began: list[str] = []
    gates = {hall: threading.Event() for hall in names}

    async def main() -> tuple[dict, list[str], str, str]:
        halls = await _take_over(database, began.append, names,
                                 gate=lambda hall: gates[hall].wait(60))
        port = int(next(iter(halls.ws_server.sockets)).getsockname()[1])
        try:
            # Every hall taken, every loader's build held.
            await _until(lambda: len(began) == loaders
                         and all(s.pending for s in halls.slots.values()), 30,
                         f"the halls were not taken ({began})")
            earlier, later = [h for h in names if h not in began]
            async with ws_connect(f"ws://127.0.0.1:{port}/ws/{later}") as ws:
                await ws.send(json.dumps({"type": "hello", "id": "h1", "protocol": 1,
                                          "device": "board-1",
                                          "token": demo_token("board-1"), "since": None}))
                await ws.send(json.dumps({"type": "ping", "id": "p1"}))
                async with asyncio.timeout(30):
                    # Answered before the welcome: the hello waits at the server.
                    pong = json.loads(await ws.recv())
                    assert pong == {"type": "ok", "re": "p1"}, pong
                    gates[began[0]].set()  # one loader free
                    gates[later].set()
                    reply = json.loads(await ws.recv())
            return reply, list(began), earlier, later
        finally:
            for gate in gates.values():
                gate.set()
            await halls.stop()
            halls.close()

    reply, order, earlier, later = asyncio.run(main())
    assert reply["type"] == "welcome" and reply["re"] == "h1", reply
    # The earlier hall's build had not begun (or began after the later one's).
    assert later in order and order.index(later) < (
        order.index(earlier) if earlier in order else len(order)), order
