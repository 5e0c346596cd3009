"""``qhall chaos``: several ``qhall serve`` instances sharing many halls, killed at random.

A throwaway PostgreSQL cluster (``server/tools/pgcluster.py``), ``--halls``
hall configurations (the load-test hall, always open) in one directory and
``--instances`` ``qhall serve --config-dir`` processes sharing them (short
leases). Every hall gets simulated kiosks, counters and lobby boards, each an
:class:`~server.client.aio.AsyncClient` given every instance's URL, so it
fails over like a real device. ``--kills`` times, spread over ``--minutes``,
one instance is SIGKILLed or SIGSTOPped, and restarted or SIGCONTed once
every hall it owned has a new owner (a woken one must step down, committing
nothing). At the end it prints failovers, the takeover time of each hall
that lost its owner (p50/p99/max), requests that failed and were retried,
counter logins refused (by code; a counter asks again, with backoff), the
longest time a client was offline, the outages split by cause (one
instance failure under way or several overlapping:
:mod:`server.tools.outages`) with the longest of each class and its
connection steps, every invariant (:func:`check_hall`) and the machine's
load average. ``--client-log`` puts the devices' steps, the instances'
kills / freezes / wakes / spawns / readies and the outages in one file.
Printed, not asserted. The run always ends: kills still due get at most
``KILL_GRACE_S`` more, and the stop is bounded (``STOP_GRACE_S`` per step);
what misbehaved is printed as NOTE lines and makes the exit status 1.

The pieces are used by the failover tests too: :class:`Instance` (one serve
process), :class:`HallLoad` (one hall's simulated devices) and
:func:`check_hall` (the invariants).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import itertools
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from server.auth import hash_secret
from server.client.aio import AsyncClient
from server.config import Failover, HallConfig, dumps
from server.reference import DEMO_PIN, demo_token
from server.tools import invariants, outages
from server.tools.loadtest import _pct, loadtest_config
from server.tools.workdir import workdir as work_in

__all__ = ["HallLoad", "Instance", "chaos_config", "check_hall", "configure", "run"]

#: Every kill, freeze, wake, spawn and ready of an instance (INFO), into the
#: ``--client-log`` file beside the devices' connection steps, so that each
#: outage can be matched with the failures under way.
log = logging.getLogger("server.tools.chaos")

KIOSKS = ("kiosk-1", "kiosk-2")
COUNTERS = (1, 2, 3)  # serve qydj and gtdj in the demo hall
SERVICES = ("qydj", "gtdj")
BOARDS = ("board-1", "board-2")


def chaos_config(hall_id: str, database: str) -> HallConfig:
    """The load-test hall (demo hall, always open) as hall ``hall_id``."""
    return dataclasses.replace(loadtest_config(database), id=hall_id,
                               name=f"压力测试大厅 chaos hall {hall_id}")


def real_tokens(cfg: HallConfig, hashes: dict[str, str]) -> HallConfig:
    """``cfg`` with every device's token hashed at the production scrypt cost
    (the demo hashes are cheap: a takeover's token checks would cost nothing).
    The tokens stay the demo ones; ``hashes`` (device -> hash) is filled and
    reused, so each device id is hashed once per run."""
    devices = []
    for d in cfg.devices:
        if d.id not in hashes:
            hashes[d.id] = hash_secret(demo_token(d.id))
        devices.append(dataclasses.replace(d, token_hash=hashes[d.id]))
    return dataclasses.replace(cfg, devices=tuple(devices))


# ------------------------------------------------------------------ instance
class Instance:
    """One ``qhall serve`` process (its own port) serving ``config_args``."""

    def __init__(self, name: str, config_args: list[str], port: int, log_path: Path,
                 lease_s: float) -> None:
        self.name = name
        self.config_args = config_args
        self.port = port
        self.log_path = log_path
        self.lease_s = lease_s
        self.stopped = False
        #: it answered HTTP since it was last spawned (a starting process
        #: does not count as a healthy instance yet)
        self.ready = False
        self.proc: subprocess.Popen[bytes] | None = None
        #: ``(monotonic seconds, what)``: spawn, ready, SIGKILL, SIGSTOP,
        #: SIGCONT, exited (the failures :mod:`server.tools.outages` reads)
        self.events: list[tuple[float, str]] = []

    def note(self, what: str) -> None:
        """Record (and log, with the wall time) one thing that happened to it."""
        self.events.append((time.monotonic(), what))
        log.info("instance %s (port %d): %s", self.name, self.port, what)

    def url(self, hall: str | None = None) -> str:
        return f"ws://127.0.0.1:{self.port}/ws" + (f"/{hall}" if hall else "")

    def start(self, timeout: float = 60.0) -> Instance:
        """Spawn it; return once it listens (owner or standby)."""
        self.spawn()
        deadline = time.monotonic() + timeout
        while not self.listening():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not listen within {timeout:g} s")
            time.sleep(0.05)
        return self

    def listening(self) -> bool:
        """Whether it answers HTTP now.

        Raises:
            RuntimeError: the process has exited (its log's end in the message).
        """
        assert self.proc is not None
        if self.healthz()[0] != 0:
            if not self.ready:
                self.note("ready")
            self.ready = True
            return True
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited ({self.proc.returncode}): "
                               + self.output()[-2000:])
        return False

    def spawn(self) -> None:
        """Start the process (it listens a moment later: :meth:`listening`)."""
        out = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps its copy
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", *self.config_args,
             "--port", str(self.port), "--no-limits", "--quiet-requests",
             "--log-level", "WARNING", "--lease-s", str(self.lease_s),
             "--instance", self.name, "--advertise", f"ws://127.0.0.1:{self.port}"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        out.close()
        self.stopped = False
        self.ready = False
        self.note(f"spawn (pid {self.proc.pid})")

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def healthz(self, hall: str | None = None) -> tuple[int, str]:
        """(status, body) of /healthz[/hall]; (0, "") when nothing answers."""
        url = f"http://127.0.0.1:{self.port}/healthz" + (f"/{hall}" if hall else "")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.note(sig.name)
        self.proc.send_signal(sig)
        if sig is signal.SIGSTOP:
            self.stopped = True
        elif sig is signal.SIGCONT:
            self.stopped = False
        elif sig is signal.SIGKILL:
            self.proc.wait(10)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        if self.stopped:
            self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


# ---------------------------------------------------------------------- load
#: Offline intervals at least this long are kept (with the client's steps).
OUTAGE_KEEP_S = 10.0
#: The issue's target: no device offline longer than this.
OFFLINE_TARGET_S = 20.0
#: Connection steps printed per outage (its last ones).
SHOWN_STEPS = 30
#: ``--all-devices``: the idle devices of a hall opening at the same time.
IDLE_OPENING = 4
#: Request errors asked again (a new id) while they last: no server answered.
NO_SERVER = ("timeout", "offline", "internal")
#: A counter's login the server refused (``unauthorized`` from a new owner
#: during a failover, ``rate_limited``...) is asked this many times in all,
#: LOGIN_BACKOFF_S apart (doubling up to the second figure); then the counter
#: goes on, and a call refused ``unauthorized`` (logged out) logs it in again.
LOGIN_TRIES = 5
LOGIN_BACKOFF_S = (0.5, 4.0)


@dataclasses.dataclass(frozen=True)
class Outage:
    """A device not online for ``seconds`` from ``start`` (monotonic;
    ``ended``: it came back), and its session's connection steps over that
    time (seconds from its start)."""

    device: str
    seconds: float
    ended: bool
    steps: list[str]
    start: float = 0.0


@dataclasses.dataclass
class HallLoad:
    """One hall's simulated devices: kiosks issue, counters call and complete,
    boards record every call. Every client knows every URL in ``urls``.

    ``issue_every_s`` is each kiosk's pause between tickets (a reference
    peak is about one ticket a second per kiosk).
    """

    hall: str
    urls: list[str]
    issue_every_s: float = 1.0
    #: per request and per welcome wait (opening a socket may take the
    #: clients' OPEN_S: a frozen instance accepts TCP and never answers)
    timeout_s: float = 5.0
    acked: list[str] = dataclasses.field(default_factory=list)
    failed: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    retried: int = 0
    boards: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    board_seq: dict[str, int] = dataclasses.field(default_factory=dict)
    offline_max_s: float = 0.0
    offline_worst: str = ""  # which device, for the printout
    #: every time a device was offline OUTAGE_KEEP_S or longer, with its steps
    outages: list[Outage] = dataclasses.field(default_factory=list)
    clients: list[AsyncClient] = dataclasses.field(default_factory=list)
    #: devices that only stay connected (``--all-devices``: the rest of the hall's)
    idle: tuple[str, ...] = ()
    #: hello refusals by code of the clients that gave up opening
    hello_errors: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter)
    #: counter logins the server refused, by code (each try counted)
    logins_refused: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter)
    #: logins given up after LOGIN_TRIES refusals
    logins_given_up: int = 0
    #: set by :meth:`run`: once set, a failed request is not asked again
    stop: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    async def run(self, stop: asyncio.Event) -> None:
        """Open every device, drive them until ``stop``, then close the writers.

        Once ``stop`` is set nothing is retried any more, so this ends within
        about a request timeout (a device still opening gives up too).
        """
        self.stop = stop
        rng = random.Random(self.hall)
        for name in BOARDS:
            self.boards[name] = []
            if await self._open(name, on_event=self._board(name)) is None:
                return
        names = [*KIOSKS, *(f"counter-{n}" for n in COUNTERS)]
        opened = [await self._open(name) for name in names]
        writers = [client for client in opened if client is not None]
        if len(writers) < len(names):
            return  # stopped while opening: close_boards() closes what did open
        kiosks, counters = writers[:len(KIOSKS)], writers[len(KIOSKS):]
        tasks = [asyncio.create_task(self._kiosk(k, stop, rng)) for k in kiosks]
        tasks.append(asyncio.create_task(self._open_idle()))
        tasks += [asyncio.create_task(self._counter(c, i, stop)) for i, c in enumerate(counters)]
        tasks.append(asyncio.create_task(self._watch(stop)))
        await asyncio.gather(*tasks)
        for client in kiosks + counters:
            await client.close()

    async def _open_idle(self) -> None:
        """Connect the idle devices, a few at a time (devices booting over a
        morning), each one client that keeps trying as a real device does:
        one that gave up after a timeout and started over would cost a token
        check per try and never catch up with the kills."""
        gate = asyncio.Semaphore(IDLE_OPENING)

        async def one(name: str, k: int) -> None:
            async with gate:
                if self.stop.is_set():
                    return  # the run ended before this device's turn
                client = AsyncClient(name, None, token=demo_token(name),
                                     timeout_s=self.timeout_s, backoff=(0.2, 2.0))
                with contextlib.suppress(TimeoutError):
                    await client.open(self.urls[k:] + self.urls[:k])
                while client.session is not None and not client.session.online:
                    if self.stop.is_set():
                        self._gave_up(client)
                        await client.close()
                        return
                    await asyncio.sleep(0.1)
                self.clients.append(client)  # watched from its first welcome on

        await asyncio.gather(*(one(name, i % len(self.urls))
                               for i, name in enumerate(self.idle)))

    def _gave_up(self, client: AsyncClient) -> None:
        if client.session is not None:
            self.hello_errors.update(client.session.hello_errors)

    async def close_boards(self) -> None:
        """Close every client still open (the boards, after :meth:`run`)."""
        for client in self.clients:
            await client.close()

    async def _open(self, device: str, on_event: Any = None) -> AsyncClient | None:
        """A connected client; a device starting while an instance is frozen
        (its hello unanswered) starts over from the next URL."""
        for attempt in itertools.count():
            if self.stop.is_set():
                return None  # the run ended before this device came up
            k = attempt % len(self.urls)
            client = AsyncClient(device, on_event, token=demo_token(device),
                                 timeout_s=self.timeout_s, backoff=(0.2, 2.0))
            try:
                await client.open(self.urls[k:] + self.urls[:k])
            except TimeoutError:
                self._gave_up(client)
                await client.close()
                self.failed["no welcome"] += 1
                continue
            self.clients.append(client)
            return client
        return None  # unreachable: count() is endless

    def _board(self, name: str) -> Any:
        def on_event(message: dict[str, Any]) -> None:
            self.board_seq[name] = int(message["seq"])
            if message["name"] == "ticket.called":
                self.boards[name].append(str(message["data"]["ticket"]["id"]))
        return on_event

    async def _ask(self, client: AsyncClient, kind: str, **fields: Any) -> dict[str, Any]:
        """A request, asked again (a new id) while it fails for want of a server."""
        while True:
            reply = await client.request(kind, **fields)
            code = reply.get("code") if reply.get("type") == "error" else None
            if code not in NO_SERVER or self.stop.is_set():
                return reply
            self.failed[code] += 1
            self.retried += 1
            await asyncio.sleep(0.2)

    async def _kiosk(self, client: AsyncClient, stop: asyncio.Event,
                     rng: random.Random) -> None:
        while not stop.is_set():
            reply = await self._ask(client, "issue", service=rng.choice(SERVICES))
            if reply["type"] == "ok":
                self.acked.append(str(reply["ticket"]["id"]))
            else:
                self.failed[str(reply.get("code"))] += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.issue_every_s)

    async def _login(self, client: AsyncClient, login: dict[str, str]) -> bool:
        """Log a counter in, asking again while the server refuses (at most
        LOGIN_TRIES times, with backoff), each refusal counted by code: a
        counter must not go on calling logged out (every call refused)."""
        delay, most = LOGIN_BACKOFF_S
        for attempt in range(1, LOGIN_TRIES + 1):
            reply = await self._ask(client, "login", **login)
            if reply.get("type") == "ok":
                return True
            code = str(reply.get("code"))
            if code in NO_SERVER:  # the run is stopping: not a refusal
                return False
            self.logins_refused[code] += 1
            if attempt == LOGIN_TRIES or self.stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), delay)
            delay = min(most, delay * 2)
        if not self.stop.is_set():
            self.logins_given_up += 1
        return False

    async def _counter(self, client: AsyncClient, index: int, stop: asyncio.Event) -> None:
        login = {"staff": f"s{index + 1:03d}", "pin": DEMO_PIN}
        await self._login(client, login)
        while not stop.is_set():
            reply = await self._ask(client, "call_next")
            if reply["type"] == "ok":
                await self._ask(client, "complete")
                continue
            if reply.get("code") == "conflict":
                # As a clerk would: a call asked again under a new id after a
                # timeout finds the first one's ticket still current (finish
                # it); a counter found closed is logged in again.
                self.failed["conflict"] += 1
                done = await self._ask(client, "complete")
                if done.get("code") == "conflict":
                    await self._login(client, login)
                continue
            if reply.get("code") != "queue_empty":
                self.failed[str(reply.get("code"))] += 1
            if reply.get("code") == "unauthorized" and not stop.is_set():
                await self._login(client, login)  # logged out (the login refused)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)

    async def _watch(self, stop: asyncio.Event) -> None:
        """Every time one of this hall's clients was not online for long."""
        since: dict[int, float] = {}
        while not stop.is_set():
            now = time.monotonic()
            for i, client in enumerate(self.clients):
                online = client.session is not None and client.session.online
                if online:
                    start = since.pop(i, None)
                    if start is not None:
                        self._offline(client, start, now, ended=True)
                else:
                    since.setdefault(i, now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)
        # A device still offline at the end counts too (it never came back).
        now = time.monotonic()
        for i, start in since.items():
            self._offline(self.clients[i], start, now, ended=False)

    def _offline(self, client: AsyncClient, start: float, end: float, *, ended: bool) -> None:
        seconds = end - start
        # The longest counts every outage, a short one too (it used to count
        # only the kept ones, so a run without a 10-s outage printed 0.0 s).
        if seconds > self.offline_max_s:
            self.offline_max_s = seconds
            self.offline_worst = f"{self.hall} {client.device}" + (
                "" if ended else " (still offline)")
        if seconds < OUTAGE_KEEP_S:
            return
        steps = [] if client.session is None else [
            f"{at - start:+6.1f} s {what}" for at, what in client.session.trail
            if at >= start - 1.0]
        self.outages.append(Outage(f"{self.hall} {client.device}", seconds, ended, steps,
                                   start))


# ----------------------------------------------------------------- invariants
def check_hall(database: str, hall: str, load: HallLoad,
               timezone: str = "Asia/Shanghai") -> list[str]:
    """Every invariant of one hall after a run (empty: all hold).

    Every acknowledged ticket exists; no number is issued twice in a day;
    no ticket is called twice (without going back to waiting between); the
    hall's event seqs are 1..N; each board saw every call exactly once
    (the rules themselves: :mod:`server.tools.invariants`).
    """
    from zoneinfo import ZoneInfo

    # Chaos boards resume with ``since`` from their first welcome, so each
    # must have seen every call of the day: a welcome seq of 0.
    boards = {name: invariants.BoardView(welcome_seq=0, calls=seen)
              for name, seen in load.boards.items()}
    found = invariants.check(invariants.stored_events(database, hall), load.acked,
                             boards, ZoneInfo(timezone))
    return [f"{hall}: {problem}" for key in invariants.INVARIANTS for problem in found[key]]


async def wait_boards(loads: list[HallLoad], database: str,
                      timeout: float = 60.0) -> list[str]:
    """Wait until every board has seen its hall's last stored event; the
    boards still behind after ``timeout`` (``hall board seq/last``).

    The last seq is read again each round: a request the server had read
    before the devices stopped may still be committed after that.
    """
    from server.store import Store

    store = Store(database)
    deadline = time.monotonic() + timeout
    try:
        while True:
            last = {load.hall: store.last_seq(load.hall) for load in loads}
            behind = [f"{load.hall} {b} {load.board_seq.get(b, 0)}/{last[load.hall]}"
                      for load in loads for b in load.boards
                      if load.board_seq.get(b, 0) < last[load.hall]]
            if not behind or time.monotonic() > deadline:
                return behind
            await asyncio.sleep(0.3)
    finally:
        store.close()


# ------------------------------------------------------------------ the run
#: Kills still due when the load's time is up get at most this much longer
#: (a kill waits while fewer than two instances are healthy).
KILL_GRACE_S = 120.0
#: After the kills: how long every hall gets to have an owner again, the
#: devices to finish (nothing is retried once stopped) and the boards to
#: catch up, each.
STOP_GRACE_S = 60.0
#: A victim stays down (killed or frozen) at least this part of a lease, and
#: until every hall it owned has a new owner: a woken one must step down.
DOWN_MIN_LEASES = 0.5
#: A takeover slower than this many leases is looked into (noted).
SLOW_TAKEOVER_LEASES = 3


@dataclasses.dataclass
class Disruption:
    instance: Instance
    how: str
    at: float
    halls: list[str]  # halls it owned that have no new owner yet
    reported: bool = False  # a slow takeover's database sessions were noted


@dataclasses.dataclass
class Tally:
    """What the run did, printed at its end whatever happened."""

    asked: int
    kills: int = 0
    how: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    takeovers: list[float] = dataclasses.field(default_factory=list)
    #: what misbehaved in the run itself (printed; the exit status is 1)
    notes: list[str] = dataclasses.field(default_factory=list)


class _Run:
    """One chaos run: the instances, the lease monitor, the kills."""

    def __init__(self, args: argparse.Namespace, workdir: Path, database: str) -> None:
        from server.store import Store
        from server.store.lease import LeaseBook
        from server.tools.pgcluster import free_port

        self.args = args
        self.database = database
        self.rng = random.Random(args.seed)
        self.halls = [f"hall{i:02d}" for i in range(1, args.halls + 1)]
        config_dir = workdir / "halls"
        config_dir.mkdir(exist_ok=True)
        hashes: dict[str, str] = {}
        for hall in self.halls:
            cfg = chaos_config(hall, database)
            if args.real_tokens:
                cfg = real_tokens(cfg, hashes)
            (config_dir / f"{hall}.toml").write_text(dumps(cfg), encoding="utf-8")
        self.instances = [Instance(f"i{n}", ["--config-dir", str(config_dir)], free_port(),
                                   workdir / f"i{n}.log", args.lease_s)
                          for n in range(args.instances)]
        self.monitor = Store(database)
        self.book = LeaseBook(self.monitor, "chaos-monitor", args.lease_s)  # reads only
        self.tally = Tally(args.kills)
        self.down: list[Disruption] = []

    def owners(self) -> dict[str, str | None]:
        found = {}
        for hall in self.halls:
            holder = self.book.owner(hall)
            found[hall] = holder.owner if holder is not None and holder.live else None
        return found

    async def start(self) -> None:
        for inst in self.instances:
            inst.spawn()
        deadline = time.monotonic() + STOP_GRACE_S
        while None in (await asyncio.to_thread(self.owners)).values():
            if time.monotonic() > deadline:
                raise RuntimeError(f"not every hall got an owner within {STOP_GRACE_S:g} s")
            await asyncio.sleep(0.2)

    async def disrupt(self) -> None:
        """Kill or freeze an instance every ``minutes / kills``, restart or wake
        each once its halls have new owners; until the time (plus at most
        KILL_GRACE_S for kills still due) is up."""
        args, tally = self.args, self.tally
        start = time.monotonic()
        end = start + args.minutes * 60
        gap = args.minutes * 60 / max(1, args.kills)
        while True:
            now = time.monotonic()
            due = tally.kills < args.kills and now < end + KILL_GRACE_S
            if now >= end and not due:
                break
            if due and now >= start + tally.kills * gap:
                await self._kill_one()
            await self._follow_up()
            await asyncio.sleep(0.2)
        if tally.kills < args.kills:
            tally.notes.append(f"only {tally.kills} of {args.kills} kills: fewer than two "
                               f"instances were healthy when the others were due")

    async def _kill_one(self) -> None:
        healthy = [i for i in self.instances if i.alive and not i.stopped and i.ready]
        if len(healthy) < 2:
            return  # one must stay up: the kill waits
        victim = self.rng.choice(healthy)
        held = [h for h, o in (await asyncio.to_thread(self.owners)).items()
                if o == victim.name]
        how = self.rng.choice(["SIGKILL", "SIGSTOP"])
        victim.signal(signal.Signals[how])
        self.tally.how[how] += 1
        self.tally.kills += 1
        self.down.append(Disruption(victim, how, time.monotonic(), held))

    async def _follow_up(self) -> None:
        """Time the takeovers; restart a killed instance, wake a frozen one."""
        for inst in self.instances:
            if inst.alive and not inst.ready and not inst.stopped:
                with contextlib.suppress(RuntimeError):  # exited: noted below
                    await asyncio.to_thread(inst.listening)
        current = await asyncio.to_thread(self.owners)
        now = time.monotonic()
        for d in self.down:
            for hall in list(d.halls):
                if current.get(hall) not in (None, d.instance.name):
                    self.tally.takeovers.append(now - d.at)
                    d.halls.remove(hall)
            if d.halls and not d.reported and now - d.at > SLOW_TAKEOVER_LEASES * self.args.lease_s:
                d.reported = True
                sessions = await asyncio.to_thread(self.book.stuck_sessions,
                                                    self.args.lease_s / 2)
                self.tally.notes.append(
                    f"{d.halls} of {d.instance.name} ({d.how}) not taken over after "
                    f"{now - d.at:.0f} s; database sessions in a transaction for over "
                    f"{self.args.lease_s / 2:g} s: {sessions or 'none'}")
            if d.halls or now - d.at < DOWN_MIN_LEASES * self.args.lease_s:
                continue
            if d.how == "SIGKILL" and not d.instance.alive:
                d.instance.spawn()  # not waited for: the kills go on meanwhile
            elif d.how == "SIGSTOP" and d.instance.stopped:
                d.instance.signal(signal.SIGCONT)
        self.down = [d for d in self.down if d.halls or (
            d.instance.stopped if d.how == "SIGSTOP" else not d.instance.alive)]
        for inst in self.instances:
            if not inst.alive and not any(d.instance is inst for d in self.down):
                code = inst.proc.returncode if inst.proc is not None else None
                self.tally.notes.append(f"{inst.name} exited by itself ({code}); restarted")
                inst.note(f"exited ({code})")
                inst.spawn()

    async def recover(self) -> None:
        """Wake and restart every victim; wait (bounded) until every hall has a
        live owner again."""
        for inst in self.instances:
            if inst.stopped:
                inst.signal(signal.SIGCONT)
            elif not inst.alive:
                inst.spawn()
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline:
            await self._follow_up()
            if None not in (await asyncio.to_thread(self.owners)).values() and not self.down:
                return
            await asyncio.sleep(0.2)
        orphans = [h for h, o in (await asyncio.to_thread(self.owners)).items() if o is None]
        self.tally.notes.append(f"{STOP_GRACE_S:g} s after the last kill, halls without an "
                                f"owner: {orphans or '-'}; halls not yet taken over: "
                                f"{[h for d in self.down for h in d.halls] or '-'}")

    def close(self) -> None:
        for inst in self.instances:
            inst.terminate()
        self.monitor.close()


async def _stop_loads(runs: list[asyncio.Task[None]], stop: asyncio.Event,
                      notes: list[str]) -> None:
    """Stop the devices; those not done within STOP_GRACE_S are cancelled (noted)."""
    stop.set()
    if runs:
        done, pending = await asyncio.wait(runs, timeout=STOP_GRACE_S)
        for task in pending:
            task.cancel()
        if pending:
            notes.append(f"{len(pending)} hall(s) had devices still busy {STOP_GRACE_S:g} s "
                         "after the stop (cancelled)")
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                notes.append(f"a hall's devices failed: {task.exception()!r}")
        await asyncio.gather(*pending, return_exceptions=True)


async def _close_loads(loads: list[HallLoad], notes: list[str]) -> None:
    """Close every device still open (bounded per hall)."""
    for load in loads:
        try:
            async with asyncio.timeout(STOP_GRACE_S):
                await load.close_boards()
        except TimeoutError:
            notes.append(f"{load.hall}: closing its clients took over {STOP_GRACE_S:g} s")


async def _chaos(args: argparse.Namespace, workdir: Path, database: str) -> int:
    began = time.monotonic()
    load_before = os.getloadavg()
    run = _Run(args, workdir, database)
    tally = run.tally
    busy = {*KIOSKS, *BOARDS, *(f"counter-{n}" for n in COUNTERS)}
    idle = tuple(d.id for d in chaos_config("x", database).devices
                 if d.id not in busy) if args.all_devices else ()
    loads = [HallLoad(hall, [inst.url(hall) for inst in run.instances],
                      issue_every_s=args.issue_every_s, idle=idle) for hall in run.halls]
    problems: list[str] | None = None
    runs: list[asyncio.Task[None]] = []
    stop = asyncio.Event()
    try:
        await run.start()
        print(f"qhall chaos: {args.instances} instances, {args.halls} halls, "
              f"lease {args.lease_s:g} s; load for {args.minutes:g} min, {args.kills} kills",
              flush=True)
        runs = [asyncio.create_task(load.run(stop)) for load in loads]
        await run.disrupt()
        await run.recover()
        await _stop_loads(runs, stop, tally.notes)
        behind = await wait_boards(loads, database, STOP_GRACE_S)
        if behind:
            tally.notes.append(f"boards behind their hall's last event after "
                               f"{STOP_GRACE_S:g} s: {behind}")
        await _close_loads(loads, tally.notes)
    except Exception as exc:  # the figures so far are printed all the same
        tally.notes.append(f"the run broke: {exc!r}")
        await _stop_loads(runs, stop, tally.notes)
        await _close_loads(loads, tally.notes)
    finally:
        await asyncio.to_thread(run.close)
    try:
        problems = [p for load in loads for p in check_hall(database, load.hall, load)]
    except Exception as exc:
        tally.notes.append(f"the invariants could not be checked: {exc!r}")
    found = outages.failures((at, inst.name, what.split()[0])
                             for inst in run.instances for at, what in inst.events)
    _report(args, tally, loads, problems, time.monotonic() - began, load_before, found)
    return 1 if tally.notes else 0


def _report(args: argparse.Namespace, tally: Tally, loads: list[HallLoad],
            problems: list[str] | None, took_s: float,
            load_before: tuple[float, float, float],
            found: list[outages.Failure]) -> None:
    print(f"kills: {tally.kills} ({dict(tally.how)}); "
          f"failovers (halls that changed owner): {len(tally.takeovers)}")
    takeovers = tally.takeovers
    if takeovers:
        print(f"takeover s: p50 {_pct(takeovers, 50):.1f}  p99 {_pct(takeovers, 99):.1f}  "
              f"max {max(takeovers):.1f}")
    acked = sum(len(load.acked) for load in loads)
    failed: collections.Counter[str] = collections.Counter()
    for load in loads:
        failed.update(load.failed)
    print(f"tickets acknowledged: {acked}; requests failed and retried: "
          f"{sum(load.retried for load in loads)} {dict(failed)}")
    hello_errors: collections.Counter[str] = collections.Counter()
    for load in loads:
        hello_errors.update(load.hello_errors)
        for client in load.clients:
            if client.session is not None:
                hello_errors.update(client.session.hello_errors)
    tokens = "production-cost" if args.real_tokens else "demo (cheap)"
    print(f"devices: {sum(len(load.clients) for load in loads)}, {tokens} token hashes; "
          f"hellos refused "
          f"(by code, rate_limited = the server busy checking tokens): "
          f"{dict(hello_errors) or 0}")
    _report_logins(loads)
    kept = sorted((o for load in loads for o in load.outages),
                  key=lambda o: o.seconds, reverse=True)
    worst = max(loads, key=lambda load: load.offline_max_s)
    over = [o for o in kept if o.seconds > OFFLINE_TARGET_S]
    print(f"longest a client was offline: {worst.offline_max_s:.1f} s "
          f"({worst.offline_worst or '-'}); offline over {OFFLINE_TARGET_S:g} s: {len(over)} "
          f"time(s); {OUTAGE_KEEP_S:g} s or more: {len(kept)}")
    _report_split(kept, found)
    if problems is None:
        print("invariants: not checked")
    else:
        print(f"invariants (acknowledged tickets exist, no number twice a day, no ticket "
              f"called twice, seqs contiguous, boards saw every call once): "
              f"{'all hold' if not problems else f'{len(problems)} violated'}")
        for p in problems:
            print(f"  VIOLATED {p}")
    after = os.getloadavg()
    print(f"run took {took_s / 60:.1f} min; machine load average (1, 5, 15 min) "
          f"{' '.join(f'{x:.1f}' for x in load_before)} at the start, "
          f"{' '.join(f'{x:.1f}' for x in after)} at the end")
    for note in tally.notes:
        print(f"  NOTE {note}")
    sys.stdout.flush()


def _report_logins(loads: list[HallLoad]) -> None:
    """Counter logins the server refused, by code (a counter logged out is
    asked to log in again, LOGIN_TRIES times at most per go)."""
    refused: collections.Counter[str] = collections.Counter()
    for load in loads:
        refused.update(load.logins_refused)
    given_up = sum(load.logins_given_up for load in loads)
    print(f"counter logins refused: {sum(refused.values())} by code {dict(refused)}; "
          f"given up after {LOGIN_TRIES} tries: {given_up}")


def _report_split(kept: list[Outage], found: list[outages.Failure]) -> None:
    """The outages by cause (single / overlapping instance failures), the
    longest of each class with the failures under way and its steps; each
    outage into the client log too, with wall times."""
    by_class: dict[str, list[Outage]] = {name: [] for name in outages.CLASSES}
    for outage in kept:  # longest first
        end = outage.start + outage.seconds
        by_class[outages.classify(outage.start, end, found)].append(outage)
        log.info("outage %s %.1f s from %s: %s", outage.device, outage.seconds,
                 _wall(outage.start),
                 ", ".join(_failure(f, outage.start) for f in
                           outages.overlapping(outage.start, end, found)) or "no failure")
    print(f"by cause (a failure: an instance killed or frozen until it is back, woken or "
          f"restarted and answering; {len(found)} in all):")
    for name, group in by_class.items():
        over = [o for o in group if o.seconds > OFFLINE_TARGET_S]
        hit = sum(1 for o in over if outages.struck(o.start, o.start + o.seconds, found))
        print(f"  {name}: over {OFFLINE_TARGET_S:g} s {len(over)} ({hit} with an instance "
              f"failing while the device was already offline), {OUTAGE_KEEP_S:g} s or more "
              f"{len(group)}" + (f"; longest {group[0].seconds:.1f} s" if group else ""))
    for name, group in by_class.items():
        if not group:
            continue
        outage = group[0]
        end = outage.start + outage.seconds
        print(f"  longest, {name}: {outage.device} offline {outage.seconds:.1f} s"
              f"{'' if outage.ended else ' (still offline at the end)'}; failures: "
              + (", ".join(_failure(f, outage.start)
                           for f in outages.overlapping(outage.start, end, found)) or "none"))
        for step in outage.steps[-SHOWN_STEPS:]:
            print(f"    {step}")


def _failure(failure: outages.Failure, start: float) -> str:
    """One failure, its times in seconds from ``start`` (an outage's)."""
    back = "not back" if failure.ended is None else f"back {failure.ended - start:+.1f} s"
    return f"{failure.instance} {failure.how} {failure.began - start:+.1f} s, {back}"


def _wall(monotonic: float) -> str:
    """A monotonic moment as the wall clock's HH:MM:SS.s (to match the logs)."""
    at = time.time() - (time.monotonic() - monotonic)
    return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at * 10) % 10}"


