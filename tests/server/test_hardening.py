"""Issue #11 holes, each against a real ``qhall serve`` process.

1. One frame bricked the hall (a lone surrogate in report_fault).
2. A surrogate in a request id or a hello token killed the connection (1011).
3. Bad hellos ran scrypt on the event loop and stalled every device.
4. A replay to a client that never reads materialised the whole log.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import threading
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed

from server.auth import hash_secret
from server.config import dumps
from server.core import Event
from server.store import Store
from tests.helpers.server import (
    PIN,
    TOKEN,
    WsClient,
    dial,
    free_port,
    healthz,
    small_config,
)
from tests.server.test_process import Proc


def _serve(tmp_path, cfg=None) -> Proc:
    cfg = cfg or small_config(f"sqlite:///{tmp_path / 'hall.db'}")
    path = tmp_path / "hall.toml"
    path.write_text(dumps(cfg), encoding="utf-8")
    return Proc(path, free_port())


@pytest.fixture
def proc(tmp_path):
    p = _serve(tmp_path)
    yield p
    p.p.terminate()
    p.p.wait(15)


def _metric(proc: Proc, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{proc.port}/metrics", timeout=5) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _closed_code(ws) -> int | None:
    try:
        while True:
            ws.recv(5)
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None


def test_surrogate_fault_report_is_refused_and_the_hall_keeps_serving(proc):
    with proc.client("board-1") as board:
        board.send_raw('{"type":"report_fault","id":"x","kind":"other","message":"\\ud800"}')
        reply = board.wait_reply("x")
        assert (reply["type"], reply["code"]) == ("error", "bad_request")
        assert "surrogate" in reply["message"]
        # The connection stays open and nothing changed.
        assert board.request("ping")["type"] == "ok"
    with proc.client("kiosk-1") as kiosk:
        assert kiosk.welcome["snapshot"]["faults"] == []
        assert kiosk.request("issue", service="gjj")["type"] == "ok"
    assert healthz(proc.port) == (200, "ok\n")
    assert "Traceback" not in proc.output()


def test_surrogate_in_request_id_and_hello_token_is_a_clean_refusal(proc):
    with proc.client("board-1") as board:
        board.send_raw('{"type":"ping","id":"\\ud800"}')
        reply = board.recv()
        assert (reply["code"], reply["re"]) == ("bad_request", None)
        assert board.request("ping")["type"] == "ok"  # still open
    for field, value in (("token", "\\ud800"), ("id", "\\udfff"), ("device", "\\ud800x")):
        hello = {"type": "hello", "id": "h", "protocol": 1, "device": "board-1",
                 "token": TOKEN("board-1"), "since": None}
        text = json.dumps(hello).replace(json.dumps(hello[field]), f'"{value}"')
        ws = dial(proc.url)
        ws.send(text)
        reply = json.loads(ws.recv(5))
        assert reply["type"] == "error" and reply["code"] in ("bad_request", "unauthorized")
        assert _closed_code(ws) == 1008
    with proc.client("board-2") as fresh:
        assert fresh.request("ping")["type"] == "ok"
    assert "Traceback" not in proc.output()
    assert "1011" not in proc.output()


@pytest.mark.slow
def test_bad_hello_flood_does_not_stall_a_logged_in_board(tmp_path):
    # Full-cost hashes (as `qhall hash-secret` writes them) for the devices the
    # flood targets: each wrong token costs the server a real scrypt.
    cfg = small_config(f"sqlite:///{tmp_path / 'hall.db'}")
    costly = {"kiosk-1", "kiosk-2"}
    devices = tuple(dataclasses.replace(d, token_hash=hash_secret(TOKEN(d.id)))
                    if d.id in costly else d for d in cfg.devices)
    proc = _serve(tmp_path, dataclasses.replace(cfg, devices=devices))
    stop = threading.Event()
    refusals: dict[str, int] = {}
    lock = threading.Lock()

    def flood() -> None:
        while not stop.is_set():
            try:
                ws = dial(proc.url)
                ws.send(json.dumps({"type": "hello", "id": "h", "protocol": 1,
                                    "device": "kiosk-1", "token": "guess", "since": None}))
                code = json.loads(ws.recv(10)).get("code")
                ws.close()
            except (ConnectionClosed, OSError, TimeoutError):
                continue
            with lock:
                refusals[code] = refusals.get(code, 0) + 1

    try:
        with proc.client("board-1") as board:
            threads = [threading.Thread(target=flood) for _ in range(60)]
            for t in threads:
                t.start()
            try:
                # Poll (no sleeps) until the pool has refused some hellos
                # outright, answering the board's pings meanwhile.
                answered = 0
                for i in range(100_000):
                    assert board.request("ping", id=f"p{i}", timeout=10)["type"] == "ok"
                    answered += 1
                    with lock:
                        if refusals.get("rate_limited", 0) >= 20 and answered >= 200:
                            break
            finally:
                stop.set()
                for t in threads:
                    t.join(30)
        assert refusals.get("rate_limited", 0) >= 20  # what did not fit was refused at once
        assert refusals.get("unauthorized", 0) >= 1  # what fitted was checked
        assert _metric(proc, 'qhall_auth_checks_total{outcome="refused"}') >= 20
        # The right token still gets in (and is remembered: no pool needed again).
        with WsClient(proc.url, "kiosk-1", TOKEN("kiosk-1")) as kiosk:
            assert kiosk.request("issue", service="gjj")["type"] == "ok"
        assert "Traceback" not in proc.output()
    finally:
        proc.p.terminate()
        proc.p.wait(15)


@pytest.mark.slow
def test_replay_to_clients_that_never_read_is_paged_and_bounded(tmp_path):
    cfg = small_config(f"sqlite:///{tmp_path / 'hall.db'}")
    events = 40_000
    with Store(cfg.database) as store:
        # A long log (~20 MB as frames, more than the kernel buffers of a
        # connection hold) written directly, in one transaction.
        store.commit(cfg.id, [Event("device.fault", {"device": f"board-{i}", "kind": "other",
                                                     "message": "x" * 400})
                              for i in range(events)])
    proc = _serve(tmp_path, cfg)
    idle = []
    try:
        for _ in range(3):
            for device in ("board-1", "board-2", "admin-1", "kiosk-2"):
                # max_queue=1: the client library stops reading at once.
                sock = socket.create_connection(("127.0.0.1", proc.port))
                # A small receive window: the kernel holds little for it either.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                ws = dial(proc.url, max_queue=1, sock=sock)
                ws.send(json.dumps({"type": "hello", "id": "h", "protocol": 1, "device": device,
                                    "token": TOKEN(device), "since": 0}))
                idle.append(ws)
        assert len(idle) == 12
        deadline_checks = 0
        while _metric(proc, "qhall_replays_active") < 12:
            deadline_checks += 1
            assert deadline_checks < 2000, "replays did not start"
        # Each non-reader holds at most a page beyond the drain mark, never the log.
        peak = _metric(proc, "qhall_output_buffer_peak_bytes")
        assert peak < 1024 * 1024
        # The server's own buffers hold a page or so per connection (the old
        # replay put the whole log there: ~20 MB each).
        assert _metric(proc, "qhall_output_buffered_bytes") < 12 * 512 * 1024
        # What went out is what the sockets took, far from the whole log each.
        assert _metric(proc, "qhall_replay_events_total") < 12 * events / 2
        # Meanwhile the hall serves, and a reader that reads gets every event
        # once, in order, with live events arriving during its replay.
        with proc.client("kiosk-1") as kiosk, proc.client("board-1", since=0) as reader:
            seqs = []
            issued = 0
            while not seqs or seqs[-1] < events + issued * 2 or issued < 5:
                if issued < 5:
                    assert kiosk.request("issue", service="gjj")["type"] == "ok"
                    issued += 1
                msg = reader.recv(10)
                if msg.get("type") == "event":
                    seqs.append(msg["seq"])
            reader.drain(0.3)
            seqs += [e["seq"] for e in reader.events if e["seq"] > seqs[-1]]
            assert seqs == list(range(1, seqs[-1] + 1))
            assert seqs[-1] == kiosk.request("ping")["seq"]
        assert _metric(proc, "qhall_output_buffer_peak_bytes") < 1024 * 1024
    finally:
        for ws in idle:
            ws.socket.close()  # they never read: no closing handshake either
        proc.p.terminate()
        proc.p.wait(15)
    assert not re.search(r"Traceback", proc.output())


def test_login_checked_off_the_loop_keeps_the_connection_order(proc):
    """A login waits for its PIN check in the pool; the counter's next frame,
    sent right behind it, is answered after it (and sees the login)."""
    with proc.client("counter-1") as desk, proc.client("kiosk-1") as kiosk:
        assert kiosk.request("issue", service="gjj")["type"] == "ok"
        desk.send_raw(json.dumps({"type": "login", "id": "l1", "staff": "s001", "pin": PIN}))
        desk.send_raw(json.dumps({"type": "call_next", "id": "c1"}))
        desk.send_raw(json.dumps({"type": "login", "id": "l1", "staff": "s001", "pin": PIN}))
        replies = []
        while len(replies) < 3:
            msg = desk.recv()
            if msg["type"] in ("ok", "error"):
                replies.append(msg)
        assert [r["re"] for r in replies] == ["l1", "c1", "l1"]
        assert replies[0]["staff"]["id"] == "s001"
        assert replies[1]["type"] == "ok" and replies[1]["ticket"]["number"] == "A001"
        assert replies[2] == replies[0]  # the repeat gets the first reply
        wrong = desk.request("login", staff="s002", pin="0000")
        assert (wrong["type"], wrong["code"]) == ("error", "unauthorized")
