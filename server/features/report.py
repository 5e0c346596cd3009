"""``qhall report``: daily/period figures from the event log; live ``stats``.

Definitions (``docs/REPORTS.md``; ``../shared/REFERENCE_HALL.md``):

* The report covers the tickets *issued* in the period (hall-local days,
  ``--from``/``--to`` inclusive). Their later events are followed for
  ``GRACE`` after the period, so the close-out at midnight counts.
* wait = last call (``ticket.called`` or ``ticket.recalled``) − issue;
  service time = completed − started (− last call when never started).
  Average and p90 (nearest rank) wait, service level and average service
  time are over *served* tickets.
* service level = share of served tickets whose wait is at most
  ``HallConfig.service_level_s`` (900 s = 15 min by default).
* no_show = tickets whose last outcome is a no-show (a no-show re-queued
  and then served counts as served); cancelled = withdrawn by staff;
  unserved = closed out at the end of the day, or still open when the
  period is over; waiting = still open in a period that has not ended.
* satisfaction rate = ratings 3..5 / ratings; bad ratings = 1..2;
  complaint rate = bad ratings per 10,000 served.
* ETA accuracy (``Report.eta``): the estimate printed at issue (the
  ``eta_s`` of ``ticket.issued``) against the real wait to the *first* call
  (what the citizen planned on), for every ticket called at least once;
  figures as in ``server/core/accuracy.py`` (MAE, bias, their share of the
  mean wait, within +-5 min, MAE share for tickets with >= 5 ahead, MSE),
  for the hall and by the service the ticket was issued for.
* Joint-approval routes (联合审批): a route case is one ticket, counted once
  in the ``service`` row of its route (issued once, served when its last
  step completes; its wait and service time are the sums over its step
  visits); ``Report.routes`` adds the per-step figures
  (``server/features/routesteps.py``).
* Scopes: ``hall``; ``service`` (the ticket's final service, after any
  transfer; a route case: its route); ``counter`` and ``staff`` (who served or no-showed it). The
  issue-side columns (issued, cancelled, unserved, waiting) are empty for
  counter and staff rows: a waiting ticket belongs to no counter yet.
"""

from __future__ import annotations

import argparse
import base64
import csv
import dataclasses
import datetime as dt
import html
import io
import math
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from server.config import ConfigError
from server.core import Hall
from server.core.accuracy import Sample, compare
from server.features.commandline import hall_config
from server.features.ratings import FollowUps
from server.features.routesteps import RouteFigures, RouteSteps
from server.service.api import Context, Handler, Reply, Session, Store, StoreError
from server.wire import lifecycle, protocol
from server.wire.clock import utcnow

__all__ = [
    "GRACE",
    "CSV_COLUMNS",
    "ETA_CSV_COLUMNS",
    "Figures",
    "Report",
    "compute",
    "build",
    "live_stats",
    "to_text",
    "to_csv",
    "to_html",
    "Stats",
    "configure",
    "run",
]

#: How long after the period a ticket's events are still followed.
GRACE = dt.timedelta(hours=6)
#: How far back the staff at each counter is looked up before the period.
LOOKBACK = dt.timedelta(days=7)

CSV_COLUMNS = (
    "scope", "key", "name", "issued", "served", "no_show", "cancelled", "unserved", "waiting",
    "avg_wait_s", "p90_wait_s", "avg_service_s", "service_level", "ratings",
    "satisfaction_rate", "bad_ratings", "complaint_rate", "open_followups",
    "eta_called", "eta_mean_wait_min", "eta_mae_min", "eta_bias_min", "eta_mae_pct",
    "eta_bias_pct", "eta_within_5min", "eta_mae_pct_5ahead", "eta_mse",
    "ended", "sent_back", "back_to",
)
SCOPES = ("hall", "service", "counter", "staff")
_LEVELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}


