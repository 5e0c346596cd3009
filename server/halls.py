"""Several halls on one listener, each owned by this process or stood by.

One ``qhall serve`` process serves every hall it is given (``--config`` more
than once, or ``--config-dir``) on one port: ``/ws/<hall-id>``,
``/board/<hall-id>``, ``/healthz/<hall-id>``; with one hall ``/ws``,
``/board`` and ``/healthz`` are that hall too. ``/t/<check>`` finds the
ticket in whichever hall this process owns; ``/metrics`` labels every
sample with ``hall`` (one hall: its metrics as they always were).

Who writes a hall: on SQLite this process, alone (a second process on the
file is refused at start, ``server/store/lease.py``). On PostgreSQL each
hall has a lease; a :class:`Slot` per hall runs the sans-I/O machine of
``server/owner.py`` and this module does what it asks: take the lease and
load the hall from the store (a :class:`~server.serve.Server` for it),
renew, or step down (clients closed with 1012, memory dropped). While a
hall is owned elsewhere, a hello gets ``standby`` naming the owner's URL
and a close 1013, and its ``/healthz`` answers 503 ``standby``; while the
owner's lease is running out (or no live owner is known: none, or one
whose process is gone, its presence lock with it) the hello is held
instead, until this process has taken the hall (welcomed on that socket) or
seen who did (refused naming that one): :meth:`Halls._hold`.

Balance among processes sharing halls: a process takes a free hall only
while it owns fewer than its share (``ceil(halls / live processes)``), and
gives one back per renewal period while it owns more. A hall whose owner
died (lease expired, or its presence lock gone: a killed process, taken
at the next poll, see server/store/lease.py) is taken whatever the share,
and so is a hall left with no owner for ``STRANDED_POLLS`` polls (given back to a
process that then froze or died): being served comes before being even.

The lease pass's SQL never runs on the event loop (:class:`LeasePass`): the
loop keeps answering hellos, pongs and welcomes while a lease query waits
for a row lock (a frozen owner's commit holds the lease row) or for the
database itself.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import logging
import random
import socket
import ssl
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, unquote, urlsplit

from websockets.asyncio.server import Server as WsServer
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State as WsState

from server.config import Failover, HallConfig
from server.owner import Action, Input, OwnerMachine, State
from server.prewelcome import early, hello_device
from server.store import StaleState, Store, StoreError
from server.store.lease import Holder, LeaseBook, lock_sqlite
from server.web import headers as http_headers
from server.web import pages
from server.web.bodies import BodyConnection
from server.wire import protocol


class Server(Protocol):
    """What this module needs of one hall's server (``server.serve.Server``)."""

    accepting: bool
    fenced: Callable[[], bool]
    service: Any
    console: Any  # server/console: its ``base`` is /console/<hall-id> among several halls

    def attach(self) -> None: ...
    def detach(self, code: int, reason: str) -> None: ...
    async def drain(self) -> None: ...
    async def stop(self) -> None: ...
    def route_request(self, conn: ServerConnection, request: Request) -> Response | None: ...
    async def handle(self, ws: ServerConnection) -> None: ...
    def metrics_text(self) -> str: ...

__all__ = ["DEFAULT_LEASE_S", "SERVE_OPTIONS", "Halls", "LeasePass", "Server", "Slot",
           "html_response", "lease_of", "merge_metrics", "owner_page_url"]

_T = TypeVar("_T")

log = logging.getLogger("qhall.halls")

#: Default lease: a standby takes over at most this plus a poll (a fifth of
#: it) after the owner's last renewal, well inside the contract's 15 s.
DEFAULT_LEASE_S = Failover.lease_s
HELLO_TIMEOUT_S = 10.0
#: A hello to a hall this process has taken and still loads waits for the
#: load at most until this long after its upgrade, a hold included; then it
#: is refused naming this process (the owner: the device comes back). Under
#: the devices' 15 s welcome patience at a server a standby named or a
#: takeover under way (``server/client/session.py`` ``OWNER_PATIENCE_S``).
WELCOME_WITHIN_S = 12.0
#: A standby holds a hello (no refusal yet) while the owner's lease, as it
#: last read it, runs out within this fraction of a lease (or no live owner
#: is known): the owner is dead, frozen or gone, and the standby learns who
#: serves next before the device could. A live owner renews every third of
#: a lease and a standby reads at least every fifth, so a live owner's lease
#: reads as running for at least 7/15 of one: it is held for at most until
#: the standby's next read (a renewal a little late) and then refused.
HOLD_WITHIN = 0.5
#: Beyond the wait for the lease to run out, a held hello waits this long
#: for the taking (a read, one UPDATE, every standby trying at once).
HOLD_MARGIN_S = 1.0
#: Between two halls one loader loads, the event loop gets this long to
#: answer the devices already waiting (the hall just loaded's among them).
TAKE_GAP_S = 0.05
#: Halls loaded at once on PostgreSQL (each in a thread of the load pool,
#: a connection of the store's pool each): a city instance taking a dead
#: one's 15-20 halls loaded them one at a time, the last ones seconds after
#: their devices had come, and one load stuck (a slow query) held up every
#: hall behind it. A load mostly waits for the database (its reads) or
#: builds plain objects; two overlap the waits without starving the loop.
LOADERS = 2
#: A hall with no owner at all (given back for balance, released at a stop)
#: is left to the processes below their share for this many polls after
#: this process first read it free; then a process at its share takes it
#: too. Below-share processes poll every ``poll_s``, so a live one has had
#: its turn by then: when it has not taken the hall it is frozen or dead
#: (its heartbeat still counts it live for up to a lease). Before, that
#: wait was a whole lease, and the hall's devices were offline throughout.
#: Taking it cannot make two owners (the lease row decides); at worst the
#: taker holds one more than its share and gives one back later.
STRANDED_POLLS = 2
#: Lease passes whose durations set how early an owned hall is renewed.
PASSES_KEPT = 8
_HALL_PATHS = ("ws", "board", "healthz")
#: websockets options of every listener (one hall's or several halls').
SERVE_OPTIONS: dict[str, Any] = {
    "max_size": protocol.MAX_FRAME,
    "max_queue": 64,
    # Every device finds a silent server itself (the asyncio client pings
    # every 5 s, the Qt link every 15 s, the web board sends `ping` every
    # 5 s); the server's pings only reap peers that vanished without a FIN
    # (power cut, cable): 60 + 30 s frees their socket well before TCP
    # would, at a third of the 20-s default's cost (5% of the city's CPU).
    "ping_interval": 60, "ping_timeout": 30, "close_timeout": 3,
    "server_header": "qhall",
    # Frames are small JSON; per-client deflate would cost a compression
    # per event per board, the dominant CPU cost of fan-out to hundreds of
    # displays.
    "compression": None,
    "create_connection": BodyConnection,  # the phone API's POSTs carry a JSON body
}


