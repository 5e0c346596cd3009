"""The committed chimes (sounds/) that start every announcement."""

from __future__ import annotations

from display.speech.cache import CHIME
from display.speech.wav import SAMPLE_RATE, read_pcm
from sounds import DIR as SOUNDS
from sounds import make_chimes
from tests.display.speech.signals import goertzel


def test_committed_chimes_are_exactly_what_make_chimes_makes(tmp_path, capsys):
    assert make_chimes.main(["--check"]) == 0
    assert make_chimes.main(["--out", str(tmp_path)]) == 0
    for name in make_chimes.CHIMES:
        assert (tmp_path / name).read_bytes() == (SOUNDS / name).read_bytes()


def test_chime_is_a_falling_two_tone_ding_dong():
    s = read_pcm(CHIME)
    ding = s[int(0.05 * SAMPLE_RATE):int(0.35 * SAMPLE_RATE)]
    dong = s[int(0.60 * SAMPLE_RATE):int(0.90 * SAMPLE_RATE)]
    assert goertzel(ding, 659.25) > 5 * goertzel(ding, 523.25)
    assert goertzel(dong, 523.25) > 5 * goertzel(dong, 659.25)
    assert max(abs(x) for x in s) == round(0.5 * 32767)  # -6 dBFS peak, no clipping
    assert s[0] == 0 and s[-1] == 0  # no click at either end