@dataclasses.dataclass
class Figures:
    """The figures of one scope and key (one CSV row)."""

    scope: str
    key: str
    name: str
    issued: int | None = 0
    served: int = 0
    no_show: int = 0
    cancelled: int | None = 0
    unserved: int | None = 0
    waiting: int | None = 0
    waits: list[float] = dataclasses.field(default_factory=list)
    service_times: list[float] = dataclasses.field(default_factory=list)
    scores: list[int] = dataclasses.field(default_factory=list)
    open_followups: int = 0
    level_s: int = 900

    @property
    def avg_wait_s(self) -> float | None:
        return sum(self.waits) / len(self.waits) if self.waits else None

    @property
    def p90_wait_s(self) -> float | None:
        if not self.waits:
            return None
        ordered = sorted(self.waits)
        return ordered[math.ceil(0.9 * len(ordered)) - 1]  # nearest rank

    @property
    def avg_service_s(self) -> float | None:
        return sum(self.service_times) / len(self.service_times) if self.service_times else None

    @property
    def service_level(self) -> float | None:
        if not self.waits:
            return None
        return sum(1 for w in self.waits if w <= self.level_s) / len(self.waits)

    @property
    def ratings(self) -> int:
        return len(self.scores)

    @property
    def bad_ratings(self) -> int:
        return sum(1 for s in self.scores if s <= 2)

    @property
    def satisfaction_rate(self) -> float | None:
        if not self.scores:
            return None
        return sum(1 for s in self.scores if s >= 3) / len(self.scores)

    @property
    def complaint_rate(self) -> float | None:
        """Bad ratings per 10,000 served."""
        return self.bad_ratings * 10000 / self.served if self.served else None

    def row(self) -> dict[str, Any]:
        """The CSV/JSON row: rounded numbers, None where undefined."""
        def r(value: float | None, places: int) -> float | None:
            return None if value is None else round(value, places)
        return {
            "scope": self.scope, "key": self.key, "name": self.name,
            "issued": self.issued, "served": self.served, "no_show": self.no_show,
            "cancelled": self.cancelled, "unserved": self.unserved, "waiting": self.waiting,
            "avg_wait_s": r(self.avg_wait_s, 1), "p90_wait_s": r(self.p90_wait_s, 1),
            "avg_service_s": r(self.avg_service_s, 1), "service_level": r(self.service_level, 4),
            "ratings": self.ratings, "satisfaction_rate": r(self.satisfaction_rate, 4),
            "bad_ratings": self.bad_ratings, "complaint_rate": r(self.complaint_rate, 2),
            "open_followups": self.open_followups,
        }


@dataclasses.dataclass
class Report:
    """A computed report: rows per scope, hourly figures, open follow-ups."""

    hall: str
    first: dt.date
    last: dt.date
    level_s: int
    rows: dict[str, dict[str, Figures]]
    hours: list[dict[str, Any]]
    followups: list[dict[str, Any]]
    scores: dict[int, int]
    # server.core.accuracy.compare(..., ("qhall",)): "hall" and each service id
    eta: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    # Joint-approval routes by route service id: cases and per-step figures.
    routes: dict[str, RouteFigures] = dataclasses.field(default_factory=dict)

    @property
    def total(self) -> Figures:
        return self.rows["hall"]["hall"]

    def all_rows(self) -> list[Figures]:
        return [f for scope in SCOPES for f in self.rows[scope].values()]


@dataclasses.dataclass
class _T:
    service: str
    issued_at: dt.datetime
    called_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    done_at: dt.datetime | None = None
    counter: int | None = None
    staff: str | None = None
    outcome: str = "waiting"  # waiting|called|serving|served|no_show|cancelled|unserved
    score: int | None = None
    eta_s: int | None = None  # printed at issue
    ahead: int | None = None  # printed at issue
    first_called_at: dt.datetime | None = None
    issued_service: str = ""  # the service it was issued for (before any transfer)
    route_id: str = ""  # a route case: its route service