class Slot:
    """One hall in this process: its config, store, lease and (owning) server."""

    def __init__(self, config: HallConfig, store: Store, book: LeaseBook | None,
                 lease_s: float) -> None:
        self.config = config
        self.store = store
        self.book = book
        #: None on SQLite: this process is the only one, it always owns the hall.
        self.machine = OwnerMachine(lease_s) if book is not None else None
        self.server: Server | None = None
        self.owner_url: str | None = None  # the owner's URL when another owns it
        #: The live owner (URL, epoch) as last read; when it took the hall at
        #: the earliest (monotonic: the read before the one that first saw
        #: it; None: it owned the hall at this process's first read, when it
        #: took it is not known here); when the lease row was last read.
        self.owner_key: tuple[str | None, int] | None = None
        self.owner_since: float | None = None
        self.read_at: float | None = None
        self.took_over = 0  # times this process became the owner
        self.taken_at = 0.0  # when this process last took the lease (monotonic)
        self.free_since: float | None = None  # first seen without a live owner
        #: Taken (the lease is ours) but not loaded yet: set while it waits its
        #: turn and loads (:meth:`Halls._kick_loads`); its hellos wait for ``loaded``.
        self.pending = False
        self.loaded: asyncio.Event | None = None
        #: A load of it runs now (:meth:`Halls._load`): not picked again.
        self.loading = False
        #: The hellos waiting here now (held, or for the load), each with when
        #: its connection was upgraded: halls taken whose devices wait are
        #: loaded first, the longest-waiting first (:func:`_load_order`).
        self.waits: dict[object, float] = {}
        #: When the owner's lease runs out (monotonic, as last read); None
        #: when no live owner is known (or this process owns the hall).
        self.owner_expires: float | None = None
        #: Set (and replaced) whenever a lease pass looked at the hall: the
        #: hellos it holds look again (:meth:`Halls._hold`).
        self.changed = asyncio.Event()

    @property
    def id(self) -> str:
        return self.config.id

    def holds(self, now: float, within: float) -> bool:
        """Whether a hello here is held rather than refused at ``now``: a
        standby whose owner's lease runs out within ``within`` seconds (or
        that knows no live owner)."""
        if self.machine is None or self.machine.state is not State.STANDBY \
                or self.pending or self.server is not None:
            return False
        return self.owner_expires is None or self.owner_expires - now <= within

    def owned_for(self, now: float) -> float | None:
        """How long the live owner has held the hall at most, by this
        process's reads (it took it after the read before the one that first
        saw it: a poll at most before); None when not known."""
        if self.owner_url is None or self.owner_since is None:
            return None
        return max(0.0, now - self.owner_since)

    @contextlib.contextmanager
    def waiting(self, since: float) -> Iterator[None]:
        """A hello waits here (held, or for the load) for as long as this lasts."""
        key = object()
        self.waits[key] = since
        try:
            yield
        finally:
            del self.waits[key]

    def looked(self) -> None:
        """A lease pass read or changed the hall: wake the hellos held here."""
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()

    def serving(self, now: float) -> bool:
        if self.server is None or not self.server.accepting:
            return False
        return self.machine is None or self.machine.serving(now)


class LeasePass:
    """Where the lease pass's SQL runs: one worker thread of this process's own.

    The pass used to run its queries on the event loop, hall after hall,
    each able to wait up to ``LOCK_WAIT_S`` for a row lock: a frozen owner's
    commit holds the lease row (``FOR SHARE``), and a standby trying to take
    such a hall stalled its whole process for a second a try (hellos held
    past their 10 s bound, pongs and welcomes late). Two ways out were
    weighed. Locks that never wait (``NOWAIT``, ``SKIP LOCKED``) would help
    a standby but not an owner: a renewal must wait for the owner's own
    commits, which hold the row for milliseconds many times a second under
    load (a renewal that never waits fails often, and an owner that cannot
    renew steps down for nothing); and the queries themselves stay round
    trips on the loop (twenty halls a pass, a database slow or away for
    its 10 s connect timeout). So the pass's queries run here, on a single
    worker (one query at a time, passes never overlap: the pass's own
    lock), with a connection of the store's pool; what a query found is
    applied on the loop (the machines, the slots, their asyncio events).
    A lock wait now costs the pass, never the loop, and still ends after
    ``LOCK_WAIT_S`` (a failed try, retried at the next poll). One
    exception, measured: an owner's renewal is first tried on the loop
    with no lock wait at all (one round trip, like any commit of the hall;
    its own row is rarely locked), and only a locked row sends it here. On
    a busy process a hop to this thread took up to a second (the loop
    holds the GIL), and a renewal that late let a short lease lapse while
    the owner was fine.

    Fencing is untouched: every commit still reads the epoch inside its
    transaction and the store refuses an older one. An owner trusts a
    renewal from when it was *sent*, and the loop (not the pass) checks
    that trust every tick: a hall whose renewal is stuck in this thread
    stops answering when its lease runs out and has its clients closed
    (1012) then (``Halls._drop_lapsed``), whatever the pass waits for.
    """

    def __init__(self) -> None:
        self._worker = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="qhall-lease")

    async def run(self, query: Callable[..., _T], *args: Any) -> _T:
        """``query(*args)`` in the lease thread; its result (or exception).

        Cancelled, the caller stops waiting but a query already started
        finishes; the next one runs after it.
        """
        return await asyncio.get_running_loop().run_in_executor(self._worker, query, *args)

    def close(self) -> None:
        """Wait for the query under way (if any); run no more."""
        self._worker.shutdown(wait=True, cancel_futures=True)


def _read_owner(book: LeaseBook, hall: str) -> tuple[Holder | None, float]:
    """The hall's lease row and when it was read (monotonic): in the lease thread."""
    holder = book.owner(hall)
    return holder, time.monotonic()


