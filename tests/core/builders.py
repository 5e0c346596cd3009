"""Small builders for core tests: a hall config, a clock, deterministic ids."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from typing import Any

from server.config import Counter, Dispatch, HallConfig, Service
from server.core import Hall
from tests.helpers.fakes import FakeClock

__all__ = ["SHANGHAI", "service", "counter", "config", "make_hall", "at"]

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def at(hour: int, minute: int = 0, second: int = 0, day: int = 26) -> dt.datetime:
    """An aware datetime on 2026-11-<day> at this Shanghai wall-clock time."""
    return dt.datetime(2026, 11, day, hour, minute, second, tzinfo=SHANGHAI)


def service(sid: str, prefix: str, **kw: Any) -> Service:
    return Service(id=sid, name=kw.pop("name", sid), name_en=kw.pop("name_en", sid),
                   prefix=prefix, category=kw.pop("category", "public"), **kw)


def counter(number: int, services: Iterable[str], mode: str = "ordered") -> Counter:
    return Counter(number=number, name=f"{number}号窗口", services=tuple(services), mode=mode)


def config(services: Iterable[Service] | None = None, counters: Iterable[Counter] | None = None,
           **dispatch: Any) -> HallConfig:
    services = tuple(services or (service("gjj", "A"), service("tax", "B"), service("bdc", "C")))
    counters = tuple(counters or (counter(1, ["gjj", "tax"]), counter(2, ["tax", "gjj"]),
                                  counter(3, ["bdc"])))
    return HallConfig(name="测试大厅", timezone="Asia/Shanghai", database="sqlite://",
                      services=services, counters=counters, dispatch=Dispatch(**dispatch))


def make_hall(cfg: HallConfig | None = None, start: dt.datetime | None = None,
              open_all: bool = True) -> tuple[Hall, FakeClock]:
    """A hall on a fake clock (09:00 Shanghai), deterministic ids/codes, counters open."""
    clock = FakeClock(start or at(9))
    ids = itertools.count(1)
    codes = itertools.count(1)
    hall = Hall(cfg or config(), clock, ids=lambda: f"t{next(ids)}",
                codes=lambda: f"C{next(codes):05d}")
    if open_all:
        for c in hall.config.counters:
            hall.open_counter(c.number, f"s{c.number}", f"员工{c.number}")
    return hall, clock
