"""``qhall chaos``: several ``qhall serve`` instances sharing many halls, killed at random.

A throwaway PostgreSQL cluster (``server/tools/pgcluster.py``), ``--halls``
hall configurations (the load-test hall, always open) in one directory and
``--instances`` ``qhall serve --config-dir`` processes sharing them (short
leases). Every hall gets simulated kiosks, counters and lobby boards, each an
:class:`~server.client.aio.AsyncClient` given every instance's URL, so it
fails over like a real device. ``--kills`` times, spread over ``--minutes``,
one instance is SIGKILLed (then restarted) or SIGSTOPped (then SIGCONTed a
lease later: it must step down, committing nothing). At the end it prints
failovers, the takeover time of each hall that lost its owner
(p50/p99/max), requests that failed and were retried, the longest time a
client was offline, and every invariant (:func:`check_hall`). Printed, not
asserted: the exit status is 0 unless the run itself broke.

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
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from server.client.aio import AsyncClient
from server.config import HallConfig, dumps
from server.reference import DEMO_PIN, demo_token
from server.tools.loadtest import _pct, loadtest_config

__all__ = ["HallLoad", "Instance", "chaos_config", "check_hall", "configure", "run"]

KIOSKS = ("kiosk-1", "kiosk-2")
COUNTERS = (1, 2, 3)  # serve qydj and gtdj in the demo hall
SERVICES = ("qydj", "gtdj")
BOARDS = ("board-1", "board-2")


def chaos_config(hall_id: str, database: str) -> HallConfig:
    """The load-test hall (demo hall, always open) as hall ``hall_id``."""
    return dataclasses.replace(loadtest_config(database), id=hall_id,
                               name=f"压力测试大厅 chaos hall {hall_id}")


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
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, hall: str | None = None) -> str:
        return f"ws://127.0.0.1:{self.port}/ws" + (f"/{hall}" if hall else "")

    def start(self, timeout: float = 60.0) -> Instance:
        """Spawn it; return once it listens (owner or standby)."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps its copy
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", *self.config_args,
             "--port", str(self.port), "--no-limits", "--quiet-requests",
             "--log-level", "WARNING", "--lease-s", str(self.lease_s),
             "--instance", self.name, "--advertise", f"ws://127.0.0.1:{self.port}"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        log.close()
        self.stopped = False
        deadline = time.monotonic() + timeout
        while self.healthz()[0] == 0:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}): "
                                   + self.output()[-2000:])
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not listen within {timeout:g} s")
            time.sleep(0.05)
        return self

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
    #: per request and per connection attempt (a frozen instance accepts TCP
    #: and never answers: this bounds the wait before the next URL)
    timeout_s: float = 5.0
    acked: list[str] = dataclasses.field(default_factory=list)
    failed: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    retried: int = 0
    boards: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    board_seq: dict[str, int] = dataclasses.field(default_factory=dict)
    offline_max_s: float = 0.0
    offline_worst: str = ""  # which device, for the printout
    clients: list[AsyncClient] = dataclasses.field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        """Open every device, drive them until ``stop``, then close the writers."""
        rng = random.Random(self.hall)
        boards = []
        for name in BOARDS:
            self.boards[name] = []
            boards.append(await self._open(name, on_event=self._board(name)))
        kiosks = [await self._open(name) for name in KIOSKS]
        counters = [await self._open(f"counter-{n}") for n in COUNTERS]
        tasks = [asyncio.create_task(self._kiosk(k, stop, rng)) for k in kiosks]
        tasks += [asyncio.create_task(self._counter(c, i, stop)) for i, c in enumerate(counters)]
        tasks.append(asyncio.create_task(self._watch(stop)))
        await asyncio.gather(*tasks)
        for client in kiosks + counters:
            await client.close()

    async def close_boards(self) -> None:
        for client in self.clients:
            await client.close()

    async def _open(self, device: str, on_event: Any = None) -> AsyncClient:
        """A connected client; a device starting while an instance is frozen
        (its hello unanswered) starts over from the next URL."""
        for attempt in itertools.count():
            k = attempt % len(self.urls)
            client = AsyncClient(device, on_event, token=demo_token(device),
                                 timeout_s=self.timeout_s, backoff=(0.2, 2.0))
            try:
                await client.open(self.urls[k:] + self.urls[:k])
            except TimeoutError:
                await client.close()
                self.failed["no welcome"] += 1
                continue
            self.clients.append(client)
            return client
        raise AssertionError("unreachable")

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
            if code not in ("timeout", "offline", "internal"):
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

    async def _counter(self, client: AsyncClient, index: int, stop: asyncio.Event) -> None:
        login = {"staff": f"s{index + 1:03d}", "pin": DEMO_PIN}
        await self._ask(client, "login", **login)
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
                    await self._ask(client, "login", **login)
                continue
            if reply.get("code") != "queue_empty":
                self.failed[str(reply.get("code"))] += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)

    async def _watch(self, stop: asyncio.Event) -> None:
        """The longest time any of this hall's clients was not online."""
        since: dict[int, float] = {}
        while not stop.is_set():
            now = time.monotonic()
            for i, client in enumerate(self.clients):
                online = client.session is not None and client.session.online
                if online:
                    start = since.pop(i, None)
                    if start is not None and now - start > self.offline_max_s:
                        self.offline_max_s = now - start
                        self.offline_worst = f"{self.hall} {client.device}"
                else:
                    since.setdefault(i, now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)
        # A device still offline at the end counts too (it never came back).
        now = time.monotonic()
        for i, start in since.items():
            if now - start > self.offline_max_s:
                self.offline_max_s = now - start
                self.offline_worst = f"{self.hall} {self.clients[i].device} (still offline)"


