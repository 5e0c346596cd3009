"""Reports of joint-approval routes: a case counted once, then each step
(hand-computed figures from a scripted morning)."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io

from server.config import Service
from server.features import default_features, report
from server.service import HallService, Session
from server.store import Store
from tests.helpers.fakes import FakeClock
from tests.helpers.server import PIN, small_config

TZ = dt.timezone(dt.timedelta(hours=8))
DAY = dt.date(2026, 11, 26)
# gjj (counter 2) -> tax (counter 3) -> bdc (counter 4)
ROUTE = Service("jl", "联办测试", "Joint route", "L", "approval", route=("gjj", "tax", "bdc"))


def at(hms: str) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time.fromisoformat(hms), TZ).astimezone(dt.UTC)


class Morning:
    def __init__(self, db_url: str) -> None:
        base = small_config(db_url)
        self.config = dataclasses.replace(base, services=(*base.services, ROUTE))
        self.clock = FakeClock(at("08:59:00"))
        self.store = Store(self.config.database, clock=self.clock)
        self.service = HallService(self.config, self.store, clock=self.clock,
                                   monotonic=self.clock.monotonic, features=default_features())
        self.n = 0

    def req(self, hms: str, device: str, type: str, **fields) -> dict:
        self.clock.now = at(hms)
        self.n += 1
        session = Session(self.config.device(device))
        reply = self.service.handle(session, {"type": type, "id": f"r{self.n}", **fields})
        assert reply.message["type"] == "ok", reply.message
        return reply.message


def test_route_cases_once_and_each_step(tmp_path) -> None:
    m = Morning(f"sqlite:///{tmp_path / 'routes.db'}")
    for n in (2, 3, 4):
        m.req("08:59:00", f"counter-{n}", "login", staff=f"s00{n}", pin=PIN)
    c2, c3, c4 = "counter-2", "counter-3", "counter-4"
    assert m.req("09:00:00", "kiosk-1", "issue", service="jl")["ticket"]["number"] == "L001"
    m.req("09:02:00", c2, "call_next")                     # L001 step 1: wait 120
    m.req("09:03:00", c2, "start")
    m.req("09:05:00", "kiosk-1", "issue", service="jl")    # L002
    m.req("09:08:00", c2, "complete")                      # service 300 -> tax
    assert m.req("09:10:00", c3, "call_next")["ticket"]["number"] == "L001"  # wait 120
    m.req("09:12:00", c3, "route_back", step=0, reason="材料补正")  # service 120 -> back
    assert m.req("09:15:00", c2, "call_next")["ticket"]["number"] == "L001"  # wait 180
    m.req("09:20:00", c2, "complete")                      # service 300 -> tax
    assert m.req("09:20:30", c2, "call_next")["ticket"]["number"] == "L002"  # wait 930
    m.req("09:21:00", c3, "call_next")                     # L001 wait 60
    m.req("09:22:30", c2, "complete")                      # L002 service 120 -> tax
    m.req("09:24:00", c3, "complete")                      # L001 service 180 -> bdc
    assert m.req("09:25:00", c3, "call_next")["ticket"]["number"] == "L002"  # wait 150
    m.req("09:25:00", c3, "start")
    m.req("09:27:00", c3, "route_end", reason="不予受理")  # L002 service 120, ended
    m.req("09:30:00", c4, "call_next")                     # L001 step 3: wait 360
    m.req("09:31:00", c4, "start")
    m.req("09:41:00", c4, "complete")                      # service 600: the case is done

    rep = report.build(m.config, m.store, DAY, DAY, at("12:00:00"))
    route = rep.routes["jl"]
    assert (route.issued, route.served, route.ended_early, route.cases_sent_back) == (2, 1, 1, 1)
    rows = [s.row() for s in route.steps]
    assert [(r["service"], r["arrivals"], r["served"], r["ended"], r["sent_back"])
            for r in rows] == [("gjj", 3, 3, 0, 0), ("tax", 3, 1, 1, 1), ("bdc", 1, 1, 0, 0)]
    assert rows[1]["back_to"] == {"1": 1}
    assert [(r["avg_wait_s"], r["avg_service_s"]) for r in rows] == [
        ((120 + 180 + 930) / 3, (300 + 300 + 120) / 3),
        ((120 + 60 + 150) / 3, (120 + 180 + 120) / 3),
        (360.0, 600.0)]
    # The case, once: in its route's service row (both cases are done), not its steps'.
    jl = rep.rows["service"]["jl"]
    assert (jl.issued, jl.served) == (2, 2)
    assert jl.avg_wait_s == ((120 + 120 + 180 + 60 + 360) + (930 + 150)) / 2
    assert jl.avg_service_s == ((300 + 120 + 300 + 180 + 600) + (120 + 120)) / 2
    assert rep.rows["service"]["gjj"].issued == 0 and rep.rows["service"]["tax"].served == 0
    assert rep.total.issued == 2
    # Each step sent on is served at its counter (and by its staff); a step
    # sent back is not; the last step's counter gets that visit only.
    desks = {c: (f.served, f.avg_wait_s, f.avg_service_s)
             for c, f in rep.rows["counter"].items() if f.served}
    assert desks == {"2": (3, (120 + 180 + 930) / 3, (300 + 300 + 120) / 3),
                     "3": (2, (60 + 150) / 2, (180 + 120) / 2),
                     "4": (1, 360.0, 600.0)}
    assert rep.rows["staff"]["s002"].served == 3 and rep.rows["staff"]["s004"].served == 1

    text = report.to_text(rep, m.config)
    assert "联合审批" in text and "gjj 公积金业务" in text
    lines = list(csv.DictReader(io.StringIO(report.to_csv(rep))))
    steps = {r["key"]: r for r in lines if r["scope"] == "route_step"}
    assert steps["jl/2"]["sent_back"] == "1" and steps["jl/2"]["back_to"] == "1:1"
    assert steps["jl/2"]["ended"] == "1" and steps["jl/3"]["avg_wait_s"] == "360.0"
    m.store.close()


def test_route_step_no_show_requeued_still_counts(tmp_path) -> None:
    """A case no-showed at a step and re-queued (过号重排) is served there when
    it comes back: the visit goes on (arrival at the step to the last call)."""
    m = Morning(f"sqlite:///{tmp_path / 'noshow.db'}")
    for n in (2, 3, 4):
        m.req("08:59:00", f"counter-{n}", "login", staff=f"s00{n}", pin=PIN)
    c2, c3, c4 = "counter-2", "counter-3", "counter-4"
    ticket = m.req("09:00:00", "kiosk-1", "issue", service="jl")["ticket"]
    m.req("09:01:00", c2, "call_next")                     # step 1: wait 60
    m.req("09:04:00", c2, "complete")                      # service 180 -> tax
    m.req("09:06:00", c3, "call_next")
    m.req("09:08:00", c3, "no_show")
    m.req("09:09:00", "kiosk-1", "requeue", ticket=ticket["id"])
    m.req("09:10:00", c3, "call_next")                     # wait 09:04 -> 09:10 = 360
    m.req("09:11:00", c3, "start")
    m.req("09:15:00", c3, "complete")                      # service 240 -> bdc
    m.req("09:16:00", c4, "call_next")                     # wait 60
    m.req("09:20:00", c4, "complete")                      # service 240

    rep = report.build(m.config, m.store, DAY, DAY, at("12:00:00"))
    rows = [s.row() for s in rep.routes["jl"].steps]
    assert [(r["arrivals"], r["served"]) for r in rows] == [(1, 1), (1, 1), (1, 1)]
    assert [(r["avg_wait_s"], r["avg_service_s"]) for r in rows] == [
        (60.0, 180.0), (360.0, 240.0), (60.0, 240.0)]
    jl = rep.rows["service"]["jl"]
    assert (jl.served, jl.no_show) == (1, 0)
    assert (jl.avg_wait_s, jl.avg_service_s) == (60 + 360 + 60, 180 + 240 + 240)
    desks = {c: (f.served, f.avg_wait_s, f.avg_service_s)
             for c, f in rep.rows["counter"].items() if f.served}
    assert desks == {"2": (1, 60.0, 180.0), "3": (1, 360.0, 240.0), "4": (1, 60.0, 240.0)}
    m.store.close()