class Halls:
    """Every hall of this process on one listener.

    Args:
        configs: one per hall (``[hall] id`` unique).
        make_server: builds the hall's server (loads it from the store).
        lease_s: lease length on PostgreSQL.
        advertise: the base URL clients reach this process at
            (``ws://host:port``), told to them by standbys; default from the
            listening address.
        instance: this process's id among those sharing halls.
    """

    def __init__(self, configs: Sequence[HallConfig],
                 make_server: Callable[[HallConfig, Store], Server], *,
                 lease_s: float = DEFAULT_LEASE_S, advertise: str | None = None,
                 instance: str | None = None) -> None:
        ids = [c.id for c in configs]
        if not configs or len(set(ids)) != len(ids):
            raise ValueError(f"hall ids must be given and unique, got {ids}")
        self.make_server = make_server
        self.lease_s = lease_s
        self.advertise = advertise
        self.instance = instance or f"{random.getrandbits(48):012x}"
        self.stores: dict[str, Store] = {}
        self.books: dict[str, LeaseBook] = {}
        self._locks: list[Any] = []
        self.slots: dict[str, Slot] = {}
        self._conn_slot: weakref.WeakKeyDictionary[ServerConnection, Slot] = (
            weakref.WeakKeyDictionary())
        self.ws_server: WsServer | None = None
        self._task: asyncio.Task[None] | None = None
        #: the lease pass's SQL runs there, off the event loop
        self.lease_pass = LeasePass()
        #: a hall taken is read from the store and built there (:meth:`_load`)
        self._loader = concurrent.futures.ThreadPoolExecutor(
            max_workers=LOADERS, thread_name_prefix="qhall-load")
        #: the loaders at work (:meth:`_kick_loads`), at most ``LOADERS``
        self._loads: set[asyncio.Task[None]] = set()
        self._pass_lock = asyncio.Lock()
        #: How long the last passes took (seconds): owned halls whose renewal
        #: falls due before the next pass could reach them renew in this one.
        self._took: collections.deque[float] = collections.deque(maxlen=PASSES_KEPT)
        self._next_heartbeat: dict[str, float] = collections.defaultdict(lambda: float("-inf"))
        #: per database: live processes -> halls each owns (at the last heartbeat)
        self._live: dict[str, dict[str, int]] = {}
        self._next_yield = 0.0
        #: hellos held by standbys now, per source address (docs/SECURITY.md)
        self._held: collections.Counter[str] = collections.Counter()
        self._stopping = False
        try:
            for cfg in configs:
                store = self.stores.get(cfg.database)
                if store is None:
                    store = self.stores[cfg.database] = Store(cfg.database)
                    if store.backend == "postgresql":
                        self.books[cfg.database] = LeaseBook(store, self.instance, lease_s)
                    else:
                        lock = lock_sqlite(store)  # AlreadyServed: refuse to start
                        if lock is not None:
                            self._locks.append(lock)
                self.slots[cfg.id] = Slot(cfg, store, self.books.get(cfg.database), lease_s)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------ lifecycle
    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None,
                    ) -> int:
        """Listen, take what this process should own; return the bound port."""
        self.ws_server = await serve(self._handle, host, port, process_request=self._route,
                                     ssl=ssl_context, **SERVE_OPTIONS)
        bound = int(next(iter(self.ws_server.sockets)).getsockname()[1])
        if self.advertise is None:
            # A wildcard address names no host a device can dial: the host's name.
            name = socket.getfqdn() if host in ("", "0.0.0.0", "::") else host
            self.advertise = f"{'wss' if ssl_context else 'ws'}://{name}:{bound}"
        for slot in self.slots.values():
            if slot.machine is None:
                self._attach(slot, (await self._build(slot))[0])
        await self.step(time.monotonic())
        # No device waits on a process that is starting: load them all now.
        while unfinished := [t for t in self._loads if not t.done()]:
            await asyncio.wait(unfinished)
        self._task = asyncio.get_running_loop().create_task(self._lease_loop())
        return bound

    async def stop(self) -> None:
        """Graceful stop: clients closed 1001, leases released (a standby takes
        over at its next poll, not after the lease runs out)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task  # a lease query under way still ends in its thread
        if self.ws_server is not None:
            self.ws_server.server.close()
        self._stopping = True
        loads = list(self._loads)
        for task in loads:
            task.cancel()  # a build under way still ends in its thread (close waits)
        if loads:
            await asyncio.wait(loads)
        for slot in self.slots.values():
            slot.looked()  # its held hellos are refused now
            if slot.pending and slot.loaded is not None:
                slot.pending = False
                slot.loaded.set()  # its waiting hellos are refused, not left to time out
            if slot.server is not None:
                await slot.server.drain()
                slot.server.detach(1001, "server shutting down")
                await slot.server.stop()  # waits for what detach started
                slot.server = None
        for book in self.books.values():
            try:
                # After the query under way (one worker): a hall it took is
                # in the book's epochs by then and released too.
                await self.lease_pass.run(book.leave)
            except StoreError as exc:
                log.warning("could not release the leases: %s", exc)
        if self.ws_server is not None:
            self.ws_server.close(close_connections=True)
            await self.ws_server.wait_closed()

    def close(self) -> None:
        self.lease_pass.close()
        self._loader.shutdown(wait=True, cancel_futures=True)  # a load under way ends first
        for store in self.stores.values():
            store.close()
        for lock in self._locks:
            lock.close()

    @property
    def held(self) -> int:
        """Hellos standbys of this process hold now (:meth:`_hold`)."""
        return sum(self._held.values())

    def hall_url(self, hall: str) -> str:
        """The URL a standby names for this hall: ``/ws`` when this process
        serves one hall (what its clients are given), else ``/ws/<hall-id>``."""
        return f"{self.advertise}/ws" if len(self.slots) == 1 else f"{self.advertise}/ws/{hall}"

    # ---------------------------------------------------------------- leases
    def _tick(self) -> float:
        """The lease loop's period: lapsed halls dropped, a pass started if none runs."""
        return min(0.5, self.lease_s / 10)

    async def _lease_loop(self) -> None:
        tick = self._tick()
        upkeep: asyncio.Task[None] | None = None
        try:
            while True:
                await asyncio.sleep(tick)
                # Every tick, whatever the pass is waiting for: a hall whose
                # lease this process can no longer trust is dropped now.
                self._drop_lapsed(time.monotonic())
                self._kick_loads()
                if upkeep is None or upkeep.done():
                    upkeep = asyncio.get_running_loop().create_task(self._upkeep())
        finally:
            if upkeep is not None and not upkeep.done():
                upkeep.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await upkeep

    async def _upkeep(self) -> None:
        """One lease pass (the halls it takes are loaded meanwhile: :meth:`_kick_loads`)."""
        try:
            await self.step(time.monotonic())
        except Exception:
            log.exception("lease upkeep failed")

    def _drop_lapsed(self, now: float) -> None:
        """Stop owning every hall whose lease this process can no longer
        trust (its renewal not back in time: stuck on a lock, the database
        away): its clients are closed now; the pass releases it and makes
        it a standby when it next looks (``fenced``: a late answer of the
        renewal under way is dropped)."""
        for slot in self.slots.values():
            machine = slot.machine
            if machine is None or machine.state is not State.OWNING or machine.serving(now):
                continue
            machine.feed(Input.EXPIRED, now)
            if slot.server is not None:
                log.warning("hall %s: lease not renewed in time; closing its clients", slot.id)
                _stop_serving(slot)

    async def step(self, now: float) -> None:
        """One pass over the leases: renew, heartbeat, take, step down, balance.

        The SQL runs in :attr:`lease_pass`'s thread, the outcomes are
        applied here on the loop (machines, slots, their events); passes
        never overlap. The halls this process owns are renewed before any
        other hall is looked at: a takeover's lock waits never delay a
        renewal. A hall taken here starts loading at once, beside the rest
        of the pass (:meth:`_kick_loads`): its lease is ours at once, so
        standbys name this process right away. A pass longer than a poll
        is logged (a takeover's lock waits, a busy process).
        """
        async with self._pass_lock:
            began = time.monotonic()
            await self._pass(now)
            took = time.monotonic() - began
            self._took.append(took)
            if took > self.lease_s / 5:
                # Longer than a standby's poll: its held hellos learned late
                # who took their halls (a chaos run's logs say when).
                log.warning("lease pass took %.1f s", took)

    async def _pass(self, now: float) -> None:
        """The pass itself (:meth:`step`)."""
        slots = [s for s in self.slots.values() if s.machine is not None]
        random.shuffle(slots)  # processes starting together do not race for the same hall
        owning = [s for s in slots if s.machine is not None
                  and s.machine.state is not State.STANDBY]
        # The next pass starts a pass and a tick from now, and reaches a
        # hall up to a pass after that: a renewal due before then is made
        # now. Before, one due just after a pass began waited for the next
        # pass and then for its place in it: renewals came up to renew_s plus
        # two passes and a tick apart. On a busy machine (load 6 on two
        # cores, passes of 2-3 s) that passed a 5 s lease, and two live
        # processes took each other's halls (one 6-min run: 5 halls).
        ahead = max(self._took, default=0.0) + self._tick()
        for slot in sorted(owning, key=_renewal_order):
            await self._step_slot(slot, now, ahead)
            slot.looked()
        for url, book in self.books.items():
            if now >= self._next_heartbeat[url]:
                try:
                    self._live[url] = await self.lease_pass.run(book.heartbeat,
                                                                self.advertise)
                    self._next_heartbeat[url] = now + self.lease_s / 3
                except StoreError as exc:
                    log.warning("heartbeat failed: %s", exc)
        for slot in slots:
            if slot not in owning:
                await self._step_slot(slot, now)
                slot.looked()
        await self._balance(slots, now)

    def _next_load(self) -> Slot | None:
        """The hall taken to load next: one whose hellos wait (the longest
        first), else the first in the halls' order; None when none waits."""
        taken = [s for s in self.slots.values() if s.pending and not s.loading]
        return min(taken, key=_load_order, default=None)

    def _kick_loads(self) -> None:
        """Start loading the halls taken: up to ``LOADERS`` at once.

        A process that took a dead one's seven halls used to load them in
        one go: no upgrade or hello of any hall was answered until all seven
        were loaded, so devices gave up on the new owner and went round the
        standbys (the 61.5 s outages of the full chaos run). Hall by hall,
        each hall's devices are welcomed as soon as *that* hall is loaded;
        the loading itself (its day's tickets, the core, the ETA) runs in a
        thread (:meth:`_load`), so the loop answers every device meanwhile.
        A hall starts loading as soon as it is taken, beside the lease pass
        (which used to finish first, and to run again between two loads),
        and the halls whose hellos wait come first: their devices are here
        already, the others' are still being sent here by the standbys.
        """
        while not self._stopping and len(self._loads) < LOADERS:
            slot = self._next_load()
            if slot is None:
                return
            slot.loading = True  # picked: no other loader takes it
            task = asyncio.get_running_loop().create_task(self._loading(slot))
            self._loads.add(task)
            task.add_done_callback(self._loads.discard)

    async def _loading(self, slot: Slot) -> None:
        """One loader: ``slot``, then the next hall to load, until none waits."""
        try:
            while True:
                await self._load(slot)
                # The loop answers the hellos waiting (the hall just loaded's
                # among them) before this loader reads the next hall.
                await asyncio.sleep(TAKE_GAP_S)
                after = self._next_load() if not self._stopping else None
                if after is None:
                    return
                slot = after
                slot.loading = True
        except Exception:
            log.exception("loading the halls taken failed")

    def _owned(self, url: str) -> int:
        return sum(1 for s in self.slots.values()
                   if s.config.database == url and (s.server is not None or s.pending))

    def _share(self, url: str) -> int:
        halls = sum(1 for s in self.slots.values() if s.config.database == url)
        return LeaseBook.share(halls, len(self._live.get(url) or {"": 0}))

    async def _step_slot(self, slot: Slot, now: float, ahead: float = 0.0) -> None:
        machine, book = slot.machine, slot.book
        assert machine is not None and book is not None
        if slot.id in book.fenced and machine.state is State.OWNING:
            machine.feed(Input.FENCED_COMMIT, now)
        action = machine.due(now)
        if action is None and machine.renewal_due_by(now + min(ahead, machine.renew_s)):
            action = Action.RENEW  # due before the next pass could renew it
        if action is Action.STEP_DOWN:
            await self._step_down(slot, now)
        elif action is Action.RENEW:
            started = time.monotonic()
            try:
                try:
                    # On the loop, one round trip that waits for no lock: the
                    # renewal is the one query whose lateness costs the hall,
                    # and a thread hop on a busy process (the loop holding
                    # the GIL) can take longer than the query.
                    kept = book.renew(slot.id, wait=False)
                except StaleState:
                    # The row is locked (our own commit in flight, or a
                    # standby's takeover): wait for it in the lease thread.
                    kept = await self.lease_pass.run(book.renew, slot.id)
            except StoreError as exc:
                log.warning("hall %s: cannot renew the lease: %s", slot.id, exc)
                if machine.state is State.OWNING:
                    machine.feed(Input.FAILED, time.monotonic())
                return
            if machine.state is not State.OWNING:
                return  # dropped while the renewal was out (_drop_lapsed): too late
            # Trust runs from when the renewal was sent, however long its
            # answer took (the database extended the lease no earlier).
            machine.feed(Input.RENEWED if kept else Input.LOST, time.monotonic(),
                         started=started)
            if not kept:
                log.warning("hall %s: another instance owns it now; stepping down", slot.id)
                await self._step_down(slot, time.monotonic())
        elif action is Action.ACQUIRE:
            await self._try_acquire(slot, now)

    async def _try_acquire(self, slot: Slot, now: float) -> None:
        """Take the hall if this process should and can (then queued for loading)."""
        machine, book = slot.machine, slot.book
        assert machine is not None and book is not None
        url = slot.config.database
        started = time.monotonic()
        try:
            if self._owned(url) >= self._share(url):
                holder, read_at = await self.lease_pass.run(_read_owner, book, slot.id)
                live = holder is not None and holder.live
                if live:
                    slot.free_since = None
                elif slot.free_since is None:
                    slot.free_since = now
                orphan = holder is not None and holder.owner is not None and not live
                # A hall with no owner that no process under its share took
                # in time (the one it was given back to is frozen or dead).
                stranded = slot.free_since is not None \
                    and now - slot.free_since >= STRANDED_POLLS * machine.poll_s
                if not (orphan or stranded):
                    _saw(slot, holder, read_at)
                    machine.feed(Input.TAKEN, now, expires_in=_expires_in(holder))
                    return
            epoch = await self.lease_pass.run(book.acquire, slot.id, self.hall_url(slot.id))
            if epoch is None:
                holder, read_at = await self.lease_pass.run(_read_owner, book, slot.id)
                _saw(slot, holder, read_at)
                # The next try counts from the read, on the pass's clock.
                machine.feed(Input.TAKEN, now + (read_at - started),
                             expires_in=_expires_in(holder))
                return
        except StoreError as exc:
            log.warning("hall %s: cannot read its lease: %s", slot.id, exc)
            machine.feed(Input.FAILED, time.monotonic())
            return
        machine.feed(Input.ACQUIRED, time.monotonic(), started=started, epoch=epoch)
        slot.free_since = None
        slot.owner_url = None
        slot.owner_expires = None
        slot.pending = True
        slot.loaded = asyncio.Event()
        slot.taken_at = time.monotonic()
        # Halls taken from a frozen process (or one of a release without
        # migration 0014's presence key) come before its heartbeat ages out
        # of the live count: do not give one straight back. (A killed
        # process's presence lock goes at once, and so does its count.)
        self._next_yield = max(self._next_yield, time.monotonic() + 1.5 * self.lease_s)
        log.warning("hall %s: taken (epoch %d) in %.2f s; loading it", slot.id, epoch,
                    time.monotonic() - started)
        self._kick_loads()  # now, not once the rest of the pass is done

    async def _load(self, slot: Slot) -> None:
        """Load a hall taken and serve it if it is still ours then (its hellos
        waiting meanwhile are let through).

        The store's reads and the building of the core run in the load
        thread (:meth:`_build`); on the loop only what the hall's server
        attaches (its upkeep, the slot). The loop used to run the whole load:
        a city instance taking a dead one's halls stalled seconds per hall
        on a loaded machine, no device of any hall got a pong or a welcome
        meanwhile, and the halls loaded last were later than the devices'
        patience. While the thread reads, the lease pass may step the hall
        down (lost, lapsed, given back) and even take it again: a server
        built for a lease no longer held is dropped, never attached.
        """
        machine = slot.machine
        assert machine is not None
        slot.loading = True
        started = time.monotonic()
        epoch, loaded = machine.epoch, slot.loaded
        try:
            if machine.state is not State.OWNING:
                return  # lost before its turn (stepped down meanwhile)
            try:
                server, cpu = await self._build(slot)
            except Exception:
                log.exception("hall %s: taken but could not be loaded; giving it back", slot.id)
                if self._ours(slot, epoch, loaded):
                    machine.feed(Input.YIELD, time.monotonic())
                    await self._step_down(slot, time.monotonic())
                return
            if not self._ours(slot, epoch, loaded):
                # Never attached, so nothing of it runs; its webhook stager
                # (``Store.stagers``) stays until the hall's next build here
                # replaces it, and only such a server commits for the hall.
                log.warning("hall %s: no longer ours once loaded; not served", slot.id)
                return
            self._attach(slot, server)
            now = time.monotonic()
            log.warning("hall %s: now the owner (epoch %s), loaded in %.2f s (%.2f s CPU), "
                        "%.2f s after it was taken; %d hello(s) waiting", slot.id,
                        machine.epoch, now - started, cpu, now - slot.taken_at, len(slot.waits))
        finally:
            slot.loading = False
            if slot.loaded is loaded:  # not taken again meanwhile (a new load's own)
                slot.pending = False
                if loaded is not None:
                    loaded.set()

    def _ours(self, slot: Slot, epoch: int | None, loaded: asyncio.Event | None) -> bool:
        """Whether the lease a load began under is still held, as it was then."""
        machine = slot.machine
        return (not self._stopping and machine is not None and machine.state is State.OWNING
                and machine.epoch == epoch and slot.pending and slot.loaded is loaded)

    async def _build(self, slot: Slot) -> tuple[Server, float]:
        """The hall's server, read from the store and built (not attached),
        and the CPU seconds the building thread spent on it.

        On PostgreSQL in the load thread: ``make_server`` reads the store
        (its engine's pool is shared with the lease thread and the loop) and
        builds plain objects (asyncio primitives bind to a loop when first
        awaited, not when made; each server has its own metrics registry);
        it must not touch the running loop. On SQLite the only process
        loads its halls once, at its start, on the loop (an in-memory
        database is one connection per thread).
        """
        if slot.book is None:
            return _timed(self.make_server, slot.config, slot.store)
        return await asyncio.get_running_loop().run_in_executor(
            self._loader, _timed, self.make_server, slot.config, slot.store)

    def _attach(self, slot: Slot, server: Server) -> None:
        """Serve the hall with ``server`` (on the loop)."""
        slot.free_since = None
        if len(self.slots) > 1:
            server.console.base = f"/console/{quote(slot.id, safe='')}"
        book, machine = slot.book, slot.machine
        if book is not None and machine is not None:
            hall = slot.id
            # Fenced by the store, or our lease ran out by our own clock (we
            # were frozen, or the database was away): whatever we did is not
            # answered; the clients resend to whoever owns the hall now.
            server.fenced = lambda: (hall in book.fenced
                                     or not machine.serving(time.monotonic()))
        server.attach()
        slot.server = server
        slot.owner_url = None
        slot.owner_expires = None
        slot.took_over += 1

    async def _step_down(self, slot: Slot, now: float) -> None:
        machine, book = slot.machine, slot.book
        assert machine is not None and book is not None
        _stop_serving(slot)
        slot.pending = False
        try:
            # Only if still ours (a yield, a local expiry).
            await self.lease_pass.run(book.release, slot.id)
        except StoreError:
            pass
        book.fenced.discard(slot.id)
        machine.feed(Input.STEPPED_DOWN, now)
        # Who owns it now, read at once: the hall's hellos (those waiting for
        # a load that will not come, the clients just closed coming back)
        # are told that owner. Before, this process knew none until its next
        # poll: it held them for it, or refused them naming no owner.
        try:
            holder, read_at = await self.lease_pass.run(_read_owner, book, slot.id)
            _saw(slot, holder, read_at)
        except StoreError:
            pass
        if slot.loaded is not None:
            slot.loaded.set()  # its waiting hellos are refused as a standby's
        slot.looked()
        log.warning("hall %s: standby now (owner %s)", slot.id, slot.owner_url or "not known")

    async def _balance(self, slots: list[Slot], now: float) -> None:
        """Give one hall back when this process owns more than its share."""
        if now < self._next_yield:
            return
        for url in self.books:
            share = self._share(url)
            others = {i: n for i, n in (self._live.get(url) or {}).items()
                      if i != self.instance}
            # Only towards a live process below its share: it takes the hall
            # at its next poll (should it be frozen, another takes it after
            # STRANDED_POLLS polls).
            if self._owned(url) > share and any(n < share for n in others.values()):
                mine = [s for s in slots if s.config.database == url and s.server is not None]
                if not mine:
                    return  # every hall over the share is still loading: later
                slot = mine[0]
                assert slot.machine is not None
                log.warning("hall %s: more than my share (%d); giving it back", slot.id,
                            share)
                slot.machine.feed(Input.YIELD, now)
                self._next_yield = now + self.lease_s / 3
                await self._step_down(slot, now)
                return

    # ----------------------------------------------------------------- HTTP
    def _route(self, conn: ServerConnection, request: Request) -> Response | None:
        response = self._dispatch(conn, request)
        if response is not None:
            http_headers.secure(response)
        return response

    def _dispatch(self, conn: ServerConnection, request: Request) -> Response | None:
        path = unquote(urlsplit(request.path).path)
        if request.method != "GET" and not path.startswith("/api/"):
            return http_headers.not_allowed(conn)  # the API answers its own methods
        head, _, rest = path.lstrip("/").partition("/")
        rest = rest.strip("/")
        only = next(iter(self.slots.values())) if len(self.slots) == 1 else None
        now = time.monotonic()
        if only is None and head in ("take", "book", "api"):
            # The phone pages and the API name their hall (or a ticket's check).
            slot = self._phone_slot(head, rest, now)
            if slot is None:
                return conn.respond(404, "没有这个大厅或号票 no such hall or ticket\n")
            return self._hall_route(conn, request, slot, path, now)
        if head in _HALL_PATHS:
            if rest:
                slot = self.slots.get(rest)
                if slot is None:
                    return conn.respond(404, "没有这个大厅 no such hall\n")
            elif only is not None:
                slot = only
            elif head == "healthz":
                if any(s.serving(now) for s in self.slots.values()):
                    return conn.respond(200, "ok\n")
                return conn.respond(503, "standby\n")
            else:
                return conn.respond(404, f"请指明大厅 name the hall: /{head}/<hall-id>\n")
            return self._hall_route(conn, request, slot, f"/{head}", now)
        if head == "console" and only is None:
            # /console/<hall-id>/...: that hall's console, as if it were alone.
            hall, _, tail = rest.partition("/")
            slot = self.slots.get(hall)
            if slot is None:
                return conn.respond(404, "请指明大厅 name the hall: /console/<hall-id>\n")
            return self._hall_route(conn, request, slot, "/console" + (f"/{tail}" if tail
                                                                         else ""), now)
        if head == "metrics":
            if only is not None and only.serving(now):
                # One hall: its metrics as they always were (no hall label).
                return self._hall_route(conn, request, only, path, now)
            return self._metrics(conn)
        if head == "t":
            return self._ticket_page(conn, request, rest, path, now)
        if only is not None:
            return self._hall_route(conn, request, only, path, now)
        if path in ("/", "/index.html"):
            return html_response(conn, 200, pages.index_page(
                " · ".join(s.config.name for s in self.slots.values())))
        return conn.respond(404, "not found\n")

    def _by_check(self, check: str, now: float) -> Slot | None:
        """The hall this process serves that issued the ticket with ``check``."""
        for slot in self.slots.values():
            if slot.serving(now) and slot.server is not None \
                    and slot.server.service.hall.by_check(check) is not None:
                return slot
        return None

    def _phone_slot(self, head: str, rest: str, now: float) -> Slot | None:
        """``/take/<hall>``, ``/book/<hall>``, ``/api/v1/halls/<hall>/...``
        name the hall; ``/api/v1/tickets/<check>/...`` the ticket."""
        parts = rest.split("/")
        if head in ("take", "book"):
            return self.slots.get(parts[0])
        if len(parts) >= 3 and parts[0] == "v1" and parts[1] == "halls":
            return self.slots.get(parts[2])
        if len(parts) >= 3 and parts[0] == "v1" and parts[1] == "tickets":
            return self._by_check(parts[2].removesuffix(".ics"), now)
        return None

    def _ticket_page(self, conn: ServerConnection, request: Request, check: str, path: str,
                     now: float) -> Response | None:
        """``/t/<check>``: the owner of the ticket's hall answers it. Asked of a
        process that stands by for that hall (say, a load balancer sent it
        here), it redirects to the owner's advertised address from the lease."""
        slot = self._by_check(check, now)
        if slot is not None:
            return self._hall_route(conn, request, slot, path, now)
        try:
            owner = self._owner_page(check, now)
        except StoreError as exc:
            log.warning("ticket page %s: cannot read the store: %s", check[:32], exc)
            return conn.respond(503, "暂时无法查询，请稍后再试 try again shortly\n")
        if owner is not None:
            resp = conn.respond(307, f"{owner}\n")
            http_headers.set_header(resp, "Location", owner)
            http_headers.set_header(resp, "Cache-Control", "no-store")
            return resp
        only = next(iter(self.slots.values())) if len(self.slots) == 1 else None
        if only is not None and only.serving(now):
            return self._hall_route(conn, request, only, path, now)  # its own 404 page
        return html_response(conn, 404, pages.not_found_page(""))

    def _owner_page(self, check: str, now: float) -> str | None:
        """``http(s)://owner/t/<check>`` when ``check`` is a ticket of a hall
        here that another live process owns (None otherwise)."""
        elsewhere: dict[str, list[Slot]] = collections.defaultdict(list)
        for slot in self.slots.values():
            if not slot.serving(now) and slot.book is not None:
                elsewhere[slot.config.database].append(slot)
        for slots in elsewhere.values():
            hall = slots[0].store.hall_of_check(check, [s.id for s in slots])
            book = self.slots[hall].book if hall is not None else None
            # The lease row itself, not the slot's last look at it: a hall
            # just given back has not been looked at since.
            holder = book.owner(hall) if book is not None and hall is not None else None
            if holder is not None and holder.live and holder.url:
                return owner_page_url(holder.url, check)
        return None

    def _hall_route(self, conn: ServerConnection, request: Request, slot: Slot, path: str,
                    now: float) -> Response | None:
        if slot.serving(now) and slot.server is not None:
            as_alone = request
            if path != unquote(urlsplit(request.path).path):  # /ws/<hall> -> /ws ...
                query = urlsplit(request.path).query
                as_alone = dataclasses.replace(request, path=path + (f"?{query}" if query else ""))
            response = slot.server.route_request(conn, as_alone)
            if response is None:
                self._conn_slot[conn] = slot
            return response
        if path == "/ws":
            self._conn_slot[conn] = slot  # refused after its hello, naming the owner
            return None
        return conn.respond(503, "standby\n")

    def _metrics(self, conn: ServerConnection) -> Response:
        from server.metrics import CONTENT_TYPE_LATEST

        now = time.monotonic()
        texts = {}
        for slot in self.slots.values():
            if slot.serving(now) and slot.server is not None:
                texts[slot.id] = slot.server.metrics_text()
        owned = "".join(
            f'qhall_hall_owned{{hall="{s.id}"}} {1 if s.serving(now) else 0}\n'
            for s in self.slots.values())
        body = (merge_metrics(texts) + "# HELP qhall_hall_owned 1 when this process owns the "
                "hall (writes it), 0 when it stands by\n# TYPE qhall_hall_owned gauge\n" + owned)
        resp = conn.respond(200, body)
        http_headers.set_header(resp, "Content-Type", CONTENT_TYPE_LATEST)
        return resp

    # ------------------------------------------------------------- websocket
    async def _handle(self, ws: ServerConnection) -> None:
        slot = self._conn_slot.pop(ws, None)
        if slot is None:
            await ws.close(1011, "no hall")
            return
        started = time.monotonic()
        loading = bounded = False
        with slot.waiting(started):
            held, bounded = await self._hold(ws, slot)
            left = WELCOME_WITHIN_S - (time.monotonic() - started)
            if slot.pending and slot.loaded is not None:
                # Taken, loading or its turn to come: a standby names this
                # process already, so its devices wait here rather than go
                # round; within one bound with the hold (a fresh wait after a
                # hold outlasted the devices' patience).
                loading = True
                try:
                    if left <= 0:
                        raise TimeoutError
                    await asyncio.wait_for(
                        early(ws, HELLO_TIMEOUT_S).during(slot.loaded.wait()), left)
                except TimeoutError:
                    bounded = True
        server = slot.server
        if server is not None and server.accepting:
            if held or loading:
                # The hall's server answers the hello now (its own refusals,
                # a bad token say, are its own to log).
                _waited(ws, slot, started, held, loading, "welcomed")
            await server.handle(ws)
            return
        # The hello has 10 s from the upgrade, a hold included (a held
        # device's hello is already here).
        named = await self._refuse(ws, slot,
                                   max(0.5, HELLO_TIMEOUT_S - (time.monotonic() - started)))
        if held or loading:
            _waited(ws, slot, started, held, loading,
                    f"bounded out, {named}" if bounded else named)

    async def _hold(self, ws: ServerConnection, slot: Slot) -> tuple[bool, bool]:
        """Hold a hello to a standby whose owner's lease is running out;
        whether it was held, and whether the hold ended by its bound.

        Refused now, the device would be told of an owner that is dead (its
        lease not yet run out) and have to guess where to go. Held, it is
        welcomed on this socket if this process takes the hall (then it
        waits for the load, as any hello of a hall taken), or refused
        naming whoever took it, as soon as a lease pass has seen either;
        at most until the lease has run out plus a poll and a margin. The
        hello is read meanwhile but kept for the hall's server (or the
        refusal); the device's pings are answered (the web board's probe).
        A held hello costs a waiting coroutine on the socket's own handler
        and a reader task while it waits; per source address at most the
        hall's ``hellos_per_min`` are held at once (0: no limit, as
        ``--no-limits``), the rest refused at once as before.
        """
        now = time.monotonic()
        within = HOLD_WITHIN * self.lease_s
        if self._stopping or not slot.holds(now, within):
            return False, False
        peer = ws.remote_address
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        most = slot.config.limits.hellos_per_min
        if most and self._held[address] >= most:
            return False, False
        poll = slot.machine.poll_s if slot.machine is not None else 0.0
        deadline = now + min(HELLO_TIMEOUT_S, within + poll + HOLD_MARGIN_S)
        self._held[address] += 1
        try:
            while not self._stopping and slot.holds(time.monotonic(), within) \
                    and ws.state is WsState.OPEN:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        # The hello is read meanwhile (kept for whoever
                        # answers it) and pings answered: server/prewelcome.py.
                        await early(ws, HELLO_TIMEOUT_S).during(slot.changed.wait())
        finally:
            self._held[address] -= 1
            if not self._held[address]:
                del self._held[address]
        # Ended with the hall still to be held: its bound, not a lease pass.
        bounded = not self._stopping and ws.state is WsState.OPEN \
            and slot.holds(time.monotonic(), within)
        return True, bounded

    async def _refuse(self, ws: ServerConnection, slot: Slot,
                      wait_s: float = HELLO_TIMEOUT_S) -> str:
        """A hello to a standby: error ``standby`` naming the owner, close 1013;
        what it did, for the log (``refused naming <owner>``, ``no hello``).

        A hall this process has taken and still loads names this process:
        it is the owner, and the device comes back (not ``owner: null``,
        which sent it round the standbys)."""
        try:
            frame = await asyncio.wait_for(early(ws, HELLO_TIMEOUT_S).hello(), wait_s)
        except (TimeoutError, ConnectionClosed):
            await ws.close(protocol.CLOSE_TRY_AGAIN, "standby")
            return "no hello"
        rid = None
        try:
            hello = protocol.decode(frame) if isinstance(frame, str) else {}
            rid = hello.get("id") if isinstance(hello.get("id"), str) else None
        except protocol.ProtocolError:
            pass
        reply = protocol.error(rid, protocol.STANDBY,
                               "此服务器为热备，请连接主服务器 this server is a standby for "
                               "the hall; connect to its owner")
        owner = reply["owner"] = self.hall_url(slot.id) if slot.pending else slot.owner_url
        held_for = None if slot.pending else slot.owned_for(time.monotonic())
        if held_for is not None:
            # How long that owner has held the hall, at most: a device that
            # found it down before it took the hall (a restarted or woken
            # process) goes to it instead of waiting here for a lease that
            # will not run out (docs/PROTOCOL.md, `owner_for`).
            reply["owner_for"] = round(held_for, 1)
        try:
            await ws.send(protocol.encode(reply))
            await ws.close(protocol.CLOSE_TRY_AGAIN, "standby")
        except ConnectionClosed:
            return "device left"
        return f"refused naming {owner or 'no owner'}"


