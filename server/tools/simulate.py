"""``qhall simulate``: a hall day in virtual time, for staffing what-ifs.

A discrete-event simulation (``server/tools/sim/``) that plays citizens and staff
against the real dispatch core (:class:`server.core.Hall`) on a virtual
clock: no server, no database. Inputs: the hall config (default: the
built-in demo hall), an arrival profile per service and hour, service-time
distributions, the no-show rate, the staffing plan, a seed. Outputs: waits
per service and hour (mean, p90), service level, counter utilisation, the
ETA error, optionally the fewest counters per hour reaching a target, as
rich tables and ``--csv``/``--json``/``--html`` files. See docs/SIMULATION.md.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any

from server.config import HallConfig
from server.core import accuracy
from server.tools.sim.engine import CounterLog, DayResult, TicketRecord, run_day
from server.tools.sim.model import (
    SERVICE_DISTS,
    Profile,
    SimInputError,
    SimParams,
    StaffingPlan,
    default_plan,
    default_profile,
    draw_arrivals,
    load_plan,
    load_profile,
)
from server.tools.sim.search import StaffingResult, search_staffing
from server.tools.sim.stats import DaySummary, summarise

__all__ = ["Simulation", "simulate", "parse_duration", "configure", "run"]


#: Day d (from 0) of a ``--days`` run draws its visitors with seed + d x this.
DAY_SEED_STEP = 7919


@dataclass
class Simulation:
    """Simulated days (pooled): the records, their figures, the ETA accuracy."""

    result: DayResult
    summary: DaySummary
    seconds: float  # wall-clock time it took
    days: int = 1
    # accuracy.compare() overall and per service (docs/SIMULATION.md)
    eta: dict[str, Any] = field(default_factory=dict)
    eta_by_service: dict[str, dict[str, Any]] = field(default_factory=dict)


def simulate(config: HallConfig, params: SimParams | None = None,
             profile: Profile | None = None, plan: StaffingPlan | None = None,
             progress: Any = None, days: int = 1, warmup_s: float = 0.0) -> Simulation:
    """Simulate days of ``config`` (defaults: reference load, full staffing).

    Args:
        config: the hall.
        params: behaviour and seed (day d draws with seed + d x DAY_SEED_STEP).
        profile: arrivals per (service, hour); default :func:`default_profile`.
        plan: counters open per hour; default :func:`default_plan`.
        progress: optional ``(virtual seconds, day end)`` callback.
        days: independent days to simulate; their figures are pooled.
        warmup_s: tickets issued in this first part of each day (from the
            first opening) are simulated but not counted.
    """
    params = params or SimParams()
    params.check()
    if days < 1:
        raise SimInputError("--days must be at least 1")
    if warmup_s < 0:
        raise SimInputError("--warmup must be >= 0")
    t0 = time.perf_counter()
    profile = profile or default_profile(config, params=params)
    results = []
    for d in range(days):
        day_params = replace(params, seed=params.seed + DAY_SEED_STEP * d) if d else params
        arrivals = draw_arrivals(config, profile, day_params)

        def tick(now: float, end: float, d: int = d) -> None:
            if progress is not None:
                progress(d * end + now, days * end)

        results.append(run_day(config, plan or default_plan(config, params), arrivals, day_params,
                               progress=tick))
    result = _pooled(results, _first_opening(config) + warmup_s)
    summary = summarise(result, params.threshold_s)
    samples = samples_of(result.records)
    by_service: dict[str, list[accuracy.Sample]] = {}
    for r, sample in zip((r for r in result.records if _called(r)), samples, strict=True):
        by_service.setdefault(r.service, []).append(sample)
    return Simulation(result, summary, time.perf_counter() - t0, days,
                      accuracy.compare(samples),
                      {sid: accuracy.compare(v) for sid, v in sorted(by_service.items())})


def _called(r: TicketRecord) -> bool:
    return r.wait is not None and r.eta_s is not None


def samples_of(records: list[TicketRecord]) -> list[accuracy.Sample]:
    """One accuracy sample per called ticket: real wait, ahead, the three estimates."""
    out = []
    for r in records:
        if not _called(r):
            continue
        estimates = {"qhall": float(r.eta_s or 0)}
        if r.eta_les_s is not None:
            estimates["les"] = float(r.eta_les_s)
        if r.eta_prev_s is not None:
            estimates["previous"] = float(r.eta_prev_s)
        out.append(accuracy.Sample(r.wait or 0.0, r.ahead or 0, estimates))
    return out


def _first_opening(config: HallConfig) -> float:
    """Seconds after midnight when the first service starts issuing (0: always open)."""
    starts = [a.hour * 3600.0 + a.minute * 60.0 + a.second
              for s in config.services for a, _b in s.hours]
    if not starts or any(not s.hours for s in config.services):
        return 0.0
    return min(starts)


def _pooled(results: list[DayResult], count_from: float) -> DayResult:
    """The days as one: records issued from ``count_from`` on, counters' logs joined."""
    records = [r for res in results for r in res.records if r.issued >= count_from]
    counters: dict[int, CounterLog] = {}
    for res in results:
        for n, log in res.counters.items():
            joined = counters.setdefault(n, CounterLog(n))
            joined.opened.extend(log.opened)
            joined.busy.extend(log.busy)
    return DayResult(results[0].day, records, counters, max(r.end_s for r in results),
                     sum(r.core_calls for r in results))


