"""Staffing search: the fewest counters per hour that reach a service level.

Greedy over the hours, earliest first. For hour *h*, with the hours before it
fixed at what the search chose and the hours after it fully staffed, the
search bisects the number of counters open in *h* (the first N of
:func:`~server.tools.sim.model.coverage_order` among those the base plan opens) and
keeps the smallest N for which every hour up to *h* that could reach the
target still reaches it: tickets issued late in one hour are served in the
next, so a thin hour must not spoil the one before.

An hour is judged on the tickets *issued* in it: the share called within
the threshold, where a ticket never called counts as late (the served-only
service level would reward leaving a service unstaffed). Each trial stops
as soon as every ticket issued up to the end of *h* has been called
(``run_day(settle_before=...)``). All trials see the same visitors (drawn
once from the seed), so the comparison between staffings is not blurred by
sampling noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from server.config import HallConfig
from server.tools.sim.engine import run_day
from server.tools.sim.model import Arrival, SimParams, StaffingPlan, full_plan, plan_from_counts
from server.tools.sim.stats import WaitStats

__all__ = ["StaffingResult", "search_staffing"]


@dataclass
class StaffingResult:
    """The plan found and, per hour, whether the target was reachable."""

    counts: dict[int, int]  # hour -> counters open
    full: dict[int, int]  # hour -> counters the base plan has
    reached: dict[int, bool]  # hour -> the target is met in that hour
    plan: StaffingPlan
    trials: int


def _hour_levels(records, upto_hour: int, threshold_s: float) -> dict[int, float]:  # type: ignore[no-untyped-def]
    groups: dict[int, list] = {}
    for r in records:
        h = int(r.issued // 3600)
        if h <= upto_hour:
            groups.setdefault(h, []).append(r)
    return {h: WaitStats.of(v, threshold_s).on_time for h, v in groups.items()}


def search_staffing(
    config: HallConfig,
    arrivals: Sequence[Arrival],
    params: SimParams,
    target: float,
    base: StaffingPlan | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> StaffingResult:
    """Find the fewest counters per hour reaching ``target`` (a share, e.g. 0.85)
    of served tickets waiting at most ``params.threshold_s``.

    Args:
        config: the hall.
        arrivals: the day's visitors (the same for every trial).
        params: behaviour; ``threshold_s`` is the service-level threshold.
        target: required service level in each hour, 0 < target <= 1.
        base: the most each hour may open (default: every counter in its hours).
        progress: called with (hours done, hours in all) after each hour.

    Raises:
        ValueError: a target outside (0, 1].
    """
    if not 0 < target <= 1:
        raise ValueError("the target service level must be in (0, 1]")
    base = base or full_plan(config)
    hours = sorted(h for h, s in base.hours.items() if s)
    full = {h: len(base.at(h)) for h in hours}
    counts = dict(full)
    must_hold: set[int] = set()  # hours already judged that reached the target
    cache: dict[tuple[tuple[int, int], ...], dict[int, float]] = {}
    trials = 0

    def levels(trial: dict[int, int], hour: int) -> dict[int, float]:
        nonlocal trials
        key = tuple(sorted((h, n) for h, n in trial.items() if h <= hour))
        if key not in cache:
            trials += 1
            plan = plan_from_counts(config, trial, base)
            result = run_day(config, plan, arrivals, params, settle_before=(hour + 1) * 3600.0)
            cache[key] = _hour_levels(result.records, hour, params.threshold_s)
        return cache[key]

    def ok(trial: dict[int, int], hour: int, check: set[int]) -> bool:
        got = levels(trial, hour)
        # NaN (nobody served from that hour) passes: there is nothing to judge.
        return all(not (got.get(h, math.nan) < target) for h in check)

    reached: dict[int, bool] = {}
    for done, hour in enumerate(hours, start=1):
        check = must_hold | {hour}
        if not ok(counts, hour, check):
            # Even full staff misses it: keep the hour fully staffed.
            reached[hour] = False
            if progress is not None:
                progress(done, len(hours))
            continue
        reached[hour] = True
        must_hold.add(hour)
        lo, hi = 0, full[hour]
        while lo < hi:
            mid = (lo + hi) // 2
            if ok({**counts, hour: mid}, hour, check):
                hi = mid
            else:
                lo = mid + 1
        counts[hour] = hi
        if progress is not None:
            progress(done, len(hours))
    return StaffingResult(counts=counts, full=full, reached=reached,
                          plan=plan_from_counts(config, counts, base), trials=trials)
