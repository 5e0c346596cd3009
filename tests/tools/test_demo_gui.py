"""qhall demo with its windows: kiosk, counter 1 and the lobby board, live.

The GUI mode runs in this process (Qt offscreen, ``--gui``), watched through
``run(args, on_gui=...)``; closing a window must end the demo cleanly. A
second run is a subprocess stopped by SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from server.tools import demo
from tests.helpers.demo import wait_for_metric

pytestmark = [pytest.mark.gui, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = re.compile(r"qhall demo summary \(hall time \d\d:\d\d\): issued (\d+), served (\d+), "
                     r"no-shows (\d+)")


def _args(tmp_path: Path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    demo.configure(parser)
    return parser.parse_args(["--gui", "--port", "0", "--database",
                              f"sqlite:///{tmp_path / 'demo.db'}", *extra])


def test_tile_windows_fill_the_screen_without_overlap() -> None:
    rects = demo.tile_windows(0, 0, 1920, 1080, counter_h=600)
    kx, ky, kw, kh = rects["kiosk"]
    bx, by, bw, bh = rects["board"]
    cx, cy, cw, ch = rects["counter"]
    assert (kx, ky, kh) == (0, 0, 1080) and kh > kw  # portrait, full height, left
    assert bx == cx == kx + kw and bx + bw == cx + cw == 1920  # right of the kiosk
    assert by == 0 and cy == bh and cy + ch == 1080 and ch >= 600  # counter below the board
    assert bw * 9 <= bh * 16 or bh == 1080 - ch  # 16:9 at most
    small = demo.tile_windows(10, 20, 800, 800)
    assert small["kiosk"][0] == 10 and small["counter"][1] + small["counter"][3] == 820


def test_gui_needs_a_display_or_a_qt_platform(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(demo.sys, "platform", "linux")
    assert demo.run(_args(tmp_path, "--duration", "1")) == 2
    assert "--gui needs a display" in capsys.readouterr().err
    assert demo.run(_args(tmp_path, "--no-gui")) == 2


def test_windows_are_live_and_closing_one_ends_the_demo(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtCore import QTimer

    seen: dict[str, Any] = {"kiosk_waiting": set(), "board_calls": set()}
    timers: list[QTimer] = []
    hall_stats: list[demo.DemoStats] = []  # the demo hall's own running totals

    class Recorded(demo.DemoStats):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            hall_stats.append(self)

    monkeypatch.setattr(demo, "DemoStats", Recorded)

    def sample(gui: demo.DemoGui) -> None:
        # What the screens show, several times a second: the numbers must move.
        for tile in gui.kiosk_window.category_tiles.values():
            m = re.fullmatch(r"(\d+) 人等候", tile.meta.text())
            if tile.isVisible() and m:
                seen["kiosk_waiting"].add(int(m.group(1)))
        if gui.board_view.newest_number.text():
            seen["board_calls"].add((gui.board_view.newest_number.text(),
                                     gui.board_view.newest_counter.text()))
        # Enough has happened on the screens: look at them now, then close.
        recent = sum(1 for cell, _ in gui.board_view.recent_cells if cell.text())
        if ("windows" not in seen and len(seen["board_calls"]) >= 5 and recent >= 4
                and len(seen["kiosk_waiting"]) >= 2 and max(seen["kiosk_waiting"]) > 0
                and hall_stats and hall_stats[0].issued >= 20 and hall_stats[0].served >= 10):
            check(gui)

    def check(gui: demo.DemoGui) -> None:
        seen["windows"] = {name: (w.isVisible(), w.geometry().getRect())
                           for name, w in gui.windows.items()}
        seen["titles"] = {name: w.windowTitle() for name, w in gui.windows.items()}
        seen["board_status"] = gui.board_state.status
        seen["board_state_newest"] = gui.board_state.newest
        seen["recent"] = [n.text() for n, _ in gui.board_view.recent_cells]
        seen["counter"] = (gui.counter.state.online, gui.counter.state.logged_in,
                           gui.counter_window.windowTitle())
        k = gui.kiosk.state
        shown = {cid: w.meta.text() for cid, w in gui.kiosk_window.category_tiles.items()
                 if w.isVisible()}
        seen["kiosk_tiles"] = (shown, {t.id: t.waiting for t in k.category_tiles()})
        seen["kiosk_online"] = k.online
        # Opening hours are judged in hall time (08:30 on), whatever the real hour.
        seen["kiosk_open"] = {sid: k.why_disabled(sid) for sid in ("qydj", "gjj", "hj")}
        seen["kiosk_clock"] = (k.clock_text(), gui.board_state.clock_text())
        gui.board_view.close()  # a person closes the board: the whole demo ends

    def on_gui(gui: demo.DemoGui) -> None:
        poll = QTimer()
        poll.timeout.connect(lambda: sample(gui))
        poll.start(100)
        timers.append(poll)
        # A deadline, not a pace: what was seen by then is judged below.
        QTimer.singleShot(120_000, lambda: "windows" in seen or check(gui))

    # An hour of real time: only closing the board can end this run (if it
    # did not, the test's timeout would).
    code = demo.run(_args(tmp_path, "--duration", "3600", "--speed", "120"), on_gui=on_gui)
    out = capsys.readouterr().out
    for t in timers:
        t.stop()

    assert code == 0, out
    assert "windows" in seen, "the check never ran"
    assert all(visible for visible, _ in seen["windows"].values()), seen["windows"]
    rects = [r for _, r in seen["windows"].values()]
    for i, (x1, y1, w1, h1) in enumerate(rects):  # side by side, not stacked
        for x2, y2, w2, h2 in rects[i + 1:]:
            assert x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1, rects
    assert "kiosk" in seen["titles"]["kiosk"] and "board" in seen["titles"]["board"]

    # The board: connected, showing calls the simulated staff made.
    assert seen["board_status"] == "online"
    newest = seen["board_state_newest"]
    assert newest is not None and newest.counter != demo.GUI_COUNTER
    assert sum(1 for text in seen["recent"] if text) >= 4, seen["recent"]
    assert len(seen["board_calls"]) >= 5, seen["board_calls"]
    assert all(re.fullmatch(r"[A-Z]{1,2}\d{3}", n) and re.fullmatch(r"\d+号窗口", c)
               for n, c in seen["board_calls"]), seen["board_calls"]

    # The kiosk: online; its tiles show the waiting counts of its state, and they moved.
    assert seen["kiosk_online"]
    shown, waiting = seen["kiosk_tiles"]
    assert shown and shown == {cid: f"{n} 人等候" for cid, n in waiting.items()}
    assert seen["kiosk_open"] == {"qydj": None, "gjj": None, "hj": None}, seen["kiosk_open"]
    kiosk_clock, board_clock = seen["kiosk_clock"]
    assert "08:3" <= kiosk_clock < "12:00" and board_clock.split()[-1][:5] == kiosk_clock
    assert len(seen["kiosk_waiting"]) >= 2 and max(seen["kiosk_waiting"]) > 0, \
        seen["kiosk_waiting"]

    # Counter 1 is the person's: logged in as s001, ready to call.
    online, logged_in, title = seen["counter"]
    assert online and logged_in and "1号窗口" in title

    m = SUMMARY.search(out)
    assert m, out
    issued, served = int(m.group(1)), int(m.group(2))
    assert issued >= 20 and served >= 10, out
    # The lobby board's URL and the metrics are printed for the browser.
    assert re.search(r"lobby board\s+http://127\.0\.0\.1:\d+/board#device=board-1", out)
    assert re.search(r"metrics\s+http://127\.0\.0\.1:\d+/metrics", out)


def test_a_sigterm_before_the_event_loop_runs_still_ends_the_demo(tmp_path: Path) -> None:
    """A SIGTERM while the windows are opening (before Qt's event loop runs,
    when QApplication.exit does nothing) ends the demo once the loop starts."""
    from PySide6.QtCore import QTimer

    deadline = QTimer()
    deadline.setSingleShot(True)
    lost: list[bool] = []

    def on_gui(gui: demo.DemoGui) -> None:  # the windows are up; exec() comes next
        os.kill(os.getpid(), signal.SIGTERM)
        # A deadline, not a pace: a lost signal would let the demo run on.
        deadline.timeout.connect(lambda: (lost.append(True), gui.app.exit(3)))
        deadline.start(120_000)

    code = demo.run(_args(tmp_path, "--speed", "60"), on_gui=on_gui)
    deadline.stop()
    assert (code, lost) == (0, [])


def test_sigterm_closes_the_windows_and_exits_0(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "demo", "--gui", "--port", "0", "--speed", "60"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C stops the demo" in line:
                break
        assert "counter 1: staff s001" in "".join(lines), "".join(lines)
        # The windows are up (their apps connected) and the hall is running.
        found = re.search(r"metrics\s+(http://\S+/metrics)", "".join(lines))
        assert found, "".join(lines)
        for role in ("kiosk", "counter", "display"):
            wait_for_metric(found.group(1), "qhall_connections", 1, role=role)
        wait_for_metric(found.group(1), "qhall_requests_total", 1, type="issue", outcome="ok")
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        out, err = proc.communicate(timeout=30)
        stopped = time.monotonic() - stopped
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    # How long the stop takes is not asserted (no wall-clock asserts in tests):
    # it is printed here, and docs/STATUS.md tracks a stop seen once at 11 s.
    print(f"the demo stopped {stopped:.1f} s after SIGTERM")
    m = SUMMARY.search(out)
    assert m and int(m.group(1)) > 0, out + err
    assert "Traceback" not in err, err
