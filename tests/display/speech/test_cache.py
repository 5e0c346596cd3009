"""display.speech.cache and engines: the cached renderer over the real engines."""

from __future__ import annotations

import math
import wave

import pytest

from display.speech import engines as engines_mod
from display.speech.cache import CHIME, GAP_AFTER_CHIME_S, GAP_BETWEEN_LANGS_S, Voice
from display.speech.errors import VoiceError
from display.speech.text import announcement_text
from display.speech.wav import SAMPLE_RATE, read_pcm
from tests.display.speech.signals import CountingEngine, ToneEngine, goertzel, rms

needs_espeak = pytest.mark.usefixtures("espeak_ng")


@needs_espeak
def test_second_render_is_a_cache_hit_without_the_engine(tmp_path):
    engine = CountingEngine(engines_mod.default_engine())
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
    fast = engines_mod.PyttsxEngine()
    cli = engines_mod.EspeakCliEngine()
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
    gaps = GAP_AFTER_CHIME_S + GAP_BETWEEN_LANGS_S
    assert len(out) == len(chime) + 2 * SAMPLE_RATE + round(gaps * SAMPLE_RATE)
    assert out[:len(chime)] == chime
    assert v.build_announcement("A001", 3, lang="both") == path and v.synth_count == 2
    speech_only = read_pcm(v.build_announcement("A001", 3, lang="zh", chime=None))
    assert len(speech_only) == SAMPLE_RATE


def test_missing_espeak_is_a_clear_error(tmp_path, monkeypatch):
    def no_pyttsx3():
        raise VoiceError("pyttsx3 cannot load libespeak-ng (no library)")

    monkeypatch.setattr(engines_mod, "PyttsxEngine", no_pyttsx3)
    monkeypatch.setattr(engines_mod.shutil, "which", lambda name: None)
    with pytest.raises(VoiceError, match="apt-get install espeak-ng"):
        Voice(tmp_path).render("请")


# ---------------------------------------------------------------- qhall announce