def _waited(ws: ServerConnection, slot: Slot, since: float, held: bool, loading: bool,
            outcome: str) -> None:
    """One line per hello that waited here (held, or for the hall's load): who,
    how long, and how it ended, so a chaos run's instance logs say why a
    device waited."""
    how = "held, loading" if held and loading else "held" if held else "loading"
    log.warning("hall %s: hello of %s waited %.1f s (%s): %s", slot.id,
                hello_device(ws) or "?", time.monotonic() - since, how, outcome)


def _renewal_order(slot: Slot) -> float:
    """Owned halls renew the least recently renewed first (``random.shuffle``
    left one renewed first in a pass last in the next)."""
    return slot.machine.next_renewal if slot.machine is not None else 0.0


def _load_order(slot: Slot) -> tuple[bool, float]:
    """Halls with hellos waiting first, the longest-waiting first; the others
    keep the halls' order (``min`` is stable)."""
    return (not slot.waits, min(slot.waits.values(), default=0.0))


def _timed(make: Callable[[HallConfig, Store], Server], config: HallConfig,
           store: Store) -> tuple[Server, float]:
    """``make(config, store)`` and the CPU seconds this thread spent on it (a
    load slow for its reads, or for the interpreter)."""
    began = time.thread_time()
    server = make(config, store)
    return server, time.thread_time() - began


