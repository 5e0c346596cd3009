"""The UTC helpers: aware everywhere, naive UTC only in the database."""

from __future__ import annotations

import datetime as dt

import pytest

from server.wire.clock import aware_utc, naive_utc, utcnow

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def test_utcnow_is_aware_utc() -> None:
    now = utcnow()
    assert now.utcoffset() == dt.timedelta(0)


def test_round_trip_through_naive_utc() -> None:
    local = dt.datetime(2026, 11, 26, 9, 30, tzinfo=SHANGHAI)
    stored = naive_utc(local, "issued_at")
    assert stored == dt.datetime(2026, 11, 26, 1, 30) and stored.tzinfo is None
    assert aware_utc(stored) == local
    assert naive_utc(None) is None and aware_utc(None) is None


def test_a_naive_or_foreign_value_is_refused() -> None:
    with pytest.raises(ValueError, match="issued_at must be timezone-aware"):
        naive_utc(dt.datetime(2026, 11, 26, 9), "issued_at")
    with pytest.raises(TypeError, match="time must be a datetime"):
        naive_utc("2026-11-26T09:00:00+08:00")  # type: ignore[call-overload]
