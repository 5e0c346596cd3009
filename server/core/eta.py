"""Waiting-time estimates that know the clock (pure: no I/O, times passed in).

DESIGN's rule is "people ahead / counters serving the service x recent mean
service time". The hall (``server/core/hall.py``) measures the terms; this
module turns them into an :class:`Estimate`:

* **supply**: each counter that will serve the service gives it a *share* of
  its time over *segments* of the future (seconds from now): while its
  schedule runs, not over a break. A counter's schedule is the union of its
  services' opening hours (:func:`schedule`); the last interval of the day
  runs on (the numbers taken are served). Open counters give time from now;
  a counter that worked today and is closed only because its schedule is in
  a break (lunch) comes back when the next interval starts (:func:`supply`).
* **work**: the calls to get through before the ticket x the mean cycle time.
  The calls include the work that will come first while it waits (the hall
  counts it): priority tickets still to come, and appointments whose slot
  starts before it is reached, checked in or only booked
  (``Hall.set_appointments``); for a normal ticket at most
  ``priority_per_normal`` of those per call it waits for (interleaving).
* **drain** (:func:`drain`): the wait T solves sum over counters of share x
  (available time in [0, T] after its ``begin``) = work. When the supply
  stops (a break) before T, the ticket is reached only after the supply
  resumes: ``after`` is that moment ("约 13:40 后").
* **range** (:func:`spread`): with n calls to get through the relative error
  of any estimate is at least about 1/sqrt(n + 1) (exponential service); the
  working part of the wait gets that spread, a break does not.

:func:`drain` with every counter open now and no schedule is the estimator
the hall used before (kept as the ``previous`` baseline the simulator
measures against).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Estimate", "Supply", "Segment", "RANGE_MIN_S", "schedule", "supply", "drain", "spread"]

#: A range is shown when high - low is at least this wide (10 minutes).
RANGE_MIN_S = 600
_DAY_S = 24 * 3600.0

Segment = tuple[float, float]  # [start, end) in seconds from now


@dataclass(frozen=True)
class Supply:
    """What one counter gives a service: ``share`` of its time in ``segments``,
    after the first ``begin`` seconds of that time (owed to other work)."""

    segments: tuple[Segment, ...]
    share: float = 1.0
    begin: float = 0.0


@dataclass(frozen=True)
class Estimate:
    """An estimated wait: best guess, optional range, and when it resumes."""

    eta_s: int
    low_s: int | None = None
    high_s: int | None = None
    after: dt.datetime | None = None


def schedule(hours: Iterable[Sequence[tuple[dt.time, dt.time]]]) -> tuple[Segment, ...]:
    """A counter's working intervals (seconds of the local day), merged.

    ``hours`` holds each of its services' opening hours; a service without
    hours is open all day, and so is the counter (the empty tuple).
    """
    spans: list[list[float]] = []
    for service_hours in hours:
        if not service_hours:
            return ()
        for opens, closes in service_hours:
            start, end = _secs(opens), _secs(closes)
            spans.append([start, end if end > start else _DAY_S])
    spans.sort()
    merged: list[list[float]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return tuple((a, b) for a, b in merged)


def supply(sched: tuple[Segment, ...], now_s: float, open_now: bool,
           worked_today: bool) -> tuple[Segment, ...]:
    """When a counter will give time, in seconds from now.

    Args:
        sched: its :func:`schedule` (empty: always working).
        now_s: seconds of the local day now.
        open_now: it is open (logged in, not paused) now.
        worked_today: it has been open today; a closed counter counts only
            then, and only when its schedule is in a break now (lunch), so it
            is expected back when the next interval starts.
    """
    inf = math.inf
    if not sched:
        return ((0.0, inf),) if open_now else ()
    inside = any(a <= now_s < b for a, b in sched)
    later = [[max(a, now_s) - now_s, b - now_s] for a, b in sched if b > now_s]
    if open_now:
        if inside:
            later[0][0] = 0.0
        elif not later:
            return ((0.0, inf),)  # open after its hours: serving the numbers taken
        # open in a break: it is expected to close, and back after the break
    elif not (worked_today and not inside and later):
        return ()
    later[-1][1] = inf  # the day's last interval runs on until the queue is served
    return tuple((a, b) for a, b in later)


def drain(supplies: Iterable[Supply], work: float) -> tuple[float, float, float] | None:
    """(T, resumed, idle): the time the supplies take to give ``work`` seconds.

    ``resumed`` is the end of the last stretch before T in which no counter
    worked at all (a break; not time owed to other services), 0 when there
    was none; ``idle`` the total of those stretches. None when nothing is
    supplied.
    """
    changes: list[tuple[float, float, int]] = []  # (when, rate change, counters working)
    for s in supplies:
        if s.share <= 0:
            continue
        skip = s.begin
        for a, b in s.segments:
            changes.append((a, 0.0, 1))
            if math.isfinite(b):
                changes.append((b, 0.0, -1))
            if skip > 0:
                take = min(skip, b - a)
                a, skip = a + take, skip - take
            if b > a:
                changes.append((a, s.share, 0))
                if math.isfinite(b):
                    changes.append((b, -s.share, 0))
    if not any(delta > 0 for _w, delta, _n in changes):
        return None
    if work <= 0:
        return 0.0, 0.0, 0.0
    changes.sort()
    at = given = rate = resumed = idle = 0.0
    working = 0
    for when, delta, dn in changes:
        if rate > 1e-12 and given + rate * (when - at) >= work:
            break
        given += rate * (when - at)
        if working == 0 and dn > 0 and when > at:
            resumed, idle = when, idle + when - at
        at, rate, working = when, max(0.0, rate + delta), working + dn
    if rate <= 1e-12:
        return None
    return at + (work - given) / rate, resumed, idle


def spread(eta: float, idle: float, calls: int) -> tuple[int, int] | None:
    """A (low, high) range around ``eta`` when it is at least :data:`RANGE_MIN_S` wide.

    The working part (``eta - idle``: breaks are not uncertain) gets the
    1/sqrt(calls + 1) relative-error floor of ``calls`` calls to get through.
    """
    if calls <= 0:
        return None
    half = (eta - idle) / math.sqrt(calls + 1)
    low = 60 * math.floor(max(0.0, eta - half) / 60)
    high = 60 * math.ceil((eta + half) / 60)
    if high - low < RANGE_MIN_S:
        return None
    return int(low), int(high)


def _secs(t: dt.time) -> float:
    return t.hour * 3600.0 + t.minute * 60.0 + t.second
