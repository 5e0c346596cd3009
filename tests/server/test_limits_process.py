"""Issue #11 holes, each against a real `qhall serve` process with its `[limits]`.

Limits belong to a device, a staff member or a source address, never to a
connection: reconnecting gains nothing, and wrong PINs survive a restart.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import time
import urllib.request
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from server.config import Limits, dumps
from tests.helpers.server import PIN, WsClient, dial, free_port, small_config
from tests.server.test_process import Proc

LIMITS = Limits(kiosk_issues_per_min=6, requests_per_s=20, hellos_per_min=6, pin_failures=5)


def _hall(tmp_path: Path, limits: Limits = LIMITS) -> Path:
    cfg = dataclasses.replace(small_config(f"sqlite:///{tmp_path / 'limits.db'}"), limits=limits)
    path = tmp_path / "hall.toml"
    path.write_text(dumps(cfg), encoding="utf-8")
    return path


@pytest.fixture
def serve(tmp_path):
    procs: list[Proc] = []

    def start(limits: Limits = LIMITS, port: int | None = None) -> Proc:
        proc = Proc(_hall(tmp_path, limits), port or free_port(), extra=())
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.p.poll() is None:
            proc.p.terminate()
            proc.p.wait(10)


def test_reconnecting_kiosk_cannot_exceed_its_issue_budget(serve):
    proc = serve()
    started = time.monotonic()
    outcomes = []
    for _ in range(10):  # a fresh connection for every two tickets
        with proc.client("kiosk-1") as kiosk:
            outcomes += [kiosk.request("issue", service="gjj")["type"] for _ in range(2)]
    refill = int((time.monotonic() - started) * 6 / 60)  # 6 per minute after the burst of 5
    assert outcomes.count("ok") <= 5 + refill + 1
    assert outcomes.count("error") >= 20 - (5 + refill + 1)
    with proc.client("kiosk-1") as kiosk:
        refused = kiosk.request("issue", service="gjj")
    assert refused["code"] == "rate_limited"
    with proc.client("kiosk-2") as other:  # the budget is per kiosk
        first = other.request("issue", id="tap-1", service="gjj")
        assert first["type"] == "ok"
        for _ in range(8):  # spend kiosk-2's budget
            other.request("issue", service="gjj")
    with proc.client("kiosk-2") as other:  # a resend after reconnect gets its ticket
        assert other.request("issue", id="tap-1", service="gjj") == first


def test_fault_repeats_collapse_and_changes_are_rate_limited(serve):
    proc = serve()
    with proc.client("board-2") as watcher, proc.client("board-1") as board:
        same = [board.request("report_fault", kind="other", message="screen dim")
                for _ in range(30)]
        assert all(r["type"] == "ok" for r in same)
        assert sum(1 for r in same if r.get("unchanged")) == 29
        changes = [board.request("report_fault", kind="other", message=f"fault {i}")
                   for i in range(8)]
        accepted = sum(1 for r in changes if r["type"] == "ok")
        # 6 changes back to back, then one per 10 s (30 + 8 requests stay within 20/s)
        assert accepted < 8 and changes[-1]["code"] == "rate_limited"
        assert "fault" in changes[-1]["message"]
        watcher.request("ping")
        faults = [e for e in watcher.drain() if e["name"] == "device.fault"]
        # one event for the first report, one per accepted change, none for repeats
        assert len(faults) == 1 + accepted
        snapshot = watcher.request("ping")  # still served
        assert snapshot["type"] == "ok"


def test_ping_flood_is_bounded_per_device_and_closed(serve):
    proc = serve()
    board = proc.client("board-1")
    started = time.monotonic()
    for i in range(300):
        try:
            board.ws.send(json.dumps({"type": "ping", "id": f"p{i}"}))
        except ConnectionClosed:
            break
    replies = []
    with pytest.raises(ConnectionClosed) as info:
        while True:
            replies.append(board.recv(10))
    elapsed = time.monotonic() - started
    ok = sum(1 for r in replies if r.get("type") == "ok")
    limited = sum(1 for r in replies if r.get("code") == "rate_limited")
    assert ok <= 40 + int(elapsed * 20) + 1  # burst of 2 s, then 20/s
    assert limited > 0 and info.value.rcvd.code == 1008
    # a reconnect starts with the same (spent) bucket, the other devices are served
    with proc.client("board-2") as other:
        assert other.request("ping")["type"] == "ok"
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{proc.port}/metrics", timeout=10)
    text = metrics.read().decode()
    # pings are never remembered: the idempotency cache did not grow with the flood
    assert "qhall_replies_remembered 0.0" in text


def test_pin_spray_is_locked_per_device_and_per_staff_and_survives_restart(serve):
    port = free_port()
    proc = serve(port=port)
    with proc.client("counter-1") as c1:
        for staff in ("s001", "s002", "s003", "s004", "s005"):
            assert c1.request("login", staff=staff, pin="0000")["code"] == "unauthorized"
        # the counter is locked, even for the right PIN of any clerk
        assert c1.request("login", staff="s005", pin=PIN)["code"] == "rate_limited"
    for device in ("counter-2", "counter-3"):  # s002 guessed from other counters
        with proc.client(device) as c:
            for _ in range(2):
                assert c.request("login", staff="s002", pin="9999")["code"] == "unauthorized"
    with proc.client("counter-4") as c4:
        assert c4.request("login", staff="s002", pin=PIN)["code"] == "rate_limited"
    proc.p.terminate()
    assert proc.p.wait(15) == 0
    again = serve(port=port)
    with again.client("counter-4") as c4, again.client("counter-1") as c1:
        assert c4.request("login", staff="s002", pin=PIN)["code"] == "rate_limited"
        assert c1.request("login", staff="s003", pin=PIN)["code"] == "rate_limited"
        # a staff member with one wrong PIN on record, at an unlocked counter: fine
        assert c4.request("login", staff="s003", pin=PIN)["type"] == "ok"


def _http(port: int, method: str, path: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp


def test_status_pages_are_limited_per_source_address(serve):
    proc = serve()
    codes = [_http(proc.port, "GET", f"/t/NOPE{i}").status for i in range(80)]
    assert codes[0] == 404 and 429 in codes
    first = codes.index(429)
    assert 10 <= first < 80
    resp = _http(proc.port, "GET", "/t/NOPE")
    assert resp.status == 429 and int(resp.getheader("Retry-After")) >= 1


def test_failed_hellos_are_limited_per_source_address(serve):
    proc = serve()  # hellos_per_min = 6: a burst of 5, then one per 10 s
    outcomes = []
    for _ in range(8):
        try:
            bad = WsClient(proc.url, "kiosk-1", "wrong-token", expect_welcome=False)
        except InvalidStatus as exc:  # refused at the upgrade, before any hash
            outcomes.append(exc.response.status_code)
            continue
        outcomes.append(bad.welcome["code"])
        bad.close()
    assert outcomes[:5] == ["unauthorized"] * 5
    assert outcomes[-1] in (429, "rate_limited")
    assert 429 in outcomes


@pytest.mark.parametrize("path", ["/", "/healthz", "/metrics", "/board", "/t/NOPE", "/nope"])
def test_pages_answer_get_only_and_send_security_headers(serve, path):
    proc = serve(Limits.off())
    got = _http(proc.port, "GET", path)
    assert got.status in (200, 404)
    for method in ("POST", "DELETE", "PUT", "PATCH"):
        refused = _http(proc.port, method, path)
        assert refused.status == 405 and refused.getheader("Allow") == "GET"
    for resp in (got, refused):
        csp = resp.getheader("Content-Security-Policy")
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
        assert resp.getheader("X-Content-Type-Options") == "nosniff"
        assert resp.getheader("X-Frame-Options") == "DENY"
        assert resp.getheader("Referrer-Policy") == "no-referrer"


def test_binary_frames_are_refused_and_never_requests(serve):
    proc = serve()
    with proc.client("kiosk-1") as kiosk:
        kiosk.ws.send(json.dumps({"type": "issue", "id": "b1", "service": "gjj"}).encode())
        reply = kiosk.recv()
        assert reply["type"] == "error" and reply["code"] == "bad_request"
        ticket = kiosk.request("issue", service="gjj")["ticket"]
        assert ticket["number"] == "A001"  # the binary "issue" took no number
    ws = dial(proc.url)
    ws.send(json.dumps({"type": "hello", "id": "h", "protocol": 1, "device": "kiosk-1",
                        "token": "tok-kiosk-1", "since": None}).encode())
    assert json.loads(ws.recv(timeout=10))["code"] == "bad_request"
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=10)


def test_one_staff_member_is_open_at_one_counter(serve):
    proc = serve()
    with proc.client("counter-1") as c1, proc.client("counter-2") as c2, \
            proc.client("board-1") as board, proc.client("kiosk-1") as kiosk:
        assert c1.request("login", staff="s001", pin=PIN)["type"] == "ok"
        assert kiosk.request("issue", service="gjj")["type"] == "ok"
        assert c1.request("call_next")["type"] == "ok"
        # a citizen is at counter 1: the clerk cannot walk off with the counter open
        busy = c2.request("login", staff="s001", pin=PIN)
        assert busy["code"] == "conflict" and "A001" in busy["message"]
        assert c1.request("no_show")["type"] == "ok"
        assert c2.request("login", staff="s001", pin=PIN)["type"] == "ok"
        closed = board.wait_event("counter.closed", where=lambda e: e["data"]["counter"] == 1)
        opened = board.wait_event("counter.opened", where=lambda e: e["data"]["counter"] == 2)
        assert closed["seq"] < opened["seq"]
        c1.wait_event("counter.closed")
        assert c1.request("call_next")["code"] == "unauthorized"
    with proc.client("board-2") as fresh:
        counters = fresh.welcome["snapshot"]["counters"]
        assert counters["1"]["state"] == "closed"
        assert counters["2"]["staff"]["id"] == "s001"


def test_booking_phone_is_hashed_with_the_key_outside_the_database(tmp_path, monkeypatch):
    import datetime as dt
    import hashlib
    import hmac

    import sqlalchemy as sa

    from server.features.booking import add_working_days
    from tests.features.test_booking import booking_config

    key = "cd" * 32
    monkeypatch.setenv("QHALL_PII_KEY", key)  # the server process inherits it
    cfg = dataclasses.replace(booking_config(f"sqlite:///{tmp_path / 'pii.db'}"), limits=LIMITS)
    path = tmp_path / "pii.toml"
    path.write_text(dumps(cfg), encoding="utf-8")
    proc = Proc(path, free_port(), extra=())
    try:
        today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
        day = add_working_days(today, 1)
        with proc.client("booking-1") as portal:
            reply = portal.request("book", service="gjj", slot=f"{day.isoformat()}T10:00",
                                   name="王芳", phone="13812345678")
        assert reply["type"] == "ok", reply
        assert reply["booking"]["phone"] == "*******5678"
    finally:
        proc.p.terminate()
        proc.p.wait(15)
    engine = sa.create_engine(cfg.database)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT phone_hash, phone_mask FROM bookings")).one()
        kept = conn.execute(sa.text("SELECT count(*) FROM hall_secrets")).scalar()
    engine.dispose()
    digest = hmac.new(bytes.fromhex(key), b"phone\x0013812345678",
                      hashlib.sha256).hexdigest()
    assert row == (digest, "*******5678") and kept == 0
    assert not (tmp_path / "pii.db.pii-key").exists()  # the environment's key was used
    assert "13812345678" not in proc.output()
