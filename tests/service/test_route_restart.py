"""After a restart the hall still knows how long the route steps left before
it took (they are in the event log only): the ETA at a step is the same."""

from __future__ import annotations

import dataclasses
import datetime as dt

from server.config import Service
from server.service import HallService, Session
from server.store import Store
from tests.helpers.fakes import FakeClock
from tests.helpers.server import PIN, small_config

TZ = dt.timezone(dt.timedelta(hours=8))
ROUTE = Service("jl", "联办测试", "Joint route", "L", "approval", route=("bdc", "tax"))


def test_route_step_times_survive_a_restart(tmp_path) -> None:
    base = small_config(f"sqlite:///{tmp_path / 'hall.db'}")
    config = dataclasses.replace(base, services=(*base.services, ROUTE))
    clock = FakeClock(dt.datetime(2026, 11, 26, 9, 0, tzinfo=TZ).astimezone(dt.UTC))
    n = 0

    def req(hall: HallService, device: str, kind: str, **fields) -> dict:
        nonlocal n
        n += 1
        reply = hall.handle(Session(config.device(device)),
                               {"type": kind, "id": f"r{n}", **fields}).message
        assert reply["type"] == "ok", reply
        return reply

    def hall_service(store: Store) -> HallService:
        return HallService(config, store, clock=clock, monotonic=clock.monotonic)

    with Store(config.database, clock=clock) as store:
        first = hall_service(store)
        req(first, "counter-4", "login", staff="s004", pin=PIN)
        for minutes in (40, 50):  # bdc steps (default 900 s) take 40 and 50 min here
            req(first, "kiosk-1", "issue", service="jl")
            req(first, "counter-4", "call_next")
            clock.advance(minutes * 60)
            req(first, "counter-4", "complete")  # routed on to tax
        ticket = req(first, "kiosk-1", "issue", service="bdc")["ticket"]
        before = first.hall.queue_wire("bdc")
        assert before["eta_s"] > 900  # the steps' 45 min mean, not the default
    with Store(config.database, clock=clock) as store:
        again = hall_service(store)
        assert again.hall.queue_wire("bdc") == before
        restored = again.hall.ticket(ticket["id"])
        assert restored is not None and again.hall.wire_ticket(restored)["eta_s"] == ticket["eta_s"]
