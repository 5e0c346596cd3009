"""Announcement latency: call event received -> announcement audio starts.

One sample is one ``Announcer.announce()`` of a new ticket while nothing
plays, timed until the audio starts:

* ``--player null`` (default): until ``player.play(path, ...)`` is called,
  i.e. our whole path (render or cache lookup, queueing) without a backend;
* ``--player qt``: until QtMultimedia reports ``PlayingState`` through
  :class:`display.player.QtPlayer` (needs an audio output, e.g. PulseAudio).

Two cases: *cached* (the announcement WAV is already in the voice cache, as
for a ticket called before, or after a warm-up of the day's numbers) and
*uncached* (a fresh cache directory: espeak-ng synthesises the speech and
the WAV is assembled). The announcer's own per-call memo is empty in both,
so every sample goes through ``Voice.build_announcement``.

    python -m bench.announce [--n 40] [--lang zh|en|both] [--player null|qt]

Printed, not asserted. Target: p95 < 300 ms cached.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.stats import percentile
from display.announcer import Announcer
from display.speech.cache import LANGS, Voice

__all__ = ["main", "measure"]

TARGET_MS = 300.0


def _clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _StampPlayer:
    """Notes when play() was called and finishes at once."""

    def __init__(self) -> None:
        self.started: float | None = None

    def play(self, path: Path, on_finished: Callable[[], None]) -> None:
        self.started = time.perf_counter()
        on_finished()

    def stop(self) -> None:
        pass


def measure(voice: Voice, tickets: list[str], lang: str, player: str = "null") -> list[float]:
    """Latency in ms per ticket: announce() -> audio start."""
    def render(n: str, c: int, name: str) -> Path:
        return voice.build_announcement(n, c, name, lang)

    if player == "qt":
        return _measure_qt(render, tickets)
    stamp = _StampPlayer()
    out = []
    for number in tickets:
        announcer = Announcer(stamp, render, _clock, repeat=1)  # fresh memo per sample
        t0 = time.perf_counter()
        announcer.announce(number, 3, "3号窗口")
        assert stamp.started is not None and announcer.played, "announcement did not start"
        out.append((stamp.started - t0) * 1000)
    return out


def _measure_qt(render: Callable[[str, int, str], Path], tickets: list[str]) -> list[float]:
    from PySide6.QtCore import QCoreApplication, QTimer

    from display.player import QtPlayer

    app = QCoreApplication.instance() or QCoreApplication([])
    player = QtPlayer()
    out: list[float] = []
    queue = list(tickets)
    state: dict[str, Announcer] = {}
    t0 = [0.0]

    def next_one() -> None:
        if not queue:
            app.quit()
            return
        announcer = Announcer(player, render, _clock, repeat=1)
        state["announcer"] = announcer
        t0[0] = time.perf_counter()
        announcer.announce(queue.pop(0), 3, "3号窗口")

    def on_started(_path: str) -> None:
        out.append((time.perf_counter() - t0[0]) * 1000)
        state["announcer"].clear()  # stop this one; the next sample starts idle
        QTimer.singleShot(20, next_one)

    player.started.connect(on_started)
    QTimer.singleShot(0, next_one)
    QTimer.singleShot(int(10_000 + 2_000 * len(tickets)), app.quit)  # no audio output: give up
    app.exec()
    if len(out) < len(tickets):
        print(f"  qt: only {len(out)}/{len(tickets)} plays started (no audio output?)")
    return out


def _report(name: str, ms: list[float]) -> float:
    if not ms:
        print(f"{name:<10} no samples")
        return float("inf")
    p95 = percentile(ms, 95)
    print(f"{name:<10} n={len(ms):<4} p50={statistics.median(ms):7.1f} ms  "
          f"p95={p95:7.1f} ms  max={max(ms):7.1f} ms")
    return p95


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="samples per case (default 40)")
    parser.add_argument("--lang", choices=LANGS, default="both")
    parser.add_argument("--player", choices=("null", "qt"), default="null")
    args = parser.parse_args(argv)
    tickets = [f"A{i:03d}" for i in range(1, args.n + 1)]
    print(f"announce latency, lang={args.lang}, player={args.player}, n={args.n}")
    with tempfile.TemporaryDirectory(prefix="qhall-bench-") as tmp:
        voice = Voice(Path(tmp) / "cache")
        _ = voice.engine  # start the engine outside the timings (once per process anyway)
        uncached = measure(voice, tickets, args.lang, args.player)
        cached = measure(voice, tickets, args.lang, args.player)
    _report("uncached", uncached)
    p95 = _report("cached", cached)
    verdict = "ok" if p95 < TARGET_MS else "MISSED"
    print(f"target: cached p95 < {TARGET_MS:.0f} ms -> {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
