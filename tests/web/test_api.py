"""``/api/v1`` and ``/take/`` on a real server: remote tickets and their guardrails."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import urllib.error
import urllib.request
from typing import Any

import pytest

from server.config import Limits, Notify
from tests.helpers.server import PIN, RunningServer, small_config

NOWHERE = "http://127.0.0.1:9/nobody"


def call(url: str, body: Any = None, method: str | None = None,
         raw: bytes | None = None) -> tuple[int, dict[str, str], Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data, method=method or ("POST" if data else "GET"),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, headers, text = r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as exc:
        status, headers, text = exc.code, dict(exc.headers), exc.read().decode()
    is_json = headers.get("Content-Type", "").startswith("application/json")
    return status, headers, json.loads(text) if is_json else text


@pytest.fixture
def srv(tmp_path):
    # A webhook for the phones (nobody listens; deliveries retry in the
    # background): the hall keeps the numbers while the tickets are active.
    cfg = dataclasses.replace(
        small_config(f"sqlite:///{tmp_path / 'hall.db'}", quota=3),
        notify=(Notify(NOWHERE, ("ticket.called",), secret="k"),))
    limits = Limits(kiosk_issues_per_min=0, requests_per_s=0, hellos_per_min=0,
                    pin_failures=5, remote_issues_per_hour=4)
    server = RunningServer(cfg, limits=limits)
    with server:
        yield server


def take(srv: RunningServer, phone: str, service: str = "gjj") -> tuple[int, Any]:
    status, _headers, body = call(f"{srv.http}/api/v1/halls/main/tickets",
                                  {"service": service, "phone": phone})
    return status, body


def test_remote_ticket_object_and_lookup(srv, tmp_path) -> None:
    status, ticket = take(srv, "+86 138-1234-5678")
    assert status == 201
    assert (ticket["number"], ticket["remote"], ticket["present"], ticket["status"]) == (
        "A001", True, False, "waiting")
    assert len(ticket["check"]) == 8 and "phone" not in json.dumps(ticket)
    status, _h, again = call(f"{srv.http}/api/v1/tickets/{ticket['check']}")
    assert status == 200 and again["id"] == ticket["id"] and again["present"] is False
    # A kiosk ticket through the same API: remote false, present true.
    with srv.client("kiosk-1") as kiosk:
        kiosk_ticket = kiosk.request("issue", service="tax")["ticket"]
    _s, _h, seen = call(f"{srv.http}/api/v1/tickets/{kiosk_ticket['check']}")
    assert (seen["remote"], seen["present"]) == (False, True)
    # The database holds the phone's keyed hash and, while active, the number only.
    db = sqlite3.connect(tmp_path / "hall.db")
    rows = db.execute("select phone_hash, phone from ticket_phones").fetchall()
    assert len(rows) == 1 and rows[0][1] == "13812345678" and "5678" not in rows[0][0]
    assert db.execute("select count(*) from events where data like '%13812345678%'").fetchone() \
        == (0,)


def test_refusals_are_json_with_wire_codes(srv) -> None:
    assert take(srv, "13800000001")[0] == 201
    status, body = take(srv, "138 0000 0001")  # same phone, same service
    assert (status, body["code"]) == (409, "conflict")
    assert take(srv, "13800000001", service="tax")[0] == 201  # another service is fine
    assert take(srv, "12")[1]["code"] == "bad_request"
    assert take(srv, "13800000002", service="nope")[1]["code"] == "not_found"
    status, _h, body = call(f"{srv.http}/api/v1/halls/main/tickets", raw=b"{not json")
    assert (status, body["code"]) == (400, "bad_request")
    status, _h, body = call(f"{srv.http}/api/v1/halls/other/tickets", {"service": "gjj",
                                                                          "phone": "13800000003"})
    assert (status, body["code"]) == (404, "not_found")
    status, headers, _body = call(f"{srv.http}/api/v1/halls/main/tickets")  # GET
    assert status == 405 and headers["Allow"] == "POST"
    status, _h, body = call(f"{srv.http}/api/v1/tickets/NOSUCH")
    assert (status, body["code"]) == (404, "not_found")


def test_quota_as_at_the_kiosk_and_limit_per_address(srv) -> None:
    with srv.client("kiosk-1") as kiosk:
        kiosk.request("issue", service="gjj")
        kiosk.request("issue", service="gjj")
    assert take(srv, "13800000010")[0] == 201  # the third and last of the day's quota
    status, body = take(srv, "13800000011")
    assert (status, body["code"]) == (409, "quota_reached")
    # 4 per hour from one address: two spent above, then two more, then refused.
    assert take(srv, "13800000012", service="tax")[0] == 201
    assert take(srv, "13800000013", service="tax")[0] == 201
    status, _h, body = call(f"{srv.http}/api/v1/halls/main/tickets",
                            {"service": "tax", "phone": "13800000014"})
    assert (status, body["code"]) == (429, "rate_limited")


def test_presence_by_the_page_or_a_kiosk_scan(srv) -> None:
    _s, first = take(srv, "13800000020")
    _s, second = take(srv, "13800000021")
    status, _h, body = call(f"{srv.http}/api/v1/tickets/{first['check']}/arrived", {})
    assert (status, body["present"]) == (200, True)
    _s, third = take(srv, "13800000022")
    with srv.client("kiosk-1") as kiosk:
        # What the kiosk's scanner sends for a ticket's QR, or for its check
        # code typed on the 过号重排 screen: the arrival, said as such.
        reply = kiosk.request("requeue", check=second["check"])
        assert reply["type"] == "ok" and reply["ticket"]["present"] is True
        assert reply["ticket"]["number"] == second["number"] and reply["arrived"] is True
        # Present already: the same answer again, and nothing changes.
        seq = kiosk.request("ping")["seq"]
        again = kiosk.request("requeue", check=second["check"])
        assert (again["arrived"], again["ticket"]["present"]) == (True, True)
        assert kiosk.request("ping")["seq"] == seq
        # The printed number typed at the kiosk does the same.
        by_number = kiosk.request("requeue", number=third["number"])
        assert (by_number["arrived"], by_number["ticket"]["present"]) == (True, True)
        assert kiosk.request("requeue", check="NOSUCH")["code"] == "not_found"
        events = [e["name"] for e in kiosk.drain()]
        assert events.count("ticket.arrived") == 2 and "ticket.requeued" not in events
    with srv.client("counter-2") as counter:
        counter.request("login", staff="s002", pin=PIN)
        assert counter.request("call_next")["ticket"]["number"] == first["number"]
    status, _h, body = call(f"{srv.http}/api/v1/tickets/{first['check']}/arrived", {})
    assert (status, body["code"]) == (409, "conflict")  # called already


def test_phone_erased_when_the_ticket_ends(srv, tmp_path) -> None:
    _s, ticket = take(srv, "13800000030")
    db = sqlite3.connect(tmp_path / "hall.db")
    assert db.execute("select phone from ticket_phones").fetchall() == [("13800000030",)]
    call(f"{srv.http}/api/v1/tickets/{ticket['check']}/arrived", {})
    with srv.client("counter-2") as counter:
        counter.request("login", staff="s002", pin=PIN)
        counter.request("call_next")
        counter.request("start")
        counter.request("complete")
    db = sqlite3.connect(tmp_path / "hall.db")
    rows = db.execute("select phone from ticket_phones").fetchall()
    assert rows == [(None,)]
    # The number is free for that service again.
    assert take(srv, "13800000030")[0] == 201


def test_take_page_is_served_with_a_locked_policy(srv) -> None:
    status, headers, html = call(f"{srv.http}/take/main")
    assert status == 200 and "取号" in html and "Take a number" in html
    assert "script-src 'sha256-" in headers["Content-Security-Policy"]
    assert call(f"{srv.http}/take/elsewhere")[0] == 404


def test_oversized_body_is_refused(srv) -> None:
    status, _h, _body = call(f"{srv.http}/api/v1/halls/main/tickets",
                             raw=b'{"phone":"' + b"1" * 20000 + b'"}')
    assert status == 413



def test_live_feed_carries_only_its_own_ticket(srv) -> None:
    from tests.helpers.server import dial

    _s, mine = take(srv, "13800000040")
    feed = dial(f"ws://127.0.0.1:{srv.port}/api/v1/tickets/{mine['check']}/live")
    try:
        first = json.loads(feed.recv(timeout=10))
        assert first["type"] == "ticket" and first["ticket"]["id"] == mine["id"]
        call(f"{srv.http}/api/v1/tickets/{mine['check']}/arrived", {})
        with srv.client("kiosk-1") as kiosk:
            others = [kiosk.request("issue", service="tax")["ticket"] for _ in range(3)]
        with srv.client("counter-2") as counter:
            counter.request("login", staff="s002", pin=PIN)
            counter.request("call_next")
        seen = []
        while not seen or seen[-1]["status"] != "called":
            message = json.loads(feed.recv(timeout=10))
            assert message["type"] == "ticket"
            seen.append(message["ticket"])
        assert {t["id"] for t in seen} == {mine["id"]}
        assert seen[-1]["counter"] == 2 and seen[-1]["counter_name"] == "2号窗口"
        assert all(o["check"] not in json.dumps(seen) for o in others)
    finally:
        feed.close()
    # A feed of no ticket is refused before any websocket opens.
    status, _h, body = call(f"{srv.http}/api/v1/tickets/NOSUCH/live")
    assert (status, body["code"]) == (404, "not_found")


def test_a_number_left_by_a_crash_is_erased_at_start(tmp_path) -> None:
    cfg = dataclasses.replace(small_config(f"sqlite:///{tmp_path / 'hall.db'}"),
                              notify=(Notify(NOWHERE, ("ticket.called",), secret="k"),))
    with RunningServer(cfg) as srv:
        _s, ticket = take(srv, "13800000050")
    db = sqlite3.connect(tmp_path / "hall.db")
    assert db.execute("select phone from ticket_phones").fetchall() == [("13800000050",)]
    # As if the server died between the ticket's end and the erasure.
    db.execute("update tickets set status = 'cancelled' where id = ?", (ticket["id"],))
    db.commit()
    with RunningServer(cfg):
        assert db.execute("select phone from ticket_phones").fetchall() == [(None,)]
