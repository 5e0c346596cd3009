"""Simulator inputs: parameters, arrival profile, service times, staffing plan.

Everything here is plain data plus the functions that build the defaults for
a hall (the reference hall's load shape) and read the CSV files a planner
edits (``--profile``, ``--staffing``). The engine (``server/tools/sim/engine.py``)
consumes them; nothing here touches the dispatch core.

Default load (``docs/SIMULATION.md`` explains the calibration):

* **visitors**: about 7,000 a day (the reference hall), spread over the hours
  with peaks 09:00-11:00 and 14:30-16:00 (:data:`HOUR_SHAPE`), only while a
  service issues tickets;
* **service mix**: proportional to the counter capacity of each service (the
  counters that list it first, divided by its ``default_service_s``), so the
  hall's counters are what the hall expects;
* **service times**: lognormal, mean ``default_service_s x service_scale``
  (coefficient of variation 0.6). The reference hall's published volume
  (7,000 visitors on 67 counters in 7.5 h) implies about 5 min of counter time
  per visitor, so the default scale is 0.3 of the config's conservative ETA
  seeds.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import math
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from server.config import Counter, HallConfig, Service

__all__ = [
    "HOUR_SHAPE",
    "SERVICE_DISTS",
    "Arrival",
    "SimParams",
    "Profile",
    "StaffingPlan",
    "SimInputError",
    "default_profile",
    "default_plan",
    "full_plan",
    "coverage_order",
    "plan_from_counts",
    "draw_arrivals",
    "load_profile",
    "load_plan",
    "open_intervals",
]

#: Relative arrivals per clock hour (hall-local) in the reference hall: a
#: morning peak 09:00-11:00, a lull over lunch, an afternoon peak 14:30-16:00.
#: Hour 15 is the afternoon's busiest; 14 is half peak (its second half).
HOUR_SHAPE: dict[int, float] = {
    8: 1.0, 9: 1.35, 10: 1.3, 11: 0.9, 12: 0.3, 13: 0.7,
    14: 1.0, 15: 1.2, 16: 0.85, 17: 0.4,
}  # fmt: skip


#: Service-time distributions ``--service-dist`` offers.
SERVICE_DISTS = ("lognormal", "exp")


class SimInputError(ValueError):
    """A simulator input (profile, plan, parameter) is unusable; the message says why."""


@dataclass(frozen=True)
class SimParams:
    """Behaviour of citizens and staff in the simulation.

    Attributes:
        seed: random seed; the same seed gives the same day.
        service_scale: mean service time = ``default_service_s`` x this.
        service_cv: coefficient of variation of the lognormal service times
            (0: every service takes exactly its mean).
        service_s: per-service mean service time overrides (seconds).
        no_show_rate: share of called tickets whose citizen does not come.
        no_show_wait_s: how long a counter waits (with recalls) before 过号.
        walk_s: from the call to the citizen sitting down (``start``); the
            counter's time all the same (0: M/M/c, nothing but service).
        service_dist: ``lognormal`` (spread ``service_cv``) or ``exp``
            (exponential, coefficient of variation 1: M/M/c).
        priority_rate: share of tickets issued as ``priority`` (绿色通道).
        walkout_mean_min: mean patience of a waiting citizen, exponential;
            0 turns walk-outs off.
        requeue_rate: share of no-shows who come back (过号重排) within the
            return window, after 2-10 minutes, and wait again.
        transfer_rate: share of served visitors whose case then moves to
            another service of the same category (the counter transfers the
            ticket; a second service time there).
        appointment_rate: share of the visitors of a service that takes
            bookings who come with one: an ``appointment`` ticket for the
            next slot start, issued up to 15 minutes before it.
        route_share: share of the day's visitors on *each* joint-approval route
            of the hall (联合审批, ``Service.route``): one ticket called at each
            step's counters in turn, a service time drawn per step.
        lunch_rotation: in a hall with a lunch break, the counters that stay
            open over lunch take turns: half of them are off 12:00-13:00, the
            other half 13:00-14:00 (:func:`default_plan`).
        overtime_min: after the last service closes, counters serve the
            remaining queue this long; then the day is closed out.
        threshold_s: the service-level threshold (wait at most this).
    """

    seed: int = 1
    service_scale: float = 0.3
    service_cv: float = 0.6
    service_dist: str = "lognormal"
    service_s: Mapping[str, float] = field(default_factory=dict)
    no_show_rate: float = 0.05
    no_show_wait_s: float = 90.0
    walk_s: float = 30.0
    priority_rate: float = 0.03
    walkout_mean_min: float = 0.0
    requeue_rate: float = 0.5
    transfer_rate: float = 0.03
    appointment_rate: float = 0.3
    route_share: float = 0.01
    lunch_rotation: bool = True
    overtime_min: float = 60.0
    threshold_s: float = 15 * 60.0

    def check(self) -> None:
        """Raise :class:`SimInputError` for out-of-range values."""
        if self.service_scale <= 0:
            raise SimInputError("--service-scale must be > 0")
        if self.service_cv < 0:
            raise SimInputError("--service-cv must be >= 0")
        if self.service_dist not in SERVICE_DISTS:
            raise SimInputError(f"--service-dist must be one of {', '.join(SERVICE_DISTS)}, "
                                f"got {self.service_dist!r}")
        for name in ("no_show_rate", "priority_rate", "requeue_rate", "transfer_rate",
                     "appointment_rate", "route_share"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise SimInputError(f"{name.replace('_', '-')} must be between 0 and 1")
        for name in ("no_show_wait_s", "walk_s", "walkout_mean_min", "overtime_min"):
            if getattr(self, name) < 0:
                raise SimInputError(f"{name.replace('_', '-')} must be >= 0")
        if self.threshold_s <= 0:
            raise SimInputError("the service-level threshold must be > 0")
        for sid, s in self.service_s.items():
            if s <= 0:
                raise SimInputError(f"service time of {sid} must be > 0")

    def mean_service_s(self, svc: Service) -> float:
        """The mean service time the simulation draws for ``svc``."""
        if svc.id in self.service_s:
            return float(self.service_s[svc.id])
        return svc.default_service_s * self.service_scale


@dataclass(frozen=True)
class Arrival:
    """One visitor, drawn up front so that every plan sees the same day.

    Times are seconds after hall-local midnight.
    """

    at: float
    service: str
    priority: str = "normal"
    service_s: float = 300.0  # counter time once the citizen sits down
    no_show: bool = False  # does not come when called
    patience_s: float = math.inf  # leaves after waiting this long
    returns_after_s: float = math.inf  # a no-show back this long after 过号 (requeue)
    transfer_to: str | None = None  # after service here, the case moves to this service
    transfer_service_s: float = 0.0  # ... and takes this long there
    slot_start_s: float | None = None  # an appointment for this slot (s after midnight)
    step_s: tuple[float, ...] = ()  # a route's visitor: service time at each later step


@dataclass(frozen=True)
class Profile:
    """Arrivals per hour: ``rates[(service, hour)]`` = expected visitors in that hour."""

    rates: Mapping[tuple[str, int], float]

    @property
    def total(self) -> float:
        return sum(self.rates.values())

    def scaled(self, visitors: float) -> Profile:
        """The same shape with ``visitors`` expected in the whole day."""
        total = self.total
        if total <= 0:
            raise SimInputError("the arrival profile is empty")
        k = visitors / total
        return Profile({key: r * k for key, r in self.rates.items()})


@dataclass(frozen=True)
class StaffingPlan:
    """Which counters are open in each hall-local clock hour (0..23)."""

    hours: Mapping[int, frozenset[int]]

    def at(self, hour: int) -> frozenset[int]:
        return self.hours.get(hour, frozenset())

    def counts(self) -> dict[int, int]:
        return {h: len(s) for h, s in sorted(self.hours.items())}

    def with_hour(self, hour: int, counters: Iterable[int]) -> StaffingPlan:
        hours = dict(self.hours)
        hours[hour] = frozenset(counters)
        return StaffingPlan(hours)


# --------------------------------------------------------------------- hours
def open_intervals(svc: Service, hour: int) -> list[tuple[float, float]]:
    """Seconds after midnight within clock hour ``hour`` when ``svc`` issues tickets."""
    lo, hi = hour * 3600.0, (hour + 1) * 3600.0
    if not svc.hours:
        return [(lo, hi)]
    out = []
    for a, b in svc.hours:
        start, end = _secs(a), _secs(b)
        if end <= start:  # an interval reaching midnight
            end = 24 * 3600.0
        s, e = max(lo, start), min(hi, end)
        if e > s:
            out.append((s, e))
    return out


def _secs(t: dt.time) -> float:
    return t.hour * 3600.0 + t.minute * 60.0 + t.second


def _open_fraction(svc: Service, hour: int) -> float:
    return sum(e - s for s, e in open_intervals(svc, hour)) / 3600.0


# ---------------------------------------------------------------- defaults
def default_profile(config: HallConfig, visitors: float = 7000.0,
                    shape: Mapping[int, float] | None = None,
                    params: SimParams | None = None) -> Profile:
    """The reference load shape applied to ``config``, ``visitors`` a day.

    The mix follows counter capacity: each counter's working time goes to
    its first service, and to the next ones only as far as a daily quota
    (kept at 90%) caps the earlier ones; a service's share is the number of
    tickets that time can serve at the simulated mean service time.
    """
    shape = HOUR_SHAPE if shape is None else shape
    params = params or SimParams()
    by_id = {s.id: s for s in config.services}
    day_s = 7.5 * 3600.0  # the reference hall's counter hours
    room = {s.id: (0.9 * s.daily_quota if s.daily_quota is not None else math.inf)
            for s in config.services}
    tickets: dict[str, float] = {s.id: 0.0 for s in config.services}
    # A counter holds each ticket for the walk to the counter (or the no-show
    # wait) on top of the service itself.
    overhead = (params.walk_s * (1 - params.no_show_rate)
                + params.no_show_wait_s * params.no_show_rate)
    for c in config.counters:
        time_left = day_s
        for sid in c.services:
            mean = params.mean_service_s(by_id[sid]) * (1 - params.no_show_rate) + overhead
            take = min(time_left / mean, room[sid])
            tickets[sid] += take
            room[sid] -= take
            time_left -= take * mean
            if time_left <= 1e-9:
                break
    # Joint-approval routes: their share of the visitors (no counter lists a route).
    others = sum(tickets.values())
    for s in config.services:
        if s.route:
            tickets[s.id] = params.route_share * others
    rates: dict[tuple[str, int], float] = {}
    for svc in config.services:
        for hour, h_weight in shape.items():
            frac = _open_fraction(svc, hour)
            if frac > 0 and tickets[svc.id] > 0:
                # The shape is per clock hour; a half-open hour gets its part.
                rates[(svc.id, hour)] = tickets[svc.id] * h_weight * frac
    # Normalise per service first (its tickets spread over its own hours).
    per_service: dict[str, float] = {}
    for (sid, _h), r in rates.items():
        per_service[sid] = per_service.get(sid, 0.0) + r
    profile = Profile({(sid, h): r * tickets[sid] / per_service[sid]
                       for (sid, h), r in rates.items()})
    if profile.total <= 0:
        raise SimInputError("no service of the hall is open in the profile's hours")
    return profile.scaled(visitors)


def full_plan(config: HallConfig) -> StaffingPlan:
    """Every counter open in every hour one of its services issues tickets."""
    by_id = {s.id: s for s in config.services}
    hours: dict[int, set[int]] = {}
    for h in range(24):
        for c in config.counters:
            if any(open_intervals(by_id[s], h) for s in c.services):
                hours.setdefault(h, set()).add(c.number)
    return StaffingPlan({h: frozenset(s) for h, s in hours.items()})


def default_plan(config: HallConfig, params: SimParams | None = None) -> StaffingPlan:
    """The default staffing: :func:`full_plan` (all counters during their hours),
    with the lunch rotation (``SimParams.lunch_rotation``): the counters open
    in both 12:00 and 13:00 take turns, every other one off in hour 12, the
    rest off in hour 13."""
    plan = full_plan(config)
    if params is not None and not params.lunch_rotation:
        return plan
    # Only a hall with a lunch break (some service stops issuing over 12:00-13:00)
    # rotates the counters that stay open; a hall open all day has no lunch.
    if not any(svc.hours and not open_intervals(svc, 12) for svc in config.services):
        return plan
    both = sorted(plan.at(12) & plan.at(13))
    if len(both) < 2:
        return plan
    first, second = set(both[0::2]), set(both[1::2])
    return StaffingPlan({**plan.hours, 12: plan.at(12) - first, 13: plan.at(13) - second})


def coverage_order(config: HallConfig) -> list[int]:
    """Counters in the order a plan of N counters opens them.

    Round robin over the groups of counters with the same service list, so
    the first counters cover as many services as possible and capacity
    grows evenly across services as N rises.
    """
    groups: dict[tuple[str, ...], list[Counter]] = {}
    for c in config.counters:
        groups.setdefault(c.services, []).append(c)
    order: list[int] = []
    depth = 0
    while len(order) < len(config.counters):
        for members in groups.values():
            if depth < len(members):
                order.append(members[depth].number)
        depth += 1
    return order


def plan_from_counts(config: HallConfig, counts: Mapping[int, int],
                     base: StaffingPlan | None = None) -> StaffingPlan:
    """A plan opening, each hour, the first ``counts[h]`` counters of the
    :func:`coverage_order` that ``base`` (default: :func:`full_plan`) has open then."""
    base = base or full_plan(config)
    order = coverage_order(config)
    hours: dict[int, frozenset[int]] = {}
    for h in set(base.hours) | set(counts):
        allowed = base.at(h)
        n = counts.get(h, len(allowed))
        hours[h] = frozenset([c for c in order if c in allowed][: max(0, n)])
    return StaffingPlan(hours)


# ----------------------------------------------------------------- arrivals
def draw_arrivals(config: HallConfig, profile: Profile, params: SimParams) -> list[Arrival]:
    """Draw the day's visitors: Poisson per (service, hour) over the open part of the hour.

    Every random attribute (service time, no-show, patience) is drawn here,
    per visitor, from one ``random.Random(seed)``: two runs with the same seed
    see the same citizens whatever the staffing.
    """
    params.check()
    rng = random.Random(params.seed)
    # A second stream for the additions (re-queue, transfers, appointments), so
    # turning them on or off leaves every other draw of the day unchanged.
    extra = random.Random(f"{params.seed}-extra")
    by_id = {s.id: s for s in config.services}
    # Transfers go to ordinary services (a route is entered at the kiosk only).
    peers = {s.id: [o.id for o in config.services if o.category == s.category and o.id != s.id
                    and not o.route and not s.route]
             for s in config.services}
    out: list[Arrival] = []
    for (sid, hour) in sorted(profile.rates):
        rate = profile.rates[(sid, hour)]
        svc = by_id.get(sid)
        if svc is None:
            raise SimInputError(f"the profile names unknown service {sid!r}")
        intervals = open_intervals(svc, hour)
        open_s = sum(e - s for s, e in intervals)
        if rate <= 0 or open_s <= 0:
            continue
        per_s = rate / open_s  # the hour's visitors arrive while it issues
        mean = params.mean_service_s(by_id[svc.route[0]] if svc.route else svc)
        for start, end in intervals:
            t = start
            while True:
                t += rng.expovariate(per_s)
                if t >= end:
                    break
                arrival = Arrival(
                    at=t, service=sid,
                    priority="priority" if rng.random() < params.priority_rate else "normal",
                    service_s=(rng.expovariate(1.0 / mean) if params.service_dist == "exp"
                               else _lognormal(rng, mean, params.service_cv)),
                    no_show=rng.random() < params.no_show_rate,
                    patience_s=(rng.expovariate(1.0 / (params.walkout_mean_min * 60))
                                if params.walkout_mean_min > 0 else math.inf),
                )
                out.append(_realistic(arrival, svc, by_id, peers[sid], params, extra))
    out.sort(key=lambda a: a.at)
    return out


def _realistic(a: Arrival, svc: Service, by_id: Mapping[str, Service], peers: list[str],
               params: SimParams, rng: random.Random) -> Arrival:
    """Add re-queue, transfer and appointment draws to one visitor."""
    changes: dict[str, object] = {}
    if svc.route:  # each later step's own service time
        changes["step_s"] = tuple(_lognormal(rng, params.mean_service_s(by_id[sid]),
                                             params.service_cv) for sid in svc.route[1:])
    if a.no_show and rng.random() < params.requeue_rate:
        changes["returns_after_s"] = rng.uniform(120.0, 600.0)
    if peers and rng.random() < params.transfer_rate:
        to = by_id[rng.choice(peers)]
        changes["transfer_to"] = to.id
        changes["transfer_service_s"] = _lognormal(rng, params.mean_service_s(to),
                                                   params.service_cv)
    if (svc.appointments is not None and a.priority == "normal"
            and rng.random() < params.appointment_rate):
        slot = svc.appointments.slot_minutes * 60.0
        start = math.ceil(a.at / slot) * slot
        if start - a.at <= 15 * 60 and open_intervals(svc, int(start // 3600)):
            changes["priority"] = "appointment"
            changes["slot_start_s"] = start
    return dataclasses.replace(a, **changes) if changes else a  # type: ignore[arg-type]


def _lognormal(rng: random.Random, mean: float, cv: float) -> float:
    if cv <= 0:
        return mean
    sigma2 = math.log(1 + cv * cv)
    return rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))


# ---------------------------------------------------------------- files
def load_profile(path: str | Path, config: HallConfig) -> Profile:
    """Read ``service,hour,visitors`` rows (CSV with a header) into a :class:`Profile`.

    Raises:
        SimInputError: unreadable file, unknown service, bad hour or number.
    """
    known = {s.id for s in config.services}
    rates: dict[tuple[str, int], float] = {}
    for line, row in _rows(path, ("service", "hour", "visitors")):
        sid = row["service"].strip()
        if sid not in known:
            raise SimInputError(f"{path}:{line}: unknown service {sid!r}")
        hour = _int(row["hour"], f"{path}:{line}: hour")
        if not 0 <= hour <= 23:
            raise SimInputError(f"{path}:{line}: hour must be 0..23, got {hour}")
        try:
            rate = float(row["visitors"])
        except ValueError:
            raise SimInputError(f"{path}:{line}: visitors must be a number") from None
        if rate < 0 or math.isnan(rate):
            raise SimInputError(f"{path}:{line}: visitors must be >= 0")
        rates[(sid, hour)] = rates.get((sid, hour), 0.0) + rate
    if not rates:
        raise SimInputError(f"{path}: no rows")
    return Profile(rates)


def load_plan(path: str | Path, config: HallConfig) -> StaffingPlan:
    """Read ``hour,counters`` rows: ``counters`` is ``all``, a count N (the
    first N of :func:`coverage_order` among those open then), or a list of
    numbers and ranges (``1-10 12 15``). Hours not listed follow :func:`full_plan`.

    Raises:
        SimInputError: unreadable file, bad hour, unknown counter.
    """
    base = full_plan(config)
    numbers = {c.number for c in config.counters}
    hours = dict(base.hours)
    counts: dict[int, int] = {}
    for line, row in _rows(path, ("hour", "counters")):
        hour = _int(row["hour"], f"{path}:{line}: hour")
        if not 0 <= hour <= 23:
            raise SimInputError(f"{path}:{line}: hour must be 0..23, got {hour}")
        spec = row["counters"].strip().lower()
        if spec == "all":
            hours[hour] = frozenset(numbers)
        elif re.fullmatch(r"\d+", spec) and "-" not in spec and " " not in spec:
            counts[hour] = int(spec)
            hours.pop(hour, None)
        else:
            chosen: set[int] = set()
            for part in re.split(r"[\s;]+", spec):
                if not part:
                    continue
                m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
                if not m:
                    raise SimInputError(f"{path}:{line}: bad counter list {row['counters']!r}")
                a, b = int(m.group(1)), int(m.group(2) or m.group(1))
                for n in range(a, b + 1):
                    if n not in numbers:
                        raise SimInputError(f"{path}:{line}: unknown counter {n}")
                    chosen.add(n)
            hours[hour] = frozenset(chosen)
    plan = StaffingPlan(hours)
    if counts:
        by_count = plan_from_counts(config, counts, base)
        plan = StaffingPlan({**plan.hours, **{h: by_count.at(h) for h in counts}})
    return plan


def _rows(path: str | Path, columns: tuple[str, ...]) -> Iterable[tuple[int, dict[str, str]]]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise SimInputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    reader = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise SimInputError(f"{path}: missing column(s) {', '.join(missing)}; "
                            f"expected a header {','.join(columns)}")
    for i, row in enumerate(reader, start=2):
        if any(row.get(c) is None for c in columns):
            raise SimInputError(f"{path}:{i}: too few fields")
        yield i, row


def _int(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise SimInputError(f"{what} must be a whole number, got {text!r}") from None