def _counter_of(data: dict[str, Any]) -> int | None:
    value = data.get("counter")
    if isinstance(value, dict):
        value = value.get("number")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def compute(events: Iterable[dict[str, Any]], config: Any, first: dt.date, last: dt.date,
            now: dt.datetime, followups: Iterable[dict[str, Any]] = ()) -> Report:
    """Compute a report from events (``{"name","data","at"}``, in seq order).

    Args:
        events: the hall's events from a little before ``first`` (counter
            staff) to ``GRACE`` after ``last``; others are ignored.
        config: the hall (names, timezone, ``service_level_s``).
        first, last: the period, hall-local days, inclusive.
        now: the current time (a period not yet over has "waiting" tickets).
        followups: open follow-up cases (``server.features.ratings`` wire objects).
    """
    tz = config.tz
    start = dt.datetime.combine(first, dt.time(), tz)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz)
    staff_at: dict[int, tuple[str, str]] = {}
    staff_names: dict[str, str] = {s.id: s.name for s in config.staff}
    tickets: dict[str, _T] = {}
    steps = RouteSteps(config, staff_at)
    for ev in events:
        name, data, at = ev["name"], ev["data"], ev["at"]
        if at >= end + GRACE:
            break
        if name == "counter.opened":
            n = _counter_of(data)
            staff = data.get("staff") or {}
            if n is not None and staff.get("id"):
                staff_at[n] = (staff["id"], staff.get("name") or staff["id"])
                staff_names.setdefault(staff["id"], staff.get("name") or staff["id"])
            continue
        if name == "counter.closed":
            staff_at.pop(_counter_of(data) or -1, None)
            continue
        if not name.startswith("ticket."):
            continue
        wire: dict[str, Any] = data.get("ticket") or {}
        tid = wire.get("id")
        if name == "ticket.issued":
            if start <= at < end and tid:
                eta, ahead = wire.get("eta_s"), wire.get("ahead")
                route_id = wire.get("route_id") or ""
                tickets[tid] = _T(service=wire.get("service", ""), issued_at=at,
                                  issued_service=route_id or wire.get("service", ""),
                                  eta_s=eta if _is_int(eta) else None,
                                  ahead=ahead if _is_int(ahead) else None,
                                  route_id=route_id)
                steps.issued(tid, wire, at)
            continue
        # Only tickets issued in the period were kept, all with a truthy id.
        t = tickets.get(tid) if tid else None
        if t is None:
            continue
        steps.event(str(tid), name, data, at)
        if name == "ticket.rated":  # keeps the status (one rating, checked by the core)
            score = data.get("score")
            if isinstance(score, int) and 1 <= score <= 5:
                t.score = score
            continue
        # The status the lifecycle table gives after this event drives the outcome.
        status = lifecycle.STATUS_AFTER.get(name)
        if status == "called":
            if name == "ticket.no_show_undone":  # the same call again: no longer a no-show
                t.done_at = None
            else:  # called or recalled
                if name == "ticket.called" and t.first_called_at is None:
                    t.first_called_at = at
                t.called_at = at
                t.started_at = t.started_at if name == "ticket.recalled" else None
                t.counter = _counter_of(data)
                t.staff = staff_at.get(t.counter, (None, None))[0] if t.counter else None
            t.outcome = "called"
        elif status == "serving":
            t.started_at, t.outcome = at, "serving"
        elif status == "done":
            t.done_at, t.outcome = at, "served"
            t.counter = _counter_of(data) or t.counter
            t.staff = staff_at.get(t.counter, (t.staff, None))[0] if t.counter else t.staff
        elif status == "no_show":
            t.done_at, t.outcome = at, "no_show"
        elif status == "waiting":  # transferred or re-queued
            t.outcome, t.started_at = "waiting", None
            t.service = data.get("to_service") or wire.get("service") or t.service
        elif status == "cancelled":
            t.done_at = at
            t.outcome = "unserved" if data.get("reason") == "close_day" else "cancelled"
    over = now >= end
    level = int(getattr(config, "service_level_s", 900))
    rows: dict[str, dict[str, Figures]] = {scope: {} for scope in SCOPES}

    def fig(scope: str, key: str, name: str) -> Figures:
        found = rows[scope].get(key)
        if found is None:
            side = None if scope in ("counter", "staff") else 0
            found = rows[scope][key] = Figures(scope, key, name, issued=side, cancelled=side,
                                               unserved=side, waiting=side, level_s=level)
        return found

    fig("hall", "hall", config.name)
    for s in config.services:
        fig("service", s.id, s.name)
    for c in config.counters:
        fig("counter", str(c.number), c.name)
    for leg in steps.legs:
        # A step done and sent on is served at its counter (the case is
        # counted once, in its route's row, when its last step completes).
        if leg.left != "on" or leg.counter is None:
            continue
        cfg = config.counter(leg.counter)
        served_by = [fig("counter", str(leg.counter), cfg.name if cfg else str(leg.counter))]
        if leg.staff:
            served_by.append(fig("staff", leg.staff, staff_names.get(leg.staff, leg.staff)))
        for f in served_by:
            f.served += 1
            f.waits.append(leg.wait)
            f.service_times.append(leg.service)
    hours: dict[int, dict[str, Any]] = {
        h: {"hour": h, "arrivals": 0, "served": 0, "waits": []} for h in range(24)}
    scores = {s: 0 for s in range(1, 6)}
    for tid, t in tickets.items():
        outcome = t.outcome
        if outcome in ("waiting", "called", "serving"):
            outcome = "unserved" if over else "waiting"
        key = t.route_id or t.service
        svc = config.service(key)
        scopes = [fig("hall", "hall", config.name),
                  fig("service", key, svc.name if svc else key)]
        desk: list[Figures] = []
        if t.counter is not None and outcome in ("served", "no_show"):
            cfg = config.counter(t.counter)
            desk.append(fig("counter", str(t.counter), cfg.name if cfg else str(t.counter)))
            if t.staff:
                desk.append(fig("staff", t.staff, staff_names.get(t.staff, t.staff)))
        hours[t.issued_at.astimezone(tz).hour]["arrivals"] += 1
        for f in scopes:
            f.issued += 1  # type: ignore[operator]
            if outcome in ("cancelled", "unserved", "waiting"):
                setattr(f, outcome, getattr(f, outcome) + 1)
        for f in scopes + desk:
            if outcome == "no_show":
                f.no_show += 1
            elif outcome == "served" and tid in steps.case_wait and f in desk:
                # A route case at its last step's counter: that visit (the
                # earlier steps were credited to their counters when sent on).
                final = steps.last_leg[tid]
                f.served += 1
                f.waits.append(final.wait)
                f.service_times.append(final.service)
            elif outcome == "served" and tid in steps.case_wait:  # a route case: its visits
                f.served += 1
                f.waits.append(steps.case_wait[tid])
                f.service_times.append(steps.case_service[tid])
            elif outcome == "served":
                f.served += 1
                begin = t.called_at or t.issued_at
                f.waits.append((begin - t.issued_at).total_seconds())
                done = t.done_at or begin
                f.service_times.append(max(0.0, (done - (t.started_at or begin)).total_seconds()))
            if t.score is not None:
                f.scores.append(t.score)
        if outcome == "served":
            begin = t.called_at or t.issued_at
            hours[t.issued_at.astimezone(tz).hour]["waits"].append(
                (begin - t.issued_at).total_seconds())
            if t.done_at is not None:
                hours[t.done_at.astimezone(tz).hour]["served"] += 1
        if t.score is not None:
            scores[t.score] += 1
    cases = list(followups)
    for case in cases:
        fig("hall", "hall", config.name).open_followups += 1
        if case.get("service") in rows["service"]:
            rows["service"][case["service"]].open_followups += 1
        if case.get("counter") is not None and str(case["counter"]) in rows["counter"]:
            rows["counter"][str(case["counter"])].open_followups += 1
        staff = (case.get("staff") or {}).get("id")
        if staff and staff in rows["staff"]:
            rows["staff"][staff].open_followups += 1
    hourly = []
    for h in range(24):
        item = hours[h]
        waits = item.pop("waits")
        item["avg_wait_s"] = round(sum(waits) / len(waits), 1) if waits else None
        hourly.append(item)
    rows["staff"] = dict(sorted(rows["staff"].items()))
    return Report(config.id, first, last, level, rows, hourly, cases, scores,
                  _eta_accuracy(tickets.values()), steps.routes)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _eta_accuracy(tickets: Iterable[_T]) -> dict[str, dict[str, Any]]:
    """How honest the printed estimates were: hall and per issued-for service."""
    groups: dict[str, list[Sample]] = {"hall": []}
    for t in tickets:
        if t.eta_s is None or t.first_called_at is None:
            continue
        sample = Sample((t.first_called_at - t.issued_at).total_seconds(), t.ahead or 0,
                        {"qhall": float(t.eta_s)})
        groups["hall"].append(sample)
        groups.setdefault(t.issued_service or t.service, []).append(sample)
    return {key: compare(samples, ("qhall",)) for key, samples in groups.items()}


