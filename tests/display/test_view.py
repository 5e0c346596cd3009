"""Board and counter display widgets, and the app wiring over a FakeLink."""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from display import app as display_app
from display.state import BoardState
from display.view import AMBER, WHITE, BoardView, CounterView
from tests.display.sample import called, event, welcome
from tests.helpers.fakes import FakeClock, FakeLink

pytestmark = pytest.mark.gui

SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"
RECENT = [("C020", 7), ("A010", 2), ("B003", 12), ("A011", 5), ("D007", 9),
          ("A009", 1), ("B002", 8), ("E001", 14), ("C019", 6), ("A008", 4)]


def texts(widget: QWidget) -> list[str]:
    return [label.text() for label in widget.findChildren(QLabel) if label.text()]


def label(widget: QWidget, name: str) -> QLabel:
    found = widget.findChild(QLabel, name)
    assert found is not None, name
    return found


def save(widget: QWidget, name: str, tmp_path: Path) -> Path:
    """Grab the widget; into docs/screens when QHALL_SCREENSHOTS=1."""
    target = SCREENS if os.environ.get("QHALL_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    path = target / name
    QApplication.processEvents()  # let the layouts settle after render()
    assert widget.grab().save(str(path))
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_board_shows_newest_recent_and_waiting(qtbot, tmp_path):
    clock = FakeClock(dt.datetime(2026, 11, 26, 1, 41, 7, tzinfo=dt.UTC))
    state = BoardState(clock)
    state.apply_welcome(welcome(RECENT))
    state.set_status("online")
    state.apply_event(called("A012", 3, seq=101))
    view = BoardView()
    qtbot.add_widget(view)
    view.resize(1920, 1080)
    view.show()
    view.render(state)
    assert label(view, "newest-number").text() == "A012"
    assert label(view, "newest-counter").text() == "3号窗口"
    assert "请 A012 号到 3 号窗口办理" in texts(view)
    shown = texts(view)
    for number, _ in RECENT:  # all ten previous calls are on the grid
        assert number in shown
    assert label(view, "recent-number-0").text() == "C020"
    assert label(view, "recent-counter-0").text() == "→ 7号窗口"
    assert label(view, "waiting-count-tax").text() == "35"
    assert label(view, "waiting-total").text() == str(12 + 35 + 4 + 7 + 2)
    assert label(view, "clock").text() == "2026-11-26 周四 09:41:07"
    assert not label(view, "status").isVisible()  # online: only the dot
    assert view.notice.text().startswith("通知：")
    # It fits a 1080p screen and no text is under 40 px there.
    assert view.minimumSizeHint().height() <= 1080
    assert view.size().width() == 1920 and view.size().height() == 1080
    smallest = min(lbl.font().pixelSize() for lbl in view.findChildren(QLabel))
    assert smallest >= 40
    path = save(view, "board.png", tmp_path)
    assert path.stat().st_size > 10_000


def test_board_flashes_then_settles(qtbot, clock):
    state = BoardState(clock)
    state.apply_welcome(welcome())
    view = BoardView()
    qtbot.add_widget(view)
    state.apply_event(called("A012", 3, seq=101))
    colours = set()
    for _ in range(6):
        view.render(state)
        colours.add(label(view, "newest-number").styleSheet())
        clock.advance(0.5)
    assert any(AMBER in c for c in colours) and any(WHITE in c for c in colours)
    clock.advance(10)
    view.render(state)
    assert AMBER in label(view, "newest-number").styleSheet()
    assert WHITE in label(view, "newest-counter").styleSheet()


def test_board_without_calls_and_offline(qtbot, clock):
    state = BoardState(clock)
    state.apply_welcome(welcome())
    state.set_status("offline")
    view = BoardView()
    qtbot.add_widget(view)
    view.show()
    view.render(state)
    assert label(view, "newest-number").text() == ""
    assert "欢迎光临，请取号等候" in texts(view)
    assert label(view, "status").isVisible()
    assert "连接中断" in label(view, "status").text()


def test_board_scales_down(qtbot, clock):
    state = BoardState(clock)
    state.apply_welcome(welcome(RECENT))
    view = BoardView()
    qtbot.add_widget(view)
    view.show()
    view.resize(960, 540)
    qtbot.waitUntil(lambda: view.scale == 0.5)
    view.render(state)
    assert label(view, "newest-line").font().pixelSize() == 36


def test_counter_display_modes(qtbot, clock, tmp_path):
    state = BoardState(clock, counter=3)
    state.apply_welcome(welcome())
    state.set_status("online")
    view = CounterView()
    qtbot.add_widget(view)
    view.resize(800, 480)
    view.show()
    view.render(state)
    assert label(view, "counter-number").text() == "欢迎"
    assert "Welcome" in label(view, "counter-line-en").text()
    save(view, "counter-display-idle.png", tmp_path)

    state.apply_event(called("A012", 3, seq=101))
    clock.advance(6)
    view.render(state)
    assert label(view, "counter-name").text() == "3号窗口  Counter 3"
    assert label(view, "counter-number").text() == "A012"
    assert "请 A012 号办理" in texts(view)
    assert view.size().height() == 480
    save(view, "counter-display.png", tmp_path)

    state.apply_event(event("counter.paused", 102, counter=3, reason="午间休息"))
    view.render(state)
    assert label(view, "counter-number").text() == "暂停服务"
    assert "暂停原因：午间休息" in texts(view)
    assert "Paused" in label(view, "counter-line-en").text()
    assert AMBER in label(view, "counter-line").styleSheet()
    for name in ("counter-name", "counter-line", "counter-line-en"):  # nothing cut off
        line = label(view, name)
        assert line.fontMetrics().horizontalAdvance(line.text()) <= line.width(), name
    save(view, "counter-display-paused.png", tmp_path)

    state.apply_event(event("counter.resumed", 103, counter=3))
    state.apply_event(event("counter.paused", 104, counter=3, reason=""))
    view.render(state)
    assert "请稍候" in label(view, "counter-line").text()  # no stale reason

    state.apply_event(event("counter.closed", 105, counter=3))
    view.render(state)
    closed = label(view, "counter-number").text()
    assert closed == "窗口已关闭" and closed != "暂停服务"  # closed and paused differ in Chinese
    assert "Closed" in label(view, "counter-line-en").text()
    save(view, "counter-display-closed.png", tmp_path)


def test_counter_display_every_screen_bilingual(qtbot, clock):
    state = BoardState(clock, counter=3)
    state.apply_welcome(welcome())
    view = CounterView()
    qtbot.add_widget(view)
    view.show()
    events = [None, called("A012", 3, seq=101), event("counter.paused", 102, counter=3),
              event("counter.closed", 103, counter=3)]
    for e in events:
        if e is not None:
            state.apply_event(e)
        view.render(state)
        zh = label(view, "counter-line").text() + label(view, "counter-number").text()
        en = label(view, "counter-line-en").text()
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh), zh
        assert en and en.isascii() and any(ch.isalpha() for ch in en), en


