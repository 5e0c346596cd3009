"""Hall flows over the wire, against the real server: transfers never strand a
ticket (refused to a closed counter; back to the head when the counter closes
or stays paused past ``transfer_timeout``, driven by the server's ticker with
an injected clock, across a restart), 过号重排 by scanned QR text or number,
撤销过号 and the missed list."""

from __future__ import annotations

import pytest

import server.serve
from server.config import Dispatch
from tests.helpers.fakes import FakeClock
from tests.helpers.server import PIN, RunningServer, WsClient, small_config


@pytest.fixture(autouse=True)
def fast_ticker(monkeypatch):
    # The ticker's period only bounds how soon a due transfer returns.
    monkeypatch.setattr(server.serve, "TICK_S", 0.05)


def _login(srv: RunningServer, n: int) -> WsClient:
    c = srv.client(f"counter-{n}")
    assert c.request("login", staff=f"s00{n}", pin=PIN)["type"] == "ok"
    return c


def _config(tmp_path, **dispatch):
    return small_config(f"sqlite:///{tmp_path / 'hall.db'}", dispatch=Dispatch(**dispatch))


def test_transfer_to_a_closed_counter_is_refused(tmp_path):
    with RunningServer(_config(tmp_path)) as srv, srv.client("kiosk-1") as kiosk:
        c1 = _login(srv, 1)
        kiosk.request("issue", service="gjj")
        c1.request("call_next")
        refused = c1.request("transfer", counter=2)
        assert refused["type"] == "error" and refused["code"] == "closed"
        assert "2号窗口" in refused["message"]
        assert c1.request("recall")["ticket"]["number"] == "A001"  # still this counter's


def test_ticket_returns_to_the_head_when_its_counter_logs_out(tmp_path):
    with RunningServer(_config(tmp_path)) as srv, srv.client("board-1") as board, \
            srv.client("kiosk-1") as kiosk:
        c1, c2 = _login(srv, 1), _login(srv, 2)
        for _ in range(3):
            kiosk.request("issue", service="gjj")
        c1.request("call_next")
        assert c1.request("transfer", counter=2)["ticket"]["to_counter"] == 2
        assert c2.request("logout")["type"] == "ok"
        back = board.wait_event("ticket.transferred",
                                where=lambda e: e["data"].get("reason") == "counter_closed")
        assert back["data"]["ticket"]["number"] == "A001"
        assert back["data"]["from_counter"] == 2 and back["data"]["to_counter"] is None
        assert c1.request("call_next")["ticket"]["number"] == "A001"


def test_ticket_returns_after_transfer_timeout_even_across_a_restart(tmp_path):
    clock = FakeClock()
    cfg = _config(tmp_path, transfer_timeout=600)
    with RunningServer(cfg, clock=clock) as srv, srv.client("kiosk-1") as kiosk:
        c1, c2 = _login(srv, 1), _login(srv, 2)
        kiosk.request("issue", service="gjj")
        kiosk.request("issue", service="gjj")
        c1.request("call_next")
        c1.request("transfer", counter=2)
        assert c2.request("pause", reason="会议")["type"] == "ok"
        clock.advance(300)
    # A restarted server still knows since when counter 2 is paused.
    with RunningServer(cfg, clock=clock) as srv, srv.client("board-1") as board:
        clock.advance(299)
        board.drain(0.3)  # several ticks: not due yet
        assert not [e for e in board.events if e["name"] == "ticket.transferred"]
        clock.advance(1)
        back = board.wait_event("ticket.transferred")
        assert back["data"]["reason"] == "transfer_timeout"
        assert back["data"]["ticket"]["number"] == "A001" and back["data"]["ticket"]["ahead"] == 0
        c1 = srv.client("counter-1")
        assert c1.request("login", staff="s001", pin=PIN)["type"] == "ok"
        assert c1.request("call_next")["ticket"]["number"] == "A001"


