"""HallService rules that a plausible wrong implementation would break.

Run on SQLite and PostgreSQL (``db_url``), on a **UTC** clock as in
production: idempotency remembers the *first* reply, ok or error, per
``(device, id)``; the day rollover (``tick``) closes the day at the hall's
local midnight (16:00 UTC for Shanghai), not at 00:00 UTC, exactly once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from server.config import HallConfig
from server.features import default_features
from server.service import HallService, Session
from server.store import Store
from tests.helpers.fakes import FakeClock
from tests.helpers.server import PIN, small_config


def utc(hour: int, minute: int = 0, second: int = 0, day: int = 26) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, second, tzinfo=dt.UTC)


class Desk:
    """A HallService on a hand-moved UTC clock, driven through ``handle``."""

    def __init__(self, db_url: str, start: dt.datetime, config: HallConfig | None = None) -> None:
        self.config = config or small_config(db_url)
        self.clock = FakeClock(start)
        self.store = Store(db_url, clock=self.clock)
        self.svc = HallService(self.config, self.store, clock=self.clock,
                               monotonic=self.clock.monotonic, features=default_features())

    def send(self, device: str, kind: str, rid: str, **fields):
        return self.svc.handle(Session(self.config.device(device)),
                               {"type": kind, "id": rid, **fields})


@pytest.fixture
def desk(db_url: str) -> Iterator[Desk]:
    d = Desk(db_url, utc(15, 0))  # 23:00 in Shanghai on the 26th
    assert d.send("counter-2", "login", "login", staff="s002", pin=PIN).message["type"] == "ok"
    yield d
    d.store.close()


# ------------------------------------------------------------------ idempotency
def test_an_error_reply_is_the_first_reply_on_resend(desk):
    first = desk.send("counter-2", "call_next", "c1").message
    assert (first["type"], first["code"]) == ("error", "queue_empty")
    issued = desk.send("kiosk-1", "issue", "k1", service="gjj")
    assert issued.message["ticket"]["number"] == "A001"
    again = desk.send("counter-2", "call_next", "c1")  # same id: the first reply, no call
    assert again.message == first and again.events == []
    assert desk.svc.hall.ticket(issued.message["ticket"]["id"]).status == "waiting"
    fresh = desk.send("counter-2", "call_next", "c2")
    assert fresh.message["type"] == "ok" and fresh.message["ticket"]["number"] == "A001"


def test_an_ok_reply_is_returned_unchanged_after_the_state_moved(desk):
    desk.send("kiosk-1", "issue", "k1", service="gjj")
    desk.send("kiosk-1", "issue", "k2", service="gjj")
    called = desk.send("counter-2", "call_next", "c1")
    assert called.message["ticket"]["number"] == "A001" and called.events
    desk.send("counter-2", "complete", "d1")
    again = desk.send("counter-2", "call_next", "c1")
    assert again.message == called.message and again.events == []
    assert desk.svc.hall.counter_state(2).current is None  # A002 was not called


def test_idempotency_is_per_device(desk):
    a = desk.send("kiosk-1", "issue", "same", service="gjj").message
    b = desk.send("kiosk-2", "issue", "same", service="gjj").message
    assert (a["ticket"]["number"], b["ticket"]["number"]) == ("A001", "A002")


def test_a_remembered_reply_survives_a_restart(desk, db_url):
    first = desk.send("kiosk-1", "issue", "k1", service="gjj").message
    restarted = HallService(desk.config, desk.store, clock=desk.clock,
                            monotonic=desk.clock.monotonic, features=default_features())
    again = restarted.handle(Session(desk.config.device("kiosk-1")),
                             {"type": "issue", "id": "k1", "service": "gjj"})
    assert again.message == first and again.events == []
    assert restarted.hall.waiting("gjj") == 1


# ------------------------------------------------------------------- rollover
def test_tick_closes_the_day_at_local_midnight_once(desk):
    desk.send("kiosk-1", "issue", "k1", service="gjj")      # A001
    desk.send("kiosk-1", "issue", "k2", service="gjj")      # A002
    desk.send("counter-2", "call_next", "c1")               # A001 called
    desk.clock.now = utc(15, 59, 59)                        # 23:59:59 local
    assert desk.svc.tick() == []
    desk.clock.now = utc(16, 0, 1)                          # 00:00:01 on the 27th, local
    events = desk.svc.tick()
    cancelled = [e for e in events if e["name"] == "ticket.cancelled"]
    assert [e["data"]["ticket"]["number"] for e in cancelled] == ["A001", "A002"]
    assert all(e["data"]["reason"] == "close_day" for e in cancelled)
    assert all(e["seq"] > 0 for e in events)                # committed, in the log
    assert desk.store.events_since(desk.config.id, events[-1]["seq"] - 1)[0]["seq"] == \
        events[-1]["seq"]
    assert desk.svc.hall.counter_state(2).current is None
    assert desk.svc.tick() == []                            # once
    issued = desk.send("kiosk-1", "issue", "k3", service="gjj").message["ticket"]
    assert issued["number"] == "A001"                       # a new local day


def test_tick_does_not_close_the_day_at_utc_midnight(desk):
    desk.clock.now = utc(23, 0)                             # 07:00 on the 27th, local
    desk.svc.tick()                                         # the local day turned at 16:00
    desk.send("kiosk-1", "issue", "k1", service="gjj")      # A001 of the 27th
    desk.clock.now = utc(0, 0, 1, day=27)                   # UTC midnight, 08:00:01 local
    assert desk.svc.tick() == []
    assert desk.svc.hall.waiting("gjj") == 1
    nxt = desk.send("kiosk-1", "issue", "k2", service="gjj").message["ticket"]
    assert nxt["number"] == "A002"


def test_rollover_survives_a_restart_of_the_next_day(desk):
    desk.send("kiosk-1", "issue", "k1", service="gjj")
    desk.clock.now = utc(16, 0, 1)
    desk.svc.tick()
    restarted = HallService(desk.config, desk.store, clock=desk.clock,
                            monotonic=desk.clock.monotonic, features=default_features())
    assert restarted.hall.waiting("gjj") == 0
    assert restarted.tick() == []
