"""End to end: the real server on a free port, real websocket clients."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed

from server.config import Counter, Device
from tests.helpers.server import PIN, TOKEN, RunningServer, WsClient, _hash, small_config


@pytest.fixture
def hall(tmp_path):
    with RunningServer(small_config(f"sqlite:///{tmp_path / 'hall.db'}")) as srv:
        yield srv


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def _login(srv: RunningServer, n: int, staff: str | None = None) -> WsClient:
    c = srv.client(f"counter-{n}")
    reply = c.request("login", staff=staff or f"s00{n}", pin=PIN)
    assert reply["type"] == "ok", reply
    return c


# ------------------------------------------------------------------ HTTP
def test_http_pages(hall):
    assert _get(hall.http + "/healthz")[:1] == (200,)
    assert _get(hall.http + "/healthz")[2] == "ok\n"
    status, ctype, body = _get(hall.http + "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    assert "qhall_requests_total" in body or "# TYPE qhall_requests counter" in body
    assert "qhall_tickets_waiting" in body
    assert _get(hall.http + "/nope")[0] == 404
    assert _get(hall.http + "/t/doesnotexist")[0] == 404
    with hall.client("kiosk-1") as kiosk:
        ticket = kiosk.request("issue", service="gjj")["ticket"]
    status, ctype, body = _get(hall.http + f"/t/{ticket['check']}")
    assert status == 200 and "text/html" in ctype
    assert ticket["number"] in body and "公积金业务" in body and "等候中" in body


def test_metrics_count_requests_and_connections(hall):
    with hall.client("kiosk-1") as kiosk, hall.client("board-1"):
        kiosk.request("issue", service="gjj")
        kiosk.request("issue", service="nope")
        body = _get(hall.http + "/metrics")[2]
    assert 'qhall_requests_total{outcome="ok",type="issue"} 1.0' in body
    assert 'qhall_requests_total{outcome="not_found",type="issue"} 1.0' in body
    assert 'qhall_connections{role="display"} 1.0' in body
    assert 'qhall_tickets_waiting{service="gjj"} 1.0' in body
    assert 'qhall_request_seconds_bucket{le="0.01",type="issue"}' in body


# ----------------------------------------------------------------- hello
def test_welcome(hall):
    with hall.client("counter-3") as c:
        w = c.welcome
    assert w["type"] == "welcome" and w["re"] == "hello" and w["protocol"] == 1
    assert (w["role"], w["counter"]) == ("counter", 3)
    assert [s["id"] for s in w["hall"]["services"]] == ["gjj", "tax", "bdc"]
    assert w["hall"]["services"][0] | {} == w["hall"]["services"][0]
    assert {"id", "name", "name_en", "prefix", "category"} <= set(w["hall"]["services"][0])
    assert w["hall"]["counters"][2] == {"number": 3, "name": "3号窗口", "services": ["tax", "gjj"]}
    snap = w["snapshot"]
    assert set(snap["queues"]["gjj"]) >= {"waiting", "eta_s"}
    assert snap["counters"]["3"]["state"] == "closed"
    assert snap["recent_calls"] == []
    assert isinstance(w["seq"], int)


def test_bad_token_unauthorized_then_close_1008(hall):
    c = WsClient(hall.url, "kiosk-1", "wrong", expect_welcome=False)
    assert c.welcome["type"] == "error" and c.welcome["code"] == "unauthorized"
    with pytest.raises(ConnectionClosed) as info:
        c.recv(5)
    assert info.value.rcvd.code == 1008


def test_unknown_device_unauthorized(hall):
    c = WsClient(hall.url, "ghost", "x", expect_welcome=False)
    assert c.welcome["code"] == "unauthorized"


def test_unsupported_protocol_then_close_1002(hall):
    c = WsClient(hall.url, "kiosk-1", TOKEN("kiosk-1"), expect_welcome=False, protocol=2)
    assert c.welcome["code"] == "unsupported_protocol"
    with pytest.raises(ConnectionClosed) as info:
        c.recv(5)
    assert info.value.rcvd.code == 1002


def test_hello_must_come_first(hall):
    from websockets.sync.client import connect

    with connect(hall.url) as ws:
        ws.send(json.dumps({"type": "issue", "id": "1", "service": "gjj"}))
        reply = json.loads(ws.recv(5))
        assert reply["code"] == "bad_request" and reply["re"] == "1"
        with pytest.raises(ConnectionClosed):
            ws.recv(5)


def test_hello_timeout(hall, monkeypatch):
    import server.serve

    monkeypatch.setattr(server.serve, "HELLO_TIMEOUT_S", 0.3)
    from websockets.sync.client import connect

    with connect(hall.url) as ws, pytest.raises(ConnectionClosed) as info:
        ws.recv(5)
    assert info.value.rcvd.code == 1008


# ----------------------------------------------------------------- kiosk
def test_issue_numbers_events_and_errors(hall):
    with hall.client("kiosk-1") as kiosk, hall.client("board-1") as board:
        seq0 = board.welcome["seq"]
        t1 = kiosk.request("issue", service="gjj")["ticket"]
        t2 = kiosk.request("issue", service="gjj", priority="priority")["ticket"]
        t3 = kiosk.request("issue", service="tax")["ticket"]
        assert [t1["number"], t2["number"], t3["number"]] == ["A001", "A002", "B001"]
        assert t1["status"] == "waiting" and t1["priority"] == "normal"
        assert t2["priority"] == "priority"
        assert set(t1) >= {"id", "number", "service", "status", "priority", "issued_at",
                           "counter", "ahead", "eta_s", "check"}
        assert t1["issued_at"].endswith("+08:00")
        assert kiosk.request("issue", service="nope")["code"] == "not_found"
        events = board.drain()
        seqs = [e["seq"] for e in events]
        assert seqs == list(range(seq0 + 1, seq0 + 1 + len(seqs)))
        names = [e["name"] for e in events]
        assert names.count("ticket.issued") == 3 and "queue.changed" in names
        qc = [e["data"] for e in events if e["name"] == "queue.changed"][-1]
        assert qc["service"] == "tax" and qc["waiting"] == 1 and isinstance(qc["eta_s"], int)


def test_closed_and_quota(tmp_path):
    import datetime as dt

    cfg = small_config(f"sqlite:///{tmp_path / 'q.db'}", quota=2,
                       hours=((dt.time(0, 0), dt.time(0, 1)),))
    with RunningServer(cfg) as srv, srv.client("kiosk-1") as kiosk:
        # gjj is open one minute a day: at any other time it is closed.
        reply = kiosk.request("issue", service="gjj")
        assert reply["code"] in ("closed", "ok")
    cfg = small_config(f"sqlite:///{tmp_path / 'r.db'}", quota=2)
    with RunningServer(cfg) as srv, srv.client("kiosk-1") as kiosk:
        assert kiosk.request("issue", service="gjj")["type"] == "ok"
        assert kiosk.request("issue", service="gjj")["type"] == "ok"
        assert kiosk.request("issue", service="gjj")["code"] == "quota_reached"


# --------------------------------------------------------------- counter
def test_counter_needs_login_and_good_pin(hall):
    with hall.client("counter-1") as c:
        assert c.request("call_next")["code"] == "unauthorized"
        assert c.request("login", staff="s001", pin="9999")["code"] == "unauthorized"
        assert c.request("login", staff="nobody", pin=PIN)["code"] == "unauthorized"
        ok = c.request("login", staff="s001", pin=PIN)
        assert ok["type"] == "ok" and ok["staff"] == {"id": "s001", "name": "王芳"}
        assert c.request("call_next")["code"] == "queue_empty"


def test_login_throttled_after_failures(hall):
    with hall.client("counter-2") as c:
        for _ in range(5):
            assert c.request("login", staff="s002", pin="0000")["code"] == "unauthorized"
        reply = c.request("login", staff="s002", pin=PIN)
        assert reply["code"] == "rate_limited" and "try again in" in reply["message"]


def test_whole_day_of_a_ticket(hall):
    with hall.client("kiosk-1") as kiosk, hall.client("board-1") as board:
        counter = _login(hall, 1)
        ticket = kiosk.request("issue", service="gjj")["ticket"]
        called = counter.request("call_next")["ticket"]
        assert called["id"] == ticket["id"] and called["status"] == "called"
        assert called["counter"] == 1
        ev = board.wait_event("ticket.called")
        assert ev["data"]["counter"] == 1 and ev["data"]["counter_name"] == "1号窗口"
        assert ev["data"]["ticket"]["number"] == "A001"
        assert counter.request("recall")["ticket"]["id"] == ticket["id"]
        assert board.wait_event("ticket.recalled")["data"]["counter_name"] == "1号窗口"
        assert counter.request("start")["ticket"]["status"] == "serving"
        assert counter.request("start")["code"] == "conflict"
        assert counter.request("complete")["ticket"]["status"] == "done"
        board.wait_event("ticket.completed")
        assert counter.request("complete")["code"] == "conflict"
        assert counter.request("recall")["code"] == "conflict"
        with hall.client("board-2") as late:
            recent = late.welcome["snapshot"]["recent_calls"]
            assert recent[0]["ticket"]["number"] == "A001" and recent[0]["counter"] == 1
        counter.close()


def test_no_show_transfer_pause_queue(hall):
    with hall.client("kiosk-1") as kiosk, hall.client("board-1") as board:
        c1, c4 = _login(hall, 1), _login(hall, 4)
        a1 = kiosk.request("issue", service="gjj")["ticket"]
        a2 = kiosk.request("issue", service="gjj")["ticket"]
        b1 = kiosk.request("issue", service="tax")["ticket"]
        waiting = c1.request("queue")["waiting"]
        assert [t["number"] for t in waiting] == ["A001", "A002", "B001"]
        assert c1.request("call_next")["ticket"]["id"] == a1["id"]
        assert c1.request("no_show")["ticket"]["status"] == "no_show"
        board.wait_event("ticket.no_show")
        # transfer to a service keeps the number
        assert c1.request("call_next")["ticket"]["id"] == a2["id"]
        moved = c1.request("transfer", service="bdc")["ticket"]
        assert moved["number"] == "A002" and moved["service"] == "bdc"
        assert moved["status"] == "waiting"
        assert board.wait_event("ticket.transferred")["data"]["ticket"]["number"] == "A002"
        assert c4.request("call_next")["ticket"]["number"] == "A002"
        # transfer to a counter: only that counter takes it, first
        kiosk.request("issue", service="bdc")
        sent = c4.request("transfer", counter=1)["ticket"]
        assert sent["number"] == "A002"
        assert c1.request("queue")["waiting"][0]["number"] == "A002"
        assert c1.request("call_next")["ticket"]["number"] == "A002"
        assert c1.request("transfer")["code"] == "bad_request"
        c1.request("complete")
        # pause / resume are told to the board
        assert c1.request("pause", reason="午休")["type"] == "ok"
        assert board.wait_event("counter.paused")["data"]["counter"] == 1
        assert c1.request("call_next")["code"] == "conflict"
        assert c1.request("resume")["type"] == "ok"
        board.wait_event("counter.resumed")
        assert c1.request("call", ticket=b1["id"])["ticket"]["number"] == "B001"
        assert c1.request("call", ticket="nope")["code"] in ("not_found", "conflict")


def test_role_checks(hall):
    with hall.client("board-1") as board, hall.client("kiosk-1") as kiosk, \
            hall.client("evaluator-2") as pad:
        assert board.request("call_next")["code"] == "forbidden"
        assert board.request("issue", service="gjj")["code"] == "forbidden"
        assert kiosk.request("login", staff="s001", pin=PIN)["code"] == "forbidden"
        assert kiosk.request("call_next")["code"] == "forbidden"
        c1 = _login(hall, 1)
        t = kiosk.request("issue", service="gjj")["ticket"]
        c1.request("call_next")
        c1.request("start")
        c1.request("complete")
        # the pad of counter 2 cannot rate what counter 1 served
        assert pad.request("rate", ticket=t["id"], score=5)["code"] in ("forbidden", "conflict")
        with hall.client("evaluator-1") as own:
            assert own.request("rate", ticket=t["id"], score=1)["type"] == "ok"
            assert own.request("rate", ticket=t["id"], score=5)["code"] == "conflict"
        assert pad.request("rate", ticket=t["id"], score=9)["code"] == "bad_request"


def test_idempotent_call_next(hall):
    with hall.client("kiosk-1") as kiosk, hall.client("board-1") as board:
        c = _login(hall, 2)
        kiosk.request("issue", service="gjj")
        kiosk.request("issue", service="gjj")
        first = c.request("call_next", id="same-id")
        again = c.request("call_next", id="same-id")
        assert first == again and first["ticket"]["number"] == "A001"
        board.drain()
        assert [e["name"] for e in board.events].count("ticket.called") == 1
        # the same id from another device is another request
        i1 = kiosk.request("issue", id="tap-1", service="tax")
        i2 = kiosk.request("issue", id="tap-1", service="tax")
        assert i1 == i2
        with hall.client("kiosk-2") as other:
            assert other.request("issue", id="tap-1", service="tax")["ticket"]["number"] == "B002"


def test_replay_after_reconnect(hall):
    with hall.client("kiosk-1") as kiosk:
        board = hall.client("board-1")
        kiosk.request("issue", service="gjj")
        board.drain()
        last = board.events[-1]["seq"]
        board.close()
        c = _login(hall, 1)
        kiosk.request("issue", service="tax")
        c.request("call_next")
        c.request("start")
        with hall.client("board-1", since=last) as again:
            missed = again.drain()
        names = [e["name"] for e in missed]
        assert "ticket.called" in names and "ticket.issued" in names
        seqs = [e["seq"] for e in missed]
        assert seqs == list(range(last + 1, last + 1 + len(seqs)))
        assert seqs[-1] == again.welcome["seq"]


def test_thirty_counters_never_share_a_ticket(tmp_path):
    base = small_config(f"sqlite:///{tmp_path / 'big.db'}")
    counters = tuple(Counter(n, f"{n}号窗口", ("gjj",)) for n in range(1, 31))
    devices = base.devices + tuple(
        Device(f"counter-{n}", "counter", _hash(TOKEN(f"counter-{n}")), n) for n in range(5, 31))
    import dataclasses

    staff = tuple(dataclasses.replace(base.staff[0], id=f"x{n}") for n in range(1, 31))
    cfg = dataclasses.replace(base, counters=counters, devices=devices, staff=staff)
    with RunningServer(cfg) as srv:
        with srv.client("kiosk-1") as kiosk:
            for _ in range(120):
                kiosk.request("issue", service="gjj")
        clients = []
        for n in range(1, 31):
            c = srv.client(f"counter-{n}")
            assert c.request("login", staff=f"x{n}", pin=PIN)["type"] == "ok"
            clients.append(c)
        got: dict[int, list[str]] = {n: [] for n in range(1, 31)}
        barrier = threading.Barrier(30)

        def work(n: int, c: WsClient) -> None:
            barrier.wait()
            while True:
                r = c.request("call_next")
                if r["type"] == "error":
                    assert r["code"] == "queue_empty", r
                    return
                got[n].append(r["ticket"]["id"])
                assert c.request("complete")["type"] == "ok"

        threads = [threading.Thread(target=work, args=(n, c)) for n, c in
                   zip(range(1, 31), clients, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        ids = [i for lst in got.values() for i in lst]
        assert len(ids) == 120 and len(set(ids)) == 120
        for c in clients:
            c.close()


def test_idempotency_survives_a_restart(tmp_path):
    cfg = small_config(f"sqlite:///{tmp_path / 'idem.db'}")
    with RunningServer(cfg) as srv, srv.client("kiosk-1") as kiosk:
        first = kiosk.request("issue", id="tap-before-restart", service="gjj")
    with RunningServer(cfg) as srv, srv.client("kiosk-1") as kiosk:
        again = kiosk.request("issue", id="tap-before-restart", service="gjj")
        fresh = kiosk.request("issue", service="gjj")
    assert again == first and first["ticket"]["number"] == "A001"
    assert fresh["ticket"]["number"] == "A002"


def test_kiosk_issue_rate_limit_allows_a_burst_then_refuses(tmp_path):
    cfg = small_config(f"sqlite:///{tmp_path / 'rate.db'}")
    with RunningServer(cfg, kiosk_rate=6) as srv, srv.client("kiosk-1") as kiosk:
        # 6 per minute: a burst of 5 back to back, then one every 10 s.
        replies = [kiosk.request("issue", service="gjj") for _ in range(6)]
        assert [r["type"] for r in replies[:5]] == ["ok"] * 5
        assert replies[5]["code"] == "rate_limited"
        with srv.client("kiosk-2") as other:  # the budget is per kiosk
            assert other.request("issue", service="gjj")["type"] == "ok"