# ----------------------------------------------------------------- invariants
def check_hall(database: str, hall: str, load: HallLoad,
               timezone: str = "Asia/Shanghai") -> list[str]:
    """Every invariant of one hall after a run (empty: all hold).

    Every acknowledged ticket exists; no number is issued twice in a day;
    no ticket is called twice (without a transfer between); the hall's
    event seqs are 1..N; each board saw every call exactly once.
    """
    from zoneinfo import ZoneInfo

    from server.store import Store

    zone = ZoneInfo(timezone)
    problems: list[str] = []
    store = Store(database)
    try:
        events: list[dict[str, Any]] = []
        while True:
            page = store.events_since(hall, events[-1]["seq"] if events else 0, limit=10000)
            if not page:
                break
            events += page
    finally:
        store.close()
    seqs = [int(e["seq"]) for e in events]
    if seqs != list(range(1, len(seqs) + 1)):
        problems.append(f"{hall}: event seqs not contiguous (first {seqs[:3]}...)")
    issued: dict[str, tuple[str, str]] = {}
    numbers: collections.Counter[tuple[str, str]] = collections.Counter()
    called: list[str] = []
    again: collections.Counter[str] = collections.Counter()
    for e in events:
        ticket = e["data"].get("ticket") if isinstance(e["data"], dict) else None
        tid = str(ticket["id"]) if isinstance(ticket, dict) else ""
        if e["name"] == "ticket.issued" and isinstance(ticket, dict):
            issued[tid] = (e["at"].astimezone(zone).date().isoformat(), str(ticket["number"]))
            numbers[issued[tid]] += 1
        elif e["name"] == "ticket.called":
            called.append(tid)
        elif e["name"] == "ticket.transferred":
            again[tid] += 1
    lost = [t for t in load.acked if t not in issued]
    if lost:
        problems.append(f"{hall}: {len(lost)} acknowledged ticket(s) not in the store: {lost[:3]}")
    twice = [n for n, c in numbers.items() if c > 1]
    if twice:
        problems.append(f"{hall}: {len(twice)} number(s) issued twice in a day: {twice[:3]}")
    calls = collections.Counter(called)
    double = [t for t, c in calls.items() if c > 1 + again[t]]
    if double:
        problems.append(f"{hall}: {len(double)} ticket(s) called twice: {double[:3]}")
    for name, seen in load.boards.items():
        if seen != called:
            missing = len(calls - collections.Counter(seen))
            extra = len(collections.Counter(seen) - calls)
            problems.append(f"{hall}: board {name} saw {len(seen)} calls of {len(called)} "
                            f"({missing} missing, {extra} extra or repeated)")
    return problems


async def wait_boards(loads: list[HallLoad], database: str, timeout: float = 60.0) -> None:
    """Wait until every board has seen its hall's last stored event."""
    from server.store import Store

    store = Store(database)
    try:
        last = {load.hall: store.last_seq(load.hall) for load in loads}
    finally:
        store.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(load.board_seq.get(b, 0) >= last[load.hall]
               for load in loads for b in load.boards):
            return
        await asyncio.sleep(0.1)


# ------------------------------------------------------------------ the run
@dataclasses.dataclass
class Disruption:
    instance: str
    how: str
    at: float
    halls: list[str]


