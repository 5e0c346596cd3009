"""Helpers of the speech tests: loudness, one-frequency power, test engines."""

from __future__ import annotations

import array
import math
import wave
from pathlib import Path

from display.speech.wav import SAMPLE_RATE


def rms(samples) -> float:
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples))) / 32768


def goertzel(samples, freq: float, rate: int = SAMPLE_RATE) -> float:
    """Power of one frequency in ``samples`` (a one-bin DFT)."""
    w = 2 * math.pi * freq / rate
    coeff, s1, s2 = 2 * math.cos(w), 0.0, 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


class CountingEngine:
    """Wraps a real engine and counts synth calls."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, []
        self.name = inner.name

    @property
    def version(self) -> str:
        return self.inner.version

    def synth(self, text, voice, rate, out) -> None:
        self.calls.append((text, voice, rate))
        self.inner.synth(text, voice, rate, out)


class ToneEngine:
    """A fake engine that 'speaks' a 44.1 kHz stereo tone (tests normalisation)."""

    name, version = "tone", "1"

    def __init__(self, amplitude: int = 8000) -> None:
        self.amplitude = amplitude

    def synth(self, text, voice, rate, out: Path) -> None:
        n = 44100  # one second
        frames = array.array("h")
        for i in range(n):
            v = int(self.amplitude * math.sin(2 * math.pi * 440 * i / 44100))
            frames.extend((v, v))
        with wave.open(str(out), "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(44100)
            w.writeframes(frames.tobytes())


# ---------------------------------------------------------------- text
