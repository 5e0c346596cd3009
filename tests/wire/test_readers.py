"""The wire readers the apps share (they had two subtly different copies)."""

from __future__ import annotations

import datetime as dt

import pytest

import counter.state
import display.state
from server.wire.readers import counter_number, parse_time

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def test_both_apps_read_with_the_one_reader() -> None:
    assert counter.state.parse_time is parse_time
    assert counter.state.counter_number is counter_number
    assert display.state.parse_time is parse_time
    assert display.state.counter_number is counter_number


def test_a_time_with_its_offset_is_read_as_it_is() -> None:
    t = parse_time("2026-11-26T09:00:00+08:00")
    assert t == dt.datetime(2026, 11, 26, 9, tzinfo=SHANGHAI)
    assert t is not None and t.utcoffset() == dt.timedelta(hours=8)
    assert parse_time("2026-11-26T01:00:00Z") == dt.datetime(2026, 11, 26, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize("value", [
    "2026-11-26T09:00:00",  # naive: the counter app used to guess UTC (8 h off here)
    "nonsense", "", None, 1764118800, ["2026-11-26T09:00:00+08:00"],
])
def test_unreadable_times_are_none(value: object) -> None:
    assert parse_time(value) is None


@pytest.mark.parametrize(("value", "expected"), [
    (3, 3), ("3", 3), ("12", 12), ({"number": 4, "name": "4号窗口"}, 4), ({"number": "5"}, 5),
    (True, None), (False, None), (None, None), ("", None), ("3a", None), (3.0, None),
    (" 3", None),  # the counter app stripped spaces, the display did not
    ({"number": {"number": 3}}, None),  # the counter app recursed, the display did not
    ("²", None), ("١٢", None),  # non-ASCII digits: both crashed or misread them
    ({"name": "x"}, None),
])
def test_counter_numbers(value: object, expected: int | None) -> None:
    assert counter_number(value) == expected