# ------------------------------------------------------------------ data


def _events(store: Store, hall: str, start: dt.datetime, end: dt.datetime) -> Iterable[dict]:
    """Counter events of the look-back window, then every event of the period + grace."""
    # Who staffs each counter when the period starts (a login may predate it).
    yield from store.events(hall, start - LOOKBACK, start,
                            names=("counter.opened", "counter.closed"))
    yield from store.events(hall, start, end + GRACE)


def build(config: Any, store: Store, first: dt.date, last: dt.date,
          now: dt.datetime | None = None) -> Report:
    """Read the event log (and open follow-ups) and compute the report.

    Raises:
        ValueError: ``last`` before ``first``.
    """
    if last < first:
        raise ValueError(f"the period ends ({last}) before it starts ({first})")
    now = now or utcnow()
    tz = config.tz
    start = dt.datetime.combine(first, dt.time(), tz)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz)
    cases = FollowUps(Context(config, store, lambda: now)).open_at(min(end, now))
    return compute(_events(store, config.id, start, end), config, first, last, now, cases)


def live_stats(ctx: Context) -> dict[str, Any]:
    """Today's figures of a running hall (the admin ``stats`` reply)."""
    now = ctx.clock()
    today = now.astimezone(ctx.config.tz).date()
    rep = build(ctx.config, ctx.store, today, today, now)
    return {
        "date": today.isoformat(),
        "hall": rep.total.row(),
        "services": [f.row() for f in rep.rows["service"].values()],
        "counters": [f.row() for f in rep.rows["counter"].values()],
        "staff": [f.row() for f in rep.rows["staff"].values()],
        "by_hour": [h for h in rep.hours if h["arrivals"] or h["served"]],
        "open_followups": len(rep.followups),
        "waiting": {sid: q["waiting"] for sid, q in ctx.hall.snapshot()["queues"].items()},
    }