def test_kiosk_requeues_a_no_show_by_scanned_qr_text_or_number(tmp_path):
    with RunningServer(_config(tmp_path)) as srv, srv.client("kiosk-1") as kiosk:
        c1 = _login(srv, 1)
        a1 = kiosk.request("issue", service="gjj")["ticket"]
        a2 = kiosk.request("issue", service="gjj")["ticket"]
        assert kiosk.request("requeue", check=a2["check"])["code"] == "conflict"  # waiting
        assert kiosk.request("requeue", check="ZZZZZZZZ")["code"] == "not_found"
        assert kiosk.request("requeue", number="A999")["code"] == "not_found"
        c1.request("call_next")
        c1.request("no_show")
        back = kiosk.request("requeue", check=a1["check"])
        assert back["type"] == "ok" and back["ticket"]["number"] == "A001"
        assert back["ticket"]["status"] == "waiting"
        c1.request("call_next")  # A002
        c1.request("complete")
        c1.request("call_next")  # A001 again
        c1.request("no_show")
        assert kiosk.request("requeue", number="a001")["ticket"]["status"] == "waiting"


def test_no_show_undo_and_missed_list(tmp_path):
    with RunningServer(_config(tmp_path)) as srv, srv.client("board-1") as board, \
            srv.client("kiosk-1") as kiosk:
        c1 = _login(srv, 1)
        a1 = kiosk.request("issue", service="gjj")["ticket"]
        c1.request("call_next")
        c1.request("no_show")
        missed = c1.request("missed")["missed"]
        assert [t["number"] for t in missed] == ["A001"]
        undone = c1.request("unmiss", ticket=a1["id"])
        assert undone["type"] == "ok" and undone["ticket"]["status"] == "called"
        ev = board.wait_event("ticket.no_show_undone")
        assert ev["data"]["counter"] == 1
        assert c1.request("missed")["missed"] == []
        assert c1.request("start")["ticket"]["status"] == "serving"
        assert c1.request("unmiss", ticket=a1["id"])["code"] == "conflict"


def _page(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


def test_public_url_in_the_welcome_and_honest_estimate_on_the_t_page(tmp_path):
    import dataclasses

    cfg = dataclasses.replace(_config(tmp_path), public_url="https://qh.example.gov.cn")
    with RunningServer(cfg) as srv, srv.client("kiosk-1") as kiosk:
        assert kiosk.welcome["hall"]["public_url"] == "https://qh.example.gov.cn"
        queues = kiosk.welcome["snapshot"]["queues"]
        assert queues["gjj"]["open_counters"] == 0
        t = kiosk.request("issue", service="gjj")["ticket"]
        body = _page(f"{srv.http}/t/{t['check']}")
        # Nobody serves gjj yet: never "no wait", never a made-up minute count.
        assert "暂无窗口办理" in body and "no counter open now" in body
        _login(srv, 2)  # counter 2 serves gjj only and is free
        body = _page(f"{srv.http}/t/{t['check']}")
        assert "即将叫号" in body and "1 分钟" not in body


def test_ticker_returns_stranded_transfers_then_closes_the_day(tmp_path):
    from server.features import default_features
    from server.service import HallService
    from server.store import Store

    clock = FakeClock()  # 09:00 in the hall
    cfg = _config(tmp_path, transfer_timeout=60)
    store = Store(cfg.database)
    try:
        svc = HallService(cfg, store, clock=clock, features=default_features())

        def run(events):
            store.commit(cfg.id, events, at=clock())

        run(svc.hall.open_counter(1, "s001", "王芳"))
        run(svc.hall.open_counter(2, "s002", "李强"))
        run(svc.hall.issue("gjj"))
        run(svc.hall.call_next(1))
        run(svc.hall.transfer(1, to_counter=2))
        run(svc.hall.pause(2))
        assert svc.tick() == []
        clock.advance(60)
        sent = svc.tick()
        assert [m["name"] for m in sent][0] == "ticket.transferred"
        assert sent[0]["data"]["reason"] == "transfer_timeout" and sent[0]["seq"] > 0
        svc.reload()  # what was sent is what the store holds
        assert svc.hall.queue(1)[0].number == "A001"
        clock.advance(16 * 3600)  # past midnight: the close-out
        names = [m["name"] for m in svc.tick()]
        assert "ticket.cancelled" in names
    finally:
        store.close()
