"""HallService requests pinned at the service level (SQLite and PostgreSQL):
faults, roles and staff, transfers and re-queues, the reply memory's bounds,
the welcome. Each check is written so a plausible different rule fails it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import server.service as service_module
from server.authpool import DUMMY_HASH, SecretCheck
from server.features.booking import Bookings
from server.service import IDEMPOTENCY_S, HallService, Session
from server.store import StoreError
from tests.helpers.server import PIN, TOKEN
from tests.service.test_service_rules import Desk, utc


@pytest.fixture
def desk(db_url: str) -> Iterator[Desk]:
    d = Desk(db_url, utc(1, 0))  # 09:00 in Shanghai
    yield d
    d.store.close()


def login(desk: Desk, counter: int, staff: str, rid: str = "login") -> dict:
    return desk.send(f"counter-{counter}", "login", rid, staff=staff, pin=PIN).message


# ------------------------------------------------------------------- faults
def report(desk: Desk, device: str, rid: str, **fields):
    """report_fault (its ``kind`` field is not Desk.send's request kind)."""
    return desk.svc.handle(Session(desk.config.device(device)),
                           {"type": "report_fault", "id": rid, **fields})


def test_a_fault_is_a_state_reported_once_and_cleared(desk: Desk) -> None:
    first = report(desk, "kiosk-1", "f1", kind="paper_out", message="x" * 250,
                      ticket="t1")
    assert first.message["type"] == "ok" and [e["name"] for e in first.events] == ["device.fault"]
    fault = first.events[0]["data"]
    assert fault == {"device": "kiosk-1", "kind": "paper_out", "message": "x" * 200,
                     "ticket": "t1", "since": "2026-11-26T09:00:00+08:00"}
    assert desk.svc.snapshot()["faults"] == [fault]
    # the same fault again (its message cut the same way) is no change
    same = report(desk, "kiosk-1", "f2", kind="paper_out", message="x" * 201,
                     ticket="t1")
    assert same.message.get("unchanged") is True and same.events == []
    # another ticket, kind or message is a new state
    for n, change in enumerate(({"ticket": "t2"}, {"kind": "offline"}, {"message": "y"})):
        fields = {"kind": "paper_out", "message": "x" * 200, "ticket": "t1", **change}
        assert report(desk, "kiosk-1", f"g{n}", **fields).events
    report(desk, "kiosk-2", "h1", kind="io")
    cleared = desk.send("kiosk-1", "clear_fault", "c1")
    assert [e["name"] for e in cleared.events] == ["device.fault"]
    assert [e["data"] for e in cleared.events] == [
        {"device": "kiosk-1", "kind": "paper_out", "cleared": True}]
    assert [f["device"] for f in desk.svc.snapshot()["faults"]] == ["kiosk-2"]
    nothing = desk.send("kiosk-1", "clear_fault", "c2")  # no fault: ok, no event
    assert nothing.message["type"] == "ok" and nothing.events == []


# ------------------------------------------------------------ roles and staff
def test_roles_and_staff_are_checked_before_the_command(desk: Desk) -> None:
    refused = desk.send("kiosk-1", "call_next", "x1").message
    assert (refused["code"], refused["re"]) == ("forbidden", "x1")
    assert "kiosk" in refused["message"] and "call_next" in refused["message"]
    assert desk.send("counter-1", "call_next", "x2").message["code"] == "unauthorized"
    assert desk.send("counter-1", "queue", "x3").message["code"] == "unauthorized"
    wrong = desk.send("counter-1", "login", "x4", staff="s001", pin="0000").message
    assert wrong["code"] == "unauthorized"
    unknown = desk.send("counter-1", "login", "x5", staff="nobody", pin=PIN).message
    assert unknown["code"] == "unauthorized"
    assert login(desk, 1, "s001")["staff"] == {"id": "s001", "name": "王芳"}
    assert desk.send("counter-1", "queue", "x6").message["waiting"] == []


def test_one_staff_member_is_open_at_one_counter(desk: Desk) -> None:
    login(desk, 1, "s001")
    login(desk, 2, "s002")
    assert desk.svc.hall.counter_state(1).staff_id == "s001"
    # s001 moves to counter 3: counter 1 closes; counter 2 keeps its own staff
    moved = desk.send("counter-3", "login", "m1", staff="s001", pin=PIN)
    assert moved.message["type"] == "ok"
    assert desk.svc.hall.counter_state(1).state == "closed"
    assert desk.svc.hall.counter_state(3).staff_id == "s001"
    assert desk.svc.hall.counter_state(2).staff_id == "s002"
    # another staff member logging in where s002 is open replaces them
    desk.send("counter-2", "login", "m2", staff="s004", pin=PIN)
    assert desk.svc.hall.counter_state(2).staff_id == "s004"
    # the same staff member again: no change, no events
    again = desk.send("counter-2", "login", "m3", staff="s004", pin=PIN)
    assert again.message["type"] == "ok" and again.events == []
    assert desk.send("counter-2", "logout", "m4").message["type"] == "ok"
    assert desk.svc.hall.counter_state(2).state == "closed"


# ------------------------------------------------------- transfers, re-queues
def test_transfer_needs_exactly_one_target(desk: Desk) -> None:
    login(desk, 1, "s001")
    desk.send("kiosk-1", "issue", "i1", service="gjj")
    desk.send("counter-1", "call_next", "c1")
    both = desk.send("counter-1", "transfer", "t1", service="tax", counter=2).message
    none = desk.send("counter-1", "transfer", "t2").message
    assert both["code"] == none["code"] == "bad_request"
    assert "exactly one" in both["message"]
    done = desk.send("counter-1", "transfer", "t3", service="tax").message
    assert done["type"] == "ok" and done["ticket"]["service"] == "tax"


def test_requeue_finds_the_ticket_by_id_check_or_number(desk: Desk) -> None:
    login(desk, 2, "s002")
    tickets = [desk.send("kiosk-1", "issue", f"i{n}", service="gjj").message["ticket"]
               for n in range(3)]
    for n in range(3):
        desk.send("counter-2", "call_next", f"c{n}")
        desk.send("counter-2", "no_show", f"n{n}")
    by_check = desk.send("kiosk-1", "requeue", "r1", check=tickets[0]["check"]).message
    by_number = desk.send("kiosk-1", "requeue", "r2", number=tickets[1]["number"]).message
    by_id = desk.send("counter-2", "requeue", "r3", ticket=tickets[2]["id"]).message
    assert [r["ticket"]["id"] for r in (by_check, by_number, by_id)] == \
        [t["id"] for t in tickets]
    assert all(r["ticket"]["status"] == "waiting" for r in (by_check, by_number, by_id))
    unknown = desk.send("kiosk-1", "requeue", "r4", check="NOPE", number="Z999").message
    assert unknown["code"] == "not_found" and "no such ticket" in unknown["message"]
    missed = desk.send("counter-2", "missed", "m1").message
    assert missed["type"] == "ok" and missed["missed"] == []


# --------------------------------------------------------------- reply memory
def test_replies_are_forgotten_after_their_time(desk: Desk) -> None:
    desk.send("kiosk-1", "issue", "a", service="gjj")
    assert desk.svc.remembers("kiosk-1", "a") and not desk.svc.remembers("kiosk-1", None)
    assert not desk.svc.remembers("kiosk-2", "a")
    desk.clock.advance(IDEMPOTENCY_S - 1)
    desk.send("kiosk-1", "issue", "b", service="gjj")
    desk.svc.tick()
    assert desk.svc.remembers("kiosk-1", "a") and desk.svc.remembered_replies == 2
    desk.clock.advance(1)  # "a" expires at exactly IDEMPOTENCY_S
    desk.svc.tick()
    assert not desk.svc.remembers("kiosk-1", "a") and desk.svc.remembers("kiosk-1", "b")
    assert desk.svc.remembered_replies == 1
    desk.clock.advance(IDEMPOTENCY_S)
    desk.svc.tick()
    assert desk.svc.remembered_replies == 0
    # a resend after that is a new request
    assert desk.send("kiosk-1", "issue", "a", service="gjj").message["ticket"]["number"] == "A003"


def test_reply_memory_is_bounded_per_device_and_in_all(desk: Desk, monkeypatch) -> None:
    monkeypatch.setattr(service_module, "REPLIES_PER_DEVICE", 3)
    monkeypatch.setattr(service_module, "REPLIES_MAX", 5)
    for n in range(4):
        desk.send("kiosk-1", "issue", f"k{n}", service="gjj")
    assert [desk.svc.remembers("kiosk-1", f"k{n}") for n in range(4)] == [False, True, True, True]
    assert desk.svc.remembered_replies == 3
    desk.send("kiosk-1", "issue", "k3", service="gjj")  # a resend is not a new reply
    assert desk.svc.remembered_replies == 3
    for n in range(3):
        desk.send("kiosk-2", "issue", f"j{n}", service="tax")
    # six in all: the device holding the most gives up its oldest
    assert desk.svc.remembered_replies == 5
    assert not desk.svc.remembers("kiosk-1", "k1") and desk.svc.remembers("kiosk-1", "k2")
    assert all(desk.svc.remembers("kiosk-2", f"j{n}") for n in range(3))


def test_reads_are_not_remembered(desk: Desk) -> None:
    desk.send("kiosk-1", "ping", "p1")
    assert not desk.svc.remembers("kiosk-1", "p1") and desk.svc.remembered_replies == 0


# ---------------------------------------------------------------- welcome
def test_the_welcome_describes_the_hall(desk: Desk) -> None:
    session = Session(desk.config.device("counter-3"))
    desk.send("kiosk-1", "issue", "i1", service="gjj")
    welcome = desk.svc.welcome(session, "w1")
    assert {k: welcome[k] for k in ("type", "re", "role", "counter", "device", "seq")} == {
        "type": "welcome", "re": "w1", "role": "counter", "counter": 3,
        "device": "counter-3", "seq": desk.svc.last_seq}
    assert welcome["seq"] > 0 and welcome["snapshot"]["queues"]["gjj"]["waiting"] == 1
    hall = welcome["hall"]
    assert (hall["name"], hall["timezone"]) == ("测试政务服务中心", "Asia/Shanghai")
    gjj = hall["services"][0]
    assert (gjj["id"], gjj["prefix"], gjj["category"], gjj["hours"]) == ("gjj", "A", "public", [])
    assert gjj["appointments"] is False
    assert hall["counters"][2] == {"number": 3, "name": "3号窗口", "services": ["tax", "gjj"]}
    # No token proved (the caller gave none): no resume ticket, not even an empty one.
    assert "resume" not in welcome


def test_a_missing_feature_is_named(desk: Desk) -> None:
    bare = HallService(desk.config, desk.store, clock=desk.clock,
                       monotonic=desk.clock.monotonic)
    with pytest.raises(LookupError, match="Bookings"):
        bare.feature(Bookings)
    assert isinstance(desk.svc.feature(Bookings), Bookings)


def test_fault_reports_are_rate_limited_per_device(desk: Desk) -> None:
    for n in range(6):  # a burst of six changes of state
        assert report(desk, "kiosk-1", f"f{n}", kind="other", message=f"m{n}").events
    limited = report(desk, "kiosk-1", "f6", kind="other", message="m6").message
    assert limited["code"] == "rate_limited" and "too many fault reports" in limited["message"]
    assert not desk.svc.remembers("kiosk-1", "f6")  # a refusal to retry is not the answer
    # the same state again needs no report, another device has its own allowance
    same = report(desk, "kiosk-1", "f7", kind="other", message="m5")
    assert same.message.get("unchanged") is True
    other = report(desk, "kiosk-2", "g0", kind="offline")
    assert other.events and other.events[0]["data"]["message"] == ""  # no message: ""
    desk.clock.advance(10)  # six a minute: one more after ten seconds
    again = report(desk, "kiosk-1", "f6", kind="other", message="m6")
    assert again.message["type"] == "ok" and again.events


def test_a_ping_answers_the_last_seq(desk: Desk) -> None:
    desk.send("kiosk-1", "issue", "i1", service="gjj")
    pong = desk.send("kiosk-1", "ping", "p1").message
    assert pong == {"type": "ok", "re": "p1", "seq": desk.svc.last_seq}
    assert pong["seq"] > 0


def test_counter_commands_reach_the_core(desk: Desk) -> None:
    login(desk, 2, "s002")
    first, second = (desk.send("kiosk-1", "issue", f"i{n}", service="gjj").message["ticket"]
                     for n in range(2))
    called = desk.send("counter-2", "call", "c1", ticket=second["id"]).message
    assert called["ticket"]["id"] == second["id"] and called["ticket"]["status"] == "called"
    recalled = desk.send("counter-2", "recall", "c2")
    assert recalled.message["ticket"]["id"] == second["id"]
    assert [e["name"] for e in recalled.events][0] == "ticket.recalled"
    started = desk.send("counter-2", "start", "c3").message
    assert started["ticket"]["status"] == "serving"
    done = desk.send("counter-2", "complete", "c4").message
    assert done["ticket"]["status"] == "done"
    desk.send("counter-2", "call", "c5", ticket=first["id"])
    desk.send("counter-2", "no_show", "c6")
    back = desk.send("counter-2", "unmiss", "c7", ticket=first["id"]).message
    assert back["ticket"]["id"] == first["id"] and back["ticket"]["status"] == "called"
    desk.send("counter-2", "complete", "c7b")
    paused = desk.send("counter-2", "pause", "c8", reason="午休")
    assert paused.events[0]["data"] == {"counter": 2, "reason": "午休"} | {
        k: v for k, v in paused.events[0]["data"].items() if k not in ("counter", "reason")}
    assert desk.svc.hall.counter_state(2).state == "paused"
    assert desk.svc.hall.counter_state(2).reason == "午休"
    desk.send("counter-2", "resume", "c9")
    assert desk.svc.hall.counter_state(2).state == "open"
    desk.send("counter-2", "pause", "c10")  # no reason: ""
    assert desk.svc.hall.counter_state(2).reason == ""
    third = desk.send("kiosk-1", "issue", "i3", service="gjj").message["ticket"]
    cancelled = desk.send("admin-1", "cancel", "a1", ticket=third["id"]).message
    assert cancelled["ticket"]["status"] == "cancelled"


def test_devices_authenticate_by_their_token(desk: Desk) -> None:
    svc = desk.svc
    device = svc.authenticate("kiosk-1", TOKEN("kiosk-1"))
    assert device is not None and device.id == "kiosk-1"
    assert svc.authenticate("kiosk-1", TOKEN("kiosk-2")) is None
    assert svc.authenticate("nobody", TOKEN("kiosk-1")) is None
    # verified once, the token is known: no check left to run
    assert svc.begin_authenticate("kiosk-1", TOKEN("kiosk-1")) == device
    assert svc.begin_authenticate("kiosk-2", TOKEN("kiosk-1")) is not None  # a check to run


def test_an_unknown_device_costs_a_real_check_of_its_token(desk: Desk) -> None:
    # Same cost as a known device (ids cannot be probed by timing): the token
    # given is checked against a real scrypt hash, and no device comes of it.
    check = desk.svc.begin_authenticate("nobody", "some-token")
    assert isinstance(check, SecretCheck)
    assert (check.secret, check.hashed) == ("some-token", DUMMY_HASH)
    assert check.finish(True) is None and check.finish(False) is None


def test_a_store_that_cannot_be_read_fails_the_hall_until_it_can(desk: Desk,
                                                                  monkeypatch) -> None:
    assert desk.svc.check_store() is True and desk.svc.failed is None
    real = desk.store.last_seq

    def down(hall_id: str) -> int:
        raise StoreError("connection refused\nsecond line")

    monkeypatch.setattr(desk.store, "last_seq", down)  # the database goes away
    assert desk.svc.check_store() is False
    assert desk.svc.failed == "the database is unreachable: connection refused"
    assert desk.svc.check_store() is False  # still down: the first reason stays
    assert desk.svc.failed == "the database is unreachable: connection refused"
    monkeypatch.setattr(desk.store, "last_seq", real)  # back
    assert desk.svc.check_store() is True and desk.svc.failed is None
    assert desk.send("kiosk-1", "issue", "i2", service="gjj").message["type"] == "ok"
    assert desk.svc.today() == desk.clock().astimezone(desk.config.tz).date()


def test_a_malformed_request_is_refused_by_its_id(desk: Desk) -> None:
    # The protocol's own checks come first: no service to issue from is a bad request.
    reply = desk.send("kiosk-1", "issue", "m1")
    assert (reply.message["type"], reply.message["code"], reply.message["re"]) == (
        "error", "bad_request", "m1")
    assert reply.message["message"] == "missing field 'service'"  # says what to fix
    assert reply.events == [] and not desk.svc.remembers("kiosk-1", "m1")
