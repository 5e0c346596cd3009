"""An extra counter for a service today: services assigned to a counter for the
day, audited, kept over a restart the same day, gone the next day."""

from __future__ import annotations

import datetime as dt

from server.features import default_features
from server.service import HallService
from server.store import Store
from tests.console.client import ConsoleClient, console_config, login
from tests.helpers.server import PIN, RunningServer, small_config


def test_a_supervisor_opens_an_extra_counter_for_a_service(tmp_path):
    cfg = console_config(f"sqlite:///{tmp_path / 'hall.db'}")
    with RunningServer(cfg) as srv:
        console = ConsoleClient(srv.port, login(srv.port))  # a supervisor
        assert console.request("assign", counter=4, services=["nope"])["code"] == "bad_request"
        assert console.request("assign", counter=9, services=["gjj"])["code"] == "not_found"
        assert console.request("assign", counter=4, services="gjj")["code"] == "bad_request"
        done = console.request("assign", counter=4, services=["gjj", "bdc"])
        assert done["type"] == "ok" and done["services"] == ["gjj", "bdc"]
        floor = console.wait_floor(lambda f: f["floor"]["counters"][3]["assigned"])
        assert floor["floor"]["counters"][3]["services"] == ["gjj", "bdc"]
        rows = [(r.action, r.target, r.detail) for r in srv.store.console.audit_log(cfg.id)]
        assert rows[0][:2] == ("assign", "counter:4")
        assert rows[0][2]["before"] == ["bdc"] and rows[0][2]["services"] == ["gjj", "bdc"]
        with srv.client("kiosk-1") as kiosk, srv.client("counter-4") as counter:
            ticket = kiosk.request("issue", service="gjj")["ticket"]
            assert counter.request("login", staff="s004", pin=PIN)["type"] == "ok"
            called = counter.request("call_next")
            assert called["type"] == "ok" and called["ticket"]["id"] == ticket["id"]
            counter_4 = next(c for c in counter.welcome["hall"]["counters"] if c["number"] == 4)
            assert counter_4["services"] == ["gjj", "bdc"]
        console.close()
    # A restart the same day keeps it.
    with RunningServer(cfg) as srv:
        assert srv.server.service.config.counter(4).services == ("gjj", "bdc")
        assert srv.server.service.base_config.counter(4).services == ("bdc",)
        console = ConsoleClient(srv.port, login(srv.port))
        assert console.request("assign", counter=4, services=[])["services"] == ["bdc"]
        assert srv.server.service.config.counter(4).services == ("bdc",)
        console.close()


def test_the_assignment_ends_with_the_day(tmp_path):
    tz = dt.timezone(dt.timedelta(hours=8))
    now = [dt.datetime(2026, 11, 30, 16, 0, tzinfo=tz)]
    cfg = small_config(f"sqlite:///{tmp_path / 'hall.db'}")
    with Store(cfg.database) as store:
        service = HallService(cfg, store, clock=lambda: now[0], features=default_features())
        hall = service.prepare_assignment(2, ("tax",))
        assert service.config.counter(2).services == ("gjj",)  # nothing before it is stored
        store.configs.assign(cfg.id, service.today(), 2, ("tax",), now[0], "s005")
        service.adopt_config(service.base_config, hall)
        assert service.hall.open_counters("tax") == 0  # nobody logged in yet
        assert service.config.counter(2).services == ("tax",)
        now[0] += dt.timedelta(hours=9)  # past midnight in the hall
        service.tick()
        assert service.config.counter(2).services == ("gjj",)
        assert service.hall.config.counter(2).services == ("gjj",)
