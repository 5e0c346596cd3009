"""Appointment check-in: the real kiosk widgets against the real server.

A booking is made over the protocol (a ``booking`` device), the hall's clock
(a FakeClock shared by the server and the kiosk) is moved into the check-in
window, the code is typed on the on-screen keypad, and the server's answer is
followed to the screen, the printer and the counter's ``call_next``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from PySide6.QtCore import Qt

from kiosk.app import KioskController
from kiosk.state import KioskState
from kiosk.ticket import ticket_regions
from kiosk.view import KioskWindow
from server.client.qtlink import Link
from server.config import Appointments, Device
from server.features.booking import Bookings
from tests.helpers.fakes import FakeClock, FakePrinter
from tests.helpers.qt import wait_disconnected
from tests.helpers.server import PIN, TOKEN, RunningServer, _hash, small_config

pytestmark = pytest.mark.gui

TZ = dt.timezone(dt.timedelta(hours=8))  # Asia/Shanghai has no DST
THU_0900 = dt.datetime(2026, 11, 26, 9, 0, tzinfo=TZ)  # a Thursday
FRI = "2026-11-27"


def booking_config(db_url: str):
    """small_config plus a booking device and 30-minute appointments on gjj."""
    base = small_config(db_url)
    appt = Appointments(slot_minutes=30, capacity=2, book_min_days=1, book_max_days=5,
                        early_checkin_min=30, late_checkin_min=15, max_misses=2,
                        block_days=90)
    gjj = dataclasses.replace(base.services[0], appointments=appt)
    devices = base.devices + (Device("booking-1", "booking", _hash(TOKEN("booking-1"))),)
    return dataclasses.replace(base, services=(gjj, *base.services[1:]), devices=devices)


def at(clock: FakeClock, text: str) -> None:
    """Set the hall clock to a hall-local time like ``2026-11-27T09:40``."""
    clock.now = dt.datetime.fromisoformat(text).replace(tzinfo=TZ).astimezone(dt.UTC)


@pytest.fixture
def clock():
    return FakeClock(THU_0900.astimezone(dt.UTC))


@pytest.fixture
def hall(tmp_path, clock):
    with RunningServer(booking_config(f"sqlite:///{tmp_path / 'hall.db'}"), clock=clock) as srv:
        yield srv


@pytest.fixture
def links(hall, qtbot):
    made: list[Link] = []
    yield made
    for link in made:  # before the server stops: it need not wait for them
        link.close()
    wait_disconnected(qtbot, hall)


def make_kiosk(qtbot, hall, clock, printer, links, lang="zh") -> KioskController:
    window = KioskWindow()
    qtbot.addWidget(window)
    window.resize(1080, 1920)
    window.show()
    link = Link(hall.url, "kiosk-1", TOKEN("kiosk-1"), parent=window, timeout_ms=3000,
                backoff=(0.05, 0.3))
    links.append(link)
    # The kiosk runs on the hall's clock too: its timers and "today" agree.
    state = KioskState(clock, server_url=hall.url, lang=lang)
    ctl = KioskController(link, printer, state=state, window=window)
    with qtbot.waitSignal(ctl.ready, timeout=10000):
        link.open()
    return ctl


def tap(qtbot, widget):
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def book(hall, slot: str, name: str = "王芳", phone: str = "13812345678") -> str:
    """Book ``slot`` of gjj over the protocol; return the booking code."""
    with hall.client("booking-1") as portal:
        reply = portal.request("book", service="gjj", slot=slot, name=name, phone=phone)
    assert reply["type"] == "ok", reply
    return reply["booking"]["code"]


def type_code(qtbot, ctl: KioskController, code: str) -> None:
    """Open the check-in screen and type ``code`` on the on-screen keypad."""
    w = ctl.window
    tap(qtbot, w.checkin_button)
    assert w.page_name() == "checkin"
    for key in code:
        tap(qtbot, w.keypad.keys[key])
    assert ctl.state.code == code


def check_in(qtbot, ctl: KioskController, code: str) -> tuple[dict, str]:
    """Type ``code``, tap the check-in key, wait for the print; (ticket, error kind)."""
    type_code(qtbot, ctl, code)
    with qtbot.waitSignal(ctl.printed, timeout=10000) as sig:
        tap(qtbot, ctl.window.keypad.submit_button)
    return sig.args[0], sig.args[1]


def booking_status(hall, code: str) -> dict:
    return hall.call(lambda: hall.server.service.feature(Bookings).get(code))


def test_check_in_on_time_gives_an_appointment_ticket_served_first(
        qtbot, hall, clock, links):
    code = book(hall, f"{FRI}T10:00")
    at(clock, f"{FRI}T09:20")
    with hall.client("kiosk-2") as other:  # walk-ins of the same service, earlier
        walk_ins = [other.request("issue", service="gjj")["ticket"] for _ in range(2)]
    assert [t["number"] for t in walk_ins] == ["A001", "A002"]

    at(clock, f"{FRI}T09:40")  # 20 min before the slot: inside the window
    printer = FakePrinter()
    ctl = make_kiosk(qtbot, hall, clock, printer, links)
    w = ctl.window
    ticket, error = check_in(qtbot, ctl, code)

    assert error == ""
    assert ticket["priority"] == "appointment" and ticket["number"] == "A003"
    assert ticket["slot_start"] == "2026-11-27T10:00:00+08:00"
    # The ticket screen: number, the 预约 mark, no late note.
    assert w.page_name() == "ticket"
    assert w.ticket_number.text() == "A003"
    assert not w.ticket_mark.isHidden() and w.ticket_mark.text() == "预约"
    assert w.ticket_note.isHidden()
    # The paper has the mark too, above the number.
    assert len(printer.printed) == 1
    regions = ticket_regions(printer.printed[0])
    assert "marker" in regions and regions["marker"].bottom() < regions["number"].top()
    booking = booking_status(hall, code)
    assert (booking["status"], booking["ticket"]) == ("checked_in", ticket["id"])

    with hall.client("counter-2") as counter:
        assert counter.request("login", staff="s002", pin=PIN)["type"] == "ok"
        # Before its slot starts the appointment waits behind the walk-ins ...
        first = counter.request("call_next")
        assert first["ticket"]["id"] == walk_ins[0]["id"], first
        assert counter.request("complete")["type"] == "ok"
        at(clock, f"{FRI}T10:01")
        # ... once it started, it is served before the earlier walk-in A002.
        second = counter.request("call_next")
        assert second["ticket"]["id"] == ticket["id"], second
        assert counter.request("complete")["type"] == "ok"
        assert counter.request("call_next")["ticket"]["id"] == walk_ins[1]["id"]


def test_late_check_in_gives_a_normal_ticket_with_the_servers_message(
        qtbot, hall, clock, links):
    code = book(hall, f"{FRI}T10:00")
    at(clock, f"{FRI}T10:16")  # 16 min after the slot; the window closed at 10:15
    printer = FakePrinter()
    ctl = make_kiosk(qtbot, hall, clock, printer, links)
    w = ctl.window
    ticket, error = check_in(qtbot, ctl, code)

    assert error == "" and ticket["priority"] == "normal" and ticket["number"] == "A001"
    assert w.page_name() == "ticket" and w.ticket_number.text() == "A001"
    assert w.ticket_mark.isHidden()  # no 预约 mark on a normal ticket
    assert not w.ticket_note.isHidden()
    note = w.ticket_note.text()
    assert "迟到" in note and "10:00" in note and "late" in note
    assert len(printer.printed) == 1
    assert "marker" not in ticket_regions(printer.printed[0])
    assert booking_status(hall, code)["status"] == "late"
    # Once only: a second check-in with the same code issues nothing.
    ctl.state.go_home()
    ctl.render()
    type_code(qtbot, ctl, code)
    tap(qtbot, w.keypad.submit_button)
    qtbot.waitUntil(lambda: ctl.state.pending is None, timeout=10000)
    assert w.page_name() == "checkin" and len(printer.printed) == 1
    assert w.checkin_notice_text.text() == "该预约码已签到或已取消，如有疑问请联系工作人员"
    assert "already checked in or cancelled" in w.checkin_notice_alt.text()


def test_closed_check_in_reply_carries_opens_at(hall, clock):
    code = book(hall, f"{FRI}T10:00")
    with hall.client("kiosk-1") as kiosk:
        day_before = kiosk.request("check_in", code=code)
        at(clock, f"{FRI}T09:20")
        same_day = kiosk.request("check_in", code=code)
    for reply in (day_before, same_day):
        assert reply["type"] == "error" and reply["code"] == "closed", reply
        assert reply["opens_at"] == "2026-11-27T09:30:00+08:00"
        assert reply["message"]  # the text for people stays


def test_early_check_in_says_from_when_and_issues_nothing(qtbot, hall, clock, links):
    code = book(hall, f"{FRI}T10:00")
    printer = FakePrinter()
    ctl = make_kiosk(qtbot, hall, clock, printer, links)  # Thursday: the day before
    w = ctl.window
    type_code(qtbot, ctl, code)
    tap(qtbot, w.keypad.submit_button)
    qtbot.waitUntil(lambda: ctl.state.pending is None, timeout=10000)
    assert w.checkin_notice_text.text() == "未到签到时间，请于 2026-11-27 09:30 起签到"
    at(clock, f"{FRI}T09:20")  # the day itself, 10 min before the window
    ctl.state.touch()  # before any tick: a day's jump must not count as idle time
    tap(qtbot, w.keypad.submit_button)
    qtbot.waitUntil(lambda: ctl.state.pending is None, timeout=10000)
    assert w.page_name() == "checkin"
    assert w.checkin_notice_text.text() == "未到签到时间，请于 09:30 起签到"
    assert w.checkin_notice_alt.text() == "Check-in is not open yet: please check in from 09:30"
    assert printer.printed == [] and booking_status(hall, code)["status"] == "booked"
    at(clock, f"{FRI}T09:30")  # the window opens: the same code now checks in
    ctl.state.touch()
    with qtbot.waitSignal(ctl.printed, timeout=10000) as sig:
        tap(qtbot, w.keypad.submit_button)
    assert sig.args[0]["priority"] == "appointment"


@pytest.mark.parametrize(("lang", "expected", "other"), [
    ("zh", "未找到该预约码，请核对后重试", "Booking code not found: please check it"),
    ("en", "Booking code not found: please check it", "未找到该预约码，请核对后重试"),
])
def test_unknown_code_shows_not_found(qtbot, hall, clock, links, lang, expected, other):
    book(hall, f"{FRI}T10:00")  # the hall has bookings, just not this one
    at(clock, f"{FRI}T09:40")
    printer = FakePrinter()
    ctl = make_kiosk(qtbot, hall, clock, printer, links, lang=lang)
    w = ctl.window
    type_code(qtbot, ctl, "ZZZZ9999")
    tap(qtbot, w.keypad.submit_button)
    qtbot.waitUntil(lambda: ctl.state.pending is None, timeout=10000)
    assert w.page_name() == "checkin"
    assert w.checkin_notice_text.text() == expected and w.checkin_notice_alt.text() == other
    assert printer.printed == []
    with hall.client("board-1") as board:
        assert board.welcome["snapshot"]["queues"]["gjj"]["waiting"] == 0


def test_closed_reply_without_a_time_still_says_check_in_is_not_open():
    # A server whose message names no time: the kiosk's own words, no guess.
    state = KioskState(server_url="ws://127.0.0.1:1/ws")
    state.set_status("online")
    state.open_checkin()
    for key in "ABCD2345":
        state.press(key)
    request = state.submit_code()
    assert request is not None and request.fields == {"code": "ABCD2345"}
    state.apply_reply(request, {"type": "error", "code": "closed", "message": "not yet"})
    assert state.notice_text() == "未到签到时间，请在预约时段前再来签到"
    assert state.notice_text("en").startswith("Check-in is not open yet")
    assert state.pending is None and state.screen == "checkin" and state.ticket is None
