"""qhall loadtest --halls: a tiny city (2 halls and the idle baseline hall on
one real ``qhall serve``) with every invariant computed, and the invariant
checker catching each violation planted in hand-made data."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from server import gcwatch
from server.tools import city, invariants, loadtest
from tests.tools.test_loadtest import _args

ZONE = dt.timezone(dt.timedelta(hours=8))
AT = dt.datetime(2026, 11, 30, 9, 0, tzinfo=ZONE)


def _ev(seq: int, name: str, tid: str, number: str = "", service: str = "gjj",
        at: dt.datetime = AT) -> dict[str, Any]:
    ticket = {"id": tid, "number": number or f"A{seq:03d}", "service": service}
    return {"seq": seq, "name": name, "at": at, "data": {"ticket": ticket}}


def _good() -> tuple[list[dict[str, Any]], list[str], dict[str, invariants.BoardView]]:
    """Two tickets issued, called, one transferred and called again; two boards."""
    events = [_ev(1, "ticket.issued", "t1", "A001"), _ev(2, "ticket.issued", "t2", "A002"),
              _ev(3, "ticket.called", "t1", "A001"), _ev(4, "ticket.transferred", "t1", "A001"),
              _ev(5, "ticket.called", "t2", "A002"), _ev(6, "ticket.called", "t1", "A001"),
              _ev(7, "ticket.completed", "t1", "A001")]
    boards = {"board-1": invariants.BoardView(0, ["t1", "t2", "t1"]),
              # joined after seq 4: it owes only the later calls
              "board-2": invariants.BoardView(4, ["t2", "t1"])}
    return events, ["t1", "t2"], boards


def _failing(events: list[dict[str, Any]], acked: list[str],
             boards: dict[str, invariants.BoardView]) -> dict[str, list[str]]:
    found = invariants.check(events, acked, boards, ZONE)
    return {k: v for k, v in found.items() if v}


def test_clean_data_passes_every_invariant() -> None:
    found = invariants.check(*_good(), ZONE)
    assert set(found) == set(invariants.INVARIANTS)
    assert all(v == [] for v in found.values())


def test_each_planted_violation_is_named() -> None:
    events, acked, boards = _good()
    # The same number twice for a service on one day (a day later it is fine).
    dup = [*events, _ev(8, "ticket.issued", "t3", "A001"),
           _ev(9, "ticket.issued", "t4", "A002", at=AT + dt.timedelta(days=1)),
           _ev(10, "ticket.issued", "t5", "A001", service="tax")]
    assert list(_failing(dup, acked, boards)) == ["numbers"]
    assert "1 number(s)" in _failing(dup, acked, boards)["numbers"][0]
    # A ticket called again with no return to waiting between.
    again = [*events, _ev(8, "ticket.called", "t2", "A002")]
    assert list(_failing(again, acked, boards)) == ["called_once", "boards"]
    # A gap in the stored log.
    gap = [e for e in events if e["seq"] != 5]
    assert "seq" in _failing(gap, acked, boards)
    # A board that missed a call, one that saw one twice, one out of order.
    for seen in (["t1", "t2"], ["t1", "t2", "t2", "t1"], ["t2", "t1", "t1"]):
        bad = {**boards, "board-1": invariants.BoardView(0, seen)}
        assert list(_failing(events, acked, bad)) == ["boards"], seen
    # A board whose seq stream skipped or repeated a seq.
    skipped = {**boards, "board-2": invariants.BoardView(4, ["t2", "t1"], gaps=1)}
    assert list(_failing(events, acked, skipped)) == ["seq"]
    # A ticket acknowledged to a kiosk that the store does not hold.
    assert list(_failing(events, [*acked, "ghost"], boards)) == ["acked"]


def test_day_plan_is_compressed_into_the_minutes() -> None:
    plan = city.day_plan(700, seed=3, minutes=2.0)
    assert 550 < len(plan) < 850  # Poisson; the joint-approval routes (~2%) are left out
    few = city.day_plan(700, seed=3, minutes=2.0, counters=10)
    assert 0 < len(few) < len(plan)  # only what the first 10 counters serve
    assert {v.service for v in few} <= {s for c in loadtest.loadtest_config("sqlite://")
                                       .counters[:10] for s in c.services}
    assert plan[0].at == 0 and plan[-1].at == pytest.approx(120.0)
    assert {v.priority for v in plan} <= {"normal", "priority"}
    window = city.busiest(plan, 10.0)
    assert window[0].at == 0 and window[-1].at < 10.0
    assert len(window) >= max(sum(1 for v in plan if s <= v.at < s + 10.0) for s in range(110))


@pytest.mark.slow
@pytest.mark.soak  # covered by the command itself; ./run.sh test -m soak
def test_a_tiny_city_keeps_every_invariant_and_prints_the_ratio(tmp_path: Path,
                                                                  capsys) -> None:  # noqa: ANN001
    out = tmp_path / "city.json"
    args = _args(halls=2, visitors=120, minutes=0.25, baseline_minutes=0.1,
                 counters=8, boards=2, kiosks=2, json=out, keep=tmp_path / "run")
    args.gc_report = True
    rc = loadtest.run(args)
    text = capsys.readouterr().out
    assert rc == 0, text
    data = json.loads(out.read_text())
    assert data["ok"] and all(data["invariants"].values())
    assert set(data["invariants"]) == set(invariants.INVARIANTS)
    assert [h["hall"] for h in data["halls"]] == ["hall01", "hall02"]
    assert data["issued"] == sum(h["issued"] for h in data["halls"]) > 0
    assert data["connections"] == 2 * (8 + 2 + 2)
    # One counter woken per ticket, asking only for a waiting one: about the
    # 4 requests a ticket needs (issue, call_next, start, complete), not 10.
    assert data["requests_per_ticket"] < 5.0, data["requests_per_ticket"]
    assert "offered:" in text and "requests per ticket" in text
    assert "peak: the busiest 10 s of the compressed days ask" in text
    # (A 15-s day is too short for its busiest 10 s to stand above its mean.)
    assert data["peak"]["requests_per_s"] > 0 and data["peak"]["over_mean"] > 0.5
    # Every board of each hall saw each call: samples = calls x boards.
    for h in data["halls"]:
        assert h["latency_ms"]["n"] > 0 and h["latency_ms"]["n"] % 2 == 0
        assert h["latency_ms"]["p50"] <= h["latency_ms"]["p99"]
    assert data["baseline"]["n"] > 0 and data["ratio_p99"] > 0
    assert "ratio of the p99s" in text and "PASS every board saw every call" in text
    assert "CPU during the city: server" in text and data["cpu_s"]["clients_cpu_s"] > 0
    assert "cores needed (server + generator CPU / wall)" in text
    assert data["cores"]["available"] >= 1 and data["cores"]["needed"] > 0
    assert data["cores"]["machine_busy"] >= data["cores"]["needed"] - 0.05
    assert data["cpu_s"]["cpu_wall_s"] >= data["seconds"] - 0.1
    # The generator's own loop, sampled over the city's window.
    lag = data["generator_lag_ms"]
    assert lag["n"] >= 1 and 0 <= lag["mean"] <= lag["max"]
    assert lag["p50"] is None or lag["p50"] <= (lag["p99"] or float("inf"))
    assert "load generator's loop (this process, woken every 50 ms): late by" in text
    # --gc-report: the server's passes and its loop, read from its /metrics.
    assert "garbage collector during the city" in text and "loop lateness" in text
    assert "objects frozen" in text and "no qhall_gc_* figures" not in text

    # The check reads the real store: cut one call out of hall02's log.
    db = tmp_path / "run" / "hall02.db"
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
        events = next(t for t in tables if t.startswith("event"))
        (seq,) = conn.execute(f"select min(seq) from {events} where name = 'ticket.called'"
                              ).fetchone()
        conn.execute(f"delete from {events} where seq = ?", (seq,))
    stored = invariants.stored_events(f"sqlite:///{db}", "hall02")
    found = invariants.check(stored, [], {}, ZONE)
    assert found["seq"] and f"first [{seq}]" in found["seq"][0]


def test_peak_rate_is_the_densest_window_not_the_mean() -> None:
    stamps = [30.0, 0.0, 1.0, 2.0, 3.0, 15.0, 16.0, 17.0, 17.5, 18.0, 19.0, 20.0]
    assert city.peak_rate(stamps, 5.0) == pytest.approx(7 / 5)  # 15..20, unsorted input
    assert city.peak_rate(stamps, 100.0) == pytest.approx(12 / 100)
    assert city.peak_rate([], 10.0) == 0.0
    plan = city.day_plan(700, seed=3, minutes=2.0)
    mean = len(plan) / plan[-1].at
    assert city.peak_rate([v.at for v in plan]) > 1.2 * mean  # the reference day has peaks
    assert city.peak_rate([v.at for v in plan]) == pytest.approx(
        len(city.busiest(plan, city.PEAK_WINDOW_S)) / city.PEAK_WINDOW_S)


def _peak_result(peak: float, server_s: float, generator_s: float) -> city.CityResult:
    return city.CityResult(
        halls=[{"hall": "hall01", "planned": 1000, "issued": 1000, "served": 1000,
                "requests": 4000, "issue_lag_s": 0.0, "latency_ms": {"n": 0}, "failed": []}],
        baseline={"planned": 5, "issued": 5, "turned_away": 0, "served": 5, "requests": 20,
                  "issue_lag_s": 0.0, "failed": [], "n": 0},
        seconds=10.0, requests=4000, issued=1000, queue_empty=0, day_s=10.0, served=1000,
        latency_ms={"n": 0}, rss_mb={}, cpu_s={"server_cpu_s": server_s,
                                               "clients_cpu_s": generator_s},
        connections=3, problems={}, peak_tickets_per_s=peak)


def test_peak_report_sets_the_peak_against_one_core_at_the_runs_own_cost() -> None:
    # 4 requests a ticket; 4.0 s of server CPU for 4,000 requests: 1 ms each,
    # ~1,000 requests/s of one core; the peak asks 300 x 4 = 1,200/s.
    lines, figures = city.peak_report(_peak_result(300.0, 4.0, 2.0), 2)
    assert figures == {"window_s": 10.0, "tickets_per_s": 300.0, "requests_per_s": 1200,
                       "over_mean": 3.0, "server_one_core_requests_per_s": 1000,
                       "server_load_at_peak": 1.2, "cores_needed_at_peak": 1.8}
    assert lines[0] == (
        "peak: the busiest 10 s of the compressed days ask 300.0 tickets/s (~1,200 "
        "requests/s, 3.00x the mean); at this run's 1.000 ms of server CPU per request one "
        "core answers ~1,000 requests/s (the peak is 120% of it); server and load generator "
        "together need 1.80 of 2 cores at the peak")
    assert len(lines) == 2 and "measures that backlog" in lines[1]
    # Under one core, but server and generator fill the machine: the other note.
    lines, figures = city.peak_report(_peak_result(200.0, 4.0, 5.5), 2)
    assert figures["server_load_at_peak"] == 0.8 and figures["cores_needed_at_peak"] == 1.9
    assert len(lines) == 2 and "measures the machine" in lines[1]
    # Room for both: no note; on 4 cores the same run fits.
    assert len(city.peak_report(_peak_result(100.0, 4.0, 2.0), 2)[0]) == 1
    assert len(city.peak_report(_peak_result(200.0, 4.0, 5.5), 4)[0]) == 1
    # Nothing measured: nothing claimed.
    assert city.peak_report(_peak_result(300.0, 0.0, 2.0), 2) == ([], {})
    assert city.peak_report(_peak_result(0.0, 4.0, 2.0), 2) == ([], {})


def test_the_printout_and_json_carry_the_peak() -> None:
    from rich.console import Console
    from rich.table import Table

    result = _peak_result(300.0, 4.0, 2.0)
    console = Console(file=io.StringIO(), width=400, highlight=False)
    city._print(console, result, Table)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "peak: the busiest 10 s of the compressed days ask 300.0 tickets/s" in text
    assert "measures that backlog" in text
    assert city._as_json(result)["peak"]["requests_per_s"] == 1200


def test_cpu_report_counts_the_cores_both_need() -> None:
    lines = city.cpu_report(30.0, 20.0, 100.0, 2, requests=10_000, loadavg=(1.0, 0.5, 0.3))
    assert lines == [
        "CPU during the city: server 30.0 s (30% of one core; 3.000 ms per request "
        "answered), load generator 20.0 s (20% of one core), over 100 s; "
        "load average 1.0 0.5 0.3",
        "cores needed (server + generator CPU / wall): 0.50 of 2 (25% of the machine)"]
    assert city.cores_needed(30.0, 20.0, 100.0) == pytest.approx(0.5)


def test_cpu_report_notes_a_machine_that_cannot_carry_both() -> None:
    # 90% of 2 cores is 1.8: at it no note, above it the note.
    assert len(city.cpu_report(100.0, 80.0, 100.0, 2)) == 2
    lines = city.cpu_report(114.0, 76.0, 100.0, 2)
    assert lines[1] == ("cores needed (server + generator CPU / wall): 1.90 of 2 "
                        "(95% of the machine)")
    assert lines[2] == ("NOTE: server and load generator together needed 95% of the 2 cores: "
                        "the machine cannot carry both: the city figure measures the machine, "
                        "not the server alone")
    # The same load on 4 cores is no note; no requests: no per-request figure.
    assert len(city.cpu_report(114.0, 76.0, 100.0, 4)) == 2
    assert "per request" not in city.cpu_report(1.0, 1.0, 10.0, 2)[0]


def test_cpu_report_notes_a_machine_busy_with_other_work() -> None:
    # The two need half the machine; every process together 95% of it.
    lines = city.cpu_report(50.0, 50.0, 100.0, 2, machine_s=190.0)
    assert lines[1] == ("cores needed (server + generator CPU / wall): 1.00 of 2 (50% of the "
                        "machine); every process of the machine: 1.90 (95%)")
    assert lines[2] == ("NOTE: the machine was 95% busy, other processes included: it could "
                        "not carry the city and the rest: the city figure measures the "
                        "machine, not the server alone")
    assert len(city.cpu_report(50.0, 50.0, 100.0, 2, machine_s=120.0)) == 2
    # The pair's own note comes first; one note only.
    assert city.cpu_report(100.0, 90.0, 100.0, 2, machine_s=199.0)[2].startswith(
        "NOTE: server and load generator together needed 95%")
    assert len(city.cpu_report(100.0, 90.0, 100.0, 2, machine_s=199.0)) == 3


def test_the_generator_cpu_is_this_process_cpu() -> None:
    before = city.generator_cpu_s()
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    assert city.generator_cpu_s() - before >= 0.04
    busy = city.machine_busy_s()
    # /proc/stat counts by sampled clock ticks (10 ms): a 50-ms spin read
    # 0.04 s less than once; spin longer than the bound needs.
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    assert city.machine_busy_s() - busy >= 0.04  # this process is one of the machine's


def test_the_city_printout_carries_both_cpus_and_the_note() -> None:
    from rich.console import Console
    from rich.table import Table

    result = city.CityResult(
        halls=[{"hall": "hall01", "planned": 10, "issued": 10, "served": 10, "requests": 40,
                "issue_lag_s": 0.0, "latency_ms": {"n": 2, "p50": 1.0, "p99": 2.0},
                "failed": []}],
        baseline={"planned": 5, "issued": 5, "turned_away": 0, "served": 5, "requests": 20,
                  "issue_lag_s": 0.0, "failed": [], "n": 2, "p50": 1.0, "p99": 1.0},
        seconds=10.0, requests=40, issued=10, queue_empty=0, day_s=10.0, served=10,
        latency_ms={"n": 2, "p50": 1.0, "p99": 2.0}, rss_mb={"idle": 50.0},
        cpu_s={"server_cpu_s": 12.0, "clients_cpu_s": 9.0, "machine_cpu_s": 22.0,
               "cpu_wall_s": 11.0},
        connections=3, problems={})
    console = Console(file=io.StringIO(), width=400, highlight=False)
    city._print(console, result, Table)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "load generator 9.0 s (82% of one core), over 11 s" in text
    cores = os.cpu_count() or 1
    assert f"cores needed (server + generator CPU / wall): 1.91 of {cores}" in text
    assert "every process of the machine: 2.00" in text
    assert ("the machine cannot carry both" in text) == (21.0 / 11.0 > 0.9 * cores)
    assert ("NOTE" in text) == (2.0 > 0.9 * cores)
    data = city._as_json(result)
    assert data["cores"] == {"available": cores, "needed": 1.91, "machine_busy": 2.0}


def test_bad_city_arguments_exit_2(capsys) -> None:  # noqa: ANN001
    assert loadtest.run(_args(halls=0)) == 2
    assert loadtest.run(_args(halls=2, boards=21)) == 2
    assert "--halls >= 1" in capsys.readouterr().err


def test_lateness_reads_the_bucket_bounds_and_keeps_the_max() -> None:
    samples = gcwatch.Pauses()
    for seconds in (0.0003, 0.003, 0.004, 0.3, 5.0):
        samples.add(seconds)
    lag = city.lateness(samples)
    assert lag["n"] == 5 and lag["max"] == pytest.approx(5000.0)
    assert lag["mean"] == pytest.approx((0.0003 + 0.003 + 0.004 + 0.3 + 5.0) / 5 * 1000)
    assert lag["p50"] == pytest.approx(5.0)  # the third sample: in the <= 5 ms bucket
    assert math.isinf(lag["p99"])  # the last: above every bucket (2 s)
    assert city.lateness(gcwatch.Pauses()) == {"n": 0.0}


def test_the_printout_and_json_carry_the_generators_lateness() -> None:
    from rich.console import Console
    from rich.table import Table

    result = city.CityResult(
        halls=[], baseline={"planned": 5, "issued": 5, "turned_away": 0, "served": 5,
                            "requests": 20, "issue_lag_s": 0.0, "failed": [], "n": 0},
        seconds=10.0, requests=40, issued=10, queue_empty=0,
        day_s=10.0, served=10, latency_ms={"n": 0}, rss_mb={}, cpu_s={}, connections=3,
        problems={}, generator_lag_ms={"n": 200.0, "mean": 12.5, "p50": 5.0,
                                       "p99": float("inf"), "max": 2400.0})
    console = Console(file=io.StringIO(), width=400, highlight=False)
    city._print(console, result, Table)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert ("load generator's loop (this process, woken every 50 ms): late by 12.5 ms on "
            "average, p50 ≤ 5 ms, p99 > 2000 ms, max 2400 ms") in text
    data = city._as_json(result)
    assert data["generator_lag_ms"]["p99"] is None and data["generator_lag_ms"]["p50"] == 5.0
    json.dumps(data, allow_nan=False)  # valid JSON: no Infinity