def parse_duration(text: str, allow_zero: bool = False, unit: str = "m") -> float:
    """``15m``, ``900s``, ``1h``, ``1.5h`` or a bare number (of ``unit``) -> seconds.

    Raises:
        ValueError: not a positive duration (or not >= 0 with ``allow_zero``).
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text or "")
    if not m or float(m.group(1)) < 0 or (float(m.group(1)) == 0 and not allow_zero):
        raise ValueError(f"expected a duration like 15m, 900s or 1h, got {text!r}")
    value, unit = float(m.group(1)), m.group(2) or unit
    return value * {"s": 1, "m": 60, "h": 3600}[unit]


# ------------------------------------------------------------------ CLI
#: The share flags (0..1): flag, SimParams field, help.
_SHARES = (
    ("--no-show-rate", "no_show_rate", "share of called citizens who do not come"),
    ("--priority-rate", "priority_rate", "share of priority tickets"),
    ("--requeue-rate", "requeue_rate",
     "share of no-shows who come back within the window and re-queue (过号重排)"),
    ("--transfer-rate", "transfer_rate",
     "share of served visitors transferred to another service of the same category"),
    ("--appointment-rate", "appointment_rate",
     "share of visitors of booking services who come with an appointment"),
    ("--route-share", "route_share",
     "share of visitors on each joint-approval route (联合审批) of the hall"),
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE",
                        help="hall configuration (TOML); default: the built-in demo hall")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--visitors", type=float, metavar="N",
                        help="visitors in the day (scales the profile; default 7000 for "
                             "the reference profile, the file's total with --profile)")
    parser.add_argument("--profile", metavar="CSV",
                        help="arrivals: CSV with columns service,hour,visitors")
    parser.add_argument("--staffing", metavar="CSV",
                        help="counters open per hour: CSV with columns hour,counters "
                             "(all | a count | a list like '1-10 12')")
    parser.add_argument("--service-scale", type=float, default=SimParams.service_scale,
                        metavar="K", help="mean service time = default_service_s x K "
                        f"(default {SimParams.service_scale})")
    parser.add_argument("--service-cv", type=float, default=SimParams.service_cv,
                        metavar="CV", help="spread of service times (lognormal coefficient "
                        f"of variation, default {SimParams.service_cv}; 0 = fixed)")
    parser.add_argument("--service-dist", choices=SERVICE_DISTS, default="lognormal",
                        help="service-time distribution: lognormal (spread --service-cv, "
                             "default) or exp (exponential: M/M/c)")
    parser.add_argument("--walk", type=float, default=SimParams.walk_s, metavar="SECONDS",
                        help="from the call to the citizen at the counter, counter time "
                             f"all the same (default {SimParams.walk_s:g}; 0 for M/M/c)")
    parser.add_argument("--days", type=int, default=1, metavar="N",
                        help="simulate N days (seeds seed, seed+7919, ...); figures pooled")
    parser.add_argument("--warmup", default="0s", metavar="DUR",
                        help="do not count tickets issued in the first DUR of each day "
                             "(e.g. 30m, 1h, 600s; default 0)")
    parser.add_argument("--service-time", action="append", default=[], metavar="SVC=DUR",
                        help="mean service time of one service, e.g. gjj=6m (repeatable)")
    for flag, attr, text in _SHARES:
        parser.add_argument(flag, type=float, default=getattr(SimParams, attr), metavar="P",
                            help=f"{text} (default {getattr(SimParams, attr)})")
    parser.add_argument("--walkout-min", type=float, default=0.0, metavar="MIN",
                        help="mean patience of a waiting citizen in minutes "
                             "(walk-outs; default 0 = nobody leaves)")
    parser.add_argument("--no-lunch-rotation", action="store_true",
                        help="all-day counters do not take turns over lunch")
    parser.add_argument("--overtime-min", type=float, default=SimParams.overtime_min,
                        metavar="MIN", help="serve the remaining queue this long after "
                        f"closing (default {SimParams.overtime_min:g})")
    parser.add_argument("--within", default="15m", metavar="DUR",
                        help="service-level threshold (default 15m)")
    parser.add_argument("--target-service-level", type=float, metavar="P",
                        help="search the fewest counters per hour reaching this level, "
                             "e.g. 0.85")
    parser.add_argument("--csv", metavar="FILE", help="write waits per service and hour")
    parser.add_argument("--json", metavar="FILE", help="write every figure as JSON")
    parser.add_argument("--html", metavar="FILE", help="write an HTML summary with charts")
    parser.add_argument("--quiet", action="store_true", help="no progress bar, no tables")


def _params(args: argparse.Namespace) -> SimParams:
    overrides: dict[str, float] = {}
    for item in args.service_time:
        sid, sep, dur = item.partition("=")
        if not sep:
            raise SimInputError(f"--service-time wants SVC=DUR, got {item!r}")
        try:
            overrides[sid.strip()] = parse_duration(dur)
        except ValueError as exc:
            raise SimInputError(f"--service-time {item}: {exc}") from None
    try:
        threshold = parse_duration(args.within)
    except ValueError as exc:
        raise SimInputError(f"--within: {exc}") from None
    params = SimParams(
        seed=args.seed, service_scale=args.service_scale, service_cv=args.service_cv,
        service_s=overrides, no_show_rate=args.no_show_rate, priority_rate=args.priority_rate,
        walkout_mean_min=args.walkout_min, overtime_min=args.overtime_min,
        threshold_s=threshold, walk_s=args.walk, service_dist=args.service_dist,
        requeue_rate=args.requeue_rate, transfer_rate=args.transfer_rate,
        appointment_rate=args.appointment_rate, lunch_rotation=not args.no_lunch_rotation,
        route_share=args.route_share,
    )
    params.check()
    return params


def _load_config(path: str | None) -> HallConfig:
    if not path:
        from server.reference import demo_config

        return demo_config("sqlite://")
    from server.config import load

    return load(path)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    console = Console(stderr=False, highlight=False)
    err = Console(stderr=True, highlight=False)
    from server.config import ConfigError

    try:
        config = _load_config(args.config)
    except ConfigError as exc:
        err.print(f"qhall simulate: configuration error:\n{exc}", markup=False)
        return 1
    except OSError as exc:
        err.print(f"qhall simulate: cannot read config: {exc}", markup=False)
        return 2
    try:
        params = _params(args)
        unknown = [s for s in params.service_s if config.service(s) is None]
        if unknown:
            raise SimInputError(f"--service-time: unknown service(s) {', '.join(unknown)}")
        if args.profile:
            profile = load_profile(args.profile, config)
            if args.visitors is not None:
                profile = profile.scaled(args.visitors)
        else:
            profile = default_profile(config, visitors=args.visitors or 7000.0, params=params)
        plan = (load_plan(args.staffing, config) if args.staffing
                else default_plan(config, params))
        target = args.target_service_level
        if target is not None and not 0 < target <= 1:
            raise SimInputError("--target-service-level must be in (0, 1], e.g. 0.85")
        if args.visitors is not None and args.visitors < 0:
            raise SimInputError("--visitors must be >= 0")
        if args.days < 1:
            raise SimInputError("--days must be at least 1")
        try:
            warmup = parse_duration(args.warmup, allow_zero=True, unit="s")
        except ValueError as exc:
            raise SimInputError(f"--warmup: {exc}") from None
    except SimInputError as exc:
        err.print(f"qhall simulate: {exc}", markup=False)
        return 2

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    staffing: StaffingResult | None = None
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[at]}"),
                  TimeElapsedColumn(), console=err, disable=args.quiet,
                  transient=True) as bar:
        task = bar.add_task("simulating the day", total=1.0, at="")

        def tick(now: float, end: float) -> None:
            bar.update(task, completed=min(1.0, now / end) if end else 1.0,
                       at=f"{int(now) // 3600:02d}:{int(now) % 3600 // 60:02d}")

        sim = simulate(config, params, profile, plan, progress=tick, days=args.days,
                       warmup_s=warmup)
        if target is not None:
            arrivals = draw_arrivals(config, profile, params)
            search_task = bar.add_task("searching staffing", total=1.0, at="")
            staffing = search_staffing(
                config, arrivals, params, target, base=plan,
                progress=lambda done, total: bar.update(search_task, completed=done / total,
                                                        at=f"{done}/{total} hours"))

    inputs = {
        "config": args.config or "demo hall", "hall": config.name, "seed": params.seed,
        "visitors_expected": round(profile.total), "service_scale": params.service_scale,
        "service_cv": params.service_cv, "no_show_rate": params.no_show_rate,
        "priority_rate": params.priority_rate, "walkout_min": params.walkout_mean_min,
        "threshold_min": params.threshold_s / 60, "target": target,
        "service_dist": params.service_dist, "walk_s": params.walk_s, "days": args.days,
        "requeue_rate": params.requeue_rate, "transfer_rate": params.transfer_rate,
        "appointment_rate": params.appointment_rate, "lunch_rotation": params.lunch_rotation,
        "route_share": params.route_share,
        "warmup_s": warmup,
    }
    if not args.quiet:
        _print_tables(console, sim, staffing, target)
    from server.tools.sim import output

    try:
        if args.csv:
            output.write_csv(sim.summary, args.csv)
        if args.json:
            output.write_json(output.report_dict(sim.summary, inputs, staffing, sim.eta,
                                                 sim.eta_by_service), args.json)
        if args.html:
            output.write_html(sim.summary, sim.result.records, inputs, staffing, args.html,
                              f"qhall simulate — {config.name}, seed {params.seed}")
    except OSError as exc:
        err.print(f"qhall simulate: cannot write output: {exc}", markup=False)
        return 2
    return 0


def _m(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "–"
    return f"{seconds / 60:.1f}"


def _p(share: float) -> str:
    return "–" if math.isnan(share) else f"{100 * share:.1f}%"


def _print_tables(console: Any, sim: Simulation, staffing: StaffingResult | None,
                  target: float | None) -> None:
    from rich.table import Table

    s = sim.summary
    o = s.overall
    out = s.outcomes
    refused = sum(v for k, v in out.items() if k.startswith("refused"))
    console.print(
        f"[bold]{s.visitors}[/] visitors: {out.get('done', 0)} served, "
        f"{out.get('no_show', 0)} no-shows, {out.get('walked_out', 0)} walked out, "
        f"{refused} refused (closed/quota), {out.get('cancelled', 0)} unserved at closing. "
        f"Mean wait {_m(o.mean_wait_s)} min, p90 {_m(o.p90_wait_s)} min, service level "
        f"{_p(o.service_level)} within {s.threshold_s / 60:g} min; ETA mean absolute error "
        f"{_m(o.eta_mae_s)} min (bias {_m(o.eta_bias_s)}). "
        f"[dim]{sim.seconds:.2f} s, {sim.result.core_calls} core commands[/]")
    hours = Table(title="By hour of issue", title_justify="left")
    for col in ("hour", "issued", "mean wait", "p90", "service level", "counters",
                "utilisation"):
        hours.add_column(col, justify="right")
    for h, w in s.by_hour.items():
        hours.add_row(f"{h:02d}", str(w.issued), _m(w.mean_wait_s), _m(w.p90_wait_s),
                      _p(w.service_level), f"{s.hour_counters.get(h, 0):.1f}",
                      _p(s.hour_utilisation.get(h, math.nan)))
    console.print(hours)
    svc = Table(title="By service (minutes)", title_justify="left")
    for col in ("service", "issued", "served", "mean wait", "p90", "service level",
                "ETA MAE", "ETA bias"):
        svc.add_column(col, justify="right")
    for sid, w in s.by_service.items():
        svc.add_row(sid, str(w.issued), str(w.served), _m(w.mean_wait_s), _m(w.p90_wait_s),
                    _p(w.service_level), _m(w.eta_mae_s), _m(w.eta_bias_s))
    console.print(svc)
    _print_eta(console, sim)
    util = sorted(s.utilisation.items(), key=lambda kv: kv[1])
    if util:
        console.print(f"Counter utilisation: mean {_p(sum(u for _, u in util) / len(util))}, "
                      f"lowest {util[0][0]} ({_p(util[0][1])}), highest {util[-1][0]} "
                      f"({_p(util[-1][1])}).")
    if staffing is not None and target is not None:
        t = Table(title=f"Fewest counters per hour for {100 * target:g}% within "
                        f"{s.threshold_s / 60:g} min", title_justify="left")
        for col in ("hour", "counters", "of", "reached"):
            t.add_column(col, justify="right")
        for h, n in staffing.counts.items():
            t.add_row(f"{h:02d}:00", str(n), str(staffing.full[h]),
                      "yes" if staffing.reached.get(h) else "[red]no[/] (full staff)")
        console.print(t)
        console.print(f"[dim]{staffing.trials} trial days[/]")


def _print_eta(console: Any, sim: Simulation) -> None:
    """ETA accuracy against the baselines (docs/SIMULATION.md), overall and per service."""
    from rich.table import Table

    if not sim.eta:
        return
    console.print(accuracy_table(sim.eta, "ETA accuracy, all called tickets "
                                 f"(mean wait {_f(sim.eta['mean_wait_min'])} min, "
                                 f"{sim.eta['n']} tickets)", Table))
    t = Table(title="ETA accuracy by service (MAE / bias, minutes)", title_justify="left")
    for col in ("service", "tickets", "mean wait", *accuracy.METHODS):
        t.add_column(col, justify="right", no_wrap=True)
    for sid, figures in sim.eta_by_service.items():
        t.add_row(sid, str(figures["n"]), _f(figures["mean_wait_min"]),
                  *(f"{_f(figures['eta'][m]['mae_min'])} / {_f(figures['eta'][m]['bias_min'])}"
                    for m in accuracy.METHODS))
    console.print(t)


def accuracy_table(figures: dict[str, Any], title: str, table_cls: Any) -> Any:
    """A rich table: one row per estimator, the accuracy.FIELDS as columns."""
    t = table_cls(title=title + "; MAE, bias in min, MSE in min²", title_justify="left")
    t.add_column("estimate", no_wrap=True)
    for col in ("MAE", "bias", "MAE %", "bias %", "±5 min", "MAE% ≥5 ahead", "MSE"):
        t.add_column(col, justify="right", no_wrap=True)
    for method, f in figures["eta"].items():
        within = f["within_5min"]
        t.add_row(method, _f(f["mae_min"]), _f(f["bias_min"]), _f(f["mae_pct"], "%"),
                  _f(f["bias_pct"], "%"), "–" if within is None else f"{100 * within:.1f}%",
                  _f(f["mae_pct_5ahead"], "%"), _f(f["mse"]))
    return t


def _f(value: float | None, suffix: str = "") -> str:
    return "–" if value is None else f"{value:.2f}{suffix}" if suffix else f"{value:.2f}"


if __name__ == "__main__":  # pragma: no cover
    p = argparse.ArgumentParser(prog="qhall simulate")
    configure(p)
    sys.exit(run(p.parse_args()))
