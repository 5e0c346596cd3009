"""Shared kiosk fixtures."""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk.app import KioskController
from kiosk.state import KioskState
from kiosk.view import KioskWindow
from server.tools.screens.kiosk import sample_welcome
from tests.helpers.fakes import FakeClock, FakeLink, FakePrinter

KIOSK_T0 = dt.datetime(2026, 11, 26, 1, 41, tzinfo=dt.UTC)  # 09:41 in Shanghai: all open


@pytest.fixture
def kiosk(qtbot):
    """A portrait kiosk window on the demo hall over a FakeLink and FakePrinter."""
    clock = FakeClock(KIOSK_T0)
    link, printer = FakeLink(), FakePrinter()
    window = KioskWindow()
    qtbot.addWidget(window)
    window.resize(1080, 1920)
    window.show()
    ctl = KioskController(link, printer, state=KioskState(clock), window=window)
    link.push_welcome(sample_welcome())
    ctl.clock = clock
    return ctl
