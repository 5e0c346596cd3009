"""``qhall loadtest --halls N``: a city of reference halls on ONE ``qhall serve``.

Each hall is the reference hall (the demo config: 67 counters, 20 lobby
boards, 6 kiosks) always open, with its own SQLite file; one ``qhall serve
--config-dir`` process serves them all. Each hall's day (``--visitors``,
7,000 by default, drawn from the reference arrival profile with the hall's
own seed: services, priority, service times, no-shows) is compressed into
``--minutes``: kiosks issue each visitor at its compressed arrival time,
counters call, start, serve for the compressed service time and complete
(no-shows are marked), boards watch. Every device is a real websocket
connection (:mod:`server.tools.lightclient`, so ~1,900 of them fit in this
one client process); loopback only.

First, the baseline in the same run: one more hall of the same kind,
``idle``, is driven alone (nothing else on the server) through the busiest
``--baseline-minutes`` of its compressed day. Then the city: every hall at
once. Printed: throughput, call -> board latency p50/p99 (a counter's
``call_next`` sent -> the ``ticket.called`` read by each board of its hall)
per hall and overall beside the idle hall's, the ratio of the p99s (the
target: within 2x), the server's RSS, the server's and the load
generator's CPU over the city (they share this machine's cores: a NOTE says
when the two needed more than 90% of them, or the whole machine was that
busy, and the city's figure then measures the machine), the compressed
days' peak (their busiest 10 s) against what one server process answers at
this run's own CPU per request (:func:`peak_report`: above it, requests wait
behind the peak's backlog and the p99 measures that), and every invariant of
:mod:`server.tools.invariants` per hall and overall. Exit 1 when an
invariant fails.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import dataclasses
import json
import math
import os
import re
import resource
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server import gcwatch
from server.config import HallConfig, dumps
from server.reference import DEMO_PIN, demo_config, demo_token
from server.tools import gcreport, invariants
from server.tools.lightclient import LightDevice
from server.tools.loadserver import (
    free_port,
    loadtest_config,
    percentile,
    start_server,
    stop_server,
)
from server.tools.procstat import cpu_s, rss_mb
from server.tools.wakeup import Wakeups
from server.tools.workdir import workdir as work_in

__all__ = ["CityResult", "HallRun", "Visitor", "city_config", "cores_needed", "cpu_report",
           "day_plan", "machine_busy_s", "peak_rate", "peak_report", "run_city"]

IDLE = "idle"  # the baseline hall's id
#: A sleeping counter asks anyway after this long (a safety net: the
#: harness's count of waiting tickets wakes it otherwise).
SLEEP_NET_S = 120.0
# The server encodes an event with a fixed key order (server/wire/protocol.py):
# seqs and called tickets are found without decoding the frame.
_SEQ = re.compile(rb'"type":"event","seq":(\d+)')
_CALLED = re.compile(rb'"name":"ticket\.called","at":"[^"]*","data":\{"ticket":\{"id":"([^"]+)"')


@dataclass(frozen=True)
class Visitor:
    """One visitor of the compressed day: when (s after the start), what, how long."""

    at: float
    service: str
    priority: str
    service_s: float
    no_show: bool


def city_config(hall_id: str, database: str) -> HallConfig:
    """The reference hall, always open, as hall ``hall_id``."""
    return dataclasses.replace(loadtest_config(database), id=hall_id,
                               name=f"城市压力测试 city hall {hall_id}")


def day_plan(visitors: int, seed: int, minutes: float, counters: int = 67) -> list[Visitor]:
    """The reference day's visitors (of the services the first ``counters``
    counters serve), their times compressed so the day lasts ``minutes``."""
    from server.tools.sim.model import SimParams, default_profile, draw_arrivals

    cfg = demo_config()  # with its hours: the day's shape
    served = {s for c in cfg.counters[:counters] for s in c.services}
    params = SimParams(seed=seed)
    day = [a for a in draw_arrivals(cfg, default_profile(cfg, visitors, params=params), params)
           if a.service in served]
    if not day:
        return []
    first, last = day[0].at, day[-1].at
    factor = max(1.0, (last - first) / (minutes * 60.0))
    # Appointments are issued as normal tickets here (no bookings are made).
    return [Visitor((a.at - first) / factor, a.service,
                    "priority" if a.priority == "priority" else "normal",
                    a.service_s / factor, a.no_show) for a in day]


def busiest(plan: list[Visitor], seconds: float) -> list[Visitor]:
    """The visitors of the window of ``seconds`` holding the most arrivals, from 0."""
    start, _count = _densest([v.at for v in plan], seconds)
    window = [v for v in plan[start:] if v.at < plan[start].at + seconds] if plan else []
    return [dataclasses.replace(v, at=v.at - window[0].at) for v in window]


def _densest(stamps: list[float], seconds: float) -> tuple[int, int]:
    """(first index, count) of the window of ``seconds`` holding the most of
    the sorted ``stamps``."""
    best, start, j = 0, 0, 0
    for i, at in enumerate(stamps):
        while stamps[j] < at - seconds:
            j += 1
        if i - j + 1 > best:
            best, start = i - j + 1, j
    return start, best


@dataclass
class _Board:
    view: invariants.BoardView
    next_seq: int
    calls: array.array[int] = field(default_factory=lambda: array.array("I"))


class HallRun:
    """One hall's devices and what they saw: kiosks issue on the plan's clock,
    counters serve, boards note seqs and calls."""

    def __init__(self, hall: str, url: str, config: HallConfig, plan: list[Visitor], *,
                 counters: int, boards: int, kiosks: int) -> None:
        self.hall = hall
        self.url = url
        self.plan = plan
        self.counter_cfg = config.counters[:counters]
        self.boards: dict[str, _Board] = {}
        self.board_names = [f"board-{i}" for i in range(1, boards + 1)]
        self.kiosk_names = [f"kiosk-{i}" for i in range(1, kiosks + 1)]
        self.devices: list[LightDevice] = []
        self.acked: list[str] = []
        self.visitors: dict[str, Visitor] = {}
        self.ended = 0
        self.requests = 0
        self.empty = 0  # call_next answered queue_empty
        self.failures: list[str] = []
        self.issue_lag_s = 0.0  # the most a kiosk issued behind its visitor's time
        self.turned_away = 0  # visitors not issued by the end of the day (server behind)
        self.latency = array.array("d")  # call_next sent -> ticket.called read, per board
        self._sent: dict[str, float] = {}
        self._early: dict[str, list[float]] = defaultdict(list)
        self._ids: dict[str, int] = {}
        self._names: list[str] = []
        served_by: dict[str, list[int]] = defaultdict(list)
        for c in self.counter_cfg:
            for s in c.services:
                served_by[s].append(c.number)
        self.wakeups = Wakeups(served_by)
        self.stop = asyncio.Event()
        self.issued_all = asyncio.Event()

    # ---------------------------------------------------------------- devices
    async def open(self) -> None:
        """Connect every device (boards first: they see every call)."""
        for name in self.board_names:
            dev = LightDevice(name, demo_token(name), self._board_hook(name))
            welcome = await dev.open(self.url)
            seq = int(welcome["seq"])
            self.boards[name] = _Board(invariants.BoardView(seq, []), seq + 1)
            self.devices.append(dev)
        self._kiosks = [LightDevice(n, demo_token(n)) for n in self.kiosk_names]
        self._counters = [LightDevice(f"counter-{c.number}", demo_token(f"counter-{c.number}"))
                          for c in self.counter_cfg]
        for dev in [*self._kiosks, *self._counters]:
            await dev.open(self.url)
            self.devices.append(dev)

    def close(self) -> None:
        for dev in self.devices:
            dev.close()

    def _board_hook(self, name: str) -> Any:
        def on_events(data: bytes, now: float) -> None:
            board = self.boards.get(name)
            if board is None:
                return
            for m in _SEQ.finditer(data):
                seq = int(m.group(1))
                if seq == board.next_seq:
                    board.next_seq += 1
                elif seq < board.next_seq:
                    board.view.repeats += 1
                else:
                    board.view.gaps += seq - board.next_seq
                    board.next_seq = seq + 1
            for m in _CALLED.finditer(data):
                tid = m.group(1).decode()
                board.calls.append(self._id(tid))
                sent = self._sent.get(tid)
                if sent is None:
                    self._early[tid].append(now)  # read before the counter's reply
                else:
                    self.latency.append(now - sent)
        return on_events

    def _id(self, tid: str) -> int:
        n = self._ids.get(tid)
        if n is None:
            n = self._ids[tid] = len(self._names)
            self._names.append(tid)
        return n

    def last_seq(self) -> int:
        """The highest seq every board has read so far."""
        return min((b.next_seq - 1 for b in self.boards.values()), default=0)

    def board_views(self) -> dict[str, invariants.BoardView]:
        return {name: dataclasses.replace(b.view, calls=[self._names[i] for i in b.calls])
                for name, b in self.boards.items()}

    # ------------------------------------------------------------------- day
    async def drive(self, drain_s: float) -> None:
        """Run the plan from now until its day is over (a visitor a kiosk has
        not reached by then is turned away: the run stays bounded when the
        server falls behind); then serve what waits for at most ``drain_s``
        more and stop the counters."""
        t0 = time.perf_counter()
        end = t0 + (self.plan[-1].at if self.plan else 0.0) + 1.0
        counters = [asyncio.create_task(self._counter(dev, c.number))
                    for dev, c in zip(self._counters, self.counter_cfg, strict=True)]
        await asyncio.gather(*(self._kiosk(i, dev, t0, end)
                               for i, dev in enumerate(self._kiosks)))
        self.issued_all.set()
        self._maybe_done()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), drain_s)
        self.stop.set()
        self.wakeups.wake_all()
        await asyncio.gather(*counters)

    def _maybe_done(self) -> None:
        if self.issued_all.is_set() and self.ended >= len(self.acked):
            self.stop.set()

    async def _ask(self, dev: LightDevice, kind: str, **fields: Any) -> dict[str, Any]:
        reply = await dev.request(kind, **fields)
        self.requests += 1
        if reply.get("code") == "queue_empty":
            self.empty += 1
        elif reply.get("type") != "ok":
            self.failures.append(f"{dev.device} {kind}: {reply.get('code')} "
                                 f"{reply.get('message', '')}"[:200])
        return reply

    async def _kiosk(self, index: int, dev: LightDevice, t0: float, end: float) -> None:
        for v in self.plan[index::len(self._kiosks)]:
            if time.perf_counter() > end:
                self.turned_away += 1
                continue
            delay = t0 + v.at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self.issue_lag_s = max(self.issue_lag_s, -delay)
            reply = await self._ask(dev, "issue", service=v.service, priority=v.priority)
            if reply.get("type") == "ok":
                tid = str(reply["ticket"]["id"])
                self.acked.append(tid)
                self.visitors[tid] = v
                self.wakeups.issued(v.service)

    async def _counter(self, dev: LightDevice, number: int) -> None:
        self.wakeups.join(number)
        index = number - 1
        if (await self._ask(dev, "login", staff=f"s{index + 1:03d}", pin=DEMO_PIN)
                ).get("type") != "ok":
            return
        heard_empty = False
        while not self.stop.is_set():
            if heard_empty or not self.wakeups.claim(number):
                # Nobody waits for its services (as the harness counts, like
                # the queue count on a clerk's screen; or the server just said
                # so: the count ran ahead): it sleeps until an issue wakes it,
                # one counter per ticket (server/tools/wakeup.py; no polling:
                # 1,340 idle counters would be most of the load). The timeout
                # is a safety net (it then asks anyway), long: at 30 s the
                # city's 1,340 mostly idle counters would ask up to 45 times
                # a second for nothing.
                heard_empty = False
                try:
                    await asyncio.wait_for(self.wakeups.sleep(number).wait(), SLEEP_NET_S)
                    continue
                except TimeoutError:
                    self.wakeups.claim(number)
            sent = time.perf_counter()
            reply = await self._ask(dev, "call_next")
            if reply.get("type") != "ok":
                if reply.get("code") != "queue_empty":
                    return
                self.wakeups.unclaim(number)
                self._maybe_done()
                heard_empty = True
                continue
            self.wakeups.took(number, str(reply["ticket"]["service"]))
            tid = str(reply["ticket"]["id"])
            self._sent[tid] = sent
            self.latency.extend(t - sent for t in self._early.pop(tid, ()))
            visitor = self.visitors.get(tid)
            if visitor is not None and visitor.no_show:
                steps: tuple[str, ...] = ("no_show",)
            else:
                steps = ("start", "complete")
            for step in steps:
                if step == "complete" and visitor is not None:
                    await asyncio.sleep(visitor.service_s)
                if (await self._ask(dev, step)).get("type") != "ok":
                    return
            self.ended += 1
            self._maybe_done()


# ------------------------------------------------------------------- result
@dataclass
class CityResult:
    """What a city run measured, per hall and overall."""

    halls: list[dict[str, Any]]
    baseline: dict[str, Any]
    seconds: float
    requests: int
    issued: int
    queue_empty: int
    #: Seconds the city's day was compressed into (its offered load's clock).
    day_s: float
    served: int
    latency_ms: dict[str, float]
    rss_mb: dict[str, float]
    cpu_s: dict[str, float]
    connections: int
    problems: dict[str, list[str]]
    #: The load generator's own loop lateness over the city (50-ms samples):
    #: n, mean, p50, p99, max in ms.
    generator_lag_ms: dict[str, float] = field(default_factory=dict)
    #: Tickets per second the busiest :data:`PEAK_WINDOW_S` of the compressed
    #: days ask for, every city hall together (:func:`peak_rate`).
    peak_tickets_per_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not any(self.problems.values())

    @property
    def offered_tickets_per_s(self) -> float:
        """Tickets per second the compressed day asks for (every planned visitor)."""
        planned = sum(h["planned"] for h in self.halls)
        return planned / self.day_s if self.day_s > 0 else 0.0

    @property
    def ratio(self) -> float | None:
        base = self.baseline.get("p99")
        return self.latency_ms["p99"] / base if base else None


def _ms(samples: array.array[float]) -> dict[str, float]:
    values = list(samples)
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(percentile(values, 50) * 1000, 1),
            "p99": round(percentile(values, 99) * 1000, 1), "max": round(max(values) * 1000, 1)}


def generator_cpu_s() -> float:
    """CPU seconds (user + system) the load generator has used: this process
    (every thread) plus its children that ended. The server is a child too,
    but it is reaped only after the measured window (``stop_server``), so a
    difference taken inside the window holds none of its CPU."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def machine_busy_s() -> float:
    """CPU seconds every process of the machine has used, summed over its
    cores (Linux /proc/stat: all but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


#: The window the compressed days' peak is measured over (seconds): long
#: enough that the server cannot catch up inside it (a backlog of seconds).
PEAK_WINDOW_S = 10.0


def peak_rate(times: list[float], window_s: float = PEAK_WINDOW_S) -> float:
    """The most arrivals per second any ``window_s`` of ``times`` (seconds,
    any order) holds: the compressed day's peak, not its mean. (A day only
    a window or two long can read below its mean: its arrivals need not
    fit in one window.)"""
    return _densest(sorted(times), window_s)[1] / window_s


def peak_report(result: CityResult, cores: int) -> tuple[list[str], dict[str, float]]:
    """Lines and JSON figures on the compressed days' peak against what one
    server process answers at this run's own CPU per request.

    The city's call -> board latency is a queue's: when the peak asks more
    requests per second than one core gives at the server's measured CPU per
    request, requests wait behind the peak's backlog for seconds and the
    p99 measures that backlog. ``cores``: the machine's, for what server and
    load generator together need at the peak.
    """
    cpu, cores = result.cpu_s, max(1, cores)
    per_ticket = result.requests / max(1, result.issued)
    peak_rps = result.peak_tickets_per_s * per_ticket
    server_s, generator_s = cpu.get("server_cpu_s", 0.0), cpu.get("clients_cpu_s", 0.0)
    if not (result.requests and server_s > 0 and peak_rps > 0):
        return [], {}
    server_ms = 1000 * server_s / result.requests
    generator_ms = 1000 * generator_s / result.requests
    capacity = 1000 / server_ms
    need = peak_rps * (server_ms + generator_ms) / 1000
    mean = result.offered_tickets_per_s * per_ticket
    figures = {"window_s": PEAK_WINDOW_S,
               "tickets_per_s": round(result.peak_tickets_per_s, 1),
               "requests_per_s": round(peak_rps),
               "over_mean": round(peak_rps / mean, 2) if mean > 0 else 0.0,
               "server_one_core_requests_per_s": round(capacity),
               "server_load_at_peak": round(peak_rps / capacity, 2),
               "cores_needed_at_peak": round(need, 2)}
    lines = [f"peak: the busiest {PEAK_WINDOW_S:g} s of the compressed days ask "
             f"{result.peak_tickets_per_s:,.1f} tickets/s (~{peak_rps:,.0f} requests/s, "
             f"{figures['over_mean']:.2f}x the mean); at this run's {server_ms:.3f} ms of "
             f"server CPU per request one core answers ~{capacity:,.0f} requests/s "
             f"(the peak is {peak_rps / capacity:.0%} of it); server and load generator "
             f"together need {need:.2f} of {cores} cores at the peak"]
    if peak_rps > capacity:
        lines.append("NOTE: the peak asks more than one server process answers: requests "
                     "queue behind it for seconds and the city's p99 measures that backlog, "
                     "not interference between halls")
    elif need > CORES_NOTE_SHARE * cores:
        lines.append(f"NOTE: at the peak server and load generator together need more than "
                     f"{CORES_NOTE_SHARE:.0%} of the {cores} cores: the city's p99 "
                     f"there measures the machine")
    return lines, figures


#: Above this share of the machine's cores, server plus load generator are
#: CPU-bound together: the city's latency then measures the machine.
CORES_NOTE_SHARE = 0.9


def cores_needed(server_s: float, generator_s: float, wall_s: float) -> float:
    """The cores server and load generator kept busy together over ``wall_s``."""
    return (server_s + generator_s) / max(wall_s, 1e-9)


def cpu_report(server_s: float, generator_s: float, wall_s: float, cores: int, *,
               requests: int = 0, loadavg: tuple[float, ...] = (),
               machine_s: float | None = None) -> list[str]:
    """The lines printed about who had the CPU over the city's window: the
    server's and the load generator's CPU seconds, the cores the two needed
    together ((server + generator) / wall) against the machine's ``cores``,
    and a NOTE when that is more than :data:`CORES_NOTE_SHARE` of them.
    ``machine_s``: the CPU seconds of every process over the window (other
    work on a shared machine included); a NOTE too when that is above the
    share while the two alone are not."""
    wall, cores = max(wall_s, 1e-9), max(1, cores)
    need = cores_needed(server_s, generator_s, wall_s)
    per_request = (f"; {1000 * server_s / requests:.3f} ms per request answered"
                   if requests else "")
    lines = [f"CPU during the city: server {server_s:.1f} s ({100 * server_s / wall:.0f}% of one "
             f"core{per_request}), load generator {generator_s:.1f} s "
             f"({100 * generator_s / wall:.0f}% of one core), over {wall_s:.0f} s"
             + (f"; load average {' '.join(f'{x:.1f}' for x in loadavg)}" if loadavg else ""),
             f"cores needed (server + generator CPU / wall): {need:.2f} of {cores} "
             f"({need / cores:.0%} of the machine)"
             + (f"; every process of the machine: {machine_s / wall:.2f} "
                f"({machine_s / wall / cores:.0%})" if machine_s is not None else "")]
    if need > CORES_NOTE_SHARE * cores:
        lines.append(f"NOTE: server and load generator together needed {need / cores:.0%} of "
                     f"the {cores} cores: the machine cannot carry both: the city figure "
                     f"measures the machine, not the server alone")
    elif machine_s is not None and machine_s / wall > CORES_NOTE_SHARE * cores:
        lines.append(f"NOTE: the machine was {machine_s / wall / cores:.0%} busy, other "
                     f"processes included: it could not carry the city and the rest: the "
                     f"city figure measures the machine, not the server alone")
    return lines


async def _catch_up(run: HallRun, timeout: float) -> None:
    """Wait until every board of the hall read the hall's last event."""
    last = int((await run._kiosks[0].request("ping"))["seq"])
    deadline = time.monotonic() + timeout
    while run.last_seq() < last and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def run_city(base_url: str, configs: dict[str, HallConfig], plans: dict[str, list[Visitor]],
                   baseline_plan: list[Visitor], *, pid: int, counters: int, boards: int,
                   kiosks: int, drain_s: float, gc_lines: list[str] | None = None,
                   progress: Any = None) -> tuple[dict[str, HallRun], HallRun, dict[str, float],
                                                  float, dict[str, float]]:
    """The baseline hall alone, then every city hall at once; the runs, the
    server's RSS (idle, peak, end) and CPU, the city's seconds and the load
    generator's loop lateness (:func:`lateness`). ``gc_lines``: the
    server's collector and loop during the city are appended to it
    (:mod:`server.tools.gcreport`)."""
    def make(hall: str, plan: list[Visitor]) -> HallRun:
        return HallRun(hall, f"{base_url}/{hall}", configs[hall], plan,
                       counters=counters, boards=boards, kiosks=kiosks)

    idle = make(IDLE, baseline_plan)
    await idle.open()
    await idle.drive(drain_s)
    await _catch_up(idle, 30)
    idle.close()
    rss = {"idle": rss_mb(pid, 0.0)}
    if progress:
        progress(f"baseline done: {len(idle.acked)} tickets, call->board {_ms(idle.latency)}")
    runs = {hall: make(hall, plan) for hall, plan in plans.items()}
    for run in runs.values():
        await run.open()
    rss["connected"] = rss_mb(pid, 0.0)
    peak = [rss["connected"]]
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb(pid, 0.0))
            if progress:
                progress(f"{time.perf_counter() - t0:.0f} s: "
                         f"{sum(len(r.acked) for r in runs.values())} issued, "
                         f"{sum(r.ended for r in runs.values())} served, "
                         f"RSS {peak[0]:.0f} MB")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 5.0)

    metrics = base_url.replace("ws://", "http://", 1).rsplit("/ws", 1)[0] + "/metrics"
    gc0 = await asyncio.to_thread(gcreport.read, metrics) if gc_lines is not None else None
    t0 = time.perf_counter()
    cpu0 = (cpu_s(pid), generator_cpu_s(), machine_busy_s())
    sampler = asyncio.create_task(sample())
    # This process's own loop: a late generator reads the boards' frames late,
    # and the city's call -> board figures then hold its lateness too.
    generator = gcwatch.Watch()
    generator.sample_lag()
    await asyncio.gather(*(run.drive(drain_s) for run in runs.values()))
    seconds = time.perf_counter() - t0
    await generator.stop_lag()
    done.set()
    await sampler
    await asyncio.gather(*(_catch_up(run, 60) for run in runs.values()))
    rss["peak"] = max(peak[0], rss_mb(pid, 0.0))
    # Who had the CPU: on a shared machine a starved load generator reads
    # late and makes the server look slow (printed beside the figures).
    rss["server_cpu_s"] = cpu_s(pid) - cpu0[0]
    rss["clients_cpu_s"] = generator_cpu_s() - cpu0[1]
    rss["machine_cpu_s"] = machine_busy_s() - cpu0[2]
    rss["cpu_wall_s"] = time.perf_counter() - t0  # the window the CPU figures cover
    if gc_lines is not None:
        gc1 = await asyncio.to_thread(gcreport.read, metrics)
        if gc0 is None or gc1 is None:
            gc_lines.append("garbage collector: the server's /metrics has no qhall_gc_* figures")
        else:
            gc_lines += gcreport.report_lines(gc0, gc1, time.perf_counter() - t0)
    for run in runs.values():
        run.close()
    return runs, idle, rss, seconds, lateness(generator.lag)


