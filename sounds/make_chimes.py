"""Regenerate the committed chimes: ``python sounds/make_chimes.py [--out DIR] [--check]``.

Every chime is pure synthesis (no samples from anywhere): a few bell-like
notes, each a sine fundamental plus two quieter harmonics under an
exponential decay, with a 6 ms linear attack so no note starts with a
click. Output is mono 16-bit PCM at 22,050 Hz, the rate of the speech
engine (espeak-ng), so announcements are joined without resampling.

The output is deterministic (no randomness, fixed rounding, stdlib
``wave`` writes a fixed 44-byte header), so ``--check`` can verify that the
committed files are exactly what this script makes.
"""

from __future__ import annotations

import argparse
import array
import io
import math
import sys
import wave
from pathlib import Path

__all__ = ["CHIMES", "SAMPLE_RATE", "Note", "main", "render", "wav_bytes"]

SAMPLE_RATE = 22050
PEAK = 0.5  # of full scale (-6 dBFS): leaves headroom and sits near the speech level
ATTACK_S = 0.006
# Relative amplitude of harmonics 1, 2, 3: a soft, bell-ish timbre that is
# still clear through cheap ceiling speakers (pure sines sound thin there).
HARMONICS = ((1, 1.0), (2, 0.35), (3, 0.12))


class Note:
    """One struck note.

    Args:
        start_s: when the note is struck, from the start of the chime.
        freq_hz: fundamental frequency.
        decay_s: time constant of the exponential decay (amplitude / e).
        gain: relative loudness before the chime is normalised.
    """

    __slots__ = ("start_s", "freq_hz", "decay_s", "gain")

    def __init__(self, start_s: float, freq_hz: float, decay_s: float, gain: float = 1.0):
        self.start_s, self.freq_hz, self.decay_s, self.gain = start_s, freq_hz, decay_s, gain


#: file name -> (notes, total length in seconds)
CHIMES: dict[str, tuple[tuple[Note, ...], float]] = {
    # "ding-dong" before every call: E5 then C5 (a falling major third).
    "chime.wav": ((Note(0.0, 659.25, 0.30), Note(0.42, 523.25, 0.40)), 1.5),
    # Rising C5-E5-G5 for hall notices (not a call), so the two are told apart.
    "attention.wav": (
        (Note(0.0, 523.25, 0.22), Note(0.22, 659.25, 0.22), Note(0.44, 783.99, 0.40)),
        1.6,
    ),
}


def render(notes: tuple[Note, ...], length_s: float, rate: int = SAMPLE_RATE) -> array.array:
    """Synthesise ``notes`` into signed 16-bit mono samples, peak-normalised to PEAK."""
    n = int(round(length_s * rate))
    mix = [0.0] * n
    for note in notes:
        first = int(round(note.start_s * rate))
        attack = max(1, int(round(ATTACK_S * rate)))
        for i in range(first, n):
            t = (i - first) / rate
            env = math.exp(-t / note.decay_s) * min(1.0, (i - first) / attack)
            s = sum(a * math.sin(2 * math.pi * note.freq_hz * k * t) for k, a in HARMONICS)
            mix[i] += note.gain * env * s
    # Fade the last 20 ms to exactly zero so the file ends without a click.
    fade = int(0.02 * rate)
    for j in range(fade):
        mix[n - 1 - j] *= j / fade
    peak = max(abs(v) for v in mix) or 1.0
    scale = PEAK * 32767 / peak
    return array.array("h", (int(round(v * scale)) for v in mix))


def wav_bytes(samples: array.array, rate: int = SAMPLE_RATE) -> bytes:
    """Wrap 16-bit mono samples in a plain PCM WAV container."""
    pcm = samples.tobytes() if sys.byteorder == "little" else _swapped(samples)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buf.getvalue()


def _swapped(samples: array.array) -> bytes:
    copy = array.array("h", samples)
    copy.byteswap()  # WAV is little-endian on every platform
    return copy.tobytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="directory to write to (default: this sounds/ directory)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a file differs from what would be made")
    args = parser.parse_args(argv)
    bad = 0
    for name, (notes, length) in CHIMES.items():
        data = wav_bytes(render(notes, length))
        path = args.out / name
        if args.check:
            same = path.is_file() and path.read_bytes() == data
            print(f"{'ok  ' if same else 'DIFF'} {path}")
            bad += not same
        else:
            path.write_bytes(data)
            print(f"wrote {path} ({length:.2f} s, {len(data)} bytes)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
