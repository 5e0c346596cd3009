"""Appointments from the phone: the booking API and the calendar file.

The citizen's requests go through the hall service as the requests of one
built-in ``booking`` device (:data:`PHONE_DEVICE`), so they meet exactly the
rules of ``qhall book`` and the booking portal (slots, capacity, one per
person per day, cancel cut-off, the block after misses: server/features/
booking.py), are committed the same way and leave the same events.

- ``GET /api/v1/halls/<hall>/slots?service=ID&date=YYYY-MM-DD``
- ``POST /api/v1/halls/<hall>/bookings`` ``{"service", "slot", "name", "phone"}``
  -> 201 ``{"booking": {...}, "ics": "/api/v1/halls/<hall>/bookings/<code>.ics"}``
- ``POST /api/v1/halls/<hall>/bookings/<code>/cancel`` -> ``{"booking"}``
- ``GET /api/v1/halls/<hall>/bookings/<code>.ics``: the appointment as an
  iCalendar event (text/calendar), with the code in it.

The booking object carries masks only (``王*``, ``*******5678``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from server.config import Device, HallConfig
from server.features.booking import Bookings
from server.service import HallService, Reply, Session

__all__ = ["PHONE_DEVICE", "get", "request", "ics", "window"]

#: The device the phone's booking requests are made as (role ``booking``);
#: recorded as ``booked_by``. Never in the config, never reachable by a hello.
PHONE_DEVICE = Device("phone-web", "booking", "")


def request(hall: HallService, kind: str, /, **fields: Any) -> Reply:
    """Run one booking request (``slots``, ``book``, ``cancel_booking``) for a phone."""
    message = {"type": kind, "id": uuid.uuid4().hex, **fields}
    return hall.handle(Session(PHONE_DEVICE), message)


def get(hall: HallService, code: str) -> dict[str, Any]:
    """One booking (masks only) by its code.

    Raises:
        NotFound: no such code. LookupError: the hall takes no bookings at all.
    """
    return hall.feature(Bookings).get(code)


def _escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\n", "\\n"))


def _fold(line: str) -> str:
    """RFC 5545 folding: lines of at most 75 octets, continued with a space."""
    raw = line.encode()
    if len(raw) <= 75:
        return line
    parts: list[str] = []
    start = 0
    while start < len(raw):
        end = min(len(raw), start + (75 if not parts else 74))
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:  # not inside a character
            end -= 1
        parts.append(raw[start:end].decode())
        start = end
    return "\r\n ".join(parts)


def window(hall: HallService, service_id: str) -> dict[str, Any] | None:
    """For a service that takes appointments: the days that may be booked now
    (``first``, ``last``, ISO dates) and the slot length; else None."""
    svc = hall.config.service(service_id)
    if svc is None or svc.appointments is None:
        return None
    first, last = hall.feature(Bookings).bookable_days(svc.appointments)
    return {"first": first.isoformat(), "last": last.isoformat(),
            "slot_minutes": svc.appointments.slot_minutes}


def ics(config: HallConfig, booking: dict[str, Any], now: dt.datetime) -> str:
    """The booking as one iCalendar event (UTC times; the code in the summary)."""
    svc = config.service(str(booking["service"]))
    minutes = svc.appointments.slot_minutes if svc and svc.appointments else 30
    start = dt.datetime.fromisoformat(str(booking["slot"])).astimezone(dt.UTC)
    end = start + dt.timedelta(minutes=minutes)
    name = f"{svc.name} {svc.name_en}" if svc else str(booking["service"])
    stamp = "%Y%m%dT%H%M%SZ"
    where = f"{config.name}" + (f" {svc.zone}" if svc and svc.zone else "")
    summary = f"预约 Appointment: {name} ({booking['code']})"
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//qhall//booking//ZH", "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH", "BEGIN:VEVENT",
        f"UID:{booking['code']}@{config.id}.qhall",
        f"DTSTAMP:{now.astimezone(dt.UTC).strftime(stamp)}",
        f"DTSTART:{start.strftime(stamp)}",
        f"DTEND:{end.strftime(stamp)}",
        f"SUMMARY:{_escape(summary)}",
        f"LOCATION:{_escape(where)}",
        "DESCRIPTION:" + _escape(
            f"预约码 Booking code: {booking['code']}\n请在预约时段前到自助机输入预约码取号。"
            "\nCheck in at a kiosk with the code shortly before your slot."),
        "BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT30M",
        f"DESCRIPTION:{_escape('预约即将开始 Your appointment is in 30 minutes')}",
        "END:VALARM", "END:VEVENT", "END:VCALENDAR",
    ]
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
