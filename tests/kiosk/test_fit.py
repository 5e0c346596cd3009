"""Every kiosk screen fits the window exactly, at every common size, both
orientations and both languages; the check-in keys never move.

Overflow shows up as a window that grew past the size asked for, a page whose
minimum size exceeds the room it has, or a button not fully inside the window.
The 过号重排 screen is checked in its three states: typing, refused, re-queued.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QApplication, QPushButton, QWidget

from kiosk.app import fit_to_screen
from kiosk.state import KioskState
from kiosk.view import MIN_TOUCH, KioskWindow
from server.tools.screens.kiosk import SCREENS, sample_state

pytestmark = pytest.mark.gui

SIZES = [(1080, 1920), (1920, 1080), (768, 1366), (1366, 768), (1280, 800), (800, 1280),
         (1024, 768), (1440, 900)]


def on_window(window: QWidget, widget: QWidget) -> QRect:
    return QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())


def show_state(window: KioskWindow, state: KioskState, size: tuple[int, int]) -> None:
    window.resize(*size)
    window.render(state)
    window.show()
    QApplication.processEvents()
    window.render(state)
    QApplication.processEvents()


def show(window: KioskWindow, screen: str, lang: str, size: tuple[int, int]) -> None:
    show_state(window, sample_state(screen, lang), size)


def assert_fits(window: KioskWindow, where: str, size: tuple[int, int]) -> None:
    w, h = size
    assert (window.width(), window.height()) == size, where
    hint = window.minimumSizeHint()
    assert hint.width() <= w and hint.height() <= h, f"{where}: window needs {hint}"
    page = window.stack.currentWidget()
    need = page.minimumSizeHint()
    assert need.width() <= window.stack.width(), f"{where}: page needs {need}"
    assert need.height() <= window.stack.height(), f"{where}: page needs {need}"
    buttons = [b for b in window.findChildren(QPushButton) if b.isVisibleTo(window)]
    assert buttons, where
    for button in buttons:
        rect = on_window(window, button)
        assert window.rect().contains(rect), f"{where}: {button.objectName()} at {rect}"
        assert rect.height() >= MIN_TOUCH, f"{where}: {button.objectName()} {rect}"


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_screen_fits_exactly(qtbot, tmp_path, size):
    window = KioskWindow()
    qtbot.addWidget(window)
    w, h = size
    for lang in ("zh", "en"):
        for screen in SCREENS:
            show(window, screen, lang, size)
            assert_fits(window, f"{screen}-{lang} at {w}x{h}", size)
            if screen == "home":  # 过号重排 sits beside appointment and priority
                assert window.requeue_button.isVisibleTo(window)
            assert window.grab().save(str(tmp_path / f"{screen}-{lang}-{w}x{h}.png"))


def requeue_states(lang: str) -> dict[str, KioskState]:
    """过号重排 before its reply: a number half typed, and a refusal shown."""
    typing = sample_state("home", lang)
    typing.open_requeue()
    for key in "Q00":
        typing.press(key)
    refused = sample_state("home", lang)
    refused.open_requeue()
    request = refused.submit_requeue("Q009")
    assert request is not None
    refused.apply_reply(request, {"type": "error", "code": "not_found", "message": "no Q009"})
    assert refused.notice is not None
    return {"typing": typing, "refused": refused}


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_requeue_screen_fits_while_typing_and_refused(qtbot, size):
    window = KioskWindow()
    qtbot.addWidget(window)
    w, h = size
    for lang in ("zh", "en"):
        for name, state in requeue_states(lang).items():
            show_state(window, state, size)
            assert window.page_name() == "requeue"
            where = f"requeue-{name}-{lang} at {w}x{h}"
            assert_fits(window, where, size)
            assert window.requeue_keypad.submit_button.isVisibleTo(window), where


@pytest.mark.parametrize("size", [(1080, 1920), (1920, 1080), (1366, 768)])
def test_checkin_keys_do_not_move_when_a_message_shows(qtbot, size):
    window = KioskWindow()
    qtbot.addWidget(window)
    state = sample_state("checkin", "zh")
    window.resize(*size)
    window.render(state)
    window.show()
    QApplication.processEvents()
    keys = [window.keypad.submit_button, window.keypad.keys["1"], window.keypad.clear_button]
    before = [on_window(window, k) for k in keys]
    request = state.submit_code()  # "正在取号…" while the server answers
    assert request is not None
    window.render(state)
    QApplication.processEvents()
    assert window.checkin_notice.isVisible()
    assert [on_window(window, k) for k in keys] == before
    state.apply_reply(request, {"type": "error", "code": "not_found", "message": "no booking"})
    window.render(state)
    QApplication.processEvents()
    assert "未找到该预约码" in window.checkin_notice_text.text()
    assert [on_window(window, k) for k in keys] == before
    # the longest message fits its slot
    assert window.checkin_notice.height() <= window.checkin_slot.height()
    state.clear_code()
    window.render(state)
    QApplication.processEvents()
    assert not window.checkin_notice.isVisible()
    assert [on_window(window, k) for k in keys] == before


@pytest.mark.parametrize("size", [(1080, 1920), (1366, 768)])
def test_requeue_keys_do_not_move_for_a_message_or_the_result(qtbot, size):
    window = KioskWindow()
    qtbot.addWidget(window)
    state = requeue_states("zh")["typing"]
    show_state(window, state, size)
    pad = window.requeue_keypad
    keys = [pad.submit_button, pad.keys["1"], pad.clear_button]
    before = [on_window(window, k) for k in keys]
    state.press("9")
    request = state.submit_requeue()
    assert request is not None
    window.render(state)
    QApplication.processEvents()
    assert window.requeue_slot.frame.isVisible()  # "正在取号…"
    assert [on_window(window, k) for k in keys] == before
    state.apply_reply(request, {"type": "error", "code": "expired", "message": "too late"})
    window.render(state)
    QApplication.processEvents()
    assert "已超过过号重排时限" in window.requeue_slot.text.text()
    assert [on_window(window, k) for k in keys] == before
    request = state.submit_requeue()
    assert request is not None
    state.apply_reply(request, {"type": "ok", "ticket": {
        "id": "t1", "number": "Q009", "service": "gjjdk", "status": "waiting",
        "priority": "normal", "issued_at": "2026-11-26T09:12:40+08:00", "counter": None,
        "ahead": 3, "eta_s": 540, "check": "K7Q2M9XA"}})
    window.render(state)
    QApplication.processEvents()
    assert "Q009" in window.requeue_result.text() and window.requeue_result.isVisible()
    assert not window.requeue_slot.frame.isVisible()
    assert [on_window(window, k) for k in keys] == before


def test_default_window_fits_a_smaller_screen(qtbot):
    window = KioskWindow()
    qtbot.addWidget(window)
    area = window.screen().availableGeometry()
    w, h = fit_to_screen((1080, 1920), window)
    assert w <= area.width() and h <= area.height() - 40
    assert abs(w / h - 1080 / 1920) < 0.01  # same shape, only smaller
    assert fit_to_screen((area.width() // 2, area.height() // 2), window) == (
        area.width() // 2, area.height() // 2)  # fits already: unchanged
