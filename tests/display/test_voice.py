"""Speech text, the speech cache, WAV assembly, ``qhall announce`` and the chimes."""

from __future__ import annotations

import array
import math
import wave
from pathlib import Path

import pytest

from display import voice as voice_mod
from display.voice import (
    CHIME,
    SAMPLE_RATE,
    Voice,
    VoiceError,
    announcement_text,
    read_pcm,
)
from server.cli import main as qhall
from sounds import DIR as SOUNDS
from sounds import make_chimes
from tests.helpers.tools import require_tool


@pytest.fixture
def espeak_ng() -> str:
    """espeak-ng's path: a skip without it, a failure under QHALL_REQUIRE_TOOLS."""
    return require_tool("espeak-ng", "apt-get install espeak-ng")


needs_espeak = pytest.mark.usefixtures("espeak_ng")


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


@pytest.mark.parametrize(("number", "counter", "name", "expected"), [
    ("A001", 3, "", "请A零零一号，到三号窗口办理。"),
    ("b017", 12, "", "请B零一七号，到十二号窗口办理。"),
    ("C100", 67, "67号窗口", "请C一零零号，到六十七号窗口办理。"),
    ("A001", 105, "综合受理105号窗口", "请A零零一号，到综合受理一百零五号窗口办理。"),
    ("0042", 1005, "", "请零零四二号，到一千零五号窗口办理。"),
    ("A001", 20, "", "请A零零一号，到二十号窗口办理。"),
])
def test_chinese_text_reads_ticket_digits_one_by_one_and_counters_as_numbers(
        number, counter, name, expected):
    assert announcement_text(number, counter, name, "zh") == expected


def test_english_text_spells_the_ticket():
    assert (announcement_text("A001", 3, "3号窗口", "en")
            == "Number A-0 0 1, please go to counter 3.")
    assert announcement_text("017", 12, lang="en") == "Number 0 1 7, please go to counter 12."


@pytest.mark.parametrize(("args", "match"), [
    (("1A", 3, "", "zh"), "letters then 1-6 digits"),
    (("", 3, "", "zh"), "letters then 1-6 digits"),
    (("A001", 0, "", "zh"), "1..99999"),
    (("A001", "3", "", "zh"), "must be an int"),
    (("A001", 3, "", "fr"), "'zh' or 'en'"),
])
def test_bad_text_input_is_refused(args, match):
    with pytest.raises(ValueError, match=match):
        announcement_text(*args)


# ---------------------------------------------------------------- cache


@needs_espeak
def test_second_render_is_a_cache_hit_without_the_engine(tmp_path):
    engine = CountingEngine(voice_mod.default_engine())
    v = Voice(tmp_path, engine=engine)
    first = v.render("请A零零一号，到三号窗口办理。", "zh")
    again = v.render("请A零零一号，到三号窗口办理。", "zh")
    assert first == again and len(engine.calls) == 1 and v.synth_count == 1
    with wave.open(str(first)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, SAMPLE_RATE)
        assert w.getnframes() > SAMPLE_RATE  # more than a second of speech
    # A new Voice on the same directory (a restarted board) hits the disk cache.
    engine2 = CountingEngine(engine.inner)
    assert Voice(tmp_path, engine=engine2).render("请A零零一号，到三号窗口办理。") == first
    assert engine2.calls == []
    # Another rate or voice is another entry.
    Voice(tmp_path, rate=200, engine=engine2).render("请A零零一号，到三号窗口办理。")
    assert len(engine2.calls) == 1
    # The English part uses the English voice.
    v.render("Number A-0 0 1, please go to counter 3.", "en")
    assert engine.calls[-1][1] == "en"


@needs_espeak
def test_in_process_engine_says_the_same_as_the_espeak_ng_program(tmp_path):
    # Guards the pyttsx3 path against lost, empty or shifted utterances: each
    # render, made back to back, lasts what the espeak-ng program makes of the
    # same text (libespeak-ng varies by ~2% between utterances in a process).
    fast = voice_mod.PyttsxEngine()
    cli = voice_mod.EspeakCliEngine()
    texts = [announcement_text("A001", 3, lang="zh"), announcement_text("B017", 12, lang="en"),
             announcement_text("C100", 67, lang="zh"), "请", announcement_text("A2", 5, lang="en")]
    for i, text in enumerate(texts):
        lang_voice = "en" if text.startswith("Number") else "cmn-latn-pinyin"
        fast.synth(text, lang_voice, 150, tmp_path / f"f{i}.wav")
        cli.synth(text, lang_voice, 150, tmp_path / f"c{i}.wav")
        ours, ref = (len(read_pcm(tmp_path / f"{k}{i}.wav")) for k in "fc")
        assert ref > 0 and abs(ours - ref) <= 0.03 * ref, (text, ours, ref)


def test_engine_output_is_normalised_to_mono_22050(tmp_path):
    path = Voice(tmp_path, engine=ToneEngine()).render("x")
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getframerate()) == (1, SAMPLE_RATE)
        assert abs(w.getnframes() - SAMPLE_RATE) <= 1  # still one second long
    samples = read_pcm(path)
    assert rms(samples) == pytest.approx(8000 / 32768 / math.sqrt(2), rel=0.02)
    assert goertzel(samples, 440) > 100 * goertzel(samples, 880)  # pitch preserved


def test_silent_engine_output_is_an_error_not_a_cached_file(tmp_path):
    with pytest.raises(VoiceError, match="silence"):
        Voice(tmp_path, engine=ToneEngine(amplitude=0)).render("x")
    assert not list(tmp_path.glob("*.wav"))


def test_announcement_joins_chime_and_speech_and_is_cached(tmp_path):
    v = Voice(tmp_path, engine=ToneEngine())
    path = v.build_announcement("A001", 3, lang="both")
    chime = read_pcm(CHIME)
    out = read_pcm(path)
    gaps = voice_mod.GAP_AFTER_CHIME_S + voice_mod.GAP_BETWEEN_LANGS_S
    assert len(out) == len(chime) + 2 * SAMPLE_RATE + round(gaps * SAMPLE_RATE)
    assert out[:len(chime)] == chime
    assert v.build_announcement("A001", 3, lang="both") == path and v.synth_count == 2
    speech_only = read_pcm(v.build_announcement("A001", 3, lang="zh", chime=None))
    assert len(speech_only) == SAMPLE_RATE


def test_missing_espeak_is_a_clear_error(tmp_path, monkeypatch):
    def no_pyttsx3():
        raise VoiceError("pyttsx3 cannot load libespeak-ng (no library)")

    monkeypatch.setattr(voice_mod, "PyttsxEngine", no_pyttsx3)
    monkeypatch.setattr(voice_mod.shutil, "which", lambda name: None)
    with pytest.raises(VoiceError, match="apt-get install espeak-ng"):
        Voice(tmp_path).render("请")


# ---------------------------------------------------------------- qhall announce


def announce(tmp_path, capsys, *args) -> tuple[int, str]:
    code = qhall(["announce", "--cache", str(tmp_path / "cache"), *args])
    out = capsys.readouterr()
    return code, out.out + out.err


@needs_espeak
@pytest.mark.audio
def test_qhall_announce_writes_a_real_spoken_wav(tmp_path, capsys):
    chime = read_pcm(CHIME)
    start = len(chime) + round(voice_mod.GAP_AFTER_CHIME_S * SAMPLE_RATE)
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
    chime_and_gap = len(read_pcm(CHIME)) + round(voice_mod.GAP_AFTER_CHIME_S * SAMPLE_RATE)
    gap = round(voice_mod.GAP_BETWEEN_LANGS_S * SAMPLE_RATE)
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