class Stats:
    """The ``stats`` request: an admin gets :func:`live_stats`, a counter its
    own figures of today from the core."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def loaded(self, hall: Hall) -> None:
        """Nothing to feed the core: the figures are read from the event log."""

    def handlers(self) -> Mapping[str, Handler]:
        return {"stats": self._do_stats}

    def _do_stats(self, session: Session, msg: dict[str, Any]) -> Reply:
        if session.role == "admin":
            return Reply(protocol.ok(msg["id"], stats=live_stats(self.ctx)))
        counter = session.counter if session.role == "counter" else None
        return Reply(protocol.ok(msg["id"], stats=self.ctx.hall.stats(counter)))


# ------------------------------------------------------------------ output


def _fmt_s(value: float | None) -> str:
    if value is None:
        return "-"
    m, s = divmod(int(round(value)), 60)
    return f"{m}:{s:02d}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _n(value: int | None) -> str:
    return "" if value is None else str(value)


def _period(rep: Report) -> str:
    if rep.first == rep.last:
        return rep.first.isoformat()
    return f"{rep.first.isoformat()} – {rep.last.isoformat()}"


_TEXT_HEAD = ("key", "name", "issued", "served", "no-show", "cancel", "unserv", "wait",
              "avg wait", "p90 wait", "avg svc", "SL", "ratings", "satisf.", "bad", "per 10k",
              "open f/u")


def _text_cells(f: Figures) -> list[str]:
    return [f.key, f.name, _n(f.issued), str(f.served), str(f.no_show), _n(f.cancelled),
            _n(f.unserved), _n(f.waiting), _fmt_s(f.avg_wait_s), _fmt_s(f.p90_wait_s),
            _fmt_s(f.avg_service_s), _pct(f.service_level), str(f.ratings),
            _pct(f.satisfaction_rate), str(f.bad_ratings),
            "-" if f.complaint_rate is None else f"{f.complaint_rate:.1f}", str(f.open_followups)]


_ETA_HEAD = ("key", "called", "mean wait", "MAE", "bias", "MAE %", "bias %", "within 5 min",
             "MAE % (>=5 ahead)", "MSE min2")
#: ETA accuracy figures, in the CSV as ``eta_<name>`` (hall and service rows).
ETA_CSV_COLUMNS = ("called", "mean_wait_min", "mae_min", "bias_min", "mae_pct", "bias_pct",
                   "within_5min", "mae_pct_5ahead", "mse")


def _eta_rows(rep: Report) -> list[tuple[str, dict[str, Any]]]:
    """(key, figures flat) for the hall and each service with called tickets."""
    out = []
    for key, found in rep.eta.items():
        if not found.get("n"):
            continue
        out.append((key, {"called": found["n"], "mean_wait_min": found["mean_wait_min"],
                          **found["eta"]["qhall"]}))
    return out


def _eta_cells(rep: Report) -> list[list[str]]:
    def m(v: float | None, suffix: str = "") -> str:
        return "-" if v is None else f"{v:.1f}{suffix}"

    rows = [[key, str(f["called"]), m(f["mean_wait_min"], " min"), m(f["mae_min"], " min"),
             m(f["bias_min"], " min"), m(f["mae_pct"], "%"), m(f["bias_pct"], "%"),
             "-" if f["within_5min"] is None else f"{100 * f['within_5min']:.1f}%",
             m(f["mae_pct_5ahead"], "%"), "-" if f["mse"] is None else f"{f['mse']:.2f}"]
            for key, f in _eta_rows(rep)]
    return rows or [["hall", "0"] + ["-"] * (len(_ETA_HEAD) - 2)]


def _width(text: str) -> int:
    # CJK characters take two columns in a terminal.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(_width(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c + " " * (w - _width(c)) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in rows]


_ROUTE_HEAD = ("route", "step", "service", "arrivals", "served", "ended", "sent back",
               "back to step", "avg wait", "avg service")


def _route_cells(rep: Report) -> list[list[str]]:
    """One line per route case summary and per step (joint-approval routes)."""
    out = []
    for r in rep.routes.values():
        out.append([f"{r.route} {r.name}", "case", f"issued {r.issued}", "", str(r.served),
                    str(r.ended_early), f"{r.cases_sent_back} cases", "", "", ""])
        for s in r.steps:
            row = s.row()
            back = " ".join(f"{k}:{v}" for k, v in row["back_to"].items()) or "-"
            out.append([r.route, str(row["step"]), f"{s.service} {s.name}", str(s.arrivals),
                        str(s.served), str(s.ended), str(s.sent_back), back,
                        _fmt_s(row["avg_wait_s"]), _fmt_s(row["avg_service_s"])])
    return out


def to_text(rep: Report, config: Any) -> str:
    """A plain-text report for a terminal or an e-mail."""
    t = rep.total
    lines = [f"{config.name} — report {_period(rep)}", ""]
    lines.append(f"issued {t.issued}  served {t.served}  no-shows {t.no_show}  "
                 f"cancelled {t.cancelled}  unserved at close {t.unserved}  waiting {t.waiting}")
    lines.append(f"average wait {_fmt_s(t.avg_wait_s)}  p90 wait {_fmt_s(t.p90_wait_s)}  "
                 f"average service {_fmt_s(t.avg_service_s)}  service level "
                 f"{_pct(t.service_level)} within {rep.level_s // 60} min")
    lines.append(f"ratings {t.ratings}  satisfaction {_pct(t.satisfaction_rate)}  "
                 f"bad ratings {t.bad_ratings}  complaint rate "
                 f"{'-' if t.complaint_rate is None else f'{t.complaint_rate:.1f}'} per 10,000 "
                 f"served  open follow-ups {len(rep.followups)}")
    for scope in ("service", "counter", "staff"):
        figures = list(rep.rows[scope].values())
        lines += ["", f"by {scope}"]
        if not figures:
            lines.append("  (none)")
            continue
        lines += ["  " + x for x in _table([list(_TEXT_HEAD)] + [_text_cells(f)
                                                                 for f in figures])]
    if rep.routes:
        lines += ["", "by joint-approval route 联合审批 (cases once, then each step)"]
        lines += ["  " + x for x in _table([list(_ROUTE_HEAD)] + _route_cells(rep))]
    lines += ["", "ETA accuracy 预计等候准确度 (printed at issue vs wait to the first call)"]
    lines += ["  " + x for x in _table([list(_ETA_HEAD)] + _eta_cells(rep))]
    lines += ["", "by hour (arrivals / served / average wait of the hour's arrivals)"]
    busy = [h for h in rep.hours if h["arrivals"] or h["served"]]
    for h in busy:
        lines.append(f"  {h['hour']:02d}:00  {h['arrivals']:>5}  {h['served']:>5}  "
                     f"{_fmt_s(h['avg_wait_s'])}")
    if not busy:
        lines.append("  (no tickets)")
    lines += ["", f"open follow-ups ({len(rep.followups)})"]
    for c in rep.followups:
        staff = (c.get("staff") or {}).get("name") or "-"
        lines.append(f"  {c['id']}  {c['number']}  counter {c['counter']}  {staff}  score "
                     f"{c['score']}  due {c['due']}{'  OVERDUE' if c.get('overdue') else ''}"
                     + (f"  reason: {c['reason']}" if c.get("reason") else ""))
    return "\n".join(lines) + "\n"


def to_csv(rep: Report) -> str:
    """One row per scope and key, columns :data:`CSV_COLUMNS` (empty = undefined)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    eta = dict(_eta_rows(rep))
    for f in rep.all_rows():
        row = f.row()
        found = eta.get(f.key) if f.scope in ("hall", "service") else None
        if found is not None:  # ETA accuracy: hall and service rows only
            row.update({f"eta_{c}": found[c] for c in ETA_CSV_COLUMNS})
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    for r in rep.routes.values():  # one row per route step (the case is its service row)
        for s in r.steps:
            step = s.row()
            writer.writerow({
                "scope": "route_step", "key": f"{r.route}/{step['step']}",
                "name": f"{r.name} {step['step']}. {s.name}", "issued": s.arrivals,
                "served": s.served, "avg_wait_s": _blank(step["avg_wait_s"]),
                "avg_service_s": _blank(step["avg_service_s"]), "ended": s.ended,
                "sent_back": s.sent_back,
                "back_to": " ".join(f"{k}:{v}" for k, v in step["back_to"].items())})
    return out.getvalue()


