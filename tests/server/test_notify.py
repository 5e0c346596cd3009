"""Webhooks end to end: a real server, a real HTTP sink on loopback.

The sink is ``examples/notify_sink.py`` (the receiver integrators start
from) with a switch to answer 500 or to hang, and a log of every attempt.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

from server.config import Notify
from tests.helpers.server import PIN, RunningServer, WsClient, small_config
from tests.helpers.sink import SECRET, ScriptedSink, notify_sink, sink_factory

__all__ = ["sink_factory"]  # a fixture the tests below use

PHONE = "138 1234 5678"


def hall_with(tmp_path: Path, sink: ScriptedSink, soon_ahead: int = 1) -> RunningServer:
    cfg = small_config(f"sqlite:///{tmp_path / 'hall.db'}")
    cfg = dataclasses.replace(cfg, soon_ahead=soon_ahead, notify=(Notify(
        sink.url, ("ticket.soon", "ticket.called", "ticket.no_show", "rating.bad"),
        secret=SECRET.decode()),))
    return RunningServer(cfg)


def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def remote(srv: RunningServer, phone: str = PHONE, service: str = "gjj") -> dict[str, Any]:
    status, ticket = post(f"{srv.http}/api/v1/halls/main/tickets",
                          {"service": service, "phone": phone})
    assert status == 201, ticket
    return ticket


def login(srv: RunningServer, n: int = 2) -> WsClient:
    counter = srv.client(f"counter-{n}")
    assert counter.request("login", staff=f"s00{n}", pin=PIN)["type"] == "ok"
    return counter


def metric(srv: RunningServer, event: str, outcome: str) -> float:
    _status, text = get(f"{srv.http}/metrics")
    name = f'qhall_notify_deliveries_total{{event="{event}",hall="main",outcome="{outcome}"}} '
    found = re.search(re.escape(name) + r"([0-9.e+]+)", text)
    return float(found.group(1)) if found else 0.0


def wait_metric(srv: RunningServer, event: str, outcome: str, value: float) -> None:
    """The server counts a delivery once the sink's answer is back: poll for it."""
    deadline = time.monotonic() + 20
    while metric(srv, event, outcome) != value:
        assert time.monotonic() < deadline, (event, outcome, metric(srv, event, outcome))
        time.sleep(0.05)


def test_soon_called_no_show_arrive_once_each_signed(tmp_path, sink_factory) -> None:
    sink = sink_factory()
    with hall_with(tmp_path, sink, soon_ahead=1) as srv:
        counter = login(srv)  # counter 2 serves gjj only
        with srv.client("kiosk-1") as kiosk:  # (closed before unread events pile up)
            kiosk.request("issue", service="gjj")
            kiosk.request("issue", service="gjj")
        mine = remote(srv)
        assert (mine["remote"], mine["present"], mine["ahead"]) == (True, False, 2)
        assert counter.request("call_next")["ticket"]["number"] == "A001"
        sink.wait_for(lambda: len(sink.received) == 1)  # now 1 ahead: soon
        status, arrived = post(f"{srv.http}/api/v1/tickets/{mine['check']}/arrived", {})
        assert (status, arrived["present"]) == (200, True)
        counter.request("complete")
        counter.request("call_next")
        counter.request("complete")
        called = counter.request("call_next")["ticket"]
        assert called["number"] == mine["number"]
        counter.request("no_show")
        sink.wait_for(lambda: len(sink.received) == 3)
        # Another phone's ticket: its soon arriving shows nothing more came for ours.
        other = remote(srv, phone="13900001111")
        sink.wait_for(lambda: len(sink.received) == 4)
        wait_metric(srv, "ticket.soon", "sent", 2)

    received = sink.received
    assert [(b["event"], b["ticket"]["number"]) for b in received] == [
        ("ticket.soon", mine["number"]), ("ticket.called", mine["number"]),
        ("ticket.no_show", mine["number"]), ("ticket.soon", other["number"])]
    for body in received[:3]:
        assert body["hall"] == "main" and body["phone"] == "13812345678"
        assert body["ticket"]["check"] == mine["check"] and body["at"]
    assert received[1]["counter"] == 2 and received[1]["counter_name"] == "2号窗口"
    # Every attempt was signed with the shared secret (checked by the example sink).
    for headers, raw in sink.attempts:
        assert notify_sink.valid(SECRET, raw, headers["X-Qhall-Signature"])
        assert not notify_sink.valid(b"another secret", raw, headers["X-Qhall-Signature"])