def _stop_serving(slot: Slot) -> None:
    """Close the hall's clients (1012: they move to the new owner) and stop serving it."""
    if slot.server is not None:
        slot.server.detach(protocol.CLOSE_SERVICE_RESTART, "no longer the owner of this hall")
        slot.server = None


def _saw(slot: Slot, holder: Holder | None, at: float) -> None:
    """Note who owns the hall, as just read at ``at``, and when its lease runs out."""
    live = holder is not None and holder.live
    slot.owner_url = holder.url if holder is not None and live else None
    key = (holder.url, holder.epoch) if holder is not None and live else None
    if key != slot.owner_key or slot.read_at is None:
        # A new owner (or epoch): it took the hall after the previous read.
        # At the first read its taking is older than this process: unknown.
        slot.owner_since = slot.read_at if key is not None else None
        slot.owner_key = key
    slot.read_at = at
    expires_in = _expires_in(holder)
    slot.owner_expires = None if expires_in is None else at + expires_in


def _expires_in(holder: Holder | None) -> float | None:
    """How long a live holder's lease still runs (None: not held or unknown)."""
    return holder.expires_in if holder is not None and holder.live else None


def merge_metrics(texts: dict[str, str]) -> str:
    """Several halls' Prometheus texts as one, every sample labelled ``hall``.

    Each family's ``# HELP``/``# TYPE`` appears once with the samples of
    every hall under it (the text format wants a family in one block).
    """
    families: dict[str, tuple[list[str], list[str]]] = {}
    for hall, text in texts.items():
        current: tuple[list[str], list[str]] | None = None
        for line in text.splitlines():
            if not line:
                continue
            if line.startswith("#"):
                parts = line.split(" ", 3)
                if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                    current = families.setdefault(parts[2], ([], []))
                    if hall == next(iter(texts)):
                        current[0].append(line)
                continue
            if current is None:
                continue
            name, brace, tail = line.partition("{")
            label = f'hall="{hall}"'
            if brace:
                sample = f"{name}{{{label},{tail}" if not tail.startswith("}") \
                    else f"{name}{{{label}{tail}"
            else:
                metric, _, value = line.partition(" ")
                sample = f"{metric}{{{label}}} {value}"
            current[1].append(sample)
    return "".join("\n".join(head + samples) + "\n" for head, samples in families.values())


