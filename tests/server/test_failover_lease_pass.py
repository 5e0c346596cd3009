"""The lease pass never stalls the event loop; a hall left with no owner is taken.

In-process :class:`server.halls.Halls` on a throwaway PostgreSQL. A frozen
owner's commit holds a hall's lease row (``FOR SHARE``), here a connection of
the test's own that keeps it in an open transaction. The lease pass used to
run its SQL on the event loop: a standby trying to take such a hall, or an
owner renewing it, stalled its whole process for as long as the row lock
wait lasted (hellos, pongs and welcomes of every hall late). The loop is
driven here in a thread of its own so that the test, outside it, sees
whether it answers while the pass waits; the lock wait is lengthened so
the answer can only come from a loop that is not waiting with it (what is
tested is who answers during the wait, not how fast).

The last test drives lease passes at chosen moments (no listener, no lease
loop): a hall given back for balance to a process that then froze is taken
by a process at its share after ``STRANDED_POLLS`` polls, not a whole lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import psycopg
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from server.halls import STRANDED_POLLS, Halls
from server.owner import Action, Input, OwnerMachine, State
from server.reference import demo_token
from server.serve import build_server
from server.store import Store
from server.store import lease as lease_module
from server.store.lease import LeaseBook
from server.tools.chaos import chaos_config
from server.tools.pgcluster import PgCluster
from tests.helpers.failover import fresh_database

pytestmark = pytest.mark.postgres

#: Every wait for a condition polls with this deadline.
DEADLINE_S = 60.0


@pytest.fixture
def database(pg_cluster: PgCluster, monkeypatch: pytest.MonkeyPatch) -> str:
    return fresh_database(pg_cluster, monkeypatch, "lp")


def _until(what: Callable[[], object], why: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not what():
        assert time.monotonic() < deadline, why
        time.sleep(0.05)


class OnItsOwnLoop:
    """A started :class:`Halls` on an event loop of its own thread."""

    def __init__(self, halls: Halls) -> None:
        self.halls = halls
        self.port = 0
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            self.port = await self.halls.start("127.0.0.1", 0)
        except BaseException as exc:
            self._failed = exc
            self._ready.set()
            raise
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.halls.stop()

    def __enter__(self) -> OnItsOwnLoop:
        self._thread.start()
        assert self._ready.wait(DEADLINE_S), "the halls did not start"
        if self._failed is not None:
            raise self._failed
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(DEADLINE_S)
        self.halls.close()


def _lock_the_lease_row(database: str, hall: str) -> psycopg.Connection:
    """What a frozen owner's commit in flight does: the hall's lease row held
    ``FOR SHARE`` in a transaction that stays open (named unlike any
    instance: no takeover ends it)."""
    conn = psycopg.connect(database.replace("postgresql+psycopg://", "postgresql://"),
                           application_name="frozen commit")
    conn.execute("SELECT epoch FROM hall_leases WHERE hall = %s FOR SHARE", (hall,))
    return conn


def _waiting_for_a_lock(database: str, instance: str) -> bool:
    """Whether a connection of ``instance`` waits for a row lock now."""
    with psycopg.connect(database.replace("postgresql+psycopg://", "postgresql://"),
                         autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
            "AND wait_event_type = 'Lock'", (lease_module.application_name(instance),)
        ).fetchone()
    return bool(row and row[0])


@contextlib.contextmanager
def _welcomed(port: int, hall: str) -> Iterator[ClientConnection]:
    """A device's socket to ``hall``, its hello answered with a welcome."""
    with connect(f"ws://127.0.0.1:{port}/ws/{hall}", open_timeout=DEADLINE_S / 2) as ws:
        ws.send(json.dumps({"type": "hello", "id": "h1", "protocol": 1, "device": "board-1",
                            "token": demo_token("board-1"), "since": None}))
        reply = json.loads(ws.recv(timeout=DEADLINE_S / 2))
        assert reply["type"] == "welcome", reply
        yield ws


