"""The ticket scanner (kiosk/scanner.py): any suffix (Enter, Tab, CR, LF), any
focus (none, a button, the search box); a person's typing still types.

The scanner is a keyboard: ``qtbot.keyClicks`` sends its burst (no event loop
runs between the keys, as with a real burst); a person's keys come with the
loop running between them (``qtbot.waitUntil``)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication

pytestmark = pytest.mark.gui

QR = "https://qh.example.gov.cn/t/ABCDEFGH"  # what a printed ticket's QR holds


def scanned(kiosk) -> list[str]:
    return [r.message.get("check") for r in kiosk.link.unanswered("requeue")]


@pytest.mark.parametrize("suffix", ["tab", "lf", "cr"])
def test_scan_from_home_with_any_suffix(qtbot, kiosk, suffix):
    w = kiosk.window
    qtbot.keyClicks(w, QR)
    if suffix == "tab":
        qtbot.keyClick(w, Qt.Key.Key_Tab)
    else:  # LF arrives as Ctrl+J, CR as Ctrl+M: the text tells them
        key, text = (Qt.Key.Key_J, "\n") if suffix == "lf" else (Qt.Key.Key_M, "\r")
        QApplication.sendEvent(w, QKeyEvent(QEvent.Type.KeyPress, key,
                                            Qt.KeyboardModifier.ControlModifier, text))
    assert w.page_name() == "requeue" and scanned(kiosk) == ["ABCDEFGH"]


def test_scan_ending_in_tab_while_a_button_has_the_focus(qtbot, kiosk):
    """A focused button takes Tab to move the focus: the scan ends anyway."""
    button = kiosk.window.requeue_button
    qtbot.keyClicks(button, QR)
    qtbot.keyClick(button, Qt.Key.Key_Tab)
    assert kiosk.window.page_name() == "requeue" and scanned(kiosk) == ["ABCDEFGH"]


def test_scan_while_the_search_box_has_the_focus(qtbot, kiosk):
    w = kiosk.window
    w.intent.emit("search", None)
    w.query_edit.setFocus()
    qtbot.keyClick(w.query_edit, "g")  # a person: the key shows after a pause
    qtbot.waitUntil(lambda: w.query_edit.text() == "g")
    assert kiosk.state.query == "g"
    qtbot.keyClicks(w.query_edit, QR)  # the scanner, into the focused search box
    qtbot.keyClick(w.query_edit, Qt.Key.Key_Return)
    assert w.page_name() == "requeue" and scanned(kiosk) == ["ABCDEFGH"]
    assert kiosk.state.query == "g"  # the scan never went into the search text


def test_typing_in_the_search_box_still_types(qtbot, kiosk):
    w = kiosk.window
    w.intent.emit("search", None)
    w.query_edit.setFocus()
    # Fast keys and Enter that read as no ticket: typing, not a scan.
    qtbot.keyClicks(w.query_edit, "gjj")
    qtbot.keyClick(w.query_edit, Qt.Key.Key_Return)
    assert w.query_edit.text() == "gjj" and kiosk.state.query == "gjj"
    assert w.page_name() == "search" and scanned(kiosk) == []
    qtbot.keyClicks(w.query_edit, "dk")
    qtbot.keyClick(w.query_edit, Qt.Key.Key_Backspace)  # after the keys before it
    assert w.query_edit.text() == "gjjd"
    qtbot.keyClick(w.query_edit, "k")
    qtbot.waitUntil(lambda: kiosk.state.query == "gjjdk")  # shown after a pause
    assert [t.key for t in w.result_tiles if t.isVisible()] == ["gjjdk"]


def test_keys_without_a_suffix_are_dropped(qtbot, kiosk):
    """Keys typed with no field focused, then a pause: no scan; the next scan
    is read alone."""
    w = kiosk.window
    qtbot.keyClicks(w, "xyz")
    qtbot.waitUntil(lambda: not w.scanner.holding)
    qtbot.keyClicks(w, QR)
    qtbot.keyClick(w, Qt.Key.Key_Return)
    assert scanned(kiosk) == ["ABCDEFGH"]
