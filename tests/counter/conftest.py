"""Fixtures shared by the counter's state tests (no Qt)."""

from __future__ import annotations

import pytest

from counter.state import CounterModel
from tests.counter.samples import T0, welcome
from tests.helpers.fakes import FakeClock


@pytest.fixture
def clock():
    return FakeClock(T0)


@pytest.fixture
def st(clock):
    """A counter state online with the sample welcome, nobody logged in."""
    s = CounterModel(clock)
    s.set_status("online")
    s.apply_welcome(welcome())
    return s