def test_app_wiring_over_fake_link(qtbot, clock):
    link = FakeLink()
    state = BoardState(clock)
    view = BoardView()
    qtbot.add_widget(view)
    spoken: list[tuple] = []
    controller = display_app.DisplayController(
        link, state, view, announce=lambda *args: spoken.append(args), render_ms=0)
    link.open()
    assert state.status == "connecting"
    link.push_welcome(welcome([("A011", 5)]))
    assert state.status == "online"
    assert label(view, "newest-number").text() == "A011"
    link.event.emit(called("A012", 3, seq=101))
    assert label(view, "newest-number").text() == "A012"
    link.event.emit(called("A012", 3, seq=102, recall=True))
    assert spoken == [("A012", 3, "3号窗口", False), ("A012", 3, "3号窗口", True)]
    # A bad event is logged and skipped; the board carries on.
    link.event.emit(event("queue.changed", 103, service="gjj"))
    assert controller.errors and "queue.changed" in controller.errors[0]
    link.event.emit(event("queue.changed", 104, service="gjj", waiting=3))
    assert label(view, "waiting-count-gjj").text() == "3"
    # Reconnect: new welcome, then the missed calls replayed in order.
    link.set_status("offline")
    assert label(view, "status").text() == "连接中断 Offline"
    link.push_welcome(welcome([("B005", 8), ("A013", 4), ("A012", 3)], seq=106))
    link.event.emit(called("A013", 4, seq=105))
    link.event.emit(called("B005", 8, seq=106))
    assert spoken[2:] == [("A013", 4, "4号窗口", False), ("B005", 8, "8号窗口", False)]
    assert label(view, "newest-number").text() == "B005"
    assert label(view, "recent-number-0").text() == "A013"
    link.refused.emit({"type": "error", "code": "unauthorized", "message": "bad token"})
    assert controller.refusal["code"] == "unauthorized"
    assert "设备被拒绝" in label(view, "status").text()
    controller.stop()


