"""A rating pad's welcome, a completion event and a settable monotonic clock."""

from __future__ import annotations

WELCOME = {
    "type": "welcome", "counter": 3, "seq": 10,
    "hall": {"name": "测试政务服务中心", "counters": [{"number": 3, "name": "3号窗口"},
                                               {"number": 4, "name": "4号窗口"}]},
    "snapshot": {"counters": {"3": {"state": "open", "staff": {"id": "s001", "name": "王芳"}}}},
}


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def completed(tid: str = "t1", counter: int = 3, number: str = "A012") -> dict:
    return {"type": "event", "seq": 11, "name": "ticket.completed",
            "data": {"ticket": {"id": tid, "number": number}, "counter": counter}}