@pytest.fixture
def locks_wait_long(monkeypatch: pytest.MonkeyPatch) -> None:
    # A lease query may wait a minute for a row lock here (a quarter of the
    # lease below): longer than the test waits for an answer.
    monkeypatch.setattr(lease_module, "LOCK_WAIT_S", 60.0)


def test_a_standby_welcomes_a_device_while_its_lease_pass_waits_for_a_locked_row(
        database: str, locks_wait_long: None) -> None:
    dead_store = Store(database)
    dead = LeaseBook(dead_store, "dead", 3.0, present=False)
    halls = Halls([chaos_config("east", database), chaos_config("west", database)],
                  build_server, lease_s=240.0, instance="alive")  # migrates
    try:
        # "east" is the dead instance's (its lease about to run out, its last
        # commit frozen holding the row); "west" is free: this process serves it.
        assert dead.acquire("east", "ws://127.0.0.1:9/ws/east") is not None
        with OnItsOwnLoop(halls) as running:
            assert halls.slots["east"].server is None and not halls.slots["east"].pending, \
                "the dead one's lease ran out before the start (a very slow machine)"
            with contextlib.closing(_lock_the_lease_row(database, "east")) as locker:
                # The pass tries to take "east" once its lease ran out: its
                # UPDATE waits for the frozen commit's lock (up to a minute).
                _until(lambda: _waiting_for_a_lock(database, "alive"),
                       "the standby never tried to take the locked hall")
                # Before: the pass waited on the event loop, so no upgrade,
                # hello or pong of any hall was answered until the wait ended.
                with _welcomed(running.port, "west"):
                    pass
                assert _waiting_for_a_lock(database, "alive"), \
                    "the welcome came only after the lease pass stopped waiting"
                locker.rollback()  # the frozen commit ends: the hall is taken
            _until(lambda: halls.slots["east"].server is not None,
                   "the standby did not take the hall once the row was free")
    finally:
        dead_store.close()


def test_an_owner_whose_renewal_is_stuck_closes_its_clients_when_its_lease_runs_out(
        database: str) -> None:
    halls = Halls([chaos_config("east", database)], build_server, lease_s=3.0,
                  instance="alive")
    with OnItsOwnLoop(halls) as running:
        slot = halls.slots["east"]
        _until(lambda: slot.server is not None, "the hall was not taken")
        with _welcomed(running.port, "east") as ws:
            # The next renewal cannot come back within the lease (the row
            # locked, the lock waited for longer than a lease: as a renewal
            # stuck on a database that stopped answering).
            halls.books[database]._lock_ms = int(DEADLINE_S * 2 * 1000)
            with contextlib.closing(_lock_the_lease_row(database, "east")) as locker:
                _until(lambda: _waiting_for_a_lock(database, "alive"),
                       "the owner never tried to renew")
                # Before: the renewal waited on the event loop, which could
                # not close (nor refuse) anything until the wait ended.
                with pytest.raises(ConnectionClosed):
                    while True:
                        ws.recv(timeout=DEADLINE_S / 2)
                assert ws.close_code == 1012
                with pytest.raises(urllib.error.HTTPError) as health:
                    urllib.request.urlopen(f"http://127.0.0.1:{running.port}/healthz",
                                           timeout=DEADLINE_S / 2)
                health.value.close()
                assert health.value.code == 503  # not serving: a standby's answer
                assert _waiting_for_a_lock(database, "alive"), \
                    "the clients were closed only after the renewal stopped waiting"
                locker.rollback()
        # The renewal's late answer is dropped; the pass steps the hall down.
        _until(lambda: slot.machine is not None and slot.machine.state is not State.FENCED,
               "the owner did not step down once the renewal came back")


@pytest.fixture
def peers(database: str) -> Iterator[tuple[LeaseBook, LeaseBook]]:
    stores = [Store(database), Store(database)]
    yield LeaseBook(stores[0], "balancer", 10.0), LeaseBook(stores[1], "frozen", 10.0)
    for store in stores:
        store.close()


