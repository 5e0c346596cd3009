"""HallService rules pinned in-process (SQLite and PostgreSQL): the ticker's
upkeep (stranded transfers, the reply memory's expiry, its failures), a hall
whose database cannot be read, PIN lockouts, the welcome of a hall that uses
every service field, the counters' lists, joint-approval routes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterator

import pytest

from server.config import Service
from server.features import default_features
from server.service import IDEMPOTENCY_S, HallService, Session, Unavailable
from server.store import Store, StoreError
from server.wire import protocol
from tests.helpers.fakes import FakeClock
from tests.helpers.server import PIN, TOKEN, small_config
from tests.service.test_service_rules import Desk, utc

# gjj (counter 2) -> tax (counter 3): one number, two steps.
ROUTE = Service("jl", "联办测试", "Joint route", "L", "approval", route=("gjj", "tax"))


@pytest.fixture
def desk(db_url: str) -> Iterator[Desk]:
    d = Desk(db_url, utc(1, 0))  # 09:00 in Shanghai
    yield d
    d.store.close()


def ok(desk: Desk, device: str, kind: str, rid: str, **fields) -> dict:
    reply = desk.send(device, kind, rid, **fields).message
    assert reply["type"] == "ok", reply
    return reply


# --------------------------------------------------------------- the ticker
def test_a_transfer_to_a_counter_paused_too_long_returns_at_the_next_tick(desk: Desk) -> None:
    ok(desk, "counter-1", "login", "l1", staff="s001", pin=PIN)
    ok(desk, "counter-2", "login", "l2", staff="s002", pin=PIN)
    ok(desk, "kiosk-1", "issue", "i1", service="gjj")
    ok(desk, "counter-1", "call_next", "c1")
    moved = ok(desk, "counter-1", "transfer", "t1", counter=2)["ticket"]
    ok(desk, "counter-2", "pause", "p2", reason="午休")
    assert moved["status"] == "waiting"
    limit = desk.config.dispatch.transfer_timeout
    desk.clock.advance(limit - 1)
    assert desk.svc.tick() == []                       # paused, not yet too long
    desk.clock.advance(1)
    back = desk.svc.tick()
    transferred = [e for e in back if e["name"] == "ticket.transferred"]
    assert [(e["data"]["ticket"]["id"], e["data"]["reason"]) for e in transferred] == [
        (moved["id"], "transfer_timeout")]
    # committed by the hall's clock and broadcast as such
    local = (utc(1, 0) + dt.timedelta(seconds=limit)).astimezone(desk.config.tz)
    assert transferred[0]["at"] == local.isoformat(timespec="seconds")
    assert desk.svc.tick() == []                       # returned once


def test_upkeep_is_committed_at_the_hall_clock_even_when_the_store_keeps_another(
        db_url: str) -> None:
    clock = FakeClock(utc(15, 59, 59))                 # 23:59:59 in Shanghai
    with Store(db_url) as store:                       # the store's clock: real time
        cfg = small_config(db_url)
        svc = HallService(cfg, store, clock=clock, monotonic=clock.monotonic,
                          features=default_features())
        svc.handle(Session(cfg.device("kiosk-1")), {"type": "issue", "id": "i1",
                                                      "service": "gjj"})
        # a request's commit too (Context.commit), not only the upkeep's
        assert {e["at"] for e in store.events_since(cfg.id, 0)} == {clock()}
        clock.advance(1)                               # local midnight
        closed = svc.tick()
        assert closed and {e["at"] for e in closed} == {"2026-11-27T00:00:00+08:00"}
        stored = store.events_since(cfg.id, closed[0]["seq"] - 1)
        assert {e["at"] for e in stored} == {clock()}


def test_a_failed_upkeep_commit_is_logged_by_what_it_was_and_sends_nothing(
        desk: Desk, monkeypatch, caplog) -> None:
    ok(desk, "counter-1", "login", "l1", staff="s001", pin=PIN)
    ok(desk, "counter-2", "login", "l2", staff="s002", pin=PIN)
    ok(desk, "kiosk-1", "issue", "i1", service="gjj")
    ok(desk, "counter-1", "call_next", "c1")
    ok(desk, "counter-1", "transfer", "t1", counter=2)
    ok(desk, "counter-2", "pause", "p2")
    desk.clock.advance(desk.config.dispatch.transfer_timeout)

    def refused(*args, **kwargs):
        raise StoreError("disk full")

    real = desk.store.commit
    monkeypatch.setattr(desk.store, "commit", refused)
    with caplog.at_level(logging.ERROR, logger="qhall.service"):
        assert desk.svc.tick() == []
    assert "returning stranded transfers failed; reloading" in caplog.text
    # memory was rebuilt from the store: the ticket still waits for counter 2
    assert [t.target_counter for t in desk.svc.hall.queue(2)] == [2]
    monkeypatch.setattr(desk.store, "commit", real)
    assert [e["name"] for e in desk.svc.tick()][0] == "ticket.transferred"
    caplog.clear()
    desk.clock.advance((utc(16, 0) - desk.clock()).total_seconds())   # local midnight
    monkeypatch.setattr(desk.store, "commit", refused)
    with caplog.at_level(logging.ERROR, logger="qhall.service"):
        assert desk.svc.tick() == []
    assert "closing the day failed; reloading" in caplog.text


def test_expired_replies_go_oldest_first_on_every_device(desk: Desk) -> None:
    ok(desk, "kiosk-1", "issue", "a1", service="gjj")
    ok(desk, "kiosk-2", "issue", "b1", service="gjj")
    desk.clock.advance(60)
    ok(desk, "kiosk-1", "issue", "a2", service="gjj")  # kiosk-1: one fresh, one old
    ok(desk, "kiosk-2", "issue", "b2", service="gjj")
    desk.clock.advance(IDEMPOTENCY_S - 30)             # a1 and b1 expired, a2 and b2 not
    desk.svc.tick()
    assert [desk.svc.remembers("kiosk-1", r) for r in ("a1", "a2")] == [False, True]
    assert [desk.svc.remembers("kiosk-2", r) for r in ("b1", "b2")] == [False, True]
    assert desk.svc.remembered_replies == 2


# ------------------------------------------------- a database that cannot be read
def test_a_hall_that_cannot_reload_says_why_and_logs_its_recovery(
        desk: Desk, monkeypatch, caplog) -> None:
    real = desk.store.load

    def down(*args, **kwargs):
        raise StoreError("could not connect to server\nis the server running?")

    monkeypatch.setattr(desk.store, "load", down)
    with caplog.at_level(logging.WARNING, logger="qhall.service"):
        desk.svc.reload()
    assert desk.svc.failed == "the database cannot be read: could not connect to server"
    assert "refusing requests until it can: the database cannot be read" in caplog.text
    session = Session(desk.config.device("board-1"))
    with pytest.raises(Unavailable, match="could not connect to server"):
        desk.svc.welcome(session, "w1")
    refused = desk.send("kiosk-1", "issue", "i1", service="gjj").message
    assert (refused["type"], refused["code"]) == ("error", "internal")
    monkeypatch.setattr(desk.store, "load", real)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="qhall.service"):
        desk.svc.reload()
    assert desk.svc.failed is None and "serving again" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="qhall.service"):
        desk.svc.reload()                              # nothing to recover from: quiet
    assert "serving again" not in caplog.text


def test_the_store_probe_recovers_at_once_when_the_database_is_back(
        desk: Desk, monkeypatch, caplog) -> None:
    real_seq, real_load = desk.store.last_seq, desk.store.load

    def down(*args, **kwargs):
        raise StoreError("x" * 300 + "\nsecond line")

    monkeypatch.setattr(desk.store, "last_seq", down)
    monkeypatch.setattr(desk.store, "load", down)
    with caplog.at_level(logging.ERROR, logger="qhall.service"):
        assert desk.svc.check_store() is False
    # the first line of the error, cut at 200 characters, in the log and /healthz
    assert desk.svc.failed == "the database is unreachable: " + "x" * 200
    assert caplog.messages == [desk.svc.failed]
    desk.svc.recover()                                 # a try: memory cannot be rebuilt
    assert desk.svc.failed is not None
    monkeypatch.setattr(desk.store, "last_seq", real_seq)
    monkeypatch.setattr(desk.store, "load", real_load)
    # the probe forces a rebuild, within the second a plain recover() waits out
    assert desk.svc.recover() is False
    assert desk.svc.check_store() is True and desk.svc.failed is None


# ----------------------------------------------------------------- logins
def test_wrong_pins_lock_the_counter_and_the_staff_member(desk: Desk) -> None:
    limit = desk.config.limits.pin_failures
    for n in range(limit):
        wrong = desk.send("counter-1", "login", f"w{n}", staff="s001", pin="0000").message
        assert (wrong["code"], wrong["re"]) == ("unauthorized", f"w{n}")
    locked = desk.send("counter-1", "login", "w-right", staff="s001", pin=PIN).message
    assert (locked["type"], locked["code"], locked["re"]) == ("error", "rate_limited", "w-right")
    assert "too many wrong PINs for this counter" in locked["message"]
    # another staff id from this counter is locked too (no spraying guesses) ...
    other = desk.send("counter-1", "login", "o1", staff="s003", pin=PIN).message
    assert other["code"] == "rate_limited"
    # ... and s001 from another counter: the staff member's own count is full
    elsewhere = desk.send("counter-2", "login", "e1", staff="s001", pin=PIN).message
    assert elsewhere["code"] == "rate_limited" and "s001" in elsewhere["message"]
    # an unknown staff id counts against the device only
    for n in range(limit):
        desk.send("counter-3", "login", f"u{n}", staff="nobody", pin=PIN)
    assert desk.send("counter-4", "login", "s4", staff="s004", pin=PIN).message["type"] == "ok"
    assert desk.send("counter-3", "login", "s3", staff="s005",
                     pin=PIN).message["code"] == "rate_limited"


def test_a_right_pin_starts_the_staff_members_count_again(desk: Desk) -> None:
    # docs: "The staff member proved their PIN: their own count starts again"
    # (the device's count stays). s001 mistypes from three counters, one
    # short of the limit each time, logging in between: never locked.
    limit = desk.config.limits.pin_failures
    for round_, counter in enumerate(("counter-1", "counter-2", "counter-3")):
        for n in range(limit - 1):
            wrong = desk.send(counter, "login", f"w{round_}{n}", staff="s001", pin="0000")
            assert wrong.message["code"] == "unauthorized"
        right = desk.send(counter, "login", f"r{round_}", staff="s001", pin=PIN).message
        assert right["type"] == "ok", right


def test_a_staff_member_logging_in_where_a_counter_was_closed_opens_it_only(
        desk: Desk) -> None:
    ok(desk, "counter-1", "login", "l1", staff="s001", pin=PIN)
    ok(desk, "counter-1", "logout", "o1")
    again = desk.send("counter-1", "login", "l2", staff="s003", pin=PIN)
    assert again.message["type"] == "ok"
    assert [e["name"] for e in again.events if e["name"].startswith("counter.")] == [
        "counter.opened"]
    assert desk.svc.hall.counter_state(1).staff_id == "s003"


# ------------------------------------------------------------------ welcome
def test_the_welcome_carries_every_service_field_a_screen_reads(db_url: str) -> None:
    base = small_config(db_url)
    gjj = dataclasses.replace(base.services[0], daily_quota=80, zone="A区 1-2号窗口",
                              kiosk=False)
    cfg = dataclasses.replace(base, services=(gjj, *base.services[1:], ROUTE),
                              public_url="https://q.example/")
    clock = FakeClock(utc(1, 0))
    with Store(db_url, clock=clock) as store:
        svc = HallService(cfg, store, clock=clock, monotonic=clock.monotonic)
        welcome = svc.welcome(Session(cfg.device("board-1")), "w1")
    assert welcome["protocol"] == protocol.PROTOCOL_VERSION
    hall = welcome["hall"]
    assert (hall["id"], hall["notice"], hall["public_url"]) == (
        cfg.id, "测试通知 test notice", "https://q.example/")
    first, tax, route = hall["services"][0], hall["services"][1], hall["services"][-1]
    assert (first["name"], first["name_en"]) == ("公积金业务", "Housing provident fund")
    assert (first["daily_quota"], first["zone"], first["kiosk"]) == (80, "A区 1-2号窗口", False)
    assert "kiosk" not in tax and "route" not in tax   # only where they say something
    assert (tax["daily_quota"], tax["zone"]) == (None, "")
    assert route["route"] == ["gjj", "tax"] and route["id"] == "jl"


# ------------------------------------------------------ a counter's lists
def test_a_counter_lists_the_tickets_it_may_call_and_its_missed_ones(desk: Desk) -> None:
    ok(desk, "counter-2", "login", "l2", staff="s002", pin=PIN)
    ok(desk, "counter-4", "login", "l4", staff="s004", pin=PIN)
    first = ok(desk, "kiosk-1", "issue", "i1", service="gjj")["ticket"]
    second = ok(desk, "kiosk-1", "issue", "i2", service="gjj")["ticket"]
    ok(desk, "kiosk-1", "issue", "i3", service="bdc")
    waiting = ok(desk, "counter-2", "queue", "q1")["waiting"]
    assert [(t["id"], t["number"]) for t in waiting] == [(first["id"], "A001"),
                                                        (second["id"], "A002")]
    ok(desk, "counter-2", "call_next", "c1")
    ok(desk, "counter-2", "no_show", "n1")
    missed = ok(desk, "counter-2", "missed", "m1")["missed"]
    assert [(t["id"], t["number"], t["status"]) for t in missed] == [
        (first["id"], "A001", "no_show")]
    assert ok(desk, "counter-4", "missed", "m4")["missed"] == []   # its own counter's only
    assert [t["service"] for t in ok(desk, "counter-4", "queue", "q4")["waiting"]] == ["bdc"]


# ------------------------------------------------------------------ routes
def test_a_route_ticket_is_sent_back_and_ended_through_the_service(db_url: str) -> None:
    base = small_config(db_url)
    cfg = dataclasses.replace(base, services=(*base.services, ROUTE))
    clock = FakeClock(utc(1, 0))
    with Store(db_url, clock=clock) as store:
        svc = HallService(cfg, store, clock=clock, monotonic=clock.monotonic)

        def send(device: str, kind: str, rid: str, **fields) -> dict:
            return svc.handle(Session(cfg.device(device)),
                              {"type": kind, "id": rid, **fields}).message

        for counter, staff in ((2, "s002"), (3, "s003")):
            assert send(f"counter-{counter}", "login", f"l{counter}", staff=staff,
                        pin=PIN)["type"] == "ok"
        number = send("kiosk-1", "issue", "i1", service="jl")["ticket"]["number"]
        send("counter-2", "call_next", "c1")
        send("counter-2", "complete", "d1")             # step 1 done: on to tax
        assert send("counter-3", "call_next", "c2")["ticket"]["number"] == number
        back = send("counter-3", "route_back", "b1", step=0, reason="材料不全")
        assert (back["ticket"]["step"], back["ticket"]["service"]) == (0, "gjj")
        assert send("counter-2", "call_next", "c3")["ticket"]["number"] == number
        ended = send("counter-2", "route_end", "e1", reason="申请人撤回")
        assert ended["type"] == "ok" and ended["ticket"]["status"] == "done"
        assert send("counter-2", "route_end", "e2", reason="x")["type"] == "error"


def test_the_service_day_is_the_halls_local_date(db_url: str) -> None:
    clock = FakeClock(utc(16, 30))                     # 00:30 on the 27th in Shanghai
    cfg = small_config(db_url)
    with Store(db_url, clock=clock) as store:
        svc = HallService(cfg, store, clock=clock, monotonic=clock.monotonic)
        assert svc.today() == dt.date(2026, 11, 27)


def test_logging_in_closes_the_counter_left_open_before_or_after_this_one(desk: Desk) -> None:
    ok(desk, "counter-3", "login", "l3", staff="s001", pin=PIN)
    ok(desk, "counter-1", "login", "l1", staff="s001", pin=PIN)   # a counter numbered after
    assert desk.svc.hall.counter_state(3).state == "closed"
    assert desk.svc.hall.counter_state(1).staff_id == "s001"
    ok(desk, "counter-4", "login", "l4", staff="s001", pin=PIN)   # and one numbered before
    assert [desk.svc.hall.counter_state(n).state for n in (1, 3, 4)] == [
        "closed", "closed", "open"]


def test_a_device_authenticates_again_with_its_known_token(desk: Desk) -> None:
    first = desk.svc.authenticate("board-1", TOKEN("board-1"))
    again = desk.svc.authenticate("board-1", TOKEN("board-1"))   # answered from the cache
    assert first is not None and again == first and again.id == "board-1"