# ---------------------------------------------------------------------- CLI
def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--instances", type=int, default=3, help="serve processes (default 3)")
    parser.add_argument("--halls", type=int, default=20, help="halls they share (default 20)")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the run")
    parser.add_argument("--kills", type=int, default=100,
                        help="SIGKILLs and SIGSTOPs of instances, spread over the run")
    parser.add_argument("--lease-s", type=float, default=Failover.lease_s,
                        help=f"the instances' owner lease (default {Failover.lease_s:g}, "
                             "as in production)")
    parser.add_argument("--issue-every-s", type=float, default=1.0,
                        help="each kiosk's pause between tickets (default 1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--real-tokens", action="store_true",
                        help="hash the devices' tokens at the production scrypt cost "
                             "(default: the demo hall's cheap hashes)")
    parser.add_argument("--all-devices", action="store_true",
                        help="connect every device of each hall's configuration (the "
                             "reference hall's ~90); the ones beyond the 2 kiosks, 3 counters "
                             "and 2 boards only stay connected")
    parser.add_argument("--keep", metavar="DIR", help="keep the configs and logs in DIR")
    parser.add_argument("--client-log", metavar="FILE",
                        help="write every simulated device's connection log (INFO), every "
                             "kill / freeze / wake / spawn / ready of an instance and every "
                             "outage of 10 s or more (with the failures under way) to FILE, "
                             "wall times; the instances' logs are copied beside it "
                             "(FILE.i0.log ...) unless --keep keeps them")


