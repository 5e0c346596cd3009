"""The counter window driven through FakeLink (pytest-qt, offscreen)."""

from __future__ import annotations

import argparse

import pytest
from PySide6.QtCore import Qt

from counter.app import MAX_RETRIES, CounterController, configure, run
from counter.keys import merge_keys
from counter.state import CounterModel
from counter.view import CallDialog, ConfirmDialog, CounterWindow, PauseDialog, TransferDialog
from tests.counter.samples import T0, ticket, welcome
from tests.helpers.fakes import FakeClock, FakeLink

pytestmark = pytest.mark.gui


@pytest.fixture
def rig(qtbot):
    link = FakeLink()
    window = CounterWindow()
    qtbot.addWidget(window)
    ctl = CounterController(link, CounterModel(FakeClock(T0)), window, debounce_ms=10)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    link.open()
    link.push_welcome(welcome())
    return link, window, ctl


def answer_queue(link, qtbot, waiting):
    qtbot.waitUntil(lambda: bool(link.unanswered("queue")), timeout=2000)
    for r in link.unanswered("queue"):
        link.answer(r, waiting=waiting)


def log_in(link, window, qtbot, waiting=None):
    window.login.staff.setText("s001")
    window.login.pin.setText("1234")
    qtbot.mouseClick(window.login.button, Qt.MouseButton.LeftButton)
    (req,) = link.unanswered("login")
    assert req.message["staff"] == "s001" and req.message["pin"] == "1234"
    link.answer(req, staff={"id": "s001", "name": "王芳"})
    for r in link.unanswered("stats"):
        link.answer(r, ok=False, code="bad_request", message="unknown type")
    answer_queue(link, qtbot, waiting if waiting is not None else
                 [ticket("A013"), ticket("B004", service="bdc")])
    assert window.pages.currentWidget() is window.main


def enabled(window):
    return {a for a, b in window.buttons.items() if b.isEnabled()}


def test_login_bad_then_good_pin(rig, qtbot):
    link, window, _ = rig
    assert window.pages.currentWidget() is window.login
    window.login.staff.setText("s001")
    window.login.pin.setText("9999")
    qtbot.keyClick(window.login.pin, Qt.Key.Key_Return)
    (req,) = link.unanswered("login")
    assert not window.login.button.isEnabled()  # no double submit
    link.answer(req, ok=False, code="unauthorized", message="bad credentials")
    assert window.pages.currentWidget() is window.login
    assert "密码错误" in window.login.error.text()
    assert window.login.pin.text() == ""
    window.login.pin.setText("12")
    qtbot.wait(1100)  # a once-a-second repaint must not wipe what is typed
    assert window.login.pin.text() == "12"
    log_in(link, window, qtbot)
    assert "王芳 (s001)" in window.staff_label.text()
    assert window.table.rowCount() == 2
    assert window.queue_caption.text().endswith("(2)")


def test_buttons_follow_the_ticket(rig, qtbot):
    link, window, _ = rig
    log_in(link, window, qtbot)
    assert enabled(window) == {"call_next", "pause", "call"}
    assert "F1" in window.buttons["call_next"].text()
    assert "没有当前号" in window.buttons["recall"].toolTip()
    assert all(b.isVisible() for b in window.buttons.values())  # disabled, never hidden
    qtbot.mouseClick(window.buttons["call_next"], Qt.MouseButton.LeftButton)
    (req,) = link.unanswered("call_next")
    assert enabled(window) == set()  # waiting for the server
    link.answer(req, ticket=ticket("A013", status="called", counter=3))
    assert window.number_label.text() == "A013"
    assert "已呼叫" in window.detail_label.text() and "公积金业务" in window.detail_label.text()
    assert enabled(window) == {"recall", "start", "complete", "no_show", "transfer"}
    qtbot.mouseClick(window.buttons["start"], Qt.MouseButton.LeftButton)
    link.answer(link.unanswered("start")[0], ticket=ticket("A013", status="serving", counter=3))
    assert enabled(window) == {"complete", "transfer"}
    qtbot.mouseClick(window.buttons["complete"], Qt.MouseButton.LeftButton)
    link.answer(link.unanswered("complete")[0], ticket=ticket("A013", status="done", counter=3))
    assert window.number_label.text() == "—"
    link.push_event("ticket.completed", {"ticket": ticket("A013", status="done", counter=3)})
    assert "已办 1" in window.figures_label.text()


