"""过号重排 on the kiosk: the screen, the scanner (it types like a keyboard,
Enter at the end) and the keypad; widgets with a FakeLink, then the real
kiosk against the real server."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from kiosk.app import KioskController
from kiosk.state import KioskState
from kiosk.view import KioskWindow
from server.client.qtlink import Link
from tests.helpers.fakes import FakePrinter
from tests.helpers.server import PIN, TOKEN, RunningServer, small_config
from tests.kiosk.test_view import ticket

pytestmark = pytest.mark.gui


def test_requeue_screen_from_home_and_scanner_input(qtbot, kiosk):
    w = kiosk.window
    assert w.requeue_button.isVisible() and "过号重排" in w.requeue_button.title.text()
    qtbot.mouseClick(w.requeue_button, Qt.MouseButton.LeftButton)
    assert w.page_name() == "requeue"
    assert "二维码" in w.requeue_hint.text() and "QR code" in w.requeue_hint.text()
    # The scanner types the QR's text and Enter into the focused field.
    w.scan_input.setFocus()
    qtbot.keyClicks(w.scan_input, "https://qh.example.gov.cn/t/ABCDEFGH")
    qtbot.keyClick(w.scan_input, Qt.Key.Key_Return)
    [req] = kiosk.link.unanswered("requeue")
    assert req.message["check"] == "ABCDEFGH" and w.scan_input.text() == ""
    kiosk.link.answer(req, ok=False, code="expired", message="too late")
    # in the page's own message slot, not the bottom bar: the keys stay put
    assert "已超过过号重排时限" in w.requeue_slot.text.text()
    assert "Too late" in w.requeue_slot.alt.text()
    assert w.requeue_slot.frame.isVisible() and not w.notice_holder.isVisible()
    assert w.page_name() == "requeue" and kiosk.printer.printed == []


def test_requeue_by_keypad_shows_where_it_stands(qtbot, kiosk):
    kiosk.window.intent.emit("requeue", None)
    for key in "P012":
        kiosk.window.intent.emit("key", key)
    assert kiosk.window.requeue_code.text() == "P 0 1 2"
    kiosk.window.intent.emit("requeue_submit", None)
    [req] = kiosk.link.unanswered("requeue")
    assert req.message["number"] == "P012"
    kiosk.link.answer(req, ticket=ticket(ahead=3, eta_s=0))
    text = kiosk.window.requeue_result.text()
    assert "P012 已重新排队" in text and "前面等候 3 人" in text and "即将叫号" in text
    assert kiosk.printer.printed == []  # the citizen keeps the paper ticket


def test_scanning_a_phone_ticket_confirms_the_arrival(qtbot, kiosk):
    """A ticket taken on a phone, scanned at the kiosk: the server marks its
    citizen present (reply ``arrived``); the kiosk says so, not 已重新排队."""
    w = kiosk.window
    w.intent.emit("scan", "https://qh.example.gov.cn/t/ABCDEFGH")
    [req] = kiosk.link.unanswered("requeue")
    kiosk.link.answer(req, ticket=ticket("A031", remote=True, present=True, ahead=2),
                      arrived=True)
    text = w.requeue_result.text()
    assert "A031 已确认到达" in text and "前面等候 2 人" in text and "重新排队" not in text
    kiosk.window.intent.emit("lang", None)
    assert "A031: arrival confirmed" in w.requeue_result.text()
    # A real 过号重排 after it (no `arrived`): the usual words again.
    kiosk.window.intent.emit("lang", None)
    w.intent.emit("scan", "https://qh.example.gov.cn/t/KLMNPQRS")
    [req] = kiosk.link.unanswered("requeue")
    kiosk.link.answer(req, ticket=ticket("A007", ahead=3))
    assert "A007 已重新排队" in w.requeue_result.text()


def test_scan_from_home_opens_the_requeue_screen(qtbot, kiosk):
    w = kiosk.window
    assert w.page_name() == "home"
    qtbot.keyClicks(w, "http://10.0.0.5:8765/t/ABCDEFGH")  # the scanner, no field focused
    assert kiosk.link.unanswered("requeue") == []  # nothing until its Enter
    qtbot.keyClick(w, Qt.Key.Key_Return)
    assert w.page_name() == "requeue"
    assert kiosk.link.unanswered("requeue")[0].message["check"] == "ABCDEFGH"


def test_real_server_requeues_a_no_show_by_its_qr(qtbot, tmp_path):
    with RunningServer(small_config(f"sqlite:///{tmp_path}/h.db")) as srv:
        window = KioskWindow()
        qtbot.addWidget(window)
        window.show()
        link = Link(srv.url, "kiosk-1", TOKEN("kiosk-1"), parent=window, timeout_ms=3000)
        ctl = KioskController(link, FakePrinter(), state=KioskState(server_url=srv.url),
                              window=window)
        with qtbot.waitSignal(ctl.ready, timeout=10000):
            link.open()
        try:
            with srv.client("kiosk-2") as other, srv.client("counter-1") as desk:
                t = other.request("issue", service="gjj")["ticket"]
                later = other.request("issue", service="gjj")["ticket"]
                assert desk.request("login", staff="s001", pin=PIN)["type"] == "ok"
                desk.request("call_next")
                desk.request("no_show")
                qr = f"{srv.http}/t/{t['check']}"  # what the printed QR holds
                window.intent.emit("scan", qr)
                qtbot.waitUntil(lambda: ctl.state.requeued is not None, timeout=10000)
                assert ctl.state.requeued["number"] == t["number"]
                assert ctl.state.requeued["status"] == "waiting"
                assert t["number"] in window.requeue_result.text()
                # Scanning it again: it is waiting now, not a no-show.
                window.intent.emit("scan", qr)
                qtbot.waitUntil(lambda: ctl.state.notice is not None
                                and ctl.state.notice.key == "requeue_not_missed", timeout=10000)
                # Back a few places (requeue_places): behind the one who waited.
                assert desk.request("call_next")["ticket"]["number"] == later["number"]
        finally:
            link.close()
            qtbot.wait(200)
