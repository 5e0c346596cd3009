"""qhall simulate: determinism, a hand-computed schedule, monotone staffing,
the staffing search, outputs and bad input."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math

import pytest

from server import simulate as sim_cli
from server.config import Counter, Dispatch, HallConfig, Service, dumps
from server.reference import demo_config
from server.sim.engine import run_day
from server.sim.model import (
    Arrival,
    SimInputError,
    SimParams,
    StaffingPlan,
    default_plan,
    default_profile,
    draw_arrivals,
    full_plan,
    load_plan,
    load_profile,
    plan_from_counts,
)
from server.sim.search import search_staffing
from server.sim.stats import percentile, summarise

NINE = 9 * 3600.0


def tiny_hall(counters: int = 1, services: tuple[Service, ...] | None = None) -> HallConfig:
    services = services or (
        Service("a", "甲业务", "Service A", "A", "public", default_service_s=300),
    )
    ids = tuple(s.id for s in services)
    return HallConfig(
        name="小厅", timezone="Asia/Shanghai", database="sqlite://", services=services,
        counters=tuple(Counter(n, f"{n}号窗口", ids) for n in range(1, counters + 1)),
        staff=(), devices=(), dispatch=Dispatch(),
    )


def hand_arrivals() -> list[Arrival]:
    return [Arrival(NINE + 0, "a", service_s=600), Arrival(NINE + 60, "a", service_s=300),
            Arrival(NINE + 120, "a", service_s=300), Arrival(NINE + 200, "a", service_s=100)]


def test_one_counter_matches_the_hand_schedule() -> None:
    # Walk 30 s, then service. Calls at 0, 630, 960, 1290 (s after 09:00).
    res = run_day(tiny_hall(1), full_plan(tiny_hall(1)), hand_arrivals(), SimParams(walk_s=30))
    recs = sorted(res.records, key=lambda r: r.issued)
    assert [r.wait for r in recs] == [0, 570, 840, 1090]
    assert [r.called - NINE for r in recs] == [0, 630, 960, 1290]
    assert [r.finished - NINE for r in recs] == [630, 960, 1290, 1420]
    assert all(r.status == "done" and r.counter == 1 for r in recs)
    # ETA printed at issue: (people ahead + itself - free counters) x default
    # service time (no history yet) / 1 counter; the counter is busy from 0 to 630.
    assert [r.eta_s for r in recs] == [0, 300, 600, 900]
    s = summarise(res, threshold_s=600)
    assert s.overall.mean_wait_s == pytest.approx((0 + 570 + 840 + 1090) / 4)
    assert s.overall.service_level == pytest.approx(2 / 4)  # 0 and 570 s are within 600
    assert s.overall.eta_mae_s == pytest.approx((0 + 270 + 240 + 190) / 4)


def test_two_counters_match_the_hand_schedule() -> None:
    # Counter 1 takes A0 (free at 630); counter 2 takes A1 (free at 390), then
    # A2 at 390; counter 1 takes A3 at 630.
    hall = tiny_hall(2)
    res = run_day(hall, full_plan(hall), hand_arrivals(), SimParams(walk_s=30))
    recs = sorted(res.records, key=lambda r: r.issued)
    assert [r.wait for r in recs] == [0, 0, 270, 430]
    assert [r.counter for r in recs] == [1, 2, 2, 1]
    busy = {n: sum(b - a for a, b in log.busy) for n, log in res.counters.items()}
    assert busy == {1: 630 + 130, 2: 330 + 330}


def test_no_show_holds_the_counter_then_moves_on() -> None:
    arrivals = [Arrival(NINE, "a", service_s=100, no_show=True), Arrival(NINE + 1, "a",
                                                                         service_s=100)]
    res = run_day(tiny_hall(1), full_plan(tiny_hall(1)), arrivals,
                  SimParams(walk_s=0, no_show_wait_s=90))
    a, b = sorted(res.records, key=lambda r: r.issued)
    assert (a.status, a.finished - NINE) == ("no_show", 90)
    assert (b.status, b.wait) == ("done", 89)


def test_hours_and_close_out() -> None:
    # Open 09:00-10:00, 30-min services, 5 min overtime: the counter drains its
    # queue after 10:00, at 10:05 the day is closed out; a visitor at 08:00 is refused.
    svc = Service("a", "甲", "A", "A", "public", hours=((_t(9), _t(10)),), default_service_s=300)
    hall = tiny_hall(1, (svc,))
    arrivals = [Arrival(NINE - 3600, "a", service_s=60)]
    arrivals += [Arrival(NINE + i, "a", service_s=1800) for i in range(4)]
    res = run_day(hall, full_plan(hall), arrivals, SimParams(walk_s=0, overtime_min=5))
    recs = sorted(res.records, key=lambda r: r.issued)
    assert [r.status for r in recs] == ["refused", "done", "done", "called", "cancelled"]
    assert recs[0].refused == "closed"
    assert recs[3].called - NINE == 3600  # called while draining after closing time
    assert res.end_s == 10 * 3600 + 300
    assert summarise(res).outcomes == {"refused_closed": 1, "done": 2, "called": 1,
                                       "cancelled": 1}


def _t(h: int):  # noqa: ANN202
    import datetime as dt

    return dt.time(h)


def test_same_seed_same_day_other_seed_other_day() -> None:
    cfg = demo_config("sqlite://")
    a = sim_cli.simulate(cfg, SimParams(seed=7), default_profile(cfg, 1500))
    b = sim_cli.simulate(cfg, SimParams(seed=7), default_profile(cfg, 1500))
    c = sim_cli.simulate(cfg, SimParams(seed=8), default_profile(cfg, 1500))
    assert a.summary.as_dict() == b.summary.as_dict()
    assert a.summary.as_dict() != c.summary.as_dict()
    assert 1300 < a.summary.visitors < 1700


def test_more_counters_never_make_the_mean_wait_worse() -> None:
    cfg = demo_config("sqlite://")
    params = SimParams(seed=3)
    arrivals = draw_arrivals(cfg, default_profile(cfg, 4000, params=params), params)
    full = full_plan(cfg)
    means = []
    for n in (20, 30, 45, 67):
        plan = plan_from_counts(cfg, {h: n for h in full.hours}, full)
        means.append(summarise(run_day(cfg, plan, arrivals, params)).overall.mean_wait_s)
    assert all(later <= earlier for earlier, later in zip(means, means[1:], strict=False)), means
    assert means[0] > means[-1]

    hall = tiny_hall(4)
    arrivals = draw_arrivals(hall, default_profile(hall, 300, params=params), params)
    tiny = [summarise(run_day(hall, plan_from_counts(hall, {h: n for h in range(24)}),
                              arrivals, params)).overall.mean_wait_s for n in (1, 2, 3, 4)]
    assert tiny == sorted(tiny, reverse=True) and tiny[0] > tiny[-1]


def test_staffing_search_reaches_its_target_with_fewest_counters() -> None:
    hall = tiny_hall(6)
    params = SimParams(seed=5, threshold_s=600)
    arrivals = draw_arrivals(hall, default_profile(hall, 500, params=params), params)
    res = search_staffing(hall, arrivals, params, 0.85)
    assert all(res.reached[h] for h in res.counts if res.counts[h] < res.full[h])
    assert sum(res.counts.values()) < sum(res.full.values())  # it saved counters

    def levels(counts: dict[int, int]) -> dict[int, float]:
        day = run_day(hall, plan_from_counts(hall, counts), arrivals, params)
        out: dict[int, list] = {}
        for r in day.records:
            out.setdefault(int(r.issued // 3600), []).append(r)
        from server.sim.stats import WaitStats

        return {h: WaitStats.of(v, params.threshold_s).on_time for h, v in out.items()}

    got = levels(res.counts)
    for h, ok in res.reached.items():
        if ok and h in got:
            assert got[h] >= 0.85, (h, got[h])
    # Fewest: one counter less in any hour with traffic misses the target somewhere.
    busy_hours = [h for h in res.counts if res.reached.get(h) and res.counts[h] > 0
                  and h in got]
    assert busy_hours
    for h in busy_hours[:4]:
        fewer = levels({**res.counts, h: res.counts[h] - 1})
        assert any(fewer[k] < 0.85 for k in fewer if k <= h and res.reached.get(k)), h


def test_reference_day() -> None:
    """(How long it takes is a figure of ``python -m bench.timings``.)"""
    cfg = demo_config("sqlite://")
    sim = sim_cli.simulate(cfg, SimParams(seed=1))
    s = sim.summary
    assert 6500 < s.visitors < 7500  # the reference hall's ~7,000 visitors
    assert s.outcomes["done"] > 5000
    # The morning peak: 09-11 issues more than 08 and 12-13.
    assert s.by_hour[9].issued > 2 * s.by_hour[8].issued > 0
    assert s.by_hour[10].issued > 5 * s.by_hour[12].issued
    assert not math.isnan(s.overall.eta_mae_s)


def test_percentile_nearest_rank() -> None:
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90) == 9
    assert percentile([5], 90) == 5
    assert math.isnan(percentile([], 90))


def test_plan_and_profile_files(tmp_path) -> None:  # noqa: ANN001
    hall = tiny_hall(4)
    plan = tmp_path / "plan.csv"
    plan.write_text("hour,counters\n9,2\n10,1-3\n11,all\n")
    p = load_plan(plan, hall)
    assert p.at(9) == {1, 2} and p.at(10) == {1, 2, 3} and p.at(11) == {1, 2, 3, 4}
    assert p.at(12) == {1, 2, 3, 4}  # unlisted hours: full
    prof = tmp_path / "prof.csv"
    prof.write_text("service,hour,visitors\na,9,30\na,10,10\n")
    assert load_profile(prof, hall).total == 40
    prof.write_text("service,hour,visitors\nzz,9,30\n")
    with pytest.raises(SimInputError, match="unknown service 'zz'"):
        load_profile(prof, hall)
    plan.write_text("hour,counters\n9,1-9\n")
    with pytest.raises(SimInputError, match="unknown counter 5"):
        load_plan(plan, hall)
    plan.write_text("hours,n\n")
    with pytest.raises(SimInputError, match="missing column"):
        load_plan(plan, hall)
    assert isinstance(default_plan(hall), StaffingPlan)


def _args(**kw) -> argparse.Namespace:  # noqa: ANN003
    parser = argparse.ArgumentParser()
    sim_cli.configure(parser)
    argv = []
    for k, v in kw.items():
        flag = "--" + k.replace("_", "-")
        argv += [flag] if v is True else [flag, str(v)]
    return parser.parse_args(argv)


def test_cli_writes_csv_json_html(tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "o"
    svc = (Service("a", "甲", "A", "A", "public", hours=((_t(9), _t(12)),)),
           Service("b", "乙", "B", "B", "public", default_service_s=120,
                   hours=((_t(9), _t(12)),)))
    hall = tmp_path / "hall.toml"
    cfg = dataclasses.replace(tiny_hall(3, svc), database=f"sqlite:///{tmp_path}/x.db")
    hall.write_text(dumps(cfg), encoding="utf-8")
    rc = sim_cli.run(_args(config=hall, visitors=300, seed=2, csv=f"{out}.csv", json=f"{out}.json",
                           html=f"{out}.html", target_service_level=0.5, within="20m"))
    assert rc == 0
    text = capsys.readouterr().out
    assert "visitors" in text and "Fewest counters per hour" in text
    with open(f"{out}.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and set(rows[0]) >= {"service", "hour", "mean_wait_s", "p90_wait_s"}
    data = json.loads((tmp_path / "o.json").read_text(encoding="utf-8"))
    assert data["inputs"]["seed"] == 2 and data["summary"]["threshold_s"] == 1200
    assert sum(int(r["issued"]) for r in rows) == data["summary"]["overall"]["issued"]
    assert set(data["staffing"]["counters"]) == {"9", "10", "11"}
    page = (tmp_path / "o.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 3


@pytest.mark.parametrize("kw, message", [
    ({"within": "soon"}, "--within"),
    ({"no_show_rate": 1.5}, "between 0 and 1"),
    ({"target_service_level": 2}, "--target-service-level"),
    ({"service_time": "nope=5m"}, "unknown service"),
    ({"profile": "/nonexistent.csv"}, "cannot read"),
])
def test_cli_bad_input_is_a_clear_error(kw, message, capsys) -> None:  # noqa: ANN001
    assert sim_cli.run(_args(quiet=True, **kw)) == 2
    assert message in capsys.readouterr().err
