"""The counter client against a real dispatch server (subprocess, demo hall).

One server per module, on a free loopback port with its own SQLite file.
The demo hall's opening hours are lifted (the test may run at night); all
else is the built-in demo hall: PIN 1234, device tokens ``demo-<device>``.
Each test uses its own counters and services so the tests stay independent.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from counter.app import CounterController
from counter.view import ConfirmDialog, CounterWindow, TransferDialog
from tests.helpers.server import free_port

pytestmark = [pytest.mark.gui, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PIN = "1234"


class ServerProcess:
    """``qhall serve`` in a subprocess that can be stopped and started again."""

    def __init__(self, config: Path, database: str) -> None:
        self.config, self.database = config, database
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log = config.with_suffix(".log")

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self) -> None:
        with self.log.open("ab") as log:  # the child keeps its own copy
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server", "serve", "--config", str(self.config),
                 "--port", str(self.port), "--database", self.database, "--quiet-requests",
                 "--log-level", "WARNING", "--kiosk-rate", "0"],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("server did not start in 20 s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from server.config import dumps
    from server.reference import demo_config

    tmp = tmp_path_factory.mktemp("hall")
    database = f"sqlite:///{tmp / 'hall.db'}"
    cfg = demo_config(database)
    # Open around the clock: the test must not depend on the time of day.
    cfg = dataclasses.replace(cfg, services=tuple(
        dataclasses.replace(s, hours=(), daily_quota=None) for s in cfg.services))
    path = tmp / "hall.toml"
    path.write_text(dumps(cfg), encoding="utf-8")
    proc = ServerProcess(path, database)
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def links(qtbot):
    made = []
    yield made
    for link in made:
        link.close()
    # Let Qt send the close frames, so the server is not left waiting.
    qtbot.wait(200)


def make_link(server, links, device):
    from server.client.qtlink import Link

    link = Link(server.url, device, f"demo-{device}", backoff=(0.1, 0.5), timeout_ms=8000)
    links.append(link)
    return link


class Desk:
    """One counter PC: link, controller, window."""

    def __init__(self, qtbot, server, links, number: int) -> None:
        self.qtbot = qtbot
        self.link = make_link(server, links, f"counter-{number}")
        self.window = CounterWindow()
        qtbot.addWidget(self.window)
        self.ctl = CounterController(self.link, window=self.window, debounce_ms=20)
        self.state = self.ctl.state
        self.window.show()
        qtbot.waitExposed(self.window)
        self.link.open()
        qtbot.waitUntil(lambda: self.state.online, timeout=10000)

    def wait(self, cond, timeout=8000):
        self.qtbot.waitUntil(cond, timeout=timeout)

    def login(self, staff: str, pin: str = PIN) -> None:
        self.window.login.staff.setText(staff)
        self.window.login.pin.setText(pin)
        self.qtbot.mouseClick(self.window.login.button, Qt.MouseButton.LeftButton)
        self.wait(lambda: not self.state.busy)

    def idle(self) -> None:
        """Wait until no request is in flight and the waiting list is fresh."""
        self.wait(lambda: not self.state.busy and not self.ctl._queue_timer.isActive()
                  and not self.ctl._replies)

    def focus(self) -> None:
        """Make this window the active one (shortcuts work in the active window)."""
        self.window.activateWindow()
        self.wait(lambda: QApplication.activeWindow() is self.window, timeout=3000)

    def press(self, key: Qt.Key) -> None:
        self.focus()
        self.qtbot.keyClick(self.window, key)
        self.idle()

    def click(self, action: str) -> None:
        self.qtbot.mouseClick(self.window.buttons[action], Qt.MouseButton.LeftButton)
        self.idle()

    def enabled(self) -> set[str]:
        return {a for a, b in self.window.buttons.items() if b.isEnabled()}

    def waiting_numbers(self) -> list[str]:
        return [t["number"] for t in self.state.waiting or ()]


def issue(qtbot, kiosk, service: str) -> dict:
    reply = kiosk.request("issue", service=service)
    with qtbot.waitSignal(reply.done, timeout=8000) as blocker:
        pass
    message = blocker.args[0]
    assert message["type"] == "ok", message
    return message["ticket"]


@pytest.fixture
def kiosk(qtbot, server, links):
    link = make_link(server, links, "kiosk-1")
    with qtbot.waitSignal(link.welcomed, timeout=10000):
        link.open()
    return link


def test_login_bad_and_good_pin(qtbot, server, links):
    desk = Desk(qtbot, server, links, 1)
    assert desk.window.pages.currentWidget() is desk.window.login
    desk.login("s001", "0000")
    assert not desk.state.logged_in and "密码错误" in desk.window.login.error.text()
    desk.login("s001")
    assert desk.state.logged_in and desk.state.counter_status == "open"
    assert desk.window.pages.currentWidget() is desk.window.main
    assert desk.state.staff["id"] == "s001" and "(s001)" in desk.window.staff_label.text()
    # Switch staff on the same counter without restarting.
    qtbot.mouseClick(desk.window.logout_button, Qt.MouseButton.LeftButton)
    desk.idle()
    assert desk.window.pages.currentWidget() is desk.window.login
    desk.login("s002")
    assert desk.state.staff["id"] == "s002"


def test_whole_day_of_one_ticket_with_keys(qtbot, server, links, kiosk):
    desk = Desk(qtbot, server, links, 44)  # 社会保险, 医疗保险
    desk.login("s044")
    desk.idle()
    assert desk.enabled() <= {"call_next", "pause", "call"}  # nothing to act on yet
    t = issue(qtbot, kiosk, "sb")
    desk.wait(lambda: t["number"] in desk.waiting_numbers())
    assert desk.enabled() == {"call_next", "pause", "call"}
    desk.press(Qt.Key.Key_F1)  # call next
    assert desk.window.number_label.text() == t["number"]
    assert desk.state.current["status"] == "called"
    assert desk.enabled() == {"recall", "start", "complete", "no_show", "transfer"}
    desk.press(Qt.Key.Key_F2)  # recall
    assert desk.state.current["status"] == "called" and "重呼" in desk.window.message.text()
    desk.press(Qt.Key.Key_F3)  # start
    assert desk.state.current["status"] == "serving"
    assert desk.enabled() == {"complete", "transfer"}
    desk.press(Qt.Key.Key_F4)  # complete
    assert desk.state.current is None and desk.window.number_label.text() == "—"
    desk.wait(lambda: desk.state.figures.served == 1)
    assert "已办 1" in desk.window.figures_label.text()
    # No-show: call the next one, it does not come.
    t2 = issue(qtbot, kiosk, "yb")
    desk.wait(lambda: t2["number"] in desk.waiting_numbers())
    desk.click("call_next")
    assert desk.state.current["number"] == t2["number"]
    desk.press(Qt.Key.Key_F5)  # asks first
    assert isinstance(desk.window.dialog, ConfirmDialog) and desk.state.current is not None
    qtbot.keyClick(desk.window.dialog, Qt.Key.Key_Return)
    desk.idle()
    assert desk.state.current is None
    desk.wait(lambda: desk.state.figures.no_shows == 1)
    # Pressed by mistake: undo within 30 s brings it back as this counter's call.
    assert desk.window.undo_button.isVisible() and desk.window.undo_button.isEnabled()
    assert t2["number"] in desk.window.undo_button.text()
    qtbot.mouseClick(desk.window.undo_button, Qt.MouseButton.LeftButton)
    desk.idle()
    assert desk.state.current["number"] == t2["number"]
    assert desk.state.current["status"] == "called"
    assert desk.window.number_label.text() == t2["number"]
    assert not desk.window.undo_button.isVisible()
    # Really gone this time; it shows in the missed list, re-queued from there.
    desk.press(Qt.Key.Key_F5)
    qtbot.keyClick(desk.window.dialog, Qt.Key.Key_Return)
    desk.idle()
    desk.wait(lambda: desk.window.missed_list.count() == 1)
    assert t2["number"] in desk.window.missed_list.item(0).text()
    desk.window.missed_list.setCurrentRow(0)
    qtbot.mouseClick(desk.window.requeue_button, Qt.MouseButton.LeftButton)
    desk.idle()
    desk.wait(lambda: t2["number"] in desk.waiting_numbers())
    desk.wait(lambda: desk.window.missed_list.count() == 0)
    # The status line follows the list beside it (never "no one is waiting").
    assert "1 人等候" in desk.window.message.text()


def test_transfer_to_service_and_to_counter(qtbot, server, links, kiosk):
    a = Desk(qtbot, server, links, 52)  # 水电气, 话费
    b = Desk(qtbot, server, links, 53)  # 话费, 水电气
    a.login("s052")
    b.login("s053")
    t = issue(qtbot, kiosk, "sdq")
    a.wait(lambda: t["number"] in a.waiting_numbers())
    a.click("call_next")
    assert a.state.current["number"] == t["number"]
    # To a counter: through the picker.
    a.press(Qt.Key.Key_F6)
    dialog = a.window.dialog
    assert isinstance(dialog, TransferDialog)
    assert dialog.select({"counter": 53})
    dialog._accept()
    a.idle()
    assert a.state.current is None
    b.wait(lambda: t["number"] in b.waiting_numbers())  # it arrives at counter 53
    assert b.waiting_numbers()[0] == t["number"]  # transferred tickets come first
    assert t["number"] not in a.waiting_numbers()  # only 53 may call it
    b.click("call_next")
    assert b.state.current["number"] == t["number"]
    # To a service: 银行业务 is served at counter 54.
    b.ctl.act("transfer", {"service": "yh"})
    b.idle()
    assert b.state.current is None
    c = Desk(qtbot, server, links, 54)
    c.login("s054")
    c.wait(lambda: t["number"] in c.waiting_numbers())


def test_pause_resume_tells_the_board(qtbot, server, links):
    board = make_link(server, links, "board-1")
    seen = []
    board.event.connect(lambda e: seen.append((e["name"], e["data"])))
    with qtbot.waitSignal(board.welcomed, timeout=10000):
        board.open()
    desk = Desk(qtbot, server, links, 49)
    desk.login("s049")
    desk.press(Qt.Key.Key_F7)
    dialog = desk.window.dialog
    dialog.other.setText("培训 Training")
    qtbot.keyClick(dialog.other, Qt.Key.Key_Return)
    desk.idle()
    assert desk.state.counter_status == "paused"
    assert desk.enabled() == {"pause"} and "恢复" in desk.window.buttons["pause"].text()
    qtbot.waitUntil(lambda: ("counter.paused", {"counter": 49, "reason": "培训 Training"})
                    in seen, timeout=5000)
    desk.press(Qt.Key.Key_F7)
    assert desk.state.counter_status == "open"
    qtbot.waitUntil(lambda: ("counter.resumed", {"counter": 49}) in seen, timeout=5000)


def test_call_a_specific_ticket(qtbot, server, links, kiosk):
    desk = Desk(qtbot, server, links, 55)  # 贷款还款, 银行业务
    desk.login("s055")
    first = issue(qtbot, kiosk, "dkhk")
    second = issue(qtbot, kiosk, "dkhk")
    desk.wait(lambda: second["number"] in desk.waiting_numbers())
    row = desk.waiting_numbers().index(second["number"])
    desk.window._row_activated(row, 0)  # double-click: 特呼
    desk.idle()
    assert desk.state.current["number"] == second["number"]
    assert first["number"] in desk.waiting_numbers()
    desk.press(Qt.Key.Key_F4)
    desk.press(Qt.Key.Key_F1)
    assert desk.state.current["number"] == first["number"]
    desk.press(Qt.Key.Key_F4)


def test_two_counters_race_for_the_last_ticket(qtbot, server, links, kiosk):
    a = Desk(qtbot, server, links, 34)  # 驾驶证 only
    b = Desk(qtbot, server, links, 35)
    a.login("s034")
    b.login("s035")
    t = issue(qtbot, kiosk, "jsz")
    a.wait(lambda: t["number"] in a.waiting_numbers())
    b.wait(lambda: t["number"] in b.waiting_numbers())
    # Both double-click the same, last ticket before either hears of the other.
    a.window._row_activated(a.waiting_numbers().index(t["number"]), 0)
    b.window._row_activated(b.waiting_numbers().index(t["number"]), 0)
    a.idle()
    b.idle()
    winners = [d for d in (a, b) if d.state.current]
    losers = [d for d in (a, b) if not d.state.current]
    assert len(winners) == 1 and len(losers) == 1
    loser = losers[0]
    assert "冲突" in loser.window.message.text()
    loser.wait(lambda: t["number"] not in loser.waiting_numbers())
    # With an empty queue the loser's call-next is disabled, never wrong.
    assert "call_next" not in loser.enabled()
    winners[0].press(Qt.Key.Key_F4)


def test_connection_drop_mid_request(qtbot, server, links, kiosk):
    desk = Desk(qtbot, server, links, 57)  # 测绘, 评估
    desk.login("s057")
    t = issue(qtbot, kiosk, "pg")
    desk.wait(lambda: t["number"] in desk.waiting_numbers())
    desk.press(Qt.Key.Key_F1)
    assert desk.state.current["number"] == t["number"]
    statuses = []
    desk.link.status.connect(statuses.append)
    desk.focus()
    qtbot.keyClick(desk.window, Qt.Key.Key_F4)  # complete ...
    (reply,) = desk.ctl._replies.values()
    sent_id = reply.message["id"]
    # ... and the network goes before the answer (Link has no public way
    # to drop its socket: the test reaches in, as a pulled cable would).
    desk.link._ws.abort()
    assert desk.state.connection != "online" and desk.enabled() == set()
    assert desk.window.banner.isVisible()
    desk.wait(lambda: desk.state.online and not desk.state.busy, timeout=10000)
    desk.idle()
    assert "offline" in statuses and statuses[-1] == "online"
    assert reply.message["id"] == sent_id  # resent with the same id
    assert desk.state.current is None
    assert desk.state.message is None or desk.state.message.level == "ok"
    assert "message" in desk.window.message.objectName()
    assert desk.window.message.property("level") in ("ok", "info")  # no error shown
    desk.wait(lambda: desk.state.figures.served == 1)  # completed exactly once
    desk.press(Qt.Key.Key_F1)  # the queue is empty again: nothing to call
    assert desk.state.current is None


def test_server_restart_mid_session(qtbot, server, links, kiosk):
    desk = Desk(qtbot, server, links, 56)  # 测绘, 评估 (last: it restarts the server)
    desk.login("s056")
    t = issue(qtbot, kiosk, "ch")
    desk.wait(lambda: t["number"] in desk.waiting_numbers())
    desk.press(Qt.Key.Key_F1)
    desk.press(Qt.Key.Key_F3)
    assert desk.state.current["status"] == "serving"
    server.stop()
    desk.wait(lambda: desk.state.connection != "online")
    assert desk.window.banner.isVisible() and desk.enabled() == set()
    server.start()
    desk.wait(lambda: desk.state.online, timeout=15000)
    desk.idle()
    assert not desk.window.banner.isVisible()
    assert desk.state.logged_in and desk.state.current["number"] == t["number"]
    assert desk.state.current["status"] == "serving"
    assert desk.enabled() == {"complete", "transfer"}
    # A request sent just before the loss is resent with the same id and
    # executed once: complete, then kill the server before the answer.
    desk.focus()
    qtbot.keyClick(desk.window, Qt.Key.Key_F4)
    server.stop(signal.SIGKILL)
    server.start()
    desk.wait(lambda: desk.state.online and not desk.state.busy, timeout=15000)
    desk.idle()
    assert desk.state.current is None
    assert desk.state.message is None or desk.state.message.level in ("ok", "info")
    desk.wait(lambda: desk.state.figures.served == 1)
