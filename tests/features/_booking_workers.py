"""Worker processes for test_booking_race (spawned children import this module).

Each worker is one ``qhall book`` at the same instant: its own process, its
own Store on the shared database, the same booking code path as the CLI
(``Bookings.apply``: decide, then commit guarded, retry a lost race).
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from server.core import CoreError
from server.features.booking import Bookings
from server.service.api import Context
from server.store import Store
from tests.conftest import TEST_PII_KEY
from tests.helpers.booking import booking_config

__all__ = ["NOW", "SLOT", "book_worker", "init"]

#: Thursday 2026-11-26 09:00 in Shanghai; the slot is on Friday.
NOW = dt.datetime(2026, 11, 26, 1, 0, tzinfo=dt.UTC)
SLOT = "2026-11-27T10:00"

_barrier: Any = None


def init(barrier: Any) -> None:
    """Pool initializer: keep the shared start barrier (it can only be inherited).

    The workers may be spawned before a PostgreSQL round sets the hall's
    personal-data key in the test's environment, so they set it themselves.
    """
    global _barrier
    _barrier = barrier
    os.environ["QHALL_PII_KEY"] = TEST_PII_KEY


def book_worker(url: str, capacity: int, n: int) -> tuple[int, str]:
    """Book one place in SLOT for person ``n``; returns (n, "ok" or the error code)."""
    config = booking_config(url, capacity=capacity)
    with Store(url) as store:
        bookings = Bookings(Context(config, store, lambda: NOW))
        _barrier.wait(timeout=60)
        try:
            bookings.apply(lambda: bookings.plan_book(
                "gjj", SLOT, f"市民{n}", f"1380000{n:04d}", f"worker-{n}"))
        except CoreError as exc:
            return n, exc.code
    return n, "ok"
