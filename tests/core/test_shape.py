"""Wire shaping: field order and presence, and times in the hall's zone."""

from __future__ import annotations

import datetime as dt
import json

from server.core import shape
from server.core.eta import Estimate
from server.core.model import CounterState, Ticket
from tests.core.builders import SHANGHAI, at


def test_estimate_fields_in_order() -> None:
    assert shape.estimate(Estimate(120), SHANGHAI) == {"eta_s": 120, "eta_after": None}
    wide = shape.estimate(Estimate(900, 600, 1500, at(13, 0).astimezone(dt.UTC)), SHANGHAI)
    assert list(wide) == ["eta_s", "eta_low_s", "eta_high_s", "eta_after"]
    assert wide["eta_after"] == "2026-11-26T13:00:00+08:00"


def test_ticket_object_is_byte_stable() -> None:
    t = Ticket(id="t1", number="A001", service="gjj", priority="appointment",
               issued_at=at(9).astimezone(dt.UTC), seqno=1, check="C00001",
               target_counter=2, slot_start=at(9, 30))
    wire = shape.ticket(t, 3, Estimate(240), SHANGHAI)
    assert json.dumps(wire) == (
        '{"id": "t1", "number": "A001", "service": "gjj", "status": "waiting", '
        '"priority": "appointment", "issued_at": "2026-11-26T09:00:00+08:00", '
        '"counter": null, "ahead": 3, "eta_s": 240, "eta_after": null, "check": "C00001", '
        '"to_counter": 2, "slot_start": "2026-11-26T09:30:00+08:00"}')
    t.status, t.counter = "called", 2
    called = shape.ticket(t, 0, Estimate(0), SHANGHAI)
    assert called["counter"] == 2 and "to_counter" not in called


def test_counter_and_recent_call() -> None:
    cs = CounterState(number=1, state="paused", staff_id="s1", staff_name="张", reason="午休")
    assert shape.counter(cs, "1号窗口", None) == {
        "name": "1号窗口", "state": "paused", "staff": {"id": "s1", "name": "张"},
        "reason": "午休", "current": None}
    assert shape.counter(CounterState(number=2), "2号窗口", None)["staff"] is None
    call = shape.recent_call({"id": "t1"}, 1, "1号窗口", at(9, 5).astimezone(dt.UTC), SHANGHAI)
    assert list(call) == ["ticket", "counter", "counter_name", "at"]
    assert call["at"] == "2026-11-26T09:05:00+08:00"