async def _chaos(args: argparse.Namespace, workdir: Path, database: str) -> int:
    from server.store import Store
    from server.store.lease import LeaseBook
    from server.tools.pgcluster import free_port

    rng = random.Random(args.seed)
    halls = [f"hall{i:02d}" for i in range(1, args.halls + 1)]
    config_dir = workdir / "halls"
    config_dir.mkdir(exist_ok=True)
    for hall in halls:
        (config_dir / f"{hall}.toml").write_text(dumps(chaos_config(hall, database)),
                                                 encoding="utf-8")
    instances = [Instance(f"i{n}", ["--config-dir", str(config_dir)], free_port(),
                          workdir / f"i{n}.log", args.lease_s) for n in range(args.instances)]
    monitor = Store(database)
    book = LeaseBook(monitor, "chaos-monitor", args.lease_s)  # reads only

    def owners() -> dict[str, str | None]:
        found = {}
        for hall in halls:
            holder = book.owner(hall)
            found[hall] = holder.owner if holder is not None and holder.live else None
        return found

    try:
        for inst in instances:
            await asyncio.to_thread(inst.start)
        deadline = time.monotonic() + 60
        while None in (await asyncio.to_thread(owners)).values():
            if time.monotonic() > deadline:
                raise RuntimeError("not every hall got an owner within 60 s")
            await asyncio.sleep(0.2)
        print(f"qhall chaos: {args.instances} instances, {args.halls} halls, "
              f"lease {args.lease_s:g} s; load for {args.minutes:g} min, {args.kills} kills",
              flush=True)
        loads = [HallLoad(hall, [inst.url(hall) for inst in instances],
                          issue_every_s=args.issue_every_s) for hall in halls]
        stop = asyncio.Event()
        runs = [asyncio.create_task(load.run(stop)) for load in loads]
        takeovers: list[float] = []
        failovers = 0
        disruptions: list[Disruption] = []
        start = time.monotonic()
        end = start + args.minutes * 60
        gap = args.minutes * 60 / max(1, args.kills)
        kills = 0
        how_many: collections.Counter[str] = collections.Counter()
        while time.monotonic() < end or kills < args.kills:
            if kills < args.kills and time.monotonic() >= start + kills * gap:
                healthy = [i for i in instances if i.alive and not i.stopped]
                if len(healthy) > 1:
                    victim = rng.choice(healthy)
                    held = [h for h, o in (await asyncio.to_thread(owners)).items()
                            if o == victim.name]
                    how = rng.choice(["SIGKILL", "SIGSTOP"])
                    victim.signal(signal.Signals[how])
                    how_many[how] += 1
                    disruptions.append(Disruption(victim.name, how, time.monotonic(), held))
                    kills += 1
            # Follow up: a taken-over hall, a killed instance restarted, a frozen one woken.
            now = time.monotonic()
            current = await asyncio.to_thread(owners)
            for d in disruptions:
                for hall in list(d.halls):
                    if current.get(hall) not in (None, d.instance):
                        takeovers.append(now - d.at)
                        failovers += 1
                        d.halls.remove(hall)
                inst = next(i for i in instances if i.name == d.instance)
                if now - d.at > args.lease_s * 1.5 and not d.halls:
                    if d.how == "SIGKILL" and not inst.alive:
                        await asyncio.to_thread(inst.start)
                    elif d.how == "SIGSTOP" and inst.stopped:
                        inst.signal(signal.SIGCONT)
            disruptions = [d for d in disruptions if d.halls or (
                d.how == "SIGKILL" and not next(i for i in instances if i.name == d.instance).alive)
                or (d.how == "SIGSTOP" and next(i for i in instances if i.name == d.instance)
                    .stopped)]
            await asyncio.sleep(0.2)
        for inst in instances:
            if inst.stopped:
                inst.signal(signal.SIGCONT)
            elif not inst.alive:
                await asyncio.to_thread(inst.start)
        stop.set()
        await asyncio.gather(*runs)
        await wait_boards(loads, database)
        for load in loads:
            await load.close_boards()
        problems = [p for load in loads for p in check_hall(database, load.hall, load)]
        acked = sum(len(load.acked) for load in loads)
        failed: collections.Counter[str] = collections.Counter()
        for load in loads:
            failed.update(load.failed)
        print(f"kills: {kills} ({dict(how_many)}); "
              f"failovers (halls that changed owner): {failovers}")
        if takeovers:
            print(f"takeover s: p50 {_pct(takeovers, 50):.1f}  p99 {_pct(takeovers, 99):.1f}  "
                  f"max {max(takeovers):.1f}")
        print(f"tickets acknowledged: {acked}; requests failed and retried: "
              f"{sum(load.retried for load in loads)} {dict(failed)}")
        worst = max(loads, key=lambda load: load.offline_max_s)
        print(f"longest a client was offline: {worst.offline_max_s:.1f} s "
              f"({worst.offline_worst or '-'})")
        print(f"invariants (acknowledged tickets exist, no number twice a day, no ticket "
              f"called twice, seqs contiguous, boards saw every call once): "
              f"{'all hold' if not problems else f'{len(problems)} violated'}")
        for p in problems:
            print(f"  VIOLATED {p}")
        return 0
    finally:
        for inst in instances:
            inst.terminate()
        monitor.close()


# ---------------------------------------------------------------------- CLI
def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--instances", type=int, default=3, help="serve processes (default 3)")
    parser.add_argument("--halls", type=int, default=20, help="halls they share (default 20)")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the run")
    parser.add_argument("--kills", type=int, default=100,
                        help="SIGKILLs and SIGSTOPs of instances, spread over the run")
    parser.add_argument("--lease-s", type=float, default=10.0,
                        help="the instances' owner lease (default 10, as in production)")
    parser.add_argument("--issue-every-s", type=float, default=1.0,
                        help="each kiosk's pause between tickets (default 1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", metavar="DIR", help="keep the configs and logs in DIR")


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
    # drown the figures.
    logging.getLogger("server.client").setLevel(logging.ERROR)
    os.environ.setdefault("QHALL_PII_KEY", "c4" * 32)  # throwaway halls' personal-data key
    with contextlib.ExitStack() as stack:
        if args.keep:
            workdir = Path(args.keep)
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qhall-chaos-")))
        cluster = stack.enter_context(PgCluster())
        database = cluster.create_database("chaos")
        return asyncio.run(_chaos(args, workdir, database))