def test_function_keys(rig, qtbot):
    link, window, _ = rig
    log_in(link, window, qtbot)
    qtbot.keyClick(window, Qt.Key.Key_F2)  # recall: not legal, nothing sent
    assert not link.unanswered("recall")
    assert "没有当前号" in window.message.text()
    qtbot.wait(1100)  # the reason stays on screen across repaints
    assert "没有当前号" in window.message.text()
    qtbot.keyClick(window, Qt.Key.Key_F1)
    link.answer(link.unanswered("call_next")[0], ticket=ticket("A013", status="called",
                                                             counter=3))
    qtbot.keyClick(window, Qt.Key.Key_F2)
    link.answer(link.unanswered("recall")[0], ticket=ticket("A013", status="called", counter=3))
    qtbot.keyClick(window, Qt.Key.Key_F5)  # asks first: nothing sent yet
    assert isinstance(window.dialog, ConfirmDialog) and not link.unanswered("no_show")
    assert "A013" in window.dialog.question.text()
    qtbot.keyClick(window.dialog, Qt.Key.Key_Return)  # Enter confirms
    (req,) = link.unanswered("no_show")
    link.answer(req, ticket=ticket("A013", status="no_show", counter=3))
    assert window.number_label.text() == "—"


def test_configured_keys(qtbot):
    link = FakeLink()
    window = CounterWindow(merge_keys({"call_next": "F9", "recall": "F1"}))
    qtbot.addWidget(window)
    CounterController(link, CounterModel(FakeClock(T0)), window, debounce_ms=10)
    window.show()
    qtbot.waitExposed(window)
    link.push_welcome(welcome())
    log_in(link, window, qtbot)
    assert window.buttons["call_next"].text().startswith("F9")
    qtbot.keyClick(window, Qt.Key.Key_F1)  # now recall: illegal, nothing sent
    assert not link.unanswered("call_next")
    qtbot.keyClick(window, Qt.Key.Key_F9)
    assert link.unanswered("call_next")
    with pytest.raises(ValueError):
        window.set_keys({**window.keys, "start": "NotAKey+++"})


def test_double_click_calls_that_ticket(rig, qtbot):
    link, window, _ = rig
    log_in(link, window, qtbot)
    window._row_activated(1, 0)  # what a double-click on row 1 does
    (req,) = link.unanswered("call")
    assert req.message["ticket"] == "t-B004"


def test_f8_call_dialog(rig, qtbot):
    link, window, _ = rig
    log_in(link, window, qtbot)
    window.table.selectRow(1)
    qtbot.keyClick(window, Qt.Key.Key_F8)
    dialog = window.dialog
    assert isinstance(dialog, CallDialog) and dialog.number.text() == "B004"
    dialog.number.setText("a013")
    qtbot.keyClick(dialog.number, Qt.Key.Key_Return)
    (req,) = link.unanswered("call")
    assert req.message["ticket"] == "t-A013"


