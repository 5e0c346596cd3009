"""The live floor model on a real core driven through a virtual morning."""

from __future__ import annotations

import datetime as dt

from server.console.floor import build, service_level
from server.core import Hall
from tests.helpers.server import small_config

CFG = small_config("sqlite://")
T0 = dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)  # 09:00 in the hall


def test_counters_services_and_waiting_tickets():
    now = [T0]
    hall = Hall(CFG, lambda: now[0])
    hall.open_counter(1, "s001", "王芳")
    hall.open_counter(2, "s002", "李强")
    first = hall.issue("gjj")[0].data["ticket"]["id"]
    now[0] += dt.timedelta(minutes=20)
    hall.issue("gjj")
    hall.issue("tax")
    hall.call_next(1)  # the first gjj ticket, after 20 min: over the 15 min target
    now[0] += dt.timedelta(minutes=5)
    hall.complete(1)
    hall.call_next(1)  # the second, at once
    now[0] += dt.timedelta(minutes=2)
    hall.pause(2, "午休")
    now[0] += dt.timedelta(minutes=3)
    faults = {"kiosk-1": {"device": "kiosk-1", "kind": "paper_out", "since": "x"}}
    view = build(hall, CFG, faults, now[0])

    one, two, three, _four = view["counters"]
    assert (one["state"], one["staff"]["name"], one["served_today"]) == ("open", "王芳", 1)
    assert one["current"]["number"] == "A002" and one["current"]["serving_s"] == 5 * 60
    assert one["idle_s"] is None
    assert (two["state"], two["reason"], two["state_s"]) == ("paused", "午休", 3 * 60)
    assert (three["state"], three["current"]) == ("closed", None)
    gjj, tax, _bdc = view["services"]
    assert (gjj["waiting"], gjj["served_today"], gjj["service_level"]) == (0, 1, 0.0)
    assert gjj["longest_wait_s"] is None and gjj["target"] == CFG.console.service_level_target
    assert (tax["waiting"], tax["longest_wait_s"]) == (1, 10 * 60)
    assert [t["number"] for t in view["waiting"]] == ["B001"]
    assert view["faults"] == [faults["kiosk-1"]]
    assert first != one["current"]["id"]

    # Counter 1 completes: it is idle from then on.
    hall.complete(1)
    now[0] += dt.timedelta(minutes=4)
    later = build(hall, CFG, {}, now[0])
    assert later["counters"][0]["idle_s"] == 4 * 60
    assert later["services"][0]["service_level"] == 0.5


def test_service_level_counts_served_tickets_only():
    hall = Hall(CFG, lambda: T0)
    hall.issue("gjj")
    assert service_level(hall.tickets(), 900) == (0, None)
