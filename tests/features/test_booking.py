"""Appointments end to end: the real server, booking and kiosk clients, a fake clock."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import re

import pytest
import sqlalchemy as sa

from server.features import booking
from server.features.booking import (
    CODE_ALPHABET,
    add_working_days,
    mask_name,
    mask_phone,
    working_days_between,
)
from tests.helpers.booking import booking_config
from tests.helpers.fakes import FakeClock
from tests.helpers.server import PIN, RunningServer

TZ = dt.timezone(dt.timedelta(hours=8))
# Thursday 2026-11-26 09:00 in the hall (Asia/Shanghai).
THU_0900 = dt.datetime(2026, 11, 26, 9, 0, tzinfo=TZ)
FRI = "2026-11-27"


@pytest.fixture
def clock():
    return FakeClock(THU_0900.astimezone(dt.UTC))


@pytest.fixture
def hall(db_url, clock):
    """The real server on SQLite and on PostgreSQL (bookings carry their own SQL)."""
    with RunningServer(booking_config(db_url), clock=clock) as srv:
        yield srv


def at(clock: FakeClock, text: str) -> None:
    clock.now = dt.datetime.fromisoformat(text).replace(tzinfo=TZ).astimezone(dt.UTC)


def book(client, slot: str, name: str = "王芳", phone: str = "13812345678",
         service: str = "gjj", **kw):
    return client.request("book", service=service, slot=slot, name=name, phone=phone, **kw)


# ------------------------------------------------------------------ pure rules
def test_working_days_and_masks():
    thu = dt.date(2026, 11, 26)
    assert working_days_between(thu, dt.date(2026, 11, 27)) == 1  # Fri
    assert working_days_between(thu, dt.date(2026, 11, 30)) == 2  # Mon (weekend skipped)
    assert working_days_between(thu, dt.date(2026, 12, 3)) == 5
    assert working_days_between(thu, thu) == 0
    assert add_working_days(thu, 1) == dt.date(2026, 11, 27)
    assert add_working_days(thu, 2) == dt.date(2026, 11, 30)
    assert add_working_days(dt.date(2026, 11, 28), 0) == dt.date(2026, 11, 30)  # Sat -> Mon
    assert mask_name("王芳") == "王*" and mask_name("欧阳娜娜") == "欧***"
    assert mask_phone("138 1234 5678") == "*******5678"
    assert mask_phone("+8613812345678") == "*******5678"


# ------------------------------------------------------------------ slots and book
def test_slots_window_and_roles(hall):
    with hall.client("booking-1") as portal, hall.client("kiosk-1") as kiosk:
        reply = portal.request("slots", service="gjj", date=FRI)
        assert reply["type"] == "ok", reply
        slots = reply["slots"]
        # 08:30-12:00 and 13:30-17:30 in 30-minute slots (gjj has no hours of its own).
        assert len(slots) == 7 + 8
        assert slots[0] == {"slot": "2026-11-27T08:30+08:00", "start": "08:30", "end": "09:00",
                            "capacity": 2, "booked": 0, "free": 2}
        # today, a Saturday, 6 working days ahead: not bookable
        for day in ("2026-11-26", "2026-11-28", "2026-12-04"):
            assert portal.request("slots", service="gjj", date=day)["code"] == "closed"
        # the 5th working day is the last one
        assert portal.request("slots", service="gjj", date="2026-12-03")["type"] == "ok"
        assert portal.request("slots", service="tax", date=FRI)["code"] == "not_found"
        assert portal.request("slots", service="gjj", date="27/11")["code"] == "bad_request"
        assert kiosk.request("slots", service="gjj", date=FRI)["code"] == "forbidden"
        assert kiosk.request("book", service="gjj", slot=f"{FRI}T10:00", name="王芳",
                             phone="13812345678")["code"] == "forbidden"


def test_book_capacity_person_and_privacy(hall):
    with hall.client("booking-1") as portal, hall.client("admin-1") as admin:
        first = book(portal, f"{FRI}T10:00", id="b1")
        assert first["type"] == "ok", first
        b = first["booking"]
        assert re.fullmatch(f"[{CODE_ALPHABET}]{{8}}", b["code"])
        assert (b["name"], b["phone"], b["status"]) == ("王*", "*******5678", "booked")
        assert b["slot"] == "2026-11-27T10:00+08:00"
        # a resend of the same request changes nothing and gets the same code
        assert book(portal, f"{FRI}T10:00", id="b1")["booking"]["code"] == b["code"]
        # one booking per person per day, whatever the slot or the spelling of the phone
        again = book(portal, f"{FRI}T14:00", phone="138-1234-5678")
        assert again["code"] == "conflict"
        # capacity 2 per slot
        assert book(admin, f"{FRI}T10:00", name="李强", phone="13900001111")["type"] == "ok"
        full = book(portal, f"{FRI}T10:00", name="张伟", phone="13700002222")
        assert full["code"] == "quota_reached"
        # a slot without an offset is hall time (above); with one it is placed by it:
        # 02:00 UTC is the same full 10:00 slot (unlike the store's naive_utc, which
        # refuses a naive time, and the wire readers, which leave it unread)
        utc_spelling = book(portal, "2026-11-27T02:00:00+00:00", name="张伟", phone="13700002222")
        assert utc_spelling["code"] == "quota_reached"
        # bad input
        assert book(portal, f"{FRI}T10:10")["code"] == "bad_request"  # not a slot start
        assert book(portal, f"{FRI}T12:00")["code"] == "bad_request"  # lunch break
        assert book(portal, "tomorrow")["code"] == "bad_request"
        assert book(portal, f"{FRI}T11:00", phone="12ab")["code"] == "bad_request"
        assert book(portal, "2026-11-28T10:00")["code"] == "closed"  # Saturday
        slots = portal.request("slots", service="gjj", date=FRI)["slots"]
        assert {s["start"]: s["free"] for s in slots}["10:00"] == 0
        # the portal heard each booking (no personal data in the event)
        made = portal.wait_event("booking.made")
        assert made["data"] == {"service": "gjj", "slot": "2026-11-27T10:00+08:00",
                                "booked": 1, "capacity": 2}
    # personal data is never stored in clear
    engine = sa.create_engine(hall.config.database)
    with engine.connect() as conn:
        dump = repr(conn.exec_driver_sql("SELECT * FROM bookings").fetchall())
        events = repr(conn.exec_driver_sql("SELECT data FROM events").fetchall())
    engine.dispose()
    for secret in ("王芳", "13812345678", "李强", "13900001111"):
        assert secret not in dump and secret not in events
    assert "王*" in dump and "*******5678" in dump


def test_cancel_frees_the_place_and_the_day(hall, clock):
    with hall.client("booking-1") as portal, hall.client("kiosk-1") as kiosk:
        code = book(portal, f"{FRI}T09:00")["booking"]["code"]
        assert book(portal, f"{FRI}T09:00", name="李强", phone="13900001111")["type"] == "ok"
        assert book(portal, f"{FRI}T09:00", name="张伟", phone="13700002222")["code"] == \
            "quota_reached"
        reply = portal.request("cancel_booking", code=code.lower())  # codes are case-free
        assert reply["type"] == "ok" and reply["booking"]["status"] == "cancelled"
        assert portal.request("cancel_booking", code=code)["code"] == "conflict"
        assert portal.request("cancel_booking", code="XXXXXXXX")["code"] == "not_found"
        # the place and the person's day are free again
        assert book(portal, f"{FRI}T09:00", name="张伟", phone="13700002222")["type"] == "ok"
        assert book(portal, f"{FRI}T15:00")["type"] == "ok"
        late = book(portal, f"{FRI}T16:00", name="刘洋", phone="13600003333")["booking"]
        # a cancelled booking cannot check in
        at(clock, f"{FRI}T08:45")
        assert kiosk.request("check_in", code=code)["code"] == "conflict"
        # too close to the slot to cancel (2 hours)
        at(clock, f"{FRI}T14:30")
        assert portal.request("cancel_booking", code=late["code"])["code"] == "expired"


def test_check_in_window_and_dispatch_order(hall, clock):
    with hall.client("booking-1") as portal, hall.client("kiosk-1") as kiosk:
        code = book(portal, f"{FRI}T10:00")["booking"]["code"]
        # the day before: not yet
        assert kiosk.request("check_in", code=code)["code"] == "closed"
        assert kiosk.request("check_in", code="NOPE2345")["code"] == "not_found"
        at(clock, f"{FRI}T09:20")
        early = kiosk.request("check_in", code=code)
        assert early["code"] == "closed" and "09:30" in early["message"]
        walk_ins = [kiosk.request("issue", service="gjj")["ticket"] for _ in range(2)]
        at(clock, f"{FRI}T09:40")
        reply = kiosk.request("check_in", code=code)
        assert reply["type"] == "ok", reply
        ticket = reply["ticket"]
        assert ticket["priority"] == "appointment" and not reply.get("late")
        assert ticket["slot_start"] == "2026-11-27T10:00:00+08:00"
        assert reply["booking"]["status"] == "checked_in"
        assert kiosk.request("check_in", code=code)["code"] == "conflict"  # once only
        with hall.client("counter-2") as counter:
            assert counter.request("login", staff="s002", pin=PIN)["type"] == "ok"
            # before its slot the appointment waits behind the walk-ins
            assert counter.request("call_next")["ticket"]["id"] == walk_ins[0]["id"]
            counter.request("complete")
            at(clock, f"{FRI}T10:01")
            # once the slot started it is served first
            assert counter.request("call_next")["ticket"]["id"] == ticket["id"]


def test_late_arrival_gets_a_normal_ticket_and_counts_as_a_miss(hall, clock):
    with hall.client("booking-1") as portal, hall.client("kiosk-1") as kiosk:
        code = book(portal, f"{FRI}T10:00")["booking"]["code"]
        at(clock, f"{FRI}T10:16")
        reply = kiosk.request("check_in", code=code)
        assert reply["type"] == "ok", reply
        assert reply["late"] is True and reply["ticket"]["priority"] == "normal"
        assert "late" in reply["message"] and "迟到" in reply["message"]
        assert reply["booking"]["status"] == "late"
        missed = portal.wait_event("booking.missed")
        assert missed["data"]["late"] is True
        # a past day's booking has expired
        code2 = book(portal, "2026-11-30T10:00")["booking"]["code"]
        at(clock, "2026-12-01T09:00")
        assert kiosk.request("check_in", code=code2)["code"] == "expired"


def test_two_misses_block_booking_for_the_block_days(hall, clock):
    with hall.client("booking-1") as portal:
        book(portal, f"{FRI}T10:00")
        book(portal, "2026-11-30T10:00")  # Monday
        # both missed (never checked in); evaluated lazily on the next booking
        at(clock, "2026-12-01T09:00")
        refused = book(portal, "2026-12-02T10:00")
        assert refused["code"] == "forbidden"
        # blocked 90 days from the last miss (2026-11-30) -> until 2027-02-28
        assert "2027-02-28" in refused["message"]
        # someone else books normally; the sweep logged the misses
        assert book(portal, "2026-12-02T10:00", name="李强", phone="13900001111")["type"] \
            == "ok"
        names = [e["name"] for e in portal.drain()]
        assert names.count("booking.missed") == 2
        at(clock, "2027-03-01T09:00")  # a Monday; the block is over
        assert book(portal, "2027-03-02T10:00")["type"] == "ok"


def test_one_miss_does_not_block(hall, clock):
    with hall.client("booking-1") as portal:
        book(portal, f"{FRI}T10:00")
        at(clock, "2026-11-30T09:00")
        assert book(portal, "2026-12-01T10:00")["type"] == "ok"


def test_qhall_book_cli(tmp_path, clock, capsys):
    cfg = booking_config(f"sqlite:///{tmp_path / 'cli.db'}")
    toml = tmp_path / "unused"
    args = argparse.Namespace(config=None, database=None)

    def run(action: str, **kw) -> tuple[int, str, str]:
        ns = argparse.Namespace(**{**vars(args), "action": action, **kw})
        original = booking.hall_config
        booking.hall_config = lambda _a: cfg  # the CLI against this test hall
        try:
            code = booking.run(ns, clock=clock)
        finally:
            booking.hall_config = original
        out = capsys.readouterr()
        return code, out.out, out.err

    assert not toml.exists()
    code, out, _ = run("slots", service="gjj", date=FRI)
    assert code == 0 and "10:00-10:30  2/2 free" in out
    code, out, _ = run("book", service="gjj", slot=f"{FRI}T10:00", name="王芳",
                       phone="13812345678")
    assert code == 0
    booking_code = re.search(r"booking code: (\w+)", out).group(1)
    code, out, _ = run("list", date=FRI, service=None)
    assert code == 0 and booking_code in out and "王*" in out and "1 booking(s)" in out
    code, out, _ = run("show", code=booking_code)
    assert "*******5678" in out and "booked" in out
    code, _, err = run("book", service="gjj", slot=f"{FRI}T11:00", name="王芳",
                       phone="13812345678")
    assert code == 1 and "conflict" in err
    code, out, _ = run("cancel", code=booking_code)
    assert code == 0 and "cancelled" in out
    code, _, err = run("slots", service="gjj", date="someday")
    assert code == 1 and "bad_request" in err


def test_booked_appointments_move_the_queue_estimate(db_url, clock):
    """Bookings not checked in count in today's estimate: read at the day's
    start, and a cancellation takes them out again (queue.changed)."""
    base = booking_config(db_url)
    slow = dataclasses.replace(base.services[0], default_service_s=1800)
    config = dataclasses.replace(base, services=(slow, *base.services[1:]))
    with RunningServer(config, clock=clock) as srv, srv.client("booking-1") as portal:
        service = srv.server.service
        first = book(portal, f"{FRI}T11:30")["booking"]["code"]
        second = book(portal, f"{FRI}T11:30", name="李强", phone="13900001111")["booking"]
        assert srv.call(lambda: service.hall.queue_wire("gjj"))["eta_s"] == 1800  # not today
        at(clock, f"{FRI}T09:00")
        srv.call(service.tick)  # the new day: the core is rebuilt with its bookings
        with srv.client("kiosk-1") as kiosk, srv.client("board-1") as board:
            for _ in range(5):
                assert kiosk.request("issue", service="gjj")["type"] == "ok"
            # Nobody open: a ticket issued now waits 6 calls x 1800 s = until
            # 12:00, after the 11:30 slot starts: its 2 bookings go first.
            queue = srv.call(lambda: service.hall.queue_wire("gjj"))
            assert (queue["waiting"], queue["eta_s"]) == (5, 8 * 1800)
            assert portal.request("cancel_booking", code=second["code"])["type"] == "ok"
            changed = board.wait_event(
                "queue.changed", where=lambda e: e["data"]["eta_s"] == 7 * 1800)
            assert changed["data"]["service"] == "gjj"
            assert srv.call(lambda: service.hall.queue_wire("gjj"))["eta_s"] == 7 * 1800
            # Checked in, the booking is a ticket waiting (counted once, not twice).
            at(clock, f"{FRI}T11:00")
            assert kiosk.request("check_in", code=first)["type"] == "ok"
            queue = srv.call(lambda: service.hall.queue_wire("gjj"))
            assert (queue["waiting"], queue["eta_s"]) == (6, 7 * 1800)
