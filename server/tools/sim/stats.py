"""Figures of a simulated day, by the KPI definitions of REFERENCE_HALL.md.

* wait = called - issued (the first call: the engine never re-queues);
* service level = share of *served* tickets with wait <= the threshold;
* utilisation = time a counter holds a ticket (call to complete/no-show)
  over the time it is open;
* ETA error = |ETA printed on the ticket at issue - real wait|, for every
  ticket that was called.

Waits are grouped by the hour (hall-local) the ticket was issued in.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from server.tools.sim.engine import DayResult, TicketRecord

__all__ = ["WaitStats", "DaySummary", "summarise", "percentile"]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[k - 1]


@dataclass
class WaitStats:
    """Waits of a group of tickets (seconds)."""

    issued: int = 0
    called: int = 0
    served: int = 0
    mean_wait_s: float = math.nan
    p90_wait_s: float = math.nan
    max_wait_s: float = math.nan
    service_level: float = math.nan  # served within the threshold / served
    # Called within the threshold / issued (walk-outs aside): a ticket never
    # called counts as late, so a plan that leaves a service unstaffed fails.
    on_time: float = math.nan
    eta_mae_s: float = math.nan
    eta_bias_s: float = math.nan  # mean (ETA - wait): > 0 means the ETA overestimates

    @classmethod
    def of(cls, records: Iterable[TicketRecord], threshold_s: float) -> WaitStats:
        recs = [r for r in records if r.status != "refused"]
        waits = [r.wait for r in recs if r.wait is not None]
        served = [r.wait for r in recs if r.status == "done" and r.wait is not None]
        errors = [(r.eta_s or 0) - r.wait for r in recs
                  if r.wait is not None and r.eta_s is not None]
        out = cls(issued=len(recs), called=len(waits), served=len(served))
        if waits:
            out.mean_wait_s = sum(waits) / len(waits)
            out.p90_wait_s = percentile(waits, 90)
            out.max_wait_s = max(waits)
        if served:
            out.service_level = sum(1 for w in served if w <= threshold_s) / len(served)
        judged = [r for r in recs if r.status != "walked_out"]
        if judged:
            out.on_time = sum(1 for r in judged
                              if r.wait is not None and r.wait <= threshold_s) / len(judged)
        if errors:
            out.eta_mae_s = sum(abs(e) for e in errors) / len(errors)
            out.eta_bias_s = sum(errors) / len(errors)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else
                    (round(v, 4) if isinstance(v, float) else v))
                for k, v in self.__dict__.items()}


@dataclass
class DaySummary:
    """Everything the reports show about one simulated day."""

    threshold_s: float
    visitors: int
    outcomes: dict[str, int]  # status -> count (refused split by code)
    overall: WaitStats
    by_service: dict[str, WaitStats]
    by_hour: dict[int, WaitStats]
    by_service_hour: dict[tuple[str, int], WaitStats]
    utilisation: dict[int, float]  # counter -> busy / open
    hour_utilisation: dict[int, float]
    hour_counters: dict[int, float]  # mean counters open in the hour
    end_s: float
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "threshold_s": self.threshold_s,
            "visitors": self.visitors,
            "outcomes": self.outcomes,
            "overall": self.overall.as_dict(),
            "by_service": {s: w.as_dict() for s, w in self.by_service.items()},
            "by_hour": {str(h): w.as_dict() for h, w in self.by_hour.items()},
            "by_service_hour": [{"service": s, "hour": h, **w.as_dict()}
                                for (s, h), w in self.by_service_hour.items()],
            "counter_utilisation": {str(n): round(u, 4) for n, u in self.utilisation.items()},
            "hour_utilisation": {str(h): round(u, 4) for h, u in self.hour_utilisation.items()},
            "hour_counters": {str(h): round(c, 2) for h, c in self.hour_counters.items()},
            "end": _hhmm(self.end_s),
        }


def summarise(result: DayResult, threshold_s: float = 900.0) -> DaySummary:
    """Compute the day's figures from the engine's records."""
    recs = result.records
    outcomes: Counter[str] = Counter()
    for r in recs:
        outcomes[f"refused_{r.refused}" if r.status == "refused" else r.status] += 1
    by_service: dict[str, list[TicketRecord]] = defaultdict(list)
    by_hour: dict[int, list[TicketRecord]] = defaultdict(list)
    by_sh: dict[tuple[str, int], list[TicketRecord]] = defaultdict(list)
    for r in recs:
        h = int(r.issued // 3600)
        by_service[r.service].append(r)
        by_hour[h].append(r)
        by_sh[(r.service, h)].append(r)
    util = {}
    busy_h: dict[int, float] = defaultdict(float)
    open_h: dict[int, float] = defaultdict(float)
    for n, log in sorted(result.counters.items()):
        open_s = sum(b - a for a, b in log.opened)
        busy_s = sum(b - a for a, b in log.busy)
        if open_s > 0:
            util[n] = busy_s / open_s
        _spread(log.opened, open_h)
        _spread(log.busy, busy_h)
    return DaySummary(
        threshold_s=threshold_s,
        visitors=len(recs),
        outcomes=dict(sorted(outcomes.items())),
        overall=WaitStats.of(recs, threshold_s),
        by_service={s: WaitStats.of(v, threshold_s) for s, v in sorted(by_service.items())},
        by_hour={h: WaitStats.of(v, threshold_s) for h, v in sorted(by_hour.items())},
        by_service_hour={k: WaitStats.of(v, threshold_s) for k, v in sorted(by_sh.items())},
        utilisation=util,
        hour_utilisation={h: busy_h[h] / s for h, s in sorted(open_h.items()) if s > 0},
        hour_counters={h: s / 3600.0 for h, s in sorted(open_h.items())},
        end_s=result.end_s,
    )


def _spread(intervals: Iterable[tuple[float, float]], into: dict[int, float]) -> None:
    """Add the seconds of each interval to the clock hours it overlaps."""
    for a, b in intervals:
        h = int(a // 3600)
        while a < b:
            edge = min(b, (h + 1) * 3600.0)
            into[h] += edge - a
            a, h = edge, h + 1


def _hhmm(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}"
