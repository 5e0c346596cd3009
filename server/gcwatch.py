"""Garbage collection of a ``qhall serve`` process: its tuning and what it costs.

The server runs every hall on one event loop; a collection pass stops that
loop (the collector runs inside an allocation, on the loop's thread), so every
hall's call -> board waits for it. Session 7 measured full (generation-2)
passes of 32-170 ms walking a heap of 52,000-149,000 objects, most of them
the halls as loaded (configuration, the day's tickets, SQLAlchemy's
metadata, the modules) that live as long as the process.

The tuning (:func:`tune`, :func:`hall_loaded`, :func:`hall_dropped`; only a
``qhall serve`` process turns it on, never a server run in a test process):

* a hall loaded is frozen (``gc.freeze()``): what is on the heap then moves
  to the permanent generation, which no pass walks again; objects frozen
  are still freed by their reference counts when they are dropped;
* a hall dropped (stepping down, stopping) unfreezes the heap
  (``gc.unfreeze()``): its server's reference cycles become collectable
  again (a process that loses and retakes halls would otherwise keep every
  old server); the next hall loaded freezes again;
* a young generation of :data:`THRESHOLD` objects instead of 700: fewer
  young passes, and fewer short-lived objects promoted to the old
  generations whose passes are the long ones.

What it costs is measured here too (:data:`WATCH`): every pass's duration per
generation (``gc.callbacks``) and the event loop's lateness (a task that
sleeps :data:`LAG_INTERVAL_S` and notes how late it woke), read on
``/metrics`` (:class:`GcCollector`) and printed by ``qhall loadtest --halls N
--gc-report`` (docs/PERFORMANCE.md). The callback only counts into lists:
it runs inside a collection, maybe while another thread holds a
prometheus_client lock, so it takes none.
"""

from __future__ import annotations

import asyncio
import bisect
import gc
import os
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

__all__ = ["BUCKETS", "GcCollector", "LAG_INTERVAL_S", "THRESHOLD", "WATCH", "Pauses",
           "Watch", "hall_dropped", "hall_loaded", "tune"]

#: Objects allocated (minus freed) before a young pass; the two older
#: generations keep Python's default (10 passes of the one below).
THRESHOLD = (10_000, 10, 10)
#: ``QHALL_GC=default`` leaves Python's collector as it is; ``QHALL_GC=N``
#: (a number) freezes with a young threshold of N instead (for an A/B).
ENV = "QHALL_GC"
#: Upper bounds (seconds) of the pause and lateness histograms.
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
LAG_INTERVAL_S = 0.05

_tuned = False
#: ``gc.get_freeze_count()`` as of the last freeze or unfreeze here: the call
#: walks the whole permanent generation (226,000 objects in the 20-hall
#: city), too long for every hall's part of every /metrics scrape
_frozen = 0


def tune() -> bool:
    """Turn the tuning on for this process (``qhall serve``); False when the
    environment says ``QHALL_GC=default``."""
    global _tuned
    said = os.environ.get(ENV, "").strip().lower()
    if said == "default":
        return False
    young = int(said) if said.isdigit() and int(said) > 0 else THRESHOLD[0]
    gc.set_threshold(young, *THRESHOLD[1:])
    _tuned = True
    return True


def hall_loaded() -> None:
    """A hall's server is built and attached: freeze the heap (if tuned)."""
    global _frozen
    if _tuned:
        gc.freeze()
        _frozen = gc.get_freeze_count()


def hall_dropped() -> None:
    """A hall's server stops: its cycles must be collectable again (if tuned)."""
    global _frozen
    if _tuned:
        gc.unfreeze()
        _frozen = 0


class Pauses:
    """Durations in :data:`BUCKETS`, their count, sum and maximum."""

    def __init__(self) -> None:
        self.buckets = [0] * (len(BUCKETS) + 1)  # the last: above every bound
        self.count = 0
        self.total = 0.0
        self.max = 0.0

    def add(self, seconds: float) -> None:
        self.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.count += 1
        self.total += seconds
        if seconds > self.max:
            self.max = seconds

    def cumulative(self) -> list[tuple[str, float]]:
        """Prometheus histogram buckets: (upper bound, count at or below)."""
        out, running = [], 0
        for bound, n in zip([*map(str, BUCKETS), "+Inf"], self.buckets, strict=True):
            running += n
            out.append((bound, float(running)))
        return out


