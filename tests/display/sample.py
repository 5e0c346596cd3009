"""Realistic hall data for the display tests and screenshots."""

from __future__ import annotations

from typing import Any

__all__ = ["hall", "welcome", "called", "event", "recent_calls"]

SERVICES = [
    ("gjj", "公积金业务", "Housing fund", "A", "public"),
    ("tax", "税务办理", "Tax", "B", "public"),
    ("bdc", "不动产登记", "Real estate", "C", "approval"),
    ("gs", "工商注册", "Business", "D", "approval"),
    ("zj", "中介服务", "Intermediary", "E", "intermediary"),
]


def hall(services: int = 5) -> dict[str, Any]:
    return {
        "name": "滁州市政务服务中心",
        "timezone": "Asia/Shanghai",
        "services": [{"id": i, "name": n, "name_en": e, "prefix": p, "category": c}
                     for i, n, e, p, c in SERVICES[:services]],
        "counters": [{"number": n, "name": f"{n}号窗口", "services": ["gjj", "tax"]}
                     for n in range(1, 16)],
    }


def recent_calls(pairs: list[tuple[str, int]]) -> list[dict[str, Any]]:
    return [{"ticket": {"id": f"id-{n}", "number": n, "service": "gjj"}, "counter": c,
             "counter_name": f"{c}号窗口", "at": "2026-11-26T09:30:00+08:00"}
            for n, c in pairs]


def welcome(recent: list[tuple[str, int]] = (), seq: int = 100, services: int = 5,
            counter: int | None = None, **extra: Any) -> dict[str, Any]:
    waiting = {"gjj": 12, "tax": 35, "bdc": 4, "gs": 7, "zj": 2}
    return {
        "type": "welcome", "re": "h1", "protocol": 1, "role": "display",
        "counter": counter, "hall": hall(services), "seq": seq,
        "snapshot": {
            "queues": {s: {"waiting": w, "eta_s": 60 * w} for s, w in waiting.items()},
            "counters": {str(n): {"state": "open", "staff": {"id": "s001", "name": "王芳"},
                                  "current": None} for n in range(1, 16)},
            "recent_calls": recent_calls(list(recent)),
        },
        **extra,
    }


def called(number: str, counter: int, seq: int, recall: bool = False) -> dict[str, Any]:
    return {"type": "event", "seq": seq, "at": "2026-11-26T09:41:05+08:00",
            "name": "ticket.recalled" if recall else "ticket.called",
            "data": {"ticket": {"id": f"id-{number}", "number": number, "service": "gjj",
                                "status": "called", "counter": counter},
                     "counter": counter, "counter_name": f"{counter}号窗口"}}


def event(name: str, seq: int, **data: Any) -> dict[str, Any]:
    return {"type": "event", "seq": seq, "at": "2026-11-26T09:41:05+08:00",
            "name": name, "data": data}
