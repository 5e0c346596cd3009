"""``qhall announce`` (display.speech.cli) end to end with espeak-ng."""

from __future__ import annotations

import wave

import pytest

from display.speech.cache import CHIME, GAP_AFTER_CHIME_S, GAP_BETWEEN_LANGS_S
from display.speech.wav import SAMPLE_RATE, read_pcm
from server.cli import main as qhall
from tests.display.speech.signals import rms

needs_espeak = pytest.mark.usefixtures("espeak_ng")


def announce(tmp_path, capsys, *args) -> tuple[int, str]:
    code = qhall(["announce", "--cache", str(tmp_path / "cache"), *args])
    out = capsys.readouterr()
    return code, out.out + out.err


@needs_espeak
@pytest.mark.audio
def test_qhall_announce_writes_a_real_spoken_wav(tmp_path, capsys):
    chime = read_pcm(CHIME)
    start = len(chime) + round(GAP_AFTER_CHIME_S * SAMPLE_RATE)
    speech = {}
    for ticket in ("A001", "B017"):
        out = tmp_path / f"{ticket}.wav"
        code, text = announce(tmp_path, capsys, "--ticket", ticket, "--counter", "3",
                              "--out", str(out))
        assert code == 0, text
        assert f"wrote {out}" in text
        with wave.open(str(out)) as w:  # plain PCM: the stdlib can read it
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, SAMPLE_RATE)
        samples = read_pcm(out)
        assert len(samples) > start + SAMPLE_RATE  # chime + gap + over a second of speech
        assert samples[:len(chime)] == chime
        speech[ticket] = samples[start:]
        assert rms(speech[ticket]) > 0.02  # speech, not silence
    assert speech["A001"] != speech["B017"]
    # The counter part is the same words, so only the number differs: neither
    # is a prefix of the other, and a different counter changes it again.
    n = min(len(speech["A001"]), len(speech["B017"]))
    assert speech["A001"][:n] != speech["B017"][:n]
    code, _ = announce(tmp_path, capsys, "--ticket", "A001", "--counter", "12",
                       "--out", str(tmp_path / "c12.wav"))
    assert code == 0 and read_pcm(tmp_path / "c12.wav")[start:] != speech["A001"]


@needs_espeak
@pytest.mark.audio
def test_qhall_announce_both_languages_is_longer_than_chinese_alone(tmp_path, capsys):
    lengths = {}
    for lang in ("zh", "en", "both"):
        out = tmp_path / f"{lang}.wav"
        code, text = announce(tmp_path, capsys, "--ticket", "A001", "--counter", "3",
                              "--lang", lang, "--out", str(out))
        assert code == 0, text
        lengths[lang] = len(read_pcm(out))
    chime_and_gap = len(read_pcm(CHIME)) + round(GAP_AFTER_CHIME_S * SAMPLE_RATE)
    gap = round(GAP_BETWEEN_LANGS_S * SAMPLE_RATE)
    assert lengths["both"] == lengths["zh"] + lengths["en"] - chime_and_gap + gap


@needs_espeak
def test_qhall_announce_reports_bad_input(tmp_path, capsys):
    code, text = announce(tmp_path, capsys, "--ticket", "A001", "--counter", "3",
                          "--voice", "no-such-voice", "--out", str(tmp_path / "x.wav"))
    assert code == 1 and "no voice 'no-such-voice'" in text and "espeak-ng --voices" in text
    code, text = announce(tmp_path, capsys, "--ticket", "3A", "--counter", "3",
                          "--out", str(tmp_path / "x.wav"))
    assert code == 2 and "like A001" in text
    assert not (tmp_path / "x.wav").exists()


# ---------------------------------------------------------------- chimes
