"""Players: the mute NullPlayer's timing and QtPlayer's failure path (no audio device needed)."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from display.announcer import Announcer
from display.player import NullPlayer, QtPlayer
from display.speech.cache import CHIME
from display.speech.wav import wav_duration
from tests.helpers.fakes import FakeClock


class Scheduler:
    """Collects scheduled callbacks; the test fires them."""

    def __init__(self) -> None:
        self.jobs: list[tuple[float, object]] = []

    def __call__(self, seconds, callback) -> None:
        self.jobs.append((seconds, callback))

    def fire_all(self) -> None:
        jobs, self.jobs = self.jobs, []
        for _, callback in jobs:
            callback()


@pytest.fixture
def blip(tmp_path) -> Path:
    """A 0.2 s silent WAV: real timers, short tests."""
    path = tmp_path / "blip.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes(bytes(2 * 4410))
    return path


def test_null_player_lasts_as_long_as_the_wav():
    sched = Scheduler()
    done = []
    player = NullPlayer(schedule=sched)
    player.play(CHIME, lambda: done.append("chime"))
    ((seconds, _),) = sched.jobs
    assert seconds == wav_duration(CHIME) == 1.5
    assert done == [] and player.playing == CHIME
    sched.fire_all()
    assert done == ["chime"] and player.playing is None


def test_null_player_stop_cancels_the_pending_finish():
    sched = Scheduler()
    done = []
    player = NullPlayer(schedule=sched)
    player.play(CHIME, lambda: done.append(1))
    player.stop()
    player.play(CHIME, lambda: done.append(2))
    sched.fire_all()
    assert done == [2]


def test_null_player_drives_the_announcer_with_qt_timers(qtbot, blip):
    clock = FakeClock()
    announcer = Announcer(NullPlayer(), lambda n, c, name: blip, clock, repeat=2)
    announcer.announce("A001", 1)
    announcer.announce("A002", 2)
    assert announcer.playing.number == "A001" and len(announcer.pending()) == 3
    qtbot.waitUntil(lambda: announcer.idle, timeout=5_000)  # 4 x 0.2 s
    assert [(p.item.number, p.item.index) for p in announcer.played] == [
        ("A001", 0), ("A001", 1), ("A002", 0), ("A002", 1)]


def test_qt_player_finishes_an_unreadable_file_at_once(qtbot, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav at all")
    player = QtPlayer()
    done = []
    with qtbot.waitSignal(player.failed, timeout=1000) as failed:
        player.play(bad, lambda: done.append(True))
    assert done == [True] and not player.busy
    assert "bad.wav" in failed.args[0]


def test_qt_player_stop_means_no_callback(qtbot, blip):
    player = QtPlayer(margin_s=0.0)
    done = []
    player.play(blip, lambda: done.append(True))
    assert player.busy
    player.stop()
    qtbot.wait(600)  # past the end and the watchdog (0.2 s + 0 margin) had it not been stopped
    assert done == [] and not player.busy


def test_qt_player_always_reports_the_end(qtbot, blip):
    # With or without an audio device here: end of media or the watchdog.
    player = QtPlayer(margin_s=0.5)
    done = []
    with qtbot.waitSignal(player.finished, timeout=5_000):
        player.play(blip, lambda: done.append(True))
    assert done == [True] and not player.busy
