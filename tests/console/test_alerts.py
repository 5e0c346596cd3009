"""The console's alert rules (pure) on hand-made floors."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from server.console.alerts import MIN_SERVED, evaluate
from tests.helpers.server import small_config

CFG = small_config("sqlite://")
RULES = CFG.console
AT = "2026-11-30T10:00:00+08:00"


def _service(sid: str = "gjj", **over: Any) -> dict[str, Any]:
    s = {"id": sid, "name": "公积金业务", "waiting": 0, "eta_s": 0, "open_counters": 1,
         "longest_wait_s": None, "oldest": None, "served_today": 0, "service_level": None,
         "target": RULES.service_level_target}
    return {**s, **over}


def _counter(n: int = 1, state: str = "open", **over: Any) -> dict[str, Any]:
    c = {"number": n, "name": f"{n}号窗口", "state": state, "staff": None, "reason": "",
         "since": "2026-11-30T09:00:00+08:00", "state_s": 0, "current": None,
         "served_today": 0, "idle_since": None, "idle_s": None}
    return {**c, **over}


def _floor(services=(), counters=(), faults=()) -> dict[str, Any]:
    return {"at": AT, "services": list(services), "counters": list(counters),
            "faults": list(faults), "waiting": []}


def kinds(floor: dict[str, Any], followups=(), acks=None) -> list[str]:
    return [a["kind"] for a in evaluate(floor, CFG, followups, acks or {})]


def test_a_quiet_floor_has_no_alerts():
    assert kinds(_floor([_service()], [_counter()])) == []


def test_service_level_below_target_needs_enough_served():
    low = RULES.service_level_target - 0.01
    assert kinds(_floor([_service(served_today=MIN_SERVED - 1, service_level=0.0)])) == []
    assert kinds(_floor([_service(served_today=MIN_SERVED, service_level=low)])) == \
        ["service_level"]
    assert kinds(_floor([_service(served_today=50,
                                  service_level=RULES.service_level_target)])) == []


def test_a_long_wait_alerts_per_service_and_oldest_ticket():
    at = RULES.wait_alert_s
    assert kinds(_floor([_service(longest_wait_s=at, oldest="t1", waiting=1)])) == []
    found = evaluate(_floor([_service(longest_wait_s=at + 1, oldest="t1", waiting=1)]), CFG,
                     [], {})
    assert [(a["kind"], a["key"]) for a in found] == [("long_wait", "wait:gjj:t1")]


def test_paused_too_long_and_idle_with_people_waiting():
    limit = RULES.pause_alert_s
    paused = _counter(2, "paused", state_s=limit + 1)
    assert kinds(_floor([_service(waiting=0)], [paused])) == ["paused"]
    assert kinds(_floor([_service()], [_counter(2, "paused", state_s=limit)])) == []
    idle = _counter(2, idle_s=limit + 1, idle_since="2026-11-30T09:30:00+08:00")
    # Counter 2 serves gjj only: idle is an alert only while gjj has people waiting.
    assert kinds(_floor([_service(waiting=0)], [idle])) == []
    assert kinds(_floor([_service(waiting=3)], [idle])) == ["idle"]
    assert kinds(_floor([_service("tax", waiting=3), _service(waiting=0)], [idle])) == []


def test_faults_and_todays_bad_ratings():
    fault = {"device": "kiosk-1", "kind": "paper_out", "message": "", "ticket": None,
             "since": "2026-11-30T09:59:00+08:00"}
    today = {"id": "f1", "number": "A001", "counter": 1, "score": 1,
             "opened_at": "2026-11-30T09:58:00+08:00"}
    older = {**today, "id": "f0", "opened_at": "2026-11-27T09:58:00+08:00"}
    found = evaluate(_floor(faults=[fault]), CFG, [today, older], {})
    assert [(a["kind"], a["key"]) for a in found] == [
        ("fault", "fault:kiosk-1:paper_out:2026-11-30T09:59:00+08:00"), ("bad_rating", "bad:f1")]


def test_acknowledged_alerts_say_who_and_newest_come_first():
    limit = RULES.pause_alert_s
    a = _counter(1, "paused", state_s=limit + 5, since="2026-11-30T09:00:00+08:00")
    b = _counter(2, "paused", state_s=limit + 5, since="2026-11-30T09:30:00+08:00")
    when = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)
    found = evaluate(_floor([_service()], [a, b]), CFG, [],
                     {"paused:1:2026-11-30T09:00:00+08:00": ("s005", when)})
    assert [x["counter"] for x in found] == [2, 1]
    assert found[0]["acked"] is None
    assert found[1]["acked"] == {"staff": "s005", "at": when.isoformat(timespec="seconds")}


def test_thresholds_come_from_the_console_table():
    cfg = dataclasses.replace(CFG, console=dataclasses.replace(RULES, wait_alert_s=60))
    found = evaluate(_floor([_service(longest_wait_s=61, oldest="t9")]), cfg, [], {})
    assert [a["kind"] for a in found] == ["long_wait"]
