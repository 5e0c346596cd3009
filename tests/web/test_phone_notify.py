"""Which tickets carry a phone for their webhooks, and when the number goes.

A real server with a fake hall clock, a real sink on loopback: a booking
made on the phone keeps its number while open and hands it to its ticket at
check-in (``ticket.soon``/``ticket.called`` reach it), a cancelled or lapsed
booking's number is erased; a remote ticket missed (no-show) and re-queued
(过号重排) keeps being told, and its number goes once the re-queue window
has passed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

from server.config import HallConfig, Notify
from tests.helpers.booking import booking_config
from tests.helpers.fakes import FakeClock
from tests.helpers.server import PIN, RunningServer
from tests.helpers.sink import SECRET, ScriptedSink, sink_factory
from tests.web.test_api import call

__all__ = ["sink_factory"]  # a fixture the tests below use

TZ = dt.timezone(dt.timedelta(hours=8))
FRI = "2026-11-27"


def at(clock: FakeClock, text: str) -> None:
    clock.now = dt.datetime.fromisoformat(text).replace(tzinfo=TZ).astimezone(dt.UTC)


def with_sink(config: HallConfig, sink: ScriptedSink) -> HallConfig:
    return dataclasses.replace(config, soon_ahead=1, notify=(Notify(
        sink.url, ("ticket.soon", "ticket.called", "ticket.no_show"),
        secret=SECRET.decode()),))


def rows(db: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query).fetchall()


def book(srv: RunningServer, slot: str, name: str, phone: str) -> str:
    status, _h, made = call(f"{srv.http}/api/v1/halls/main/bookings",
                            {"service": "gjj", "slot": slot, "name": name, "phone": phone})
    assert status == 201, made
    return str(made["booking"]["code"])


def sweep(srv: RunningServer) -> list[str]:
    return list(srv.call(lambda: srv.server.citizen.halls["main"].watcher.sweep()))


def test_a_phone_booking_tells_its_ticket_and_its_number_goes(tmp_path, sink_factory) -> None:
    sink = sink_factory()
    db = tmp_path / "hall.db"
    clock = FakeClock(dt.datetime(2026, 11, 26, 9, 0, tzinfo=TZ).astimezone(dt.UTC))
    with RunningServer(with_sink(booking_config(f"sqlite:///{db}"), sink), clock=clock) as srv:
        kept = book(srv, f"{FRI}T10:00+08:00", "王芳", "138 1234 5678")
        cancelled = book(srv, f"{FRI}T10:30+08:00", "李强", "13900001111")
        lapsed = book(srv, f"{FRI}T09:00+08:00", "张伟", "13700002222")
        assert sorted(rows(db, "select code, phone from bookings")) == sorted([
            (kept, "13812345678"), (cancelled, "13900001111"), (lapsed, "13700002222")])
        assert call(f"{srv.http}/api/v1/halls/main/bookings/{cancelled}/cancel", {})[0] == 200
        assert rows(db, f"select phone from bookings where code = '{cancelled}'") == [(None,)]
        at(clock, f"{FRI}T09:40")  # 09:00 + 15 min late: that booking has lapsed
        assert sweep(srv) == []  # (no ticket's number to erase)
        assert rows(db, f"select phone from bookings where code = '{lapsed}'") == [(None,)]
        with srv.client("kiosk-1") as kiosk:
            checked = kiosk.request("check_in", code=kept)
        assert checked["type"] == "ok", checked
        ticket = checked["ticket"]
        # The number moved from the booking to its ticket.
        assert rows(db, f"select phone from bookings where code = '{kept}'") == [(None,)]
        assert rows(db, "select ticket, phone from ticket_phones") == [
            (ticket["id"], "13812345678")]
        sink.wait_for(lambda: len(sink.received) == 1)  # nobody ahead: soon
        with srv.client("counter-2") as counter:
            assert counter.request("login", staff="s002", pin=PIN)["type"] == "ok"
            assert counter.request("call_next")["ticket"]["id"] == ticket["id"]
            sink.wait_for(lambda: len(sink.received) == 2)
            counter.request("start")
            counter.request("complete")
        assert rows(db, "select phone from ticket_phones") == [(None,)]
    assert [(b["event"], b["ticket"]["id"], b["phone"]) for b in sink.received] == [
        ("ticket.soon", ticket["id"], "13812345678"),
        ("ticket.called", ticket["id"], "13812345678")]
    assert sink.received[1]["counter_name"] == "2号窗口"


def test_a_requeued_no_show_keeps_being_told(tmp_path, sink_factory) -> None:
    sink = sink_factory()
    db = tmp_path / "hall.db"
    clock = FakeClock(dt.datetime(2026, 11, 26, 9, 0, tzinfo=TZ).astimezone(dt.UTC))
    cfg = with_sink(booking_config(f"sqlite:///{db}"), sink)
    window = cfg.dispatch.no_show_return_s
    with RunningServer(cfg, clock=clock) as srv, srv.client("kiosk-1") as kiosk:
        tickets = []
        for phone in ("13812345678", "13900001111"):
            status, _h, t = call(f"{srv.http}/api/v1/halls/main/tickets",
                                 {"service": "gjj", "phone": phone})
            assert status == 201
            assert kiosk.request("requeue", check=t["check"])["arrived"] is True
            tickets.append(t)
        mine, other = tickets
        with srv.client("counter-2") as counter:
            assert counter.request("login", staff="s002", pin=PIN)["type"] == "ok"
            for t in tickets:  # both called, both missed
                assert counter.request("call_next")["ticket"]["id"] == t["id"]
                assert counter.request("no_show")["type"] == "ok"
            sink.wait_for(lambda: len(sink.received) == 6)  # soon, called, no_show each
            # Missed, yet still in its re-queue window: the numbers stay.
            assert sweep(srv) == []
            assert len(rows(db, "select phone from ticket_phones where phone is not null")) == 2
            clock.advance(window / 2)
            back = kiosk.request("requeue", check=mine["check"])
            assert back["type"] == "ok" and "arrived" not in back  # a real 过号重排
            assert counter.request("call_next")["ticket"]["id"] == mine["id"]
            sink.wait_for(lambda: len(sink.received) == 8)  # soon again, called again
            clock.advance(window)  # the other one's window has passed
            assert sweep(srv) == [other["id"]]
            assert kiosk.request("requeue", check=other["check"])["code"] == "expired"
            counter.request("start")
            counter.request("complete")
    assert rows(db, "select phone from ticket_phones") == [(None,), (None,)]
    told = [(b["event"], b["ticket"]["id"]) for b in sink.received]
    assert told[6:] == [("ticket.soon", mine["id"]), ("ticket.called", mine["id"])]
    assert told.count(("ticket.no_show", other["id"])) == 1
    assert sorted(told[:6]) == sorted(
        [(e, t["id"]) for t in tickets for e in ("ticket.soon", "ticket.called",
                                                 "ticket.no_show")])
