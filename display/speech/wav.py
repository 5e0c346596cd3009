"""PCM WAV helpers: read any PCM WAV as mono 16-bit at :data:`SAMPLE_RATE`,
write atomically (a crashed render never leaves half a file), lengths."""

from __future__ import annotations

import array
import contextlib
import os
import sys
import tempfile
import wave
from collections.abc import Iterable
from pathlib import Path

from display.speech.errors import VoiceError

__all__ = ["SAMPLE_RATE", "concat", "read_pcm", "silence", "wav_duration", "write_wav_atomic"]

SAMPLE_RATE = 22050


def read_pcm(path: Path | str) -> array.array:
    """Read a PCM WAV as signed 16-bit mono samples at :data:`SAMPLE_RATE`.

    8/16-bit input, any channel count and any rate are converted (channels
    averaged, linear resampling). Raises :class:`VoiceError` on anything else.
    """
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise VoiceError(f"{path}: not a PCM WAV file ({exc}); "
                         "with sox, write it with '-t wavpcm'") from exc
    if width == 2:
        samples = array.array("h")
        samples.frombytes(raw)
        if sys.byteorder != "little":
            samples.byteswap()
    elif width == 1:  # unsigned 8-bit
        samples = array.array("h", ((b - 128) << 8 for b in raw))
    else:
        raise VoiceError(f"{path}: {8 * width}-bit WAV not supported; use 16-bit PCM")
    if channels > 1:
        samples = array.array("h", (
            int(sum(samples[i:i + channels]) / channels)
            for i in range(0, len(samples) - channels + 1, channels)))
    if rate != SAMPLE_RATE:
        samples = _resample(samples, rate, SAMPLE_RATE)
    return samples


def _resample(samples: array.array, src: int, dst: int) -> array.array:
    # Linear interpolation: plenty for speech and chimes on hall speakers.
    if not samples:
        return array.array("h")
    n_out = max(1, int(round(len(samples) * dst / src)))
    step, last = src / dst, len(samples) - 1
    out = array.array("h", bytes(2 * n_out))
    for i in range(n_out):
        x = i * step
        j = int(x)
        if j >= last:
            out[i] = samples[last]
        else:
            f = x - j
            out[i] = int(round(samples[j] * (1 - f) + samples[j + 1] * f))
    return out


def write_wav_atomic(path: Path, samples: array.array) -> None:
    data = array.array("h", samples)
    if sys.byteorder != "little":
        data.byteswap()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".wav")
    try:
        with os.fdopen(fd, "wb") as f, wave.open(f, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(SAMPLE_RATE)
            w.writeframes(data.tobytes())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def wav_duration(path: Path | str) -> float:
    """Length of a WAV file in seconds."""
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / float(w.getframerate())


def silence(seconds: float) -> array.array:
    return array.array("h", bytes(2 * int(round(seconds * SAMPLE_RATE))))


def concat(parts: Iterable[array.array]) -> array.array:
    out = array.array("h")
    for p in parts:
        out.extend(p)
    return out