class Watch:
    """Every collection pass of the process and the loop's lateness."""

    def __init__(self) -> None:
        self.passes = [Pauses() for _ in range(3)]
        #: the same passes in CPU time of the collecting thread: on a shared
        #: machine the wall time holds whatever the scheduler did meanwhile
        self.cpu = [Pauses() for _ in range(3)]
        self.lag = Pauses()
        self._started = (0.0, 0.0)
        self._installed = False
        self._sampler: asyncio.Task[None] | None = None

    def install(self) -> None:
        if not self._installed:
            gc.callbacks.append(self._on_gc)
            self._installed = True

    def uninstall(self) -> None:
        if self._installed:
            gc.callbacks.remove(self._on_gc)
            self._installed = False

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = (time.perf_counter(), time.thread_time())
            return
        wall, cpu = self._started
        generation = info["generation"]
        self.passes[generation].add(time.perf_counter() - wall)
        self.cpu[generation].add(time.thread_time() - cpu)

    def sample_lag(self) -> None:
        """Start noting the running loop's lateness (once per process)."""
        if self._sampler is None or self._sampler.done():
            self._sampler = asyncio.get_running_loop().create_task(self._sample())

    async def stop_lag(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            try:
                await self._sampler
            except asyncio.CancelledError:
                pass
            self._sampler = None

    async def _sample(self) -> None:
        clock = time.monotonic
        while True:
            due = clock() + LAG_INTERVAL_S
            await asyncio.sleep(LAG_INTERVAL_S)
            self.lag.add(max(0.0, clock() - due))


WATCH = Watch()


def _histogram(name: str, doc: str, labels: list[str],
               series: list[tuple[list[str], Pauses]]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=labels)
    for values, p in series:
        family.add_metric(values, p.cumulative(), p.total)
    return family


class GcCollector:
    """The process's collector on a server's ``/metrics`` (every hall of a
    process shows the same figures: one heap, one loop)."""

    def __init__(self, watch: Watch = WATCH) -> None:
        self.watch = watch

    def collect(self) -> Iterator[Any]:
        w = self.watch
        yield GaugeMetricFamily(
            "qhall_gc_frozen_objects",
            "Objects in the permanent generation (gc.freeze: a loaded hall's heap)",
            value=_frozen)
        threshold = GaugeMetricFamily(
            "qhall_gc_threshold", "Collector thresholds per generation (gc.get_threshold)",
            labels=["generation"])
        for generation, value in enumerate(gc.get_threshold()):
            threshold.add_metric([str(generation)], value)
        yield threshold
        passes = CounterMetricFamily(
            "qhall_gc_collections", "Collection passes per generation since start "
            "(gc.get_stats)", labels=["generation"])
        collected = CounterMetricFamily(
            "qhall_gc_collected_objects", "Unreachable objects (reference cycles) freed per "
            "generation since start (gc.get_stats)", labels=["generation"])
        for generation, stats in enumerate(gc.get_stats()):
            passes.add_metric([str(generation)], stats["collections"])
            collected.add_metric([str(generation)], stats["collected"])
        yield passes
        yield collected
        yield _histogram("qhall_gc_pause_seconds",
                         "Collection pass durations per generation, while the server runs "
                         "(each stops the event loop)", ["generation"],
                         [([str(g)], p) for g, p in enumerate(w.passes)])
        yield _histogram("qhall_gc_pause_cpu_seconds",
                         "The same passes in CPU time of the collecting thread",
                         ["generation"], [([str(g)], p) for g, p in enumerate(w.cpu)])
        yield _histogram("qhall_loop_lag_seconds",
                         f"How late the event loop woke a task sleeping {LAG_INTERVAL_S} s",
                         [], [([], w.lag)])