_CPU_KEYS = ("server_cpu_s", "clients_cpu_s", "machine_cpu_s", "cpu_wall_s")


def lateness(samples: gcwatch.Pauses) -> dict[str, float]:
    """A loop's lateness samples: n, and mean, p50, p99, max in ms (p50 and
    p99: the upper bound of the bucket each falls in, inf above the last)."""
    if samples.count == 0:
        return {"n": 0.0}
    h = gcreport.Histogram({float(bound): n for bound, n in samples.cumulative()},
                           samples.count, samples.total)
    return {"n": float(samples.count), "mean": samples.total / samples.count * 1000,
            "p50": h.quantile(0.5) * 1000, "p99": h.quantile(0.99) * 1000,
            "max": samples.max * 1000}


def summarize(runs: dict[str, HallRun], idle: HallRun, rss: dict[str, float], seconds: float,
              databases: dict[str, str], zone: Any,
              generator_lag: dict[str, float] | None = None) -> CityResult:
    """Per hall and overall figures and invariants (reads each hall's store)."""
    halls: list[dict[str, Any]] = []
    problems: dict[str, list[str]] = {key: [] for key in invariants.INVARIANTS}
    everyone = array.array("d")
    for run in [*runs.values(), idle]:
        found = invariants.check(invariants.stored_events(databases[run.hall], run.hall),
                                 run.acked, run.board_views(), zone)
        if run.failures:
            found.setdefault("requests", []).extend(run.failures[:5])
        for key, items in found.items():
            problems.setdefault(key, []).extend(f"{run.hall}: {p}" for p in items)
        if run is not idle:
            everyone.extend(run.latency)
        halls.append({"hall": run.hall, "planned": len(run.plan), "issued": len(run.acked),
                      "turned_away": run.turned_away, "served": run.ended,
                      "requests": run.requests, "queue_empty": run.empty,
                      "issue_lag_s": round(run.issue_lag_s, 2),
                      "latency_ms": _ms(run.latency),
                      "failed": sorted(k for k, v in found.items() if v)})
    city = [h for h in halls if h["hall"] != IDLE]
    baseline = next(h for h in halls if h["hall"] == IDLE)
    return CityResult(
        halls=city, baseline={**{k: baseline[k] for k in ("planned", "issued", "turned_away",
                                                          "served", "requests", "issue_lag_s",
                                                          "failed")},
                              **baseline["latency_ms"]},
        seconds=seconds, requests=sum(h["requests"] for h in city),
        issued=sum(h["issued"] for h in city), queue_empty=sum(h["queue_empty"] for h in city),
        day_s=max((r.plan[-1].at for r in runs.values() if r.plan), default=0.0),
        served=sum(h["served"] for h in city),
        latency_ms=_ms(everyone),
        rss_mb={k: round(v, 1) for k, v in rss.items() if k not in _CPU_KEYS},
        cpu_s={k: round(v, 1) for k, v in rss.items() if k in _CPU_KEYS},
        generator_lag_ms={k: round(v, 1) for k, v in (generator_lag or {}).items()},
        peak_tickets_per_s=peak_rate([v.at for r in runs.values() for v in r.plan]),
        connections=sum(len(r.devices) for r in runs.values()), problems=problems)