def _blank(value: Any) -> Any:
    return "" if value is None else value


def _charts(rep: Report) -> dict[str, str]:
    """PNG charts as base64 (matplotlib, Agg: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    installed = {f.name for f in font_manager.fontManager.ttflist}
    # Latin from DejaVu, CJK from the first CJK font found (matplotlib falls
    # back glyph by glyph along the list).
    cjk = [name for name in ("Noto Sans CJK SC", "WenQuanYi Micro Hei", "Droid Sans Fallback")
           if name in installed][:1]
    with plt.rc_context({"font.family": ["DejaVu Sans", *cjk], "axes.unicode_minus": False}):
        return _draw(rep, plt)


def _draw(rep: Report, plt: Any) -> dict[str, str]:
    """The three charts, drawn under the caller's style."""
    from matplotlib.ticker import MaxNLocator

    blue, green, amber = "#0B4F9C", "#2E7D32", "#F9A825"

    def png(fig: Any) -> str:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        return base64.b64encode(buf.getvalue()).decode("ascii")

    charts = {}
    hours = [h for h in rep.hours if 7 <= h["hour"] <= 19 or h["arrivals"] or h["served"]]
    fig, ax = plt.subplots(figsize=(9, 3.4))
    xs = [h["hour"] for h in hours]
    ax.bar(xs, [h["arrivals"] for h in hours], color=blue, label="到达 arrivals")
    ax.set_xlabel("时 hour")
    ax.set_ylabel("取号 tickets")
    ax.set_xticks(xs)
    ax2 = ax.twinx()
    # No wait to show in an hour without served arrivals: a gap, not a zero.
    ax2.plot(xs, [math.nan if h["avg_wait_s"] is None else h["avg_wait_s"] / 60
                  for h in hours], color=amber, marker="o", label="平均等候 avg wait (min)")
    ax2.set_ylabel("分钟 min")
    ax2.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.legend(loc="upper center", ncol=2, bbox_to_anchor=(0.5, 0.0))
    ax.set_title("到达与等候（按小时） Arrivals and waits by hour")
    charts["hours"] = png(fig)

    counters = [f for f in rep.rows["counter"].values()]
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.bar([f.name for f in counters], [f.served for f in counters], color=green)
    ax.set_title("各窗口办结量 Served per counter")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(axis="x", rotation=45)
    charts["counters"] = png(fig)

    fig, ax = plt.subplots(figsize=(9, 3.0))
    colours = ["#2E7D32", "#7CB342", "#F9A825", "#EF6C00", "#C62828"]
    levels = [5, 4, 3, 2, 1]
    ax.barh([f"{_LEVELS[s]} ({s})" for s in levels], [rep.scores[s] for s in levels],
            color=colours)
    ax.invert_yaxis()
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("评价分布 Ratings")
    charts["ratings"] = png(fig)
    return charts


