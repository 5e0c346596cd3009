"""The rating pad: state rules, widgets with a FakeLink, and against a real server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from display.rating import LEVELS, REASONS, RatingPad, RatingState, RatingView
from tests.helpers.fakes import FakeLink
from tests.helpers.qt import wait_disconnected

WELCOME = {
    "type": "welcome", "counter": 3, "seq": 10,
    "hall": {"name": "测试政务服务中心", "counters": [{"number": 3, "name": "3号窗口"},
                                               {"number": 4, "name": "4号窗口"}]},
    "snapshot": {"counters": {"3": {"state": "open", "staff": {"id": "s001", "name": "王芳"}}}},
}


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def completed(tid: str = "t1", counter: int = 3, number: str = "A012") -> dict:
    return {"type": "event", "seq": 11, "name": "ticket.completed",
            "data": {"ticket": {"id": tid, "number": number}, "counter": counter}}


# ------------------------------------------------------------------ state
def test_state_offers_one_rating_per_completed_ticket_of_its_counter():
    clock = Clock()
    s = RatingState(clock, rate_timeout_s=60, thanks_s=4)
    s.on_welcome(WELCOME)
    assert s.mode == "idle" and s.idle_text() == "3号窗口 · 王芳 为您服务"
    assert s.tap(5) is None  # nothing to rate
    s.on_event(completed(counter=4))
    assert s.mode == "idle"  # another counter's ticket
    s.on_event(completed())
    assert s.mode == "rate" and s.ticket["number"] == "A012"
    assert s.tap(9) is None
    assert s.tap(4) == {"type": "rate", "ticket": "t1", "score": 4}
    assert s.mode == "sending" and s.tap(1) is None  # one tap only
    s.on_reply({"type": "ok"})
    assert s.mode == "thanks"
    clock.t += 4
    assert s.tick() and s.mode == "idle" and s.ticket is None
    s.on_event(completed())  # a replay of the same completion: not offered again
    assert s.mode == "idle"


def test_state_timeouts_errors_and_staff_changes():
    clock = Clock()
    s = RatingState(clock, rate_timeout_s=60, thanks_s=4)
    s.on_welcome(WELCOME)
    s.on_event(completed("t2"))
    clock.t += 59
    assert not s.tick() and s.mode == "rate"
    clock.t += 1
    assert s.tick() and s.mode == "idle"  # the citizen walked away
    s.on_event(completed("t3"))
    s.tap(4)
    s.on_reply({"type": "error", "code": "timeout"})
    assert s.mode == "rate" and "tap again" in s.message
    s.tap(4)
    s.on_reply({"type": "error", "code": "conflict"})  # already rated: thank anyway
    assert s.mode == "thanks"
    s.on_event({"name": "counter.closed", "data": {"counter": 3}})
    assert s.idle_text() == "3号窗口 · 窗口已关闭 Closed"
    s.on_event({"name": "counter.opened", "data": {"counter": 3,
                                                   "staff": {"id": "s002", "name": "李强"}}})
    assert s.idle_text() == "3号窗口 · 李强 为您服务"
    s.on_event({"name": "counter.paused", "data": {"counter": 3, "reason": ""}})
    assert "暂停" in s.idle_text()
    # a rating made elsewhere (a resend) closes the offer
    s.on_event(completed("t4"))
    s.on_event({"name": "ticket.rated", "data": {"ticket": {"id": "t4"}, "counter": 3}})
    assert s.mode == "thanks"


def test_state_bad_score_asks_why_then_sends_the_reason():
    clock = Clock()
    s = RatingState(clock, rate_timeout_s=60, thanks_s=4)
    s.on_welcome(WELCOME)
    s.on_event(completed())
    assert s.tap(2) is None and s.mode == "reason"  # 不满意: why?
    assert [zh for zh, _ in REASONS][:2] == ["服务态度差", "办事效率低"]
    s.toggle_reason("等候时间长")
    s.toggle_reason("服务态度差")
    s.toggle_reason("not a reason")  # ignored
    s.set_free_text("  排了  一个小时 ")
    assert s.submit_reason() == {"type": "rate", "ticket": "t1", "score": 2,
                                 "reason": "服务态度差、等候时间长；排了 一个小时"}
    assert s.mode == "sending"
    s.on_reply({"type": "error", "code": "timeout"})
    assert s.mode == "reason" and s.reasons == ["服务态度差", "等候时间长"]  # kept for a resend
    # back to the five levels: a wrong tap, then a good score has no reason
    s.back_to_levels()
    assert s.mode == "rate"
    assert s.tap(5) == {"type": "rate", "ticket": "t1", "score": 5}


def test_state_reason_page_timeout_still_sends_the_score():
    clock = Clock()
    s = RatingState(clock, rate_timeout_s=60, thanks_s=4)
    s.on_welcome(WELCOME)
    s.on_event(completed())
    s.tap(1)
    s.toggle_reason("其他")
    clock.t += 61
    assert s.tick() and s.mode == "sending"
    assert s.take_outbox() == {"type": "rate", "ticket": "t1", "score": 1, "reason": "其他"}
    assert s.take_outbox() is None


def test_state_closes_when_the_next_ticket_is_called():
    clock = Clock()
    s = RatingState(clock, rate_timeout_s=60, thanks_s=4)
    s.on_welcome(WELCOME)
    s.on_event(completed())
    s.on_event({"name": "ticket.called", "data": {"ticket": {"id": "t7"}, "counter": 4}})
    assert s.mode == "rate"  # another counter's call
    s.on_event({"name": "ticket.called", "data": {"ticket": {"id": "t7"}, "counter": 3}})
    assert s.mode == "idle" and s.ticket is None
    # mid-reason: the score given is sent, not lost
    s.on_event(completed("t8"))
    s.tap(2)
    s.on_event({"name": "ticket.called", "data": {"ticket": {"id": "t9"}, "counter": 3}})
    assert s.take_outbox() == {"type": "rate", "ticket": "t8", "score": 2}


# ------------------------------------------------------------------ widgets
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
