"""Appointments from the phone: the booking API, the .ics file, and /book/ in Chromium."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from server.config import Appointments
from tests.helpers.server import RunningServer, small_config
from tests.helpers.tools import unavailable
from tests.web.test_api import call
from tests.web.test_phone_pages import as_phone
from tests.web.test_webboard import CHROMIUM, chromium


def booking_hall(tmp_path: Path) -> RunningServer:
    cfg = small_config(f"sqlite:///{tmp_path / 'hall.db'}")
    services = (dataclasses.replace(cfg.services[0], appointments=Appointments(capacity=1)),
                *cfg.services[1:])
    return RunningServer(dataclasses.replace(cfg, services=services))


def first_slot(srv: RunningServer) -> tuple[str, dict[str, Any]]:
    _s, _h, hall = call(f"{srv.http}/api/v1/halls/main")
    window = next(s["booking"] for s in hall["services"] if s["id"] == "gjj")
    assert [s["booking"] for s in hall["services"] if s["id"] != "gjj"] == [None, None]
    status, _h, slots = call(f"{srv.http}/api/v1/halls/main/slots?service=gjj"
                             f"&date={window['first']}")
    assert status == 200 and slots["slots"], slots
    return window["first"], slots["slots"][0]


def test_book_get_the_calendar_file_and_cancel(tmp_path) -> None:
    with booking_hall(tmp_path) as srv:
        _day, slot = first_slot(srv)
        assert slot["free"] == 1
        status, _h, made = call(f"{srv.http}/api/v1/halls/main/bookings", {
            "service": "gjj", "slot": slot["slot"], "name": "王芳", "phone": "13812345678"})
        assert status == 201, made
        booking = made["booking"]
        assert (booking["name"], booking["phone"]) == ("王*", "*******5678")
        # The slot is full now (capacity 1); the same person cannot book that day twice.
        status, _h, again = call(f"{srv.http}/api/v1/halls/main/bookings", {
            "service": "gjj", "slot": slot["slot"], "name": "李强", "phone": "13900000000"})
        assert status == 409 and again["code"] in ("conflict", "quota_reached"), again
        status, headers, text = call(f"{srv.http}{made['ics']}")
        assert status == 200 and headers["Content-Type"].startswith("text/calendar")
        lines = text.split("\r\n")
        assert lines[0] == "BEGIN:VCALENDAR" and "END:VEVENT" in lines
        assert any(line.startswith("DTSTART:") and line.endswith("Z") for line in lines)
        assert booking["code"] in text and "13812345678" not in text and "王芳" not in text
        status, _h, cancelled = call(
            f"{srv.http}/api/v1/halls/main/bookings/{booking['code']}/cancel", {})
        assert (status, cancelled["booking"]["status"]) == (200, "cancelled")
        status, _h, body = call(f"{srv.http}/api/v1/halls/main/bookings", {"service": "gjj"})
        assert (status, body["code"]) == (400, "bad_request")
        status, _h, body = call(f"{srv.http}/api/v1/halls/main/slots?service=tax&date=2026-12-01")
        assert (status, body["code"]) == (404, "not_found")


@pytest.mark.browser
def test_book_page_books_and_cancels(tmp_path) -> None:
    if not os.path.exists(CHROMIUM):
        unavailable("chromium is not installed (apt-get install chromium)")
    with booking_hall(tmp_path) as srv, chromium(tmp_path / "profile") as page_ws:
        asyncio.run(_drive(srv, page_ws))


async def _drive(srv: RunningServer, page_ws: str) -> None:
    async with connect(page_ws, max_size=2**26) as ws:
        cdp = await as_phone(ws, f"{srv.http}/book/main")
        await cdp.wait_for("document.querySelectorAll('input[name=slot]').length > 0")
        await cdp.js("document.getElementById('name').value = '王芳';"
                     "document.getElementById('phone').value = '13812345678';"
                     "document.querySelector('#book button[type=submit]').click()")
        await cdp.wait_for("document.getElementById('done').style.display === 'block'")
        code = await cdp.js("document.getElementById('code').textContent")
        href = await cdp.js("document.getElementById('ics').getAttribute('href')")
        assert len(code) == 8 and href == f"/api/v1/halls/main/bookings/{code}.ics"
        assert await cdp.js("document.documentElement.scrollWidth") <= 390
        await cdp.js("document.querySelector('#cancel button').click()")
        await cdp.wait_for("document.getElementById('cancel-msg').textContent"
                           f".startsWith('已取消 {code}')")
    _s, _h, booking = call(f"{srv.http}/api/v1/halls/main/bookings/{code}/cancel", {})
    assert booking["code"] in ("conflict", "expired", "bad_request"), booking