def _route_html(rep: Report) -> str:
    if not rep.routes:
        return ""
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in _ROUTE_HEAD)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>"
                   for row in _route_cells(rep))
    return (f"<h2>联合审批 Joint-approval routes</h2><p>每件事计一次，另按步骤统计。"
            f"Each case counted once, then each step.</p><table><tr>{head}</tr>{body}</table>")


def to_html(rep: Report, config: Any) -> str:
    """One self-contained HTML file: tables, charts as embedded PNGs."""
    t = rep.total
    charts = _charts(rep)
    esc = html.escape

    def table(figures: list[Figures]) -> str:
        head = "".join(f"<th>{esc(h)}</th>" for h in _TEXT_HEAD)
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in _text_cells(f)) + "</tr>"
                       for f in figures) or f"<tr><td colspan={len(_TEXT_HEAD)}>—</td></tr>"
        return f"<table><tr>{head}</tr>{body}</table>"

    cards = [
        ("取号 Issued", _n(t.issued)), ("办结 Served", str(t.served)),
        ("过号 No-shows", str(t.no_show)), ("未办 Unserved", _n(t.unserved)),
        ("平均等候 Avg wait", _fmt_s(t.avg_wait_s)), ("P90 等候 wait", _fmt_s(t.p90_wait_s)),
        ("平均办理 Avg service", _fmt_s(t.avg_service_s)),
        (f"{rep.level_s // 60} 分钟内 Service level", _pct(t.service_level)),
        ("满意率 Satisfaction", _pct(t.satisfaction_rate)),
        ("差评率 per 10,000", "-" if t.complaint_rate is None else f"{t.complaint_rate:.1f}"),
        ("待回访 Open follow-ups", str(len(rep.followups))),
    ]
    card_html = "".join(f"<div class=card><div class=v>{esc(v)}</div>"
                        f"<div class=k>{esc(k)}</div></div>" for k, v in cards)
    cases = "".join(
        f"<tr><td>{esc(c['id'])}</td><td>{esc(c['number'])}</td><td>{c['counter']}</td>"
        f"<td>{esc((c.get('staff') or {}).get('name') or '-')}</td><td>{c['score']}</td>"
        f"<td>{esc(c['served_at'] or '')}</td><td class={'late' if c.get('overdue') else ''}>"
        f"{esc(c['due'])}</td><td>{esc(c.get('reason') or '-')}</td></tr>" for c in rep.followups
    ) or "<tr><td colspan=8>—</td></tr>"
    eta_head = "".join(f"<th>{esc(h)}</th>" for h in _ETA_HEAD)
    eta_table = (f"<table><tr>{eta_head}</tr>" + "".join(
        "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in _eta_cells(rep))
        + "</table>")
    sections = "".join(
        f"<h2>{title}</h2>{table(list(rep.rows[scope].values()))}"
        for scope, title in (("service", "按业务 By service"), ("counter", "按窗口 By counter"),
                             ("staff", "按人员 By staff member")))
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>{esc(config.name)} {esc(_period(rep))}</title>
<style>
body{{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;margin:24px;color:#222}}
h1{{background:#0B4F9C;color:#fff;padding:14px 18px;margin:0 0 16px;font-size:24px}}
h2{{color:#0B4F9C;border-bottom:2px solid #0B4F9C;padding-bottom:4px;margin-top:28px}}
.cards{{display:flex;flex-wrap:wrap;gap:10px}}
.card{{background:#F4F6F9;border-radius:6px;padding:10px 14px;min-width:140px}}
.card .v{{font-size:26px;font-weight:bold;font-variant-numeric:tabular-nums}}
.card .k{{font-size:13px;color:#555}}
table{{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums}}
th,td{{border:1px solid #ccd;padding:4px 8px;text-align:right}}
th{{background:#E8EEF6}} td:nth-child(2){{text-align:left}}
.late{{color:#C62828;font-weight:bold}} img{{max-width:100%}}
</style></head><body>
<h1>{esc(config.name)} · 运行报告 Report · {esc(_period(rep))}</h1>
<div class=cards>{card_html}</div>
<h2>按小时 By hour</h2><img alt="arrivals and waits by hour"
 src="data:image/png;base64,{charts['hours']}">
{sections}
{_route_html(rep)}
<h2>预计等候准确度 ETA accuracy</h2>
<p>取号时打印的预计等候与实际等候（至首次叫号）之差。Estimate printed at issue vs the real
wait to the first call; bias &lt; 0: estimates were too short.</p>
{eta_table}
<h2>窗口办结量 Served per counter</h2><img alt="served per counter"
 src="data:image/png;base64,{charts['counters']}">
<h2>评价 Ratings</h2><img alt="ratings" src="data:image/png;base64,{charts['ratings']}">
<h2>待回访差评 Open follow-ups</h2>
<table><tr><th>id</th><th>号码</th><th>窗口</th><th>人员</th><th>评分</th><th>办结时间</th>
<th>期限 due</th><th>原因 Reason</th></tr>{cases}</table>
<p style="color:#777;font-size:12px">Service level: wait ≤ {rep.level_s // 60} min.
Satisfaction = (非常满意+满意+基本满意)/ratings. Complaint rate = bad ratings per 10,000
served. See docs/REPORTS.md.</p>
</body></html>
"""


# ------------------------------------------------------------------ CLI


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``qhall report`` options."""
    parser.add_argument("--config", metavar="FILE",
                        help="hall configuration (TOML); default: the built-in demo hall")
    parser.add_argument("--database", metavar="URL", help="database URL, overrides the config")
    parser.add_argument("--date", metavar="D", help="one day, YYYY-MM-DD (default: today)")
    parser.add_argument("--from", dest="first", metavar="D", help="first day of a period")
    parser.add_argument("--to", dest="last", metavar="D", help="last day of a period (inclusive)")
    parser.add_argument("--format", choices=("text", "csv", "html"), default="text")
    parser.add_argument("--out", metavar="F", help="write to this file (default: stdout)")


def _days(args: argparse.Namespace, today: dt.date) -> tuple[dt.date, dt.date]:
    if args.date and (args.first or args.last):
        raise ValueError("give either --date or --from/--to, not both")
    if bool(args.first) != bool(args.last):
        raise ValueError("--from and --to go together")
    try:
        if args.date:
            day = dt.date.fromisoformat(args.date)
            return day, day
        if args.first:
            return dt.date.fromisoformat(args.first), dt.date.fromisoformat(args.last)
    except ValueError as exc:
        raise ValueError(f"dates are YYYY-MM-DD: {exc}") from None
    return today, today


def run(args: argparse.Namespace, clock: Callable[[], dt.datetime] | None = None) -> int:
    """Compute and write the report."""
    try:
        config = hall_config(args)
    except (ConfigError, OSError) as exc:
        print(f"qhall report: {exc}", file=sys.stderr)
        return 2
    now = (clock or utcnow)()
    try:
        first, last = _days(args, now.astimezone(config.tz).date())
        if last < first:
            raise ValueError(f"--to {last} is before --from {first}")
    except ValueError as exc:
        print(f"qhall report: {exc}", file=sys.stderr)
        return 2
    try:
        with Store(config.database) as store:
            rep = build(config, store, first, last, now)
    except StoreError as exc:
        print(f"qhall report: {exc}", file=sys.stderr)
        return 1
    if args.format == "csv":
        text = to_csv(rep)
    elif args.format == "html":
        text = to_html(rep, config)
    else:
        text = to_text(rep, config)
    if args.out:
        try:
            with open(args.out, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        except OSError as exc:
            print(f"qhall report: cannot write {args.out}: {exc}", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0