def lease_of(configs: Sequence[HallConfig]) -> float:
    """The owner lease of a process serving ``configs``: their ``[failover]
    lease_s`` (one loop renews every hall's lease, so they must agree).

    Raises:
        ValueError: two halls ask for different leases (the message names them).
    """
    lengths = {c.failover.lease_s for c in configs}
    if len(lengths) > 1:
        named = ", ".join(f"{c.id}: {c.failover.lease_s:g}" for c in configs)
        raise ValueError(f"同一进程服务的大厅 [failover] lease_s 必须相同 the halls of one process "
                         f"share one lease; [failover] lease_s differs ({named}): make them "
                         f"equal or give --lease-s")
    return lengths.pop() if lengths else DEFAULT_LEASE_S


def owner_page_url(hall_url: str, check: str) -> str | None:
    """A ticket's status page at the process behind ``hall_url`` (a lease row's
    ``ws[s]://host:port[/prefix]/ws[/hall]``); None when that is not such a URL."""
    parts = urlsplit(hall_url)
    base, sep, _ = parts.path.rpartition("/ws")
    if parts.scheme not in ("ws", "wss") or not parts.netloc or not sep:
        return None
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{parts.netloc}{base}/t/{quote(check, safe='')}"


def html_response(conn: ServerConnection, status: int, body: str) -> Response:
    """An HTML page that is never cached (boards, ticket pages, the index)."""
    resp = conn.respond(status, body)
    http_headers.set_header(resp, "Content-Type", "text/html; charset=utf-8")
    http_headers.set_header(resp, "Cache-Control", "no-store")
    return resp
