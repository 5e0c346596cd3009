"""qhall demo: the headless run serves tickets and answers /board; the virtual clock."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from server.tools.demo import DemoStats, VirtualClock, fresh_database
from tests.helpers.demo import wait_for_metric

ROOT = Path(__file__).resolve().parents[2]


def _demo(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return subprocess.Popen(
        [sys.executable, "-m", "server", "demo", "--port", "0", *extra],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _board_url(proc: subprocess.Popen[str]) -> tuple[str, list[str]]:
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        m = re.search(r"lobby board\s+(http://\S+/board)#device=board-1&token=demo-board-1",
                      line)
        if m:
            return m.group(1), lines
    raise AssertionError("no board URL printed:\n" + "".join(lines))


@pytest.mark.slow
def test_headless_demo_serves_tickets_and_answers_board(tmp_path: Path) -> None:
    proc = _demo(tmp_path, "--no-gui", "--duration", "20", "--speed", "60")
    try:
        board, lines = _board_url(proc)
        with urllib.request.urlopen(board, timeout=10) as r:
            assert r.status == 200 and "<html" in r.read().decode("utf-8").lower()
        with urllib.request.urlopen(board.replace("/board", "/metrics"), timeout=10) as r:
            assert "qhall_requests_total" in r.read().decode("utf-8")
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = "".join(lines) + out
    assert proc.returncode == 0, text
    m = re.search(r"issued (\d+), served (\d+), no-shows (\d+), mean wait ([\d.]+) min", text)
    assert m, text
    issued, served = int(m.group(1)), int(m.group(2))
    assert served > 20 and issued >= served, text
    assert re.search(r"satisfaction \d+\.\d%", text), text
    # A fresh day in the per-user data dir, numbered from 001.
    assert (tmp_path / "data" / "qhall" / "demo.db").exists()


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_no_display_means_headless(tmp_path: Path) -> None:
    proc = _demo(tmp_path, "--speed", "30")
    try:
        board, lines = _board_url(proc)
        assert any("no display found" in line for line in lines)
        # The simulated hall is at work: tickets issued and called.
        wait_for_metric(board.replace("/board", "/metrics"), "qhall_requests_total", 1,
                        type="issue", outcome="ok")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert "qhall demo summary" in out


def test_bad_options_are_clear_errors(tmp_path: Path) -> None:
    for args, message in ((["--duration", "0"], "--duration"),
                          (["--start", "noon", "--no-gui"], "--start wants HH:MM"),
                          (["--database", "postgresql+psycopg://x/y"], "sqlite:///"),
                          (["--speed", "0", "--no-gui"], "--speed")):
        proc = _demo(tmp_path, *args)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 2 and message in out, (args, out)


def test_virtual_clock_runs_at_speed() -> None:
    now = [100.0]
    tz = ZoneInfo("Asia/Shanghai")
    start = dt.datetime(2026, 3, 2, 8, 30, tzinfo=tz)
    clock = VirtualClock(start, 60, monotonic=lambda: now[0])
    assert clock() == start
    now[0] += 30  # half a real minute = half an hour of hall time
    assert clock() == start + dt.timedelta(minutes=30)
    assert clock.seconds_of_day() == 9 * 3600
    assert clock.real(600) == 10
    with pytest.raises(ValueError):
        VirtualClock(start.replace(tzinfo=None), 10)


def test_stats_from_events() -> None:
    s = DemoStats()
    t = {"id": "x", "issued_at": "2026-03-02T08:30:00+08:00"}
    s.on_event({"name": "ticket.issued", "at": "2026-03-02T08:30:00+08:00",
                "data": {"ticket": t}})
    s.on_event({"name": "ticket.called", "at": "2026-03-02T08:36:00+08:00",
                "data": {"ticket": t}})
    s.on_event({"name": "ticket.completed", "at": "2026-03-02T08:40:00+08:00",
                "data": {"ticket": t}})
    for score in (5, 2):
        s.on_event({"name": "ticket.rated", "at": "2026-03-02T08:41:00+08:00",
                    "data": {"ticket": t, "score": score}})
    assert s.summary() == {"issued": 1, "served": 1, "no_shows": 0, "mean_wait_min": 6.0,
                           "p90_wait_min": 6.0, "ratings": 2, "satisfaction": 0.5}


def test_fresh_database_deletes_the_day(tmp_path: Path) -> None:
    db = tmp_path / "d" / "demo.db"
    db.parent.mkdir()
    for suffix in ("", "-wal"):
        Path(f"{db}{suffix}").write_text("old")
    fresh_database(f"sqlite:///{db}")
    assert not db.exists() and not Path(f"{db}-wal").exists()
