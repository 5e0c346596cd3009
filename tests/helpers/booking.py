"""A hall that takes appointments, for the booking tests and their worker processes."""

from __future__ import annotations

import dataclasses

from server.config import Appointments, Device, HallConfig
from tests.helpers.server import TOKEN, _hash, small_config

__all__ = ["booking_config"]


def booking_config(db_url: str, **rules: int) -> HallConfig:
    """small_config with a booking device and appointments on gjj."""
    base = small_config(db_url)
    appt = Appointments(**{"slot_minutes": 30, "capacity": 2, "book_min_days": 1,
                           "book_max_days": 5, "early_checkin_min": 30,
                           "late_checkin_min": 15, "max_misses": 2, "block_days": 90,
                           **rules})
    gjj = dataclasses.replace(base.services[0], appointments=appt)
    devices = base.devices + (Device("booking-1", "booking", _hash(TOKEN("booking-1"))),)
    return dataclasses.replace(base, services=(gjj, *base.services[1:]), devices=devices)