def run(args: argparse.Namespace) -> int:
    from server.tools.pgcluster import PgCluster, unavailable

    if args.instances < 2 or args.halls < 1 or args.kills < 0 or args.minutes <= 0:
        print("qhall chaos: need --instances >= 2, --halls >= 1, --kills >= 0, --minutes > 0",
              file=sys.stderr)
        return 2
    reason = unavailable()
    if reason:
        print(f"qhall chaos: {reason}", file=sys.stderr)
        return 2
    # Clients losing their server is the point here: their warnings would
    # drown the figures (--client-log keeps them in a file instead).
    client_log = logging.getLogger("server.client")
    if args.client_log:
        # The instances' kills, freezes, wakes, spawns and readies go into
        # the same file (wall times), so each outage can be attributed.
        handler = logging.FileHandler(args.client_log, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        for logger in (client_log, log):
            logger.propagate = False
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
    else:
        client_log.setLevel(logging.ERROR)
    os.environ.setdefault("QHALL_PII_KEY", "c4" * 32)  # throwaway halls' personal-data key
    with contextlib.ExitStack() as stack:
        workdir = work_in(stack, args.keep, "qhall-chaos-")
        cluster = stack.enter_context(PgCluster())
        database = cluster.create_database("chaos")
        status = asyncio.run(_chaos(args, workdir, database))
        _keep_instance_logs(args, workdir)
        return status


def _keep_instance_logs(args: argparse.Namespace, workdir: Path) -> None:
    """Say where the instances' logs are; with ``--client-log`` and no
    ``--keep`` (the work dir is removed), copy them beside the client log
    as ``FILE.i0.log``... first."""
    logs = sorted(workdir.glob("i*.log"))
    if args.client_log and not args.keep:
        kept = []
        for path in logs:
            copy = Path(f"{args.client_log}.{path.name}")
            shutil.copyfile(path, copy)
            kept.append(copy)
        logs = kept
    if args.keep or args.client_log:
        print(f"instance logs: {' '.join(str(p) for p in logs) or '-'}")
    sys.stdout.flush()
