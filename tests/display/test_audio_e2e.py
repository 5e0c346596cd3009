"""End to end: Announcer + QtPlayer (QtMultimedia) -> PulseAudio -> a recording.

A private PulseAudio daemon (this user, a temporary runtime directory, a
null sink, an anonymous unix socket) stands in for the hall's speakers; its
sink monitor is recorded with ``parec`` while a child process plays one real
announcement through the announcer and :class:`display.player.QtPlayer`.
The recording must hold the chime (its 659 Hz "ding" first) and last about
as long as the WAV: proof that sound really left the app, in full.
"""

from __future__ import annotations

import array
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from display.speech.cache import Voice
from display.speech.wav import SAMPLE_RATE, read_pcm, wav_duration
from tests.helpers.tools import require_tool, unavailable

pytestmark = pytest.mark.audio

ROOT = Path(__file__).resolve().parents[2]
SINK = "qhall_null"

PLAY_SCRIPT = r"""
import datetime as dt, json, sys
from pathlib import Path
from PySide6.QtCore import QCoreApplication, QTimer
from display.announcer import Announcer
from display.player import QtPlayer

app = QCoreApplication([])
player = QtPlayer()
failures = []
player.failed.connect(failures.append)
clock = lambda: dt.datetime.now(dt.UTC)
announcer = Announcer(player, lambda n, c, name: Path(sys.argv[1]), clock, repeat=1)

def check():
    if announcer.idle:
        app.quit()

timer = QTimer()
timer.timeout.connect(check)
timer.start(50)
QTimer.singleShot(0, lambda: announcer.announce("A001", 3))
QTimer.singleShot(30000, app.quit)
app.exec()
print(json.dumps({
    "played": [[p.item.number, (p.finished_at - p.started_at).total_seconds()]
               for p in announcer.played],
    "failures": failures,
}))
"""


def _goertzel(samples, freq: float) -> float:
    w = 2 * math.pi * freq / SAMPLE_RATE
    coeff, s1, s2 = 2 * math.cos(w), 0.0, 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


@pytest.fixture(scope="module")
def pulse():
    """A private PulseAudio daemon with a null sink; yields the client env."""
    for tool in ("pulseaudio", "pactl", "parec"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed (apt-get install pulseaudio pulseaudio-utils)")
    # Short path under /tmp: a unix socket path must fit in 108 bytes.
    runtime = Path(tempfile.mkdtemp(prefix="qhall-pa-"))
    runtime.chmod(0o700)
    socket = runtime / "native"
    env = {**os.environ, "HOME": str(runtime), "XDG_RUNTIME_DIR": str(runtime),
           "PULSE_RUNTIME_PATH": str(runtime / "pulse"),
           "XDG_CONFIG_HOME": str(runtime / "config")}
    log = (runtime / "daemon.log").open("w")
    # --system=false and our own HOME/XDG dirs let root run a per-user daemon;
    # -n skips default.pa, so only the null sink and the socket exist.
    daemon = subprocess.Popen(
        ["pulseaudio", "--system=false", "-n", "--daemonize=no", "--exit-idle-time=-1",
         "--disable-shm=yes", "--use-pid-file=no", "--log-target=stderr",
         "-L", f"module-null-sink sink_name={SINK} rate={SAMPLE_RATE}",
         "-L", f"module-native-protocol-unix auth-anonymous=1 socket={socket}"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    client_env = {**env, "PULSE_SERVER": f"unix:{socket}", "QT_QPA_PLATFORM": "offscreen"}
    try:
        deadline = time.monotonic() + 15
        while True:
            ok = subprocess.run(["pactl", "info"], env=client_env, capture_output=True,
                                timeout=10).returncode == 0
            if ok:
                break
            if daemon.poll() is not None or time.monotonic() > deadline:
                text = (runtime / "daemon.log").read_text(errors="replace")[-1500:]
                unavailable(f"PulseAudio did not start here (exit {daemon.poll()}):\n{text}")
            time.sleep(0.1)
        yield client_env
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
        shutil.rmtree(runtime, ignore_errors=True)


def _wait_for(condition, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _recording_streams(env: dict[str, str]) -> int:
    listed = subprocess.run(["pactl", "list", "short", "source-outputs"], env=env,
                            capture_output=True, text=True, timeout=10)
    return len([line for line in listed.stdout.splitlines() if line.strip()])


def _recorded_past_the_end(raw: Path, length: float) -> bool:
    """True once the recording runs 0.3 s past where the sound must have ended."""
    data = array.array("h")
    data.frombytes(raw.read_bytes()[: raw.stat().st_size // 2 * 2])
    first = next((i for i, x in enumerate(data) if abs(x) > 1000), None)
    return first is not None and len(data) >= first + (length * 1.15 + 0.3) * SAMPLE_RATE


def test_announcement_is_heard_through_qtmultimedia(pulse, tmp_path):
    require_tool("espeak-ng", "apt-get install espeak-ng")
    wav = Voice(tmp_path / "cache", rate=200).build_announcement("A001", 3, lang="zh")
    length = wav_duration(wav)
    raw = tmp_path / "heard.raw"
    with raw.open("wb") as sink:
        recorder = subprocess.Popen(
            ["parec", f"--device={SINK}.monitor", "--format=s16le", f"--rate={SAMPLE_RATE}",
             "--channels=1", "--latency-msec=50"], env=pulse, stdout=sink)
        try:
            # The recording stream is connected before the sound starts ...
            _wait_for(lambda: _recording_streams(pulse) > 0, "parec's stream")
            done = subprocess.run([sys.executable, "-c", PLAY_SCRIPT, str(wav)], cwd=ROOT,
                                  env=pulse, capture_output=True, text=True, timeout=60)
            # ... and stopped only once it holds the whole announcement and a
            # little silence after it (the null sink records in real time).
            _wait_for(lambda: _recorded_past_the_end(raw, length), "the end of the sound")
        finally:
            recorder.terminate()
            recorder.wait(timeout=10)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["failures"] == []
    (played,) = report["played"]
    # Finished by the backend's end of media, not by the watchdog (length + 4 s).
    assert played[0] == "A001" and length * 0.9 <= played[1] < length + 4

    heard = array.array("h")
    heard.frombytes(raw.read_bytes()[: raw.stat().st_size // 2 * 2])
    loud = [i for i, x in enumerate(heard) if abs(x) > 1000]
    assert loud, "the null sink recorded only silence"
    span = (loud[-1] - loud[0]) / SAMPLE_RATE
    # The whole announcement came out (not cut off), once (no overlap/doubling).
    assert length * 0.85 <= span <= length * 1.15, (span, length)
    start = heard[loud[0]:loud[-1]]
    rms = math.sqrt(sum(x * x for x in start) / len(start)) / 32768
    assert rms > 0.02
    # It is our chime first: the 659 Hz "ding" dominates its first 0.25 s.
    ding = heard[loud[0]:loud[0] + SAMPLE_RATE // 4]
    assert _goertzel(ding, 659.25) > 5 * _goertzel(ding, 523.25)
    # And its level matches the source (nothing muted or attenuated on the way).
    source_peak = max(abs(x) for x in read_pcm(wav))
    assert max(abs(x) for x in heard) >= 0.7 * source_peak