def test_transfer_picker(rig, qtbot):
    link, window, _ = rig
    log_in(link, window, qtbot)
    link.push_event("counter.paused", {"counter": 5, "reason": "会议"})
    qtbot.keyClick(window, Qt.Key.Key_F1)
    link.answer(link.unanswered("call_next")[0], ticket=ticket("A013", status="serving",
                                                             counter=3))
    qtbot.keyClick(window, Qt.Key.Key_F6)
    dialog = window.dialog
    assert isinstance(dialog, TransferDialog)
    rows = [dialog.list.item(i).text() for i in range(dialog.list.count())]
    # One list: services then counters, each with its state and queue.
    assert len(rows) == 4 and "不动产登记" in rows[0] and "税务缴纳" in rows[1]
    assert "5号窗口" in rows[2] and "暂停" in rows[2] and "7号窗口" in rows[3]
    assert "开放" in rows[3] and "人等候" in rows[3]
    assert not dialog.select({"counter": 5})  # paused: listed but not offered
    assert not dialog.select({"counter": 3})  # this counter
    # ↓ from the first row walks the one selection across services and counters,
    # skipping the paused counter.
    qtbot.keyClick(dialog.filter, Qt.Key.Key_Down)
    qtbot.keyClick(dialog.filter, Qt.Key.Key_Down)
    assert dialog.current().request == {"counter": 7}
    assert "7号窗口" in dialog.ok.text() and "A013 → 7号窗口" in dialog.summary.text()
    qtbot.keyClicks(dialog.filter, "tax")  # type to filter: the service and counter 7
    assert dialog.list.count() == 2 and dialog.current().request == {"service": "tax"}
    qtbot.keyClick(dialog.filter, Qt.Key.Key_Down)
    qtbot.keyClick(dialog.filter, Qt.Key.Key_Return)
    (req,) = link.unanswered("transfer")
    assert req.message["counter"] == 7 and "service" not in req.message
    link.answer(req, ticket=ticket("A013", status="waiting", counter=3))
    assert window.number_label.text() == "—" and window.dialog is None


def test_pause_and_resume(rig, qtbot):
    link, window, _ = rig
    log_in(link, window, qtbot)
    qtbot.mouseClick(window.buttons["pause"], Qt.MouseButton.LeftButton)
    dialog = window.dialog
    assert isinstance(dialog, PauseDialog)
    dialog.other.setText("培训")
    qtbot.keyClick(dialog.other, Qt.Key.Key_Return)
    (req,) = link.unanswered("pause")
    assert req.message["reason"] == "培训"
    link.answer(req)
    assert "暂停服务" in window.paused_label.text() and "培训" in window.paused_label.text()
    assert enabled(window) == {"pause"} and "恢复" in window.buttons["pause"].text()
    qtbot.keyClick(window, Qt.Key.Key_F7)
    (req,) = link.unanswered("resume")
    link.answer(req)
    assert window.paused_label.isHidden() and "call_next" in enabled(window)


def test_conflict_reply_refreshes(rig, qtbot):
    link, window, _ = rig
    log_in(link, window, qtbot)
    window._row_activated(0, 0)
    link.answer(link.unanswered("call")[0], ok=False, code="conflict",
                message="ticket A013 is not waiting")
    assert "A013 is not waiting" in window.message.text()
    answer_queue(link, qtbot, [ticket("B004", service="bdc")])
    assert window.table.rowCount() == 1


def test_events_refresh_the_queue_once(rig, qtbot):
    link, window, _ = rig
    log_in(link, window, qtbot)
    for n in range(5):
        link.push_event("ticket.issued", {"ticket": ticket(f"A02{n}")})
    qtbot.waitUntil(lambda: bool(link.unanswered("queue")), timeout=2000)
    qtbot.wait(30)
    assert len(link.unanswered("queue")) == 1


def test_offline_banner_and_resync(rig, qtbot):
    link, window, _ = rig
    log_in(link, window, qtbot)
    qtbot.keyClick(window, Qt.Key.Key_F1)
    (call,) = link.unanswered("call_next")
    link.set_status("offline")
    assert window.banner.isVisible() and "断开" in window.banner.text()
    assert enabled(window) == set()
    qtbot.keyClick(window, Qt.Key.Key_F1)
    assert len(link.sent) == len(set(link.sent))  # nothing new sent
    assert len(link.unanswered("call_next")) == 1
    link.set_status("connecting")
    link.push_welcome(welcome(state="open", staff={"id": "s001", "name": "王芳"}, seq=120))
    assert not window.banner.isVisible()
    assert not link.unanswered("login")  # the server kept the counter's session
    assert window.pages.currentWidget() is window.main
    assert enabled(window) == set()  # still waiting for the resent call_next
    # The link resent call_next with the same id; its reply lands now.
    link.answer(call, ticket=ticket("A013", status="called", counter=3))
    assert window.number_label.text() == "A013"
    assert "recall" in enabled(window)


