"""Speech engines: text in, a WAV file out.

pyttsx3's espeak driver is the primary path, as DESIGN names it (see
:class:`PyttsxEngine` for why we use its libespeak-ng binding rather than
``save_to_file``); when pyttsx3 cannot load libespeak-ng, the ``espeak-ng``
program is run instead (:func:`default_engine`).
"""

from __future__ import annotations

import ctypes
import logging
import shutil
import subprocess
import threading
import wave
from pathlib import Path
from typing import Protocol

from display.speech.errors import VoiceError
from display.speech.wav import SAMPLE_RATE

__all__ = ["Engine", "EspeakCliEngine", "PyttsxEngine", "default_engine"]

log = logging.getLogger(__name__)

_INSTALL_HINT = "install it (Debian/Ubuntu: sudo apt-get install espeak-ng)"


class Engine(Protocol):
    """A speech engine: text in, a WAV file out."""

    name: str

    @property
    def version(self) -> str:
        """Identifies the engine build; part of the cache key."""
        ...

    def synth(self, text: str, voice: str, rate: int, out: Path) -> None:
        """Speak ``text`` with ``voice`` at ``rate`` words/min into the WAV file ``out``."""
        ...


class PyttsxEngine:
    """libespeak-ng in this process, started and bound by pyttsx3's espeak driver.

    ``pyttsx3.init("espeak")`` loads libespeak-ng and initialises it (once
    per process, in asynchronous "retrieval" mode). We then synthesise
    through the driver's own ctypes binding (``pyttsx3.drivers._espeak``)
    with our own sample callback, rather than ``save_to_file`` +
    ``runAndWait``: in pyttsx3 2.99 ``runAndWait`` can return before the
    synthesis thread has written the file (we measured an empty WAV about
    once in 150 renders) and a bad voice name is silently replaced by the
    default voice. Here the voice is checked, ``espeak_Synchronize`` waits
    for the synthesis thread, and the end-of-message event is awaited
    before the samples are used. libespeak-ng keeps one global state, so
    calls are serialised by a lock.
    """

    name = "pyttsx3-espeak"
    timeout_s = 30.0
    _lock = threading.Lock()

    def __init__(self) -> None:
        try:
            import pyttsx3
            from pyttsx3.drivers import _espeak
        except (ImportError, RuntimeError, OSError) as exc:
            raise VoiceError(f"pyttsx3 cannot load libespeak-ng ({exc}); {_INSTALL_HINT}") from exc
        self._espeak = _espeak
        try:
            self._engine = pyttsx3.init("espeak")  # initialises libespeak-ng (once)
        except Exception as exc:  # pyttsx3 raises bare RuntimeError/KeyError here
            raise VoiceError(f"pyttsx3 could not start espeak ({exc}); {_INSTALL_HINT}") from exc

        from importlib.metadata import version

        lib = (_espeak.Info(None) or b"?").decode("ascii", "replace")
        self._version = f"pyttsx3 {version('pyttsx3')}; libespeak-ng {lib}"

    @property
    def version(self) -> str:
        return self._version

    def synth(self, text: str, voice: str, rate: int, out: Path) -> None:
        es = self._espeak
        chunks: list[bytes] = []
        done = threading.Event()

        def on_samples(wav, count, events) -> int:  # noqa: ANN001 - ctypes arguments
            # Runs on libespeak-ng's synthesis thread.
            if count > 0:
                chunks.append(ctypes.string_at(wav, count * 2))
            i = 0
            while events[i].type != es.EVENT_LIST_TERMINATED:
                if events[i].type == es.EVENT_MSG_TERMINATED:
                    done.set()
                i += 1
            return 0

        with self._lock:
            if es.SetVoiceByName(voice.encode()) != 0:
                raise VoiceError(
                    f"espeak-ng has no voice {voice!r}; list them with 'espeak-ng --voices'")
            es.SetParameter(es.RATE, rate, 0)
            es.SetSynthCallback(on_samples)
            if es.Synth(text, flags=es.ENDPAUSE | es.CHARS_UTF8) != 0:
                raise VoiceError(f"espeak-ng refused to speak {text!r}")
            es.Synchronize()
            if not done.wait(self.timeout_s):
                es.Cancel()
                raise VoiceError(f"espeak-ng did not finish speaking {text!r} "
                                 f"within {self.timeout_s:.0f} s")
        with wave.open(str(out), "wb") as w:  # libespeak-ng: 16-bit mono, 22,050 Hz
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(SAMPLE_RATE)
            w.writeframes(b"".join(chunks))


class EspeakCliEngine:
    """The ``espeak-ng`` program (fallback when pyttsx3 cannot be used)."""

    name = "espeak-ng-cli"

    def __init__(self, program: str = "espeak-ng") -> None:
        path = shutil.which(program)
        if path is None:
            raise VoiceError(f"the speech engine {program!r} was not found; {_INSTALL_HINT}")
        self.program = path
        self._version: str | None = None

    @property
    def version(self) -> str:
        if self._version is None:
            done = subprocess.run([self.program, "--version"], capture_output=True, text=True,
                                  timeout=30, check=False)
            self._version = done.stdout.strip() or "unknown"
        return self._version

    def synth(self, text: str, voice: str, rate: int, out: Path) -> None:
        done = subprocess.run([self.program, "-v", voice, "-s", str(rate), "-w", str(out), text],
                              capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0 or "not found" in done.stderr.lower():
            raise VoiceError(f"espeak-ng failed for voice {voice!r}: {done.stderr.strip()}; "
                             "list voices with 'espeak-ng --voices'")


def default_engine() -> Engine:
    """pyttsx3 (DESIGN's choice); the ``espeak-ng`` program if pyttsx3 cannot start."""
    try:
        return PyttsxEngine()
    except VoiceError as first:
        log.warning("%s; falling back to the espeak-ng program", first)
        try:
            return EspeakCliEngine()
        except VoiceError as second:
            raise VoiceError(f"no speech engine: {first}; {second}") from second
