"""Realistic protocol messages for the counter tests and screenshots."""

from __future__ import annotations

import datetime as dt
from typing import Any

__all__ = ["SERVICES", "COUNTERS", "welcome", "ticket", "T0"]

#: 09:00 in Shanghai on the sample day (FakeClock's default start).
T0 = dt.datetime(2026, 11, 26, 1, 0, tzinfo=dt.UTC)

SERVICES = [
    {"id": "gjj", "name": "公积金业务", "name_en": "Housing provident fund", "prefix": "A",
     "category": "public"},
    {"id": "bdc", "name": "不动产登记", "name_en": "Real estate registration", "prefix": "B",
     "category": "approval"},
    {"id": "tax", "name": "税务缴纳", "name_en": "Tax payment", "prefix": "C",
     "category": "public"},
]
COUNTERS = [
    {"number": 3, "name": "3号窗口", "services": ["gjj", "bdc"]},
    {"number": 5, "name": "5号窗口", "services": ["gjj"]},
    {"number": 7, "name": "7号窗口", "services": ["tax"]},
]


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat()


def ticket(number: str, *, service: str = "gjj", status: str = "waiting",
           minutes_ago: float = 10, now: dt.datetime = T0, counter: int | None = None,
           priority: str = "normal", tid: str | None = None) -> dict[str, Any]:
    """A PROTOCOL ticket object issued ``minutes_ago`` before ``now``."""
    return {"id": tid or f"t-{number}", "number": number, "service": service,
            "status": status, "priority": priority,
            "issued_at": iso(now - dt.timedelta(minutes=minutes_ago)),
            "counter": counter, "ahead": 0, "eta_s": 0, "check": "K" + number}


def welcome(counter: int = 3, *, state: str = "closed", staff: Any = None,
            current: dict[str, Any] | None = None, seq: int = 100) -> dict[str, Any]:
    return {
        "type": "welcome", "re": "h1", "protocol": 1, "role": "counter", "counter": counter,
        "hall": {"name": "滁州市政务服务中心", "timezone": "Asia/Shanghai",
                 "services": SERVICES, "counters": COUNTERS},
        "snapshot": {
            "queues": {"gjj": {"waiting": 3, "eta_s": 600}},
            "counters": {str(c["number"]): {
                "state": state if c["number"] == counter else "open",
                "staff": staff if c["number"] == counter else None,
                "current": current if c["number"] == counter else None}
                for c in COUNTERS},
            "recent_calls": [],
        },
        "seq": seq,
    }


def ok(**fields):
    """An ``ok`` reply carrying ``fields``."""
    return {"type": "ok", "re": "x", **fields}


def err(code, message=""):
    """An ``error`` reply with ``code``."""
    return {"type": "error", "re": "x", "code": code, "message": message}


def do(st, action, reply, **fields):
    """Take ``action`` in state ``st`` and apply ``reply`` to its request."""
    req = st.intent(action, **fields)
    st.apply_reply(req, reply)
    return req
