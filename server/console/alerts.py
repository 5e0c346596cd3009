"""Alert rules of the live floor (pure: a floor in, alerts out).

An alert has a stable ``key``: acknowledging one stores the key, and the same
condition keeps the same key while it lasts (a counter paused since 10:02 is
one alert however long it stays paused; paused again later is a new one).
Rules, with the thresholds of ``[console]``:

* ``service_level``: a service's service level today is below
  ``service_level_target`` once it has served :data:`MIN_SERVED` tickets
  (fewer is noise); one per service and day.
* ``long_wait``: a service's oldest waiting ticket has waited longer than
  ``wait_alert_s``; one per service and oldest ticket.
* ``paused``: a counter paused longer than ``pause_alert_s``.
* ``idle``: a counter open with nobody called for longer than
  ``pause_alert_s`` while its services have people waiting.
* ``fault``: a device reported a fault (until it clears it).
* ``bad_rating``: a 差评 (1-2) opened a follow-up today.

Newest first (by ``since``); ``acked`` says who acknowledged it and when.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from server.config import Console, HallConfig

__all__ = ["MIN_SERVED", "evaluate"]

#: Served tickets a service needs today before its service level can alert.
MIN_SERVED = 5


def _mins(seconds: int) -> int:
    return seconds // 60


def _service_alerts(services: Iterable[Mapping[str, Any]], day: str,
                    rules: Console, at: str) -> list[dict[str, Any]]:
    out = []
    for s in services:
        level = s.get("service_level")
        if (level is not None and s["served_today"] >= MIN_SERVED
                and level < rules.service_level_target):
            out.append({
                "key": f"sl:{s['id']}:{day}", "kind": "service_level", "since": at,
                "text": f"{s['name']} 服务达标率 {level:.0%}，低于目标 "
                        f"{rules.service_level_target:.0%} service level below target"})
        longest = s.get("longest_wait_s")
        if longest is not None and longest > rules.wait_alert_s:
            out.append({
                "key": f"wait:{s['id']}:{s['oldest']}", "kind": "long_wait", "since": at,
                "text": f"{s['name']} 最长已等 {_mins(longest)} 分钟 "
                        f"longest wait {_mins(longest)} min"})
    return out


def _counter_alerts(counters: Iterable[Mapping[str, Any]],
                    waiting_for: Mapping[int, int], rules: Console) -> list[dict[str, Any]]:
    out = []
    for c in counters:
        if c["state"] == "paused" and (c.get("state_s") or 0) > rules.pause_alert_s:
            out.append({
                "key": f"paused:{c['number']}:{c['since']}", "kind": "paused",
                "since": c["since"], "counter": c["number"],
                "text": f"{c['name']} 已暂停 {_mins(c['state_s'])} 分钟 "
                        f"paused {_mins(c['state_s'])} min"})
        elif (c["state"] == "open" and c.get("idle_s") is not None
              and c["idle_s"] > rules.pause_alert_s and waiting_for.get(c["number"], 0) > 0):
            out.append({
                "key": f"idle:{c['number']}:{c['idle_since']}", "kind": "idle",
                "since": c["idle_since"], "counter": c["number"],
                "text": f"{c['name']} 空闲 {_mins(c['idle_s'])} 分钟，仍有人等候 "
                        f"idle {_mins(c['idle_s'])} min with people waiting"})
    return out


def evaluate(floor: Mapping[str, Any], config: HallConfig,
             followups: Iterable[Mapping[str, Any]],
             acks: Mapping[str, tuple[str, dt.datetime]]) -> list[dict[str, Any]]:
    """The alerts of this floor, newest first.

    Args:
        floor: :func:`server.console.floor.build`'s dict.
        config: the hall (its ``[console]`` thresholds, counters' services).
        followups: open follow-up cases (wire objects of the ratings feature).
        acks: acknowledged alert keys -> (staff id, when).
    """
    rules = config.console
    at = str(floor["at"])
    day = at[:10]
    waiting = {s["id"]: s["waiting"] for s in floor["services"]}
    waiting_for = {k.number: sum(waiting.get(sid, 0) for sid in k.services)
                   for k in config.counters if k.number is not None}
    alerts = _service_alerts(floor["services"], day, rules, at)
    alerts += _counter_alerts(floor["counters"], waiting_for, rules)
    for f in floor["faults"]:
        alerts.append({
            "key": f"fault:{f['device']}:{f['kind']}:{f['since']}", "kind": "fault",
            "since": f["since"],
            "text": f"设备故障 device fault: {f['device']} {f['kind']} {f.get('message') or ''}"
                    .rstrip()})
    for case in followups:
        if str(case.get("opened_at") or "")[:10] == day:
            where = f"{case['counter']}号窗口 " if case.get("counter") is not None else ""
            alerts.append({
                "key": f"bad:{case['id']}", "kind": "bad_rating", "since": case["opened_at"],
                "followup": case["id"],
                "text": f"差评 {case['number']} {where}bad rating {case['score']}"})
    for a in alerts:
        ack = acks.get(a["key"])
        a["acked"] = ({"staff": ack[0], "at": ack[1].isoformat(timespec="seconds")}
                      if ack else None)
    alerts.sort(key=lambda a: str(a["since"]), reverse=True)
    return alerts
