"""``qhall loadtest --halls N --gc-report``: the server's collector and loop during the city.

Reads the server's ``/metrics`` (server/gcwatch.py: every collection pass's
duration per generation, the event loop's lateness, the frozen objects and
thresholds) when the city starts and when it ends, and prints what happened
in between: passes per generation, their total and mean time, p50/p99/max
(the upper bound of the histogram bucket each falls in), and the same for
the loop's lateness. Printed, never asserted (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import math
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Histogram", "Snapshot", "read", "report_lines"]


@dataclass
class Histogram:
    """One histogram's cumulative buckets (upper bound -> count), count and sum."""

    buckets: dict[float, float] = field(default_factory=dict)
    count: float = 0.0
    total: float = 0.0

    def since(self, before: Histogram) -> Histogram:
        return Histogram({b: n - before.buckets.get(b, 0.0) for b, n in self.buckets.items()},
                         self.count - before.count, self.total - before.total)

    def quantile(self, q: float) -> float:
        """The upper bound of the bucket holding the ``q`` quantile (inf: above all)."""
        need = q * self.count
        for bound in sorted(self.buckets):
            if self.buckets[bound] >= need:
                return bound
        return math.inf

    def most(self) -> float:
        """The upper bound of the highest bucket with a sample."""
        return self.quantile(1.0)


@dataclass
class Snapshot:
    """What a server's ``/metrics`` said of its collector and loop at one moment."""

    frozen: float = 0.0
    threshold: tuple[int, ...] = ()
    passes: dict[str, Histogram] = field(default_factory=dict)  # generation -> pauses
    cpu: dict[str, Histogram] = field(default_factory=dict)  # the same in CPU time
    collected: dict[str, float] = field(default_factory=dict)  # generation -> cycles freed
    lag: Histogram = field(default_factory=Histogram)


def read(url: str) -> Snapshot | None:
    """The snapshot from ``url`` (a server's /metrics); None if it has no such figures."""
    with urllib.request.urlopen(url, timeout=30) as r:
        text = r.read().decode()
    return parse(text)


def parse(text: str) -> Snapshot | None:
    snap = Snapshot()
    hall: str | None = None  # several halls show the same process figures: one is read
    threshold: dict[str, int] = {}
    found = False
    for family in text_string_to_metric_families(text):
        if not (family.name.startswith("qhall_gc_") or family.name == "qhall_loop_lag_seconds"):
            continue
        found = True
        for s in family.samples:
            labels: dict[str, Any] = dict(s.labels)
            here = labels.pop("hall", None)
            if hall is None:
                hall = here
            if here != hall:
                continue
            if s.name == "qhall_gc_frozen_objects":
                snap.frozen = s.value
            elif s.name == "qhall_gc_threshold":
                threshold[labels["generation"]] = int(s.value)
            elif s.name == "qhall_gc_collected_objects_total":
                snap.collected[labels["generation"]] = s.value
            elif s.name.startswith(("qhall_gc_pause_", "qhall_loop_lag_seconds")):
                if s.name.startswith("qhall_loop"):
                    h = snap.lag
                else:
                    into = snap.cpu if s.name.startswith("qhall_gc_pause_cpu") else snap.passes
                    h = into.setdefault(labels["generation"], Histogram())
                if s.name.endswith("_bucket"):
                    h.buckets[float(labels["le"])] = s.value
                elif s.name.endswith("_count"):
                    h.count = s.value
                elif s.name.endswith("_sum"):
                    h.total = s.value
    snap.threshold = tuple(threshold[g] for g in sorted(threshold))
    return snap if found else None


def _ms(seconds: float) -> str:
    return "> 2000" if math.isinf(seconds) else f"≤ {seconds * 1000:g}"


def report_lines(before: Snapshot, after: Snapshot, seconds: float) -> list[str]:
    """The collector's and the loop's figures between two snapshots, as text lines."""
    lines = [f"garbage collector during the city ({seconds:.0f} s): thresholds "
             f"{after.threshold}, {after.frozen:,.0f} objects frozen (permanent generation)"]
    lines.append(f"  {'pass':<14}{'n':>8}{'total ms':>11}{'mean ms':>9}{'p50 ms':>9}"
                 f"{'p99 ms':>9}{'max ms':>9}{'freed':>10}")
    rows: list[tuple[str, Histogram, float | None]] = [
        (f"generation {g}", h.since(before.passes.get(g, Histogram())),
         after.collected.get(g, 0.0) - before.collected.get(g, 0.0))
        for g, h in sorted(after.passes.items())]
    rows += [(f"  (CPU) gen {g}", h.since(before.cpu.get(g, Histogram())), None)
             for g, h in sorted(after.cpu.items())]
    rows.append(("loop lateness", after.lag.since(before.lag), None))
    for name, h, freed in rows:
        tail = "" if freed is None else f"{freed:>10,.0f}"
        if h.count <= 0:
            lines.append(f"  {name:<14}{0:>8}{'':>55}{tail}")
            continue
        lines.append(f"  {name:<14}{h.count:>8,.0f}{h.total * 1000:>11,.0f}"
                     f"{h.total / h.count * 1000:>9.2f}{_ms(h.quantile(0.5)):>9}"
                     f"{_ms(h.quantile(0.99)):>9}{_ms(h.most()):>9}{tail}")
    gc_s = sum(h.total for name, h, _ in rows if name.startswith("generation"))
    gc_cpu = sum(h.total for name, h, _ in rows if name.startswith("  (CPU)"))
    lines.append(f"  collector: {gc_s:.2f} s of the loop's wall time ({gc_cpu:.2f} s CPU) "
                 f"in {seconds:.0f} s; (CPU): the collecting thread's CPU time (the wall "
                 f"time also holds the waits for a core on a shared machine); freed: "
                 f"objects in reference cycles the passes found; loop lateness is sampled "
                 f"every 50 ms (a stall of any cause: a pass, a long turn, the machine "
                 f"giving the core to someone else)")
    return lines