def test_app_wiring_survives_a_failing_announcer(qtbot, clock):
    link = FakeLink()
    state = BoardState(clock)
    view = BoardView()
    qtbot.add_widget(view)

    def broken(*args):
        raise RuntimeError("no audio device")

    controller = display_app.DisplayController(link, state, view, announce=broken, render_ms=0)
    link.push_welcome(welcome())
    link.event.emit(called("A012", 3, seq=101))
    assert label(view, "newest-number").text() == "A012"
    assert controller.errors == []  # an audio failure is not a bad message


def test_cli_options_and_token_file(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    display_app.configure(parser)
    args = parser.parse_args([])
    assert args.server == "ws://127.0.0.1:8765/ws" and not args.mute and args.counter is None
    args = parser.parse_args(["--counter", "3", "--mute", "--fullscreen", "--notice", "x"])
    assert (args.counter, args.mute, args.fullscreen, args.notice) == (3, True, True, "x")
    assert display_app.run(parser.parse_args([])) == 2  # neither --token-file nor --demo
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    assert display_app.run(parser.parse_args(["--token-file", str(tmp_path / "empty")])) == 2
    bad = parser.parse_args(["--token-file", str(tmp_path / "missing")])
    assert display_app.run(bad) == 2
    err = capsys.readouterr().err
    assert "--demo" in err and "empty" in err and "cannot read token file" in err
    assert display_app.run(parser.parse_args(["--counter", "0"])) == 2


class _Player:
    """Plays one file at a time; the test finishes each play."""

    def __init__(self) -> None:
        self.plays: list[Path] = []
        self.done = None

    def play(self, path, on_finished) -> None:
        assert self.done is None, "two announcements overlap"
        self.plays.append(path)
        self.done = on_finished

    def stop(self) -> None:
        self.done = None

    def finish(self) -> None:
        done, self.done = self.done, None
        done()


class _Voice:
    def build_announcement(self, number, counter, name, lang="zh"):
        return Path(f"/tmp/{number}-{counter}-{lang}.wav")


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    display_app.configure(parser)
    return parser.parse_args(list(argv))


def test_replayed_calls_are_announced_in_order_by_the_real_announcer(qtbot, clock):
    assert display_app.make_announcer(_args("--mute")) is None
    player = _Player()
    announcer = display_app.make_announcer(_args("--repeat", "1"), player=player,
                                           voice=_Voice())
    link = FakeLink()
    state = BoardState(clock)
    view = BoardView()
    qtbot.add_widget(view)
    controller = display_app.DisplayController(link, state, view, announcer.announce,
                                               render_ms=0)
    link.push_welcome(welcome([("A011", 5)], seq=100))
    link.event.emit(called("A012", 3, seq=101))
    # Offline; A013 and B005 were called meanwhile and come back as a replay.
    link.set_status("offline")
    link.push_welcome(welcome([("B005", 8), ("A013", 4), ("A012", 3)], seq=103))
    link.event.emit(called("A013", 4, seq=102))
    link.event.emit(called("B005", 8, seq=103))
    link.event.emit(called("B005", 8, seq=103))  # a duplicate is not said twice
    while player.done is not None:
        player.finish()
    assert [p.name for p in player.plays] == ["A012-3-zh.wav", "A013-4-zh.wav",
                                              "B005-8-zh.wav"]
    assert controller.errors == []
    english = display_app.make_announcer(_args("--english"), player=_Player(), voice=_Voice())
    english.announce("C001", 2, "2号窗口")
    assert [p.name for p in english.player.plays] == ["C001-2-both.wav"]
