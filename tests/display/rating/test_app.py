"""The rating pad's widgets through its controller: a FakeLink, then a real server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from display.rating.app import RatingPad
from display.rating.state import LEVELS, RatingState
from display.rating.view import RatingView
from tests.display.rating.samples import WELCOME, Clock
from tests.helpers.fakes import FakeLink
from tests.helpers.qt import wait_disconnected

pytestmark = pytest.mark.gui


@pytest.fixture
def pad(qtbot):
    link = FakeLink()
    view = RatingView()
    qtbot.add_widget(view)
    view.resize(800, 480)
    view.show()
    clock = Clock()
    controller = RatingPad(link, RatingState(clock, thanks_s=4), view)
    link.push_welcome(WELCOME)
    yield link, view, controller, clock
    controller.stop()


def _shot(view: RatingView, name: str) -> None:
    # QHALL_SCREENS=docs/screens refreshes the documentation screenshots.
    folder = os.environ.get("QHALL_SCREENS")
    if folder:
        view.grab().save(str(Path(folder) / f"rating-{name}.png"))


def test_pad_flow_with_a_fake_link(pad, qtbot):
    link, view, controller, clock = pad
    assert view.stack.currentWidget() is view.idle_page
    assert view.idle_label.text() == "3号窗口 · 王芳 为您服务"
    _shot(view, "idle")
    link.push_event("ticket.completed", {"ticket": {"id": "t9", "number": "A012"},
                                         "counter": 3})
    assert view.stack.currentWidget() is view.rate_page
    assert [b.zh for b in view.buttons.values()] == [zh for _, zh, _, _ in LEVELS]
    assert "A012" in view.ticket_label.text()
    _shot(view, "rate")
    view.buttons[1].click()
    assert view.stack.currentWidget() is view.reason_page  # 非常不满意: why?
    assert not link.unanswered("rate")
    view.reason_buttons["办事效率低"].click()
    assert view.reason_buttons["办事效率低"].isChecked()
    view.reason_edit.setFocus()
    qtbot.keyClicks(view.reason_edit, "abc")
    _shot(view, "reason")
    view.reason_submit.click()
    [sent] = link.unanswered("rate")
    assert (sent.message["ticket"], sent.message["score"]) == ("t9", 1)
    assert sent.message["reason"] == "办事效率低；abc"
    assert not view.buttons[5].isEnabled()  # no second tap while sending
    view.buttons[5].click()
    assert len(link.sent) == 1
    link.answer(sent)
    assert view.stack.currentWidget() is view.thanks_page
    assert view.thanks.text() == "感谢您的评价" and view.thanks_en.text() == "Thank you"
    _shot(view, "thanks")
    clock.t += 5
    controller._tick()
    assert view.stack.currentWidget() is view.idle_page
    link.set_status("offline")
    assert "Offline" in view.status.text()


def test_pad_returns_to_idle_when_the_next_ticket_is_called(pad):
    link, view, _controller, _clock = pad
    link.push_event("ticket.completed", {"ticket": {"id": "t9", "number": "A012"},
                                         "counter": 3})
    assert view.stack.currentWidget() is view.rate_page
    link.push_event("ticket.called", {"ticket": {"id": "t10", "number": "A013"}, "counter": 3})
    assert view.stack.currentWidget() is view.idle_page
    assert not link.sent


def test_pad_scales(pad):
    _link, view, _controller, _clock = pad
    view.resize(1600, 960)
    assert view.title.font().pixelSize() == 68


# ------------------------------------------------------------------ real server
def test_pad_against_a_real_server(qtbot, tmp_path):
    from server.client.qtlink import Link
    from tests.helpers.server import PIN, TOKEN, RunningServer, small_config

    with RunningServer(small_config(f"sqlite:///{tmp_path / 'hall.db'}")) as srv:
        link = Link(srv.url, "evaluator-2", TOKEN("evaluator-2"))
        view = RatingView()
        qtbot.add_widget(view)
        controller = RatingPad(link, RatingState(thanks_s=0.2), view)
        with qtbot.waitSignal(link.welcomed, timeout=10000):
            link.open()
        assert controller.state.counter == 2  # from the hall configuration
        with srv.client("kiosk-1") as kiosk, srv.client("counter-2") as desk:
            ticket = kiosk.request("issue", service="gjj")["ticket"]
            desk.request("login", staff="s002", pin=PIN)
            desk.request("call_next")
            desk.request("complete")
        qtbot.waitUntil(lambda: view.stack.currentWidget() is view.rate_page, timeout=10000)
        assert view.idle_label.text() == "2号窗口 · 李强 为您服务"
        view.buttons[2].click()  # 不满意: a bad rating asks why
        view.reason_buttons["服务态度差"].click()
        view.reason_submit.click()
        qtbot.waitUntil(lambda: controller.state.mode == "thanks", timeout=10000)
        qtbot.waitUntil(lambda: controller.state.mode == "idle", timeout=5000)
        with srv.client("admin-1") as admin:
            cases = admin.request("followups")["followups"]
            assert [(c["ticket"], c["score"], c["reason"]) for c in cases] == [
                (ticket["id"], 2, "服务态度差")]
        # one rating per ticket: the server refuses a second one
        with srv.client("evaluator-2") as other:
            again = other.request("rate", ticket=ticket["id"], score=5)
            assert again["code"] == "conflict"
        controller.stop()
        link.close()
        wait_disconnected(qtbot, srv)  # the socket closed before the server stops