def test_a_hall_given_back_to_a_frozen_process_is_taken_after_two_polls(
        database: str, peers: tuple[LeaseBook, LeaseBook]) -> None:
    """Bound: a hall with no owner is taken by a process at its share
    ``STRANDED_POLLS`` polls after that process first read it free (before:
    a whole lease, 5 polls), and not at its first poll (a live process
    under its share takes it then)."""
    balancer, frozen = peers
    halls = Halls([chaos_config("east", database), chaos_config("west", database)],
                  build_server, lease_s=10.0, instance="alive")
    halls.advertise = "ws://127.0.0.1:9"  # not listening: passes driven by hand
    west = halls.slots["west"]
    assert west.machine is not None
    poll = west.machine.poll_s

    async def main() -> list[bool]:
        assert balancer.acquire("west", "ws://127.0.0.1:10/ws/west") is not None
        balancer.heartbeat("ws://127.0.0.1:10")
        frozen.heartbeat("ws://127.0.0.1:11")  # live for a lease, never again
        await halls.step(time.monotonic())  # three live processes, two halls: a share of one
        assert halls.slots["east"].pending and not west.pending
        start = time.monotonic()  # "west" is due for its next look a poll after this
        # The balancer gives "west" back towards the process under its
        # share (0 halls): "frozen", which will never take it.
        balancer.release("west")
        taken = []
        for polls in range(1, 2 + STRANDED_POLLS):
            await halls.step(start + polls * poll)
            taken.append(west.pending)
        await halls.stop()
        return taken

    try:
        taken = asyncio.run(main())
    finally:
        halls.close()
    # Read free at the first poll after the release, left to the others for
    # STRANDED_POLLS polls, then taken (before: left for a whole lease).
    assert taken == [False] * STRANDED_POLLS + [True], taken
    holder = balancer.owner("west")
    assert holder is not None and holder.owner is None  # released again at stop
    assert holder.epoch == 2  # the balancer's epoch 1, then this process's


def test_renewals_keep_their_period_from_when_each_began() -> None:
    """A renewal that took long (a loaded database, its answer 1.5 s late)
    does not push the next one towards the end of the trust it bought:
    before, the next was due a period after the answer, and a second slow
    pass (the heartbeat first) let the lease lapse while the owner was fine."""
    machine = OwnerMachine(lease_s=3.0)  # renew every 1 s
    machine.feed(Input.ACQUIRED, 0.0, started=0.0, epoch=1)
    assert machine.due(0.99) is None and machine.due(1.0) is Action.RENEW
    machine.feed(Input.RENEWED, 2.5, started=1.0)  # trusted until 4.0
    assert machine.due(2.5) is Action.RENEW  # a period after 1.0, not after 2.5
    assert machine.serving(3.99) and not machine.serving(4.0)


def test_a_renewal_due_before_the_next_pass_can_reach_it_is_made_now(database: str) -> None:
    """Passes of several seconds (a busy machine): a hall whose renewal falls
    due before the next pass could renew it is renewed in this one. Before,
    it waited for the next pass (a pass and a tick later) and its place in
    it: renewals came up to renew_s plus two passes apart, past a 5 s lease
    at load 6 on two cores, and two live processes took each other's halls."""
    halls = Halls([chaos_config("east", database)], build_server, lease_s=30.0,
                  instance="alive")  # renew every 10 s

    async def main() -> tuple[float, float, float]:
        await halls.start("127.0.0.1", 0)
        try:
            machine = halls.slots["east"].machine
            assert machine is not None and machine.state is State.OWNING
            halls._took.append(12.0)  # a pass of 12 s on record: the next may take that long
            now = time.monotonic()
            before = machine.next_renewal
            await halls.step(now)
            return now, before, machine.next_renewal
        finally:
            await halls.stop()

    try:
        now, before, after = asyncio.run(main())
    finally:
        halls.close()
    assert now < before, "the renewal was due already: the test shows nothing"
    assert after > before  # renewed in this pass, ahead of its time