def test_reconnect_after_server_lost_the_counter(rig, qtbot):
    link, window, _ = rig
    log_in(link, window, qtbot)
    link.set_status("offline")
    link.push_welcome(welcome(state="closed", seq=120))
    (relogin,) = link.unanswered("login")  # silently, with what the staff typed
    assert relogin.message["staff"] == "s001" and relogin.message["pin"] == "1234"
    assert window.pages.currentWidget() is window.main
    link.answer(relogin, staff={"id": "s001", "name": "王芳"})
    answer_queue(link, qtbot, [ticket("A013")])
    assert "call_next" in enabled(window)


def test_switch_staff_without_restart(rig, qtbot):
    link, window, _ = rig
    log_in(link, window, qtbot)
    assert window.logout_button.isEnabled()
    qtbot.mouseClick(window.logout_button, Qt.MouseButton.LeftButton)
    link.answer(link.unanswered("logout")[0])
    assert window.pages.currentWidget() is window.login
    window.login.staff.setText("s002")
    window.login.pin.setText("5678")
    qtbot.mouseClick(window.login.button, Qt.MouseButton.LeftButton)
    link.answer(link.unanswered("login")[0], staff={"id": "s002", "name": "李强"})
    assert "李强 (s002)" in window.staff_label.text()


def test_refused_device_banner(rig):
    link, window, _ = rig
    link.refused.emit({"type": "error", "code": "unauthorized", "message": "bad token"})
    assert window.banner.isVisible() and "bad token" in window.banner.text()


def test_cli_arguments(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    configure(parser)
    args = parser.parse_args([])
    assert args.server == "ws://127.0.0.1:8765/ws" and args.device == "counter-1"
    assert run(args) == 2  # neither --token-file nor --demo
    assert "--demo" in capsys.readouterr().err
    token = tmp_path / "tok"
    token.write_text("\n")
    assert run(parser.parse_args(["--token-file", str(token)])) == 2
    assert "empty" in capsys.readouterr().err
    assert run(parser.parse_args(["--server", "http://x/ws", "--demo"])) == 2
    assert "ws://" in capsys.readouterr().err


def test_timeout_is_retried_with_the_same_id(qtbot):
    link = FakeLink()
    window = CounterWindow()
    qtbot.addWidget(window)
    CounterController(link, CounterModel(FakeClock(T0)), window, debounce_ms=10)
    link.push_welcome(welcome())
    log_in(link, window, qtbot)
    window.trigger("call_next")
    (first,) = link.unanswered("call_next")
    link.answer(first, ok=False, code="timeout", message="no reply within 5000 ms")
    (again,) = link.unanswered("call_next")
    assert again.message == first.message  # same id: the server executes it once
    assert window.buttons["call_next"].isEnabled() is False  # still waiting
    link.answer(again, ticket=ticket("A013", status="called", counter=3))
    assert window.number_label.text() == "A013"
    # It gives up after MAX_RETRIES and says so; the staff decides.
    window.trigger("recall")
    for _ in range(MAX_RETRIES + 1):
        (r,) = link.unanswered("recall")
        link.answer(r, ok=False, code="timeout")
    assert not link.unanswered("recall")
    recalls = [r.message["id"] for r in link.sent if r.message["type"] == "recall"]
    assert len(recalls) == MAX_RETRIES + 1 and len(set(recalls)) == 1
    assert "无应答" in window.message.text()
    assert window.buttons["recall"].isEnabled()


def test_logout_leaves_the_login_form_empty(rig, qtbot):
    link, window, _ = rig
    log_in(link, window, qtbot)
    qtbot.mouseClick(window.logout_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(link.unanswered("logout")), timeout=2000)
    for r in link.unanswered("logout"):
        link.answer(r)
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.login, timeout=2000)
    # "switch staff": the previous clerk's id and PIN are gone
    assert window.login.staff.text() == ""
    assert window.login.pin.text() == ""