def test_a_failing_sink_gets_the_same_delivery_until_it_accepts(tmp_path, sink_factory) -> None:
    sink = sink_factory(fail=2)
    with hall_with(tmp_path, sink, soon_ahead=3) as srv:
        mine = remote(srv)  # nobody ahead: soon at once
        sink.wait_for(lambda: len(sink.received) == 1)
        wait_metric(srv, "ticket.soon", "sent", 1)
        assert metric(srv, "ticket.soon", "retried") == 2
    assert sink.received[0]["ticket"]["number"] == mine["number"]
    ids = {headers["X-Qhall-Delivery"] for headers, _raw in sink.attempts}
    bodies = {raw for _headers, raw in sink.attempts}
    assert len(sink.attempts) == 3 and len(ids) == 1 and len(bodies) == 1


def test_dispatch_goes_on_while_the_sink_hangs(tmp_path, sink_factory) -> None:
    sink = sink_factory()
    sink.hang.set()
    with hall_with(tmp_path, sink, soon_ahead=3) as srv, srv.client("kiosk-1") as kiosk:
        mine = remote(srv)  # soon at once: the sink now holds that request
        with sink.arrived:
            assert sink.arrived.wait_for(lambda: len(sink.attempts) == 1, 20)
        counter = login(srv)
        # The hall answers everything while the webhook hangs.
        for _ in range(5):
            assert kiosk.request("issue", service="gjj")["type"] == "ok"
        assert counter.request("call_next")["type"] == "ok"
        assert counter.request("complete")["type"] == "ok"
        status, body = get(f"{srv.http}/api/v1/tickets/{mine['check']}")
        assert status == 200 and json.loads(body)["number"] == mine["number"]
        assert not sink.received
        # The held delivery is still in the outbox, and /metrics says so.
        assert "qhall_notify_pending 1.0" in get(f"{srv.http}/metrics")[1]
        sink.release.set()
        sink.wait_for(lambda: len(sink.received) == 1)
        deadline = time.monotonic() + 20
        while "qhall_notify_pending 0.0" not in get(f"{srv.http}/metrics")[1]:
            assert time.monotonic() < deadline, "the accepted delivery stayed in the outbox"
            time.sleep(0.05)
    assert sink.received[0]["event"] == "ticket.soon"


def test_bad_rating_goes_to_the_supervisor_webhook(tmp_path, sink_factory) -> None:
    sink = sink_factory()
    with hall_with(tmp_path, sink) as srv, srv.client("kiosk-1") as kiosk:
        counter = login(srv)
        kiosk.request("issue", service="gjj")
        ticket = counter.request("call_next")["ticket"]
        counter.request("start")
        counter.request("complete")
        with srv.client("evaluator-2") as pad:
            assert pad.request("rate", ticket=ticket["id"], score=1)["type"] == "ok"
        sink.wait_for(lambda: len(sink.received) == 1)
    body = sink.received[0]
    assert (body["event"], body["score"], body["counter"], body["phone"]) == (
        "rating.bad", 1, 2, None)



def test_a_fault_naming_a_ticket_commits_in_a_group_with_ticket_events(tmp_path) -> None:
    """A fault's ``ticket`` is the text a device reported, not a wire ticket:
    the webhook watcher (run inside the commit) must not take it for one.
    The fuzzer found a group of ``issue`` + ``report_fault`` answered
    ``internal`` (the watcher only looks at commits that hold ticket events)."""
    import datetime as dt

    from server.features import default_features
    from server.notify.sender import load_sinks
    from server.notify.watch import Watcher
    from server.service import HallService, Session
    from server.store import Store

    now = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)
    cfg = dataclasses.replace(small_config(f"sqlite:///{tmp_path / 'g.db'}"), notify=(
        Notify("http://127.0.0.1:9/hook", ("ticket.called",), secret=SECRET.decode()),))
    store = Store(cfg.database, clock=lambda: now)
    with store:
        svc = HallService(cfg, store, clock=lambda: now, features=default_features())
        watcher = Watcher(cfg, load_sinks(cfg), lambda: svc.hall, store, lambda: None,
                          lambda: now)
        store.stagers[cfg.id] = watcher.stage
        kiosk = Session(cfg.device("kiosk-1"))
        replies = svc.handle_group([
            (kiosk, {"type": "issue", "id": "i1", "service": "gjj"}),
            (kiosk, {"type": "report_fault", "id": "f1", "kind": "paper_out",
                     "message": "缺纸", "ticket": "A001"}),
        ])
        assert [r.message["type"] for r in replies] == ["ok", "ok"], replies
        names = [e["name"] for e in store.events_since(cfg.id, 0)]
        assert "ticket.issued" in names and "device.fault" in names