# ---------------------------------------------------------------------- CLI
def run(args: argparse.Namespace) -> int:
    """``qhall loadtest --halls N`` (see the module docstring)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, width=120)
    err = Console(stderr=True, highlight=False)
    if (args.halls < 1 or args.minutes <= 0 or args.visitors < 1 or args.baseline_minutes <= 0
            or not 1 <= args.counters <= 67 or not 1 <= args.boards <= 20
            or not 1 <= args.kiosks <= 6):
        err.print("qhall loadtest: need --halls >= 1, --minutes > 0, --visitors >= 1, "
                  "--baseline-minutes > 0, --counters 1..67, --boards 1..20, --kiosks 1..6")
        return 2
    with contextlib.ExitStack() as stack:
        workdir = work_in(stack, args.keep, "qhall-city-")
        config_dir = workdir / "halls"
        config_dir.mkdir(exist_ok=True)
        halls = [f"hall{i:02d}" for i in range(1, args.halls + 1)]
        databases, configs = {}, {}
        for hall in [*halls, IDLE]:
            db = workdir / f"{hall}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            databases[hall] = f"sqlite:///{db}"
            configs[hall] = city_config(hall, databases[hall])
            (config_dir / f"{hall}.toml").write_text(dumps(configs[hall]), encoding="utf-8")
        plans = {hall: day_plan(args.visitors, args.seed + i, args.minutes, args.counters)
                 for i, hall in enumerate(halls)}
        baseline_plan = busiest(day_plan(args.visitors, args.seed, args.minutes, args.counters),
                                args.baseline_minutes * 60)
        port = free_port()
        try:
            proc = start_server(["--config-dir", str(config_dir)], port, workdir / "server.log")
        except RuntimeError as exc:
            err.print(f"qhall loadtest: {exc}", markup=False)
            return 1
        drain_s = max(30.0, 0.2 * args.minutes * 60)
        gc_lines: list[str] | None = [] if args.gc_report else None
        console.print(f"city: {args.halls} halls x ({args.counters} counters, {args.boards} "
                      f"boards, {args.kiosks} kiosks), ~{args.visitors:,} visitors each, day "
                      f"compressed into {args.minutes:g} min, on one qhall serve (pid "
                      f"{proc.pid}); baseline: hall {IDLE!r} alone for "
                      f"{args.baseline_minutes:g} min of its busiest compressed time")
        try:
            runs, idle, rss, seconds, lag = asyncio.run(run_city(
                f"ws://127.0.0.1:{port}/ws", configs, plans, baseline_plan, pid=proc.pid,
                counters=args.counters, boards=args.boards, kiosks=args.kiosks,
                drain_s=drain_s, gc_lines=gc_lines,
                progress=lambda text: err.print(text, markup=False)))
        finally:
            stop_server(proc)
        result = summarize(runs, idle, rss, seconds, databases, configs[IDLE].tz, lag)
        _print(console, result, Table)
        for line in gc_lines or ():
            console.print(line, markup=False)
        if args.json:
            Path(args.json).write_text(json.dumps(_as_json(result), indent=2), encoding="utf-8")
        return 0 if result.ok else 1


def _as_json(result: CityResult) -> dict[str, Any]:
    return {"halls": result.halls, "baseline": result.baseline,
            "seconds": round(result.seconds, 2), "requests": result.requests,
            "issued": result.issued, "served": result.served,
            "queue_empty": result.queue_empty,
            "requests_per_ticket": round(result.requests / max(1, result.issued), 2),
            "offered_tickets_per_s": round(result.offered_tickets_per_s, 1),
            "latency_ms": result.latency_ms, "ratio_p99": result.ratio,
            "rss_mb": result.rss_mb, "cpu_s": result.cpu_s,
            "generator_lag_ms": {k: None if math.isinf(v) else v  # JSON has no inf
                                 for k, v in result.generator_lag_ms.items()},
            "cores": _cores(result),
            "peak": peak_report(result, os.cpu_count() or 1)[1],
            "connections": result.connections,
            "invariants": {k: not v for k, v in result.problems.items()},
            "problems": result.problems, "ok": result.ok}


def _cpu_wall(result: CityResult) -> float:
    """The wall seconds the CPU figures cover (the city's own, for a result
    made before they were timed apart)."""
    return result.cpu_s.get("cpu_wall_s") or result.seconds or 1.0


def _cores(result: CityResult) -> dict[str, Any]:
    """The cores the server and the load generator needed over the city's
    window, and those every process of the machine kept busy."""
    cpu, wall = result.cpu_s, _cpu_wall(result)
    out: dict[str, Any] = {"available": os.cpu_count() or 1, "needed": round(cores_needed(
        cpu.get("server_cpu_s", 0.0), cpu.get("clients_cpu_s", 0.0), wall), 2)}
    if "machine_cpu_s" in cpu:
        out["machine_busy"] = round(cpu["machine_cpu_s"] / wall, 2)
    return out


def _print(console: Any, result: CityResult, table_type: Any) -> None:
    table = table_type(title="Per hall (p50/p99: call→board ms; lag: most a kiosk issued "
                             "behind its visitor's time)", title_justify="left")
    for col in ("hall", "planned", "issued", "served", "requests", "lag s", "p50 ms",
                "p99 ms", "invariants"):
        table.add_column(col, justify="right")
    for h in [*result.halls, {"hall": f"{IDLE} (baseline, alone)", **_baseline_row(result)}]:
        lat = h["latency_ms"]
        table.add_row(h["hall"], str(h["planned"]), str(h["issued"]), str(h["served"]),
                      str(h["requests"]),
                      f"{h['issue_lag_s']:.1f}", str(lat.get("p50", "-")),
                      str(lat.get("p99", "-")),
                      "PASS" if not h["failed"] else "FAIL " + ",".join(h["failed"]))
    console.print(table)
    lat, base = result.latency_ms, result.baseline
    ratio = result.ratio
    planned = sum(h["planned"] for h in result.halls)
    if result.issued < planned:
        console.print(f"[yellow]behind[/]: {planned - result.issued:,} of {planned:,} visitors "
                      f"not issued by the end of the compressed day (the kiosks waited for "
                      f"answers; at most {max(h['issue_lag_s'] for h in result.halls):.0f} s "
                      f"late)")
    per_ticket = result.requests / max(1, result.issued)
    console.print(
        f"offered: {result.offered_tickets_per_s:,.1f} tickets/s (every visitor of the "
        f"compressed days, ~{result.offered_tickets_per_s * per_ticket:,.0f} requests/s at "
        f"this run's {per_ticket:.2f} requests per ticket, {result.queue_empty:,} of them "
        f"queue_empty); answered below: when it is less, the server (one process) is "
        f"the limit, not the target")
    for line in peak_report(result, os.cpu_count() or 1)[0]:
        console.print(line, markup=False)
    console.print(
        f"throughput: {result.requests / result.seconds:,.0f} requests/s, "
        f"{result.issued / result.seconds:,.1f} tickets issued/s ({result.issued:,} issued, "
        f"{result.served:,} served in {result.seconds:.0f} s) over {result.connections:,} "
        f"connections")
    console.print(f"call→board (every board of the hall): city p50 {lat.get('p50', '-')} ms, "
                  f"p99 {lat.get('p99', '-')} ms (n={lat.get('n', 0):,}); one idle hall alone "
                  f"(same run): p50 {base.get('p50', '-')} ms, p99 {base.get('p99', '-')} ms "
                  f"(n={base.get('n', 0):,}); ratio of the p99s "
                  + (f"{ratio:.2f}x" if ratio is not None else "- (no samples)")
                  + " (target: within 2x)")
    rss = result.rss_mb
    console.print(f"server RSS: {rss.get('idle', 0):.0f} MB after the baseline, "
                  f"{rss.get('connected', 0):.0f} MB with every device connected, "
                  f"peak {rss.get('peak', 0):.0f} MB")
    cpu = result.cpu_s
    for line in cpu_report(cpu.get("server_cpu_s", 0.0), cpu.get("clients_cpu_s", 0.0),
                           _cpu_wall(result),
                           os.cpu_count() or 1, requests=result.requests,
                           loadavg=os.getloadavg(), machine_s=cpu.get("machine_cpu_s")):
        console.print(line, markup=False)
    lag = result.generator_lag_ms
    if lag.get("n"):
        console.print(
            f"load generator's loop (this process, woken every 50 ms): late by "
            f"{lag['mean']:.1f} ms on average, p50 {_bound(lag['p50'])}, p99 "
            f"{_bound(lag['p99'])}, max {lag['max']:.0f} ms; the call→board figures hold "
            f"this lateness too (a board's frame is read when its loop gets to it)",
            markup=False)
    for key, text in {**invariants.INVARIANTS,
                      "requests": "every request answered ok (or queue_empty)"}.items():
        found = result.problems.get(key, [])
        console.print(f"{'[green]PASS[/]' if not found else '[red]FAIL[/]'} {text}"
                      + (f" ({len(found)} violation(s))" if found else ""))
        for p in found[:10]:
            console.print(f"    {p}", markup=False)


def _bound(ms: float) -> str:
    # A histogram quantile is its bucket's upper bound (inf above the last one).
    return f"> {gcwatch.BUCKETS[-1] * 1000:g} ms" if math.isinf(ms) else f"≤ {ms:g} ms"


def _baseline_row(result: CityResult) -> dict[str, Any]:
    b = result.baseline
    return {**b, "latency_ms": b}

