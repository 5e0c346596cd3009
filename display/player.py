"""Audio players for the announcer: the interface, a QtMultimedia one, a mute one.

A player plays one WAV at a time and calls ``on_finished()`` exactly once
when it is done with it: played to the end, failed (a broken file, no audio
device: the hall must not stall on a missing speaker), or timed out. After
``stop()``, the stopped play's ``on_finished`` is NOT called. ``play()``
while something plays stops that first (the announcer never does this; it
waits for ``on_finished``).

* :class:`QtPlayer` -- ``QMediaPlayer`` + ``QAudioOutput`` (PySide6 Addons,
  FFmpeg backend, PulseAudio/PipeWire output). Needs a running Qt event loop.
  A watchdog finishes a play that never reports its end (some backends stay
  silent without an audio device) after the file's length plus a margin.
* :class:`NullPlayer` -- mute: finishes after the WAV's duration, using a
  ``QTimer`` or any injected ``schedule(seconds, callback)``.

``python -m display.player FILE.wav ...`` plays files in order through
:class:`QtPlayer` and prints when each finished (a manual speaker check).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, QTimer, QUrl, Signal

from display.speech.wav import wav_duration

__all__ = ["NullPlayer", "Player", "QtPlayer", "main"]

log = logging.getLogger(__name__)


class Player(Protocol):
    """What the announcer needs from an audio output."""

    def play(self, path: Path, on_finished: Callable[[], None]) -> None:
        """Start playing the WAV ``path``; call ``on_finished()`` once when done."""
        ...

    def stop(self) -> None:
        """Stop at once; the stopped play's ``on_finished`` is not called."""
        ...


class NullPlayer:
    """A mute player that "plays" for as long as each WAV lasts.

    Args:
        schedule: ``schedule(seconds, callback)`` runs ``callback`` later;
            default ``QTimer.singleShot`` (needs a Qt event loop).
    """

    def __init__(self, schedule: Callable[[float, Callable[[], None]], None] | None = None):
        self._schedule = schedule or (lambda s, fn: QTimer.singleShot(int(s * 1000), fn))
        self._generation = 0
        self.playing: Path | None = None

    def play(self, path: Path, on_finished: Callable[[], None]) -> None:
        self._generation += 1
        generation = self._generation
        self.playing = Path(path)

        def done() -> None:
            # A stop() or a newer play() since then makes this timer stale.
            if generation == self._generation:
                self.playing = None
                on_finished()

        self._schedule(wav_duration(path), done)

    def stop(self) -> None:
        self._generation += 1
        self.playing = None


class QtPlayer(QObject):
    """Plays WAVs through QtMultimedia and reports when each one finished.

    Args:
        parent: Qt parent.
        volume: 0.0..1.0.
        margin_s: watchdog slack over the file's length (backends report the
            end of media up to ~2 s late, as the audio device drains).

    Signals:
        started(str): the path, when the backend is actually playing it.
        finished(str): the path, after ``on_finished`` was called.
        failed(str): a message, when the backend reported an error (the play
            is then finished, so the queue moves on).
    """

    started = Signal(str)
    finished = Signal(str)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None, volume: float = 1.0,
                 margin_s: float = 4.0) -> None:
        super().__init__(parent)
        # Imported here: loading QtMultimedia (FFmpeg, audio) is only for real players.
        from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer

        self._status = QMediaPlayer.MediaStatus
        self._state = QMediaPlayer.PlaybackState
        self._player = QMediaPlayer(self)
        self._output = QAudioOutput(self)
        self._output.setVolume(max(0.0, min(1.0, volume)))
        self._player.setAudioOutput(self._output)
        self._player.mediaStatusChanged.connect(self._on_status)
        self._player.playbackStateChanged.connect(self._on_state)
        self._player.errorOccurred.connect(self._on_error)
        self._watchdog = QTimer(self)
        self._watchdog.setSingleShot(True)
        self._watchdog.timeout.connect(self._on_watchdog)
        self._margin_s = margin_s
        self._path: Path | None = None
        self._callback: Callable[[], None] | None = None

    @property
    def busy(self) -> bool:
        """True from ``play()`` until ``on_finished`` ran or ``stop()``."""
        return self._callback is not None

    def play(self, path: Path, on_finished: Callable[[], None]) -> None:
        if self._callback is not None:
            self.stop()
        path = Path(path)
        try:
            length = wav_duration(path)
        except Exception as exc:  # noqa: BLE001 - any unreadable file: finish, don't stall
            log.error("cannot play %s: %s", path, exc)
            self.failed.emit(f"cannot play {path}: {exc}")
            on_finished()
            return
        self._path, self._callback = path, on_finished
        # Clear the source first: setting the same URL again is a no-op in
        # Qt, and a repeat must play from the start.
        self._player.setSource(QUrl())
        self._player.setSource(QUrl.fromLocalFile(str(path.resolve())))
        self._player.play()
        self._watchdog.start(int((length + self._margin_s) * 1000))

    def stop(self) -> None:
        self._callback = None
        self._path = None
        self._watchdog.stop()
        self._player.stop()

    def _finish(self) -> None:
        callback, path = self._callback, self._path
        if callback is None:
            return
        self._callback = self._path = None
        self._watchdog.stop()
        callback()
        self.finished.emit(str(path))

    def _on_status(self, status) -> None:  # noqa: ANN001 - a QMediaPlayer.MediaStatus
        if self._callback is None:
            return
        if status == self._status.EndOfMedia:
            self._finish()
        elif status == self._status.InvalidMedia:
            self.failed.emit(f"invalid media: {self._path}")
            self._finish()

    def _on_state(self, state) -> None:  # noqa: ANN001 - a QMediaPlayer.PlaybackState
        if self._callback is not None and state == self._state.PlayingState:
            self.started.emit(str(self._path))

    def _on_error(self, error, message: str) -> None:  # noqa: ANN001
        if self._callback is None:
            return
        log.error("audio playback failed for %s: %s", self._path, message)
        self.failed.emit(message or str(error))
        self._finish()

    def _on_watchdog(self) -> None:
        log.warning("no end-of-media from the audio backend for %s; moving on", self._path)
        self._finish()


def main(argv: list[str] | None = None) -> int:
    """Play WAV files in order through :class:`QtPlayer`; print each finish."""
    from PySide6.QtCore import QCoreApplication

    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    if not paths:
        print("usage: python -m display.player FILE.wav [FILE.wav ...]", file=sys.stderr)
        return 2
    app = QCoreApplication.instance() or QCoreApplication([])
    player = QtPlayer()
    player.failed.connect(lambda m: print(f"failed: {m}", file=sys.stderr))
    t0 = time.monotonic()
    queue = list(paths)

    def next_file() -> None:
        if not queue:
            app.quit()
            return
        path = queue.pop(0)

        def done() -> None:
            print(f"finished {path} at {time.monotonic() - t0:.2f} s", flush=True)
            QTimer.singleShot(0, next_file)

        player.play(path, done)

    QTimer.singleShot(0, next_file)
    app.exec()
    return 0


if __name__ == "__main__":
    sys.exit(main())
