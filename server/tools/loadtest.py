"""``qhall loadtest``: replay a compressed hall day against the real server.

The real server runs in a subprocess (``python -m server serve``) on a fresh
SQLite file with the demo hall, its hours and quotas cleared so the day can
run at any time and at any speed. One asyncio process holds every client as
a real websocket connection speaking protocol v1: kiosks issue the day's
tickets back to back (services drawn from the reference profile), counters
call, start and complete them (a share are no-shows), boards (``"batch":
true``) watch every event. Nothing is paced: it runs as fast as the server
answers.

With ``--halls N`` it drives a city instead: N reference halls against one
``qhall serve`` with many halls, beside one idle hall alone
(:mod:`server.tools.city`).

At the end it checks the invariants and exits 1 if any fails:

* no ticket lost or served twice: every issued ticket was called exactly once
  and ended exactly once (done or no-show), and no two counters got the same;
* every board saw every call exactly once and in seq order, all boards the
  same sequence;
* every board saw a gap-free seq stream, and the event log in the database
  has no gap (seq 1..N).

It prints throughput and client-side latency percentiles per request type.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.config import HallConfig, dumps
from server.reference import DEMO_PIN, demo_token
from server.tools import city
from server.tools.loadserver import (
    free_port,
    loadtest_config,
    percentile,
    start_server,
    stop_server,
)
from server.tools.sim.client import AsyncClient

__all__ = ["LoadResult", "loadtest_config", "run_load", "start_server", "stop_server",
           "check_event_log", "configure", "run"]

#: Kept for ``qhall chaos`` (server/tools/chaos.py imports them from here).
_pct = percentile
_free_port = free_port


@dataclass
class LoadResult:
    """What the run measured and which invariants failed."""

    tickets: int
    seconds: float
    latencies: dict[str, list[float]]
    outcomes: dict[str, int]
    failures: list[str] = field(default_factory=list)
    events: int = 0
    board_frames: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures


class _Board:
    def __init__(self, device: str) -> None:
        self.conn = AsyncClient(device, self.on_event, demo_token(device))
        self.seqs: list[int] = []
        self.calls: list[tuple[int, str]] = []  # (seq, ticket id)
        self.arrived = asyncio.Event()
        self.want = 0

    def on_event(self, m: dict[str, Any]) -> None:
        self.seqs.append(m["seq"])
        if m["name"] == "ticket.called":
            self.calls.append((m["seq"], m["data"]["ticket"]["id"]))
        if m["seq"] >= self.want:
            self.arrived.set()


async def run_load(url: str, config: HallConfig, *, tickets: int = 7000, boards: int = 20,
                   counters: int = 67, kiosks: int = 6, seed: int = 1,
                   no_show_rate: float = 0.05, priority_rate: float = 0.03,
                   progress: Callable[[int, int], None] | None = None) -> LoadResult:
    """Drive one compressed day through the server at ``url``; check the invariants."""
    from server.tools.sim.model import SimParams, default_profile

    if not 1 <= counters <= len(config.counters):
        raise ValueError(f"--counters must be 1..{len(config.counters)}")
    if not 1 <= kiosks <= 6 or not 0 <= boards <= 20:
        raise ValueError("the demo hall has kiosk-1..6 and board-1..20")
    if tickets < 1:
        raise ValueError("--tickets must be >= 1")
    rng = random.Random(seed)
    active = config.counters[:counters]
    served = {s for c in active for s in c.services}
    # Which services the kiosks issue: the reference mix, among those served.
    profile = default_profile(config, params=SimParams(seed=seed))
    weights: dict[str, float] = defaultdict(float)
    for (sid, _h), r in profile.rates.items():
        if sid in served:
            weights[sid] += r
    names = sorted(weights)
    plan = rng.choices(names, weights=[weights[n] for n in names], k=tickets)
    prio = ["priority" if rng.random() < priority_rate else "normal" for _ in plan]

    lat: dict[str, list[float]] = defaultdict(list)
    outcomes: dict[str, int] = defaultdict(int)
    failures: list[str] = []
    issued: list[str] = []
    called: dict[str, int] = {}  # ticket id -> counter
    double_calls: list[str] = []
    ended: dict[str, str] = {}
    double_ends: list[str] = []
    finished = asyncio.Event()
    issuing_done = asyncio.Event()

    board_list = [_Board(f"board-{i}") for i in range(1, boards + 1)]
    for b in board_list:
        await b.conn.open(url, batch=True)

    class _Counter:
        def __init__(self, number: int, services: tuple[str, ...]) -> None:
            self.number = number
            self.services = services
            self.waiting: dict[str, int] = dict.fromkeys(services, 0)
            self.wake = asyncio.Event()
            self.conn = AsyncClient(f"counter-{number}", self.on_event,
                                    demo_token(f"counter-{number}"), only='"queue.changed"')

        def on_event(self, m: dict[str, Any]) -> None:
            if m["name"] == "queue.changed":
                d = m["data"]
                if d["service"] in self.waiting:
                    self.waiting[d["service"]] = d["waiting"]
                    if d["waiting"] > 0:
                        self.wake.set()

        async def work(self) -> None:
            reply = await self.conn.request("login", lat, staff=f"s{self.number:03d}",
                                            pin=DEMO_PIN)
            if reply["type"] != "ok":
                failures.append(f"counter {self.number}: login failed: {reply}")
                return
            while not finished.is_set():
                self.wake.clear()
                reply = await self.conn.request("call_next", lat)
                outcomes[f"call_next:{reply.get('code', 'ok')}"] += 1
                if reply["type"] != "ok":
                    if reply.get("code") != "queue_empty":
                        failures.append(f"counter {self.number}: call_next: {reply}")
                        return
                    if any(self.waiting.values()):
                        await asyncio.sleep(0.005)  # our view is stale; try again soon
                    else:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self.wake.wait(), 0.25)
                    continue
                tid = reply["ticket"]["id"]
                if tid in called:
                    double_calls.append(tid)
                called[tid] = self.number
                # The no-show decision is a pure function of the ticket, not of timing.
                steps = (("no_show",) if random.Random(f"{seed}:{tid}").random() < no_show_rate
                         else ("start", "complete"))
                for step in steps:
                    r = await self.conn.request(step, lat)
                    outcomes[f"{step}:{r.get('code', 'ok')}"] += 1
                    if r["type"] != "ok":
                        failures.append(f"counter {self.number}: {step}: {r}")
                        return
                end = "done" if steps[-1] == "complete" else "no_show"
                if tid in ended:
                    double_ends.append(tid)
                ended[tid] = end
                if progress is not None:
                    progress(len(ended), tickets)
                if issuing_done.is_set() and len(ended) >= len(issued):
                    finished.set()

    counter_list = [_Counter(c.number, c.services) for c in active]
    for c in counter_list:
        await c.conn.open(url, batch=True)
    kiosk_list = [AsyncClient(f"kiosk-{i}", token=demo_token(f"kiosk-{i}"))
                  for i in range(1, kiosks + 1)]
    for k in kiosk_list:
        await k.open(url, batch=False)

    async def kiosk(i: int, conn: AsyncClient) -> None:
        for n in range(i, tickets, kiosks):
            r = await conn.request("issue", lat, service=plan[n], priority=prio[n])
            outcomes[f"issue:{r.get('code', 'ok')}"] += 1
            if r["type"] == "ok":
                issued.append(r["ticket"]["id"])
            else:
                failures.append(f"{conn.device}: issue refused: {r.get('code')}")

    t0 = time.perf_counter()
    workers = [asyncio.create_task(c.work()) for c in counter_list]
    await asyncio.gather(*(kiosk(i, k) for i, k in enumerate(kiosk_list)))
    issuing_done.set()
    if len(ended) >= len(issued):
        finished.set()
    done_wait = asyncio.create_task(finished.wait())
    await asyncio.wait([done_wait, *workers], return_when=asyncio.FIRST_COMPLETED)
    if not finished.is_set():  # a worker gave up: report instead of hanging
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(finished.wait(), 30)
    finished.set()
    await asyncio.gather(*workers, return_exceptions=True)
    done_wait.cancel()
    seconds = time.perf_counter() - t0

    # Let every board catch up with the last event.
    last = (await kiosk_list[0].request("ping", lat))["seq"]
    for b in board_list:
        b.want = last
        if not b.seqs or b.seqs[-1] < last:
            b.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(b.arrived.wait(), 30)

    # ---------------------------------------------------------- invariants
    if len(issued) != tickets:
        failures.append(f"{tickets - len(issued)} of {tickets} issue requests failed")
    lost = set(issued) - set(ended)
    if lost:
        failures.append(f"{len(lost)} tickets lost (issued, never completed or no-show)")
    if double_calls:
        failures.append(f"{len(double_calls)} tickets called twice: {double_calls[:3]}")
    if double_ends:
        failures.append(f"{len(double_ends)} tickets finished twice: {double_ends[:3]}")
    unknown = set(ended) - set(issued)
    if unknown:
        failures.append(f"{len(unknown)} tickets served that no kiosk issued")
    reference: list[str] | None = None
    for b in board_list:
        start = b.conn.welcome["seq"]
        expect = list(range(start + 1, last + 1))
        if b.seqs != expect:
            gaps = len(set(expect) - set(b.seqs))
            dup = len(b.seqs) - len(set(b.seqs))
            failures.append(f"{b.conn.device}: seq stream {start + 1}..{last} has {gaps} "
                            f"missing, {dup} duplicate, order ok={b.seqs == sorted(b.seqs)}")
        ids = [tid for _s, tid in b.calls]
        if len(ids) != len(set(ids)):
            failures.append(f"{b.conn.device}: saw a call twice")
        if set(ids) != set(called):
            failures.append(f"{b.conn.device}: saw {len(set(ids))} of {len(called)} calls")
        if [s for s, _ in b.calls] != sorted(s for s, _ in b.calls):
            failures.append(f"{b.conn.device}: calls out of order")
        if reference is None:
            reference = ids
        elif ids != reference:
            failures.append(f"{b.conn.device}: call sequence differs from board-1's")

    for conn in [*(b.conn for b in board_list), *(c.conn for c in counter_list), *kiosk_list]:
        await conn.close()
    return LoadResult(tickets=len(issued), seconds=seconds, latencies=dict(lat),
                      outcomes=dict(outcomes), failures=failures,
                      events=len(board_list[0].seqs) if board_list else 0,
                      board_frames=sum(b.conn.frames for b in board_list))


def check_event_log(database: str, hall_id: str = "main") -> list[str]:
    """Failures of the stored event log: its seqs must be exactly 1..last."""
    from server.store import Store

    store = Store(database)
    try:
        last = store.last_seq(hall_id)
        seqs: list[int] = []
        while len(seqs) < last:
            batch = store.events_since(hall_id, seqs[-1] if seqs else 0, limit=10000)
            if not batch:
                break
            seqs += [int(e["seq"]) for e in batch]
    finally:
        store.close()
    if seqs != list(range(1, last + 1)):
        missing = sorted(set(range(1, last + 1)) - set(seqs))
        return [f"event log: {len(missing)} seq gap(s), first {missing[:5]}"]
    return []


# ------------------------------------------------------------------ CLI
def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tickets", type=int, default=7000, help="tickets (default 7000)")
    parser.add_argument("--boards", type=int, default=20, help="lobby boards (default 20)")
    parser.add_argument("--counters", type=int, default=67, help="counters (default 67)")
    parser.add_argument("--kiosks", type=int, default=6, help="kiosks (default 6)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--no-show-rate", type=float, default=0.05, metavar="P",
                        help="share of called tickets marked no-show (default 0.05)")
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    parser.add_argument("--keep", metavar="DIR",
                        help="keep the config, database and server log in DIR")
    city = parser.add_argument_group(
        "a city on one process (--halls)",
        "--halls N drives N reference halls at once against one qhall serve, each hall's "
        "day compressed into --minutes, beside one idle hall driven alone in the same run "
        "(server/tools/city.py); --counters/--boards/--kiosks are per hall")
    city.add_argument("--halls", type=int, metavar="N",
                      help="halls served by one qhall serve process (e.g. 20)")
    city.add_argument("--minutes", type=float, default=10.0,
                      help="each hall's day compressed into this long (default 10)")
    city.add_argument("--visitors", type=int, default=7000,
                      help="visitors per hall and day (default 7000)")
    city.add_argument("--baseline-minutes", type=float, default=1.0,
                      help="the idle hall's busiest compressed stretch, driven alone first "
                           "(default 1)")
    city.add_argument("--gc-report", action="store_true",
                      help="print the server's garbage-collection passes (count, time, "
                           "p50/p99/max per generation) and event-loop lateness during "
                           "the city, read from its /metrics (server/gcwatch.py)")


def latency_table(lat: dict[str, list[float]]) -> list[dict[str, Any]]:
    """Per request type: count and p50/p90/p99/max in milliseconds."""
    rows = []
    for kind in sorted(lat):
        v = lat[kind]
        rows.append({"type": kind, "n": len(v),
                     **{f"p{q}_ms": round(percentile(v, q) * 1000, 2) for q in (50, 90, 99)},
                     "max_ms": round(max(v) * 1000, 2)})
    return rows


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
    from rich.table import Table

    if args.halls is not None:
        return city.run(args)
    console = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    if args.tickets < 1 or not 0 <= args.no_show_rate <= 1:
        err.print("qhall loadtest: --tickets must be >= 1 and --no-show-rate in 0..1")
        return 2
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="qhall-load-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "loadtest.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    database = f"sqlite:///{db}"
    config = loadtest_config(database)
    cfg_path = workdir / "hall.toml"
    cfg_path.write_text(dumps(config), encoding="utf-8")
    port = free_port()
    try:
        proc = start_server(cfg_path, port, workdir / "server.log")
    except RuntimeError as exc:
        err.print(f"qhall loadtest: {exc}", markup=False)
        return 1
    try:
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=err) as bar:
            task = bar.add_task("tickets served", total=args.tickets)
            result = asyncio.run(run_load(
                f"ws://127.0.0.1:{port}/ws", config, tickets=args.tickets,
                boards=args.boards, counters=args.counters, kiosks=args.kiosks,
                seed=args.seed, no_show_rate=args.no_show_rate,
                progress=lambda n, total: bar.update(task, completed=n)))
    except ValueError as exc:
        err.print(f"qhall loadtest: {exc}", markup=False)
        return 2
    finally:
        stop_server(proc)
    result.failures += check_event_log(database)

    requests = sum(len(v) for v in result.latencies.values())
    console.print(f"{result.tickets} tickets through {args.counters} counters, "
                  f"{args.boards} boards, {args.kiosks} kiosks in {result.seconds:.1f} s: "
                  f"{result.tickets / result.seconds:.0f} tickets/s, "
                  f"{requests / result.seconds:.0f} requests/s, {result.events} events "
                  f"({result.board_frames} frames to the boards).")
    table = Table(title="Latency per request type (client round trip)", title_justify="left")
    for col in ("type", "n", "p50 ms", "p90 ms", "p99 ms", "max ms"):
        table.add_column(col, justify="right")
    rows = latency_table(result.latencies)
    for r in rows:
        table.add_row(r["type"], str(r["n"]), f"{r['p50_ms']:.1f}", f"{r['p90_ms']:.1f}",
                      f"{r['p99_ms']:.1f}", f"{r['max_ms']:.1f}")
    console.print(table)
    checks = ("no ticket lost or served twice", "every board saw every call once, in order",
              "no seq gap (boards and event log)")
    if result.ok:
        for c in checks:
            console.print(f"[green]PASS[/] {c}")
    else:
        for f in result.failures:
            console.print(f"[red]FAIL[/] {f}", markup=True)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "tickets": result.tickets, "seconds": round(result.seconds, 3),
            "events": result.events, "latency": rows, "outcomes": result.outcomes,
            "failures": result.failures, "ok": result.ok}, indent=2), encoding="utf-8")
    if not args.keep:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if result.ok else 1
