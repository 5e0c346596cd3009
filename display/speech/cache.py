"""The cached renderer of speech and whole announcements (:class:`Voice`).

A speech WAV is stored under ``cache_dir`` named by a SHA-256 of (text,
voice, rate, engine name and version, output format), and a whole
announcement by a hash of its parts, so a repeat costs a hash and a stat, and
the engine is not even started. Every part is converted to
:data:`~display.speech.wav.SAMPLE_RATE` mono before joining: the chime
(``sounds/chime.wav``), the Chinese call, then (``lang="both"``) the English
one. Deleting the directory is always safe.
"""

from __future__ import annotations

import array
import hashlib
import json
import os
import tempfile
from pathlib import Path

from display.speech.engines import Engine, default_engine
from display.speech.errors import VoiceError
from display.speech.text import announcement_text
from display.speech.wav import SAMPLE_RATE, concat, read_pcm, silence, write_wav_atomic
from sounds import DIR as SOUNDS_DIR

__all__ = ["CHIME", "DEFAULT_RATE", "ENGLISH_VOICE", "LANGS", "Voice", "default_cache_dir"]

CHIME = SOUNDS_DIR / "chime.wav"
LANGS = ("zh", "en", "both")
#: Bump when the bytes we write change for the same inputs (invalidates caches).
FORMAT_VERSION = 2
GAP_AFTER_CHIME_S = 0.25
GAP_BETWEEN_LANGS_S = 0.6
DEFAULT_RATE = 150  # words/min; espeak's 175 is too quick for a noisy hall
ENGLISH_VOICE = "en"


def default_cache_dir() -> Path:
    """``$QHALL_CACHE/voice``, else ``$XDG_CACHE_HOME/qhall/voice`` (``~/.cache/...``)."""
    if os.environ.get("QHALL_CACHE"):
        return Path(os.environ["QHALL_CACHE"]) / "voice"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "qhall" / "voice"


# ---------------------------------------------------------------- Voice


class Voice:
    """Renders speech and whole announcements to cached WAV files.

    Args:
        cache_dir: where rendered WAVs are kept (created on demand).
        voice: espeak voice for Chinese.
        rate: speaking rate in words per minute.
        english_voice: espeak voice for the English part.
        engine: a speech engine; by default :func:`default_engine`, started
            on the first render that misses the cache.

    Attributes:
        synth_count: how many times the engine was actually run (cache misses).
    """

    def __init__(self, cache_dir: Path | str, voice: str = "cmn-latn-pinyin",
                 rate: int = DEFAULT_RATE, english_voice: str = ENGLISH_VOICE,
                 engine: Engine | None = None) -> None:
        if not 80 <= rate <= 450:
            raise ValueError(f"speaking rate must be 80..450 words/min: got {rate}")
        self.cache_dir = Path(cache_dir)
        self.voice = voice
        self.rate = rate
        self.english_voice = english_voice
        self._engine = engine
        self._file_hashes: dict[tuple[str, int, int], str] = {}
        self.synth_count = 0

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = default_engine()
        return self._engine

    def _key(self, *parts: object) -> str:
        blob = json.dumps([FORMAT_VERSION, SAMPLE_RATE, *parts], ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def render(self, text: str, lang: str = "zh") -> Path:
        """Speak ``text`` into a cached mono 16-bit WAV at :data:`SAMPLE_RATE`.

        Args:
            text: what to say.
            lang: ``"zh"`` uses :attr:`voice`, ``"en"`` uses :attr:`english_voice`.

        Raises:
            VoiceError: no engine, an unknown voice, or the engine produced no sound.
        """
        if lang not in ("zh", "en"):
            raise ValueError(f"language must be 'zh' or 'en': got {lang!r}")
        if not text.strip():
            raise ValueError("nothing to say: empty text")
        voice = self.voice if lang == "zh" else self.english_voice
        engine = self.engine
        key = self._key(text, voice, self.rate, engine.name, engine.version)
        path = self.cache_dir / f"speech-{key}.wav"
        if path.is_file():
            return path
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.cache_dir, prefix=".synth-") as tmp:
            raw = Path(tmp) / "raw.wav"
            engine.synth(text, voice, self.rate, raw)
            self.synth_count += 1
            if not raw.is_file():
                raise VoiceError(f"the speech engine wrote nothing for {text!r} (voice {voice})")
            samples = read_pcm(raw)
        if not any(samples):
            raise VoiceError(f"the speech engine produced silence for {text!r} (voice {voice})")
        write_wav_atomic(path, samples)
        return path

    def build_announcement(self, number: str, counter_number: int, counter_name: str = "",
                           lang: str = "zh", chime: Path | str | None = CHIME) -> Path:
        """Render one call: chime, Chinese, (English) joined into one cached WAV.

        Args:
            number: ticket number ("A001").
            counter_number: counter number.
            counter_name: the counter's Chinese name; "N号窗口" when empty.
            lang: ``"zh"``, ``"en"`` or ``"both"`` (Chinese first).
            chime: a WAV played first, or None for speech only.

        Returns:
            The path of the WAV (inside the cache directory; do not modify it).
        """
        if lang not in LANGS:
            raise ValueError(f"language must be one of {', '.join(LANGS)}: got {lang!r}")
        langs = ("zh", "en") if lang == "both" else (lang,)
        speech = [self.render(announcement_text(number, counter_number, counter_name, code),
                              code) for code in langs]
        chime_id = self._file_id(Path(chime)) if chime is not None else None
        key = self._key("call", [p.name for p in speech], chime_id,
                        GAP_AFTER_CHIME_S, GAP_BETWEEN_LANGS_S)
        path = self.cache_dir / f"call-{key}.wav"
        if path.is_file():
            return path
        parts: list[array.array] = []
        if chime is not None:
            parts += [read_pcm(chime), silence(GAP_AFTER_CHIME_S)]
        for i, p in enumerate(speech):
            if i:
                parts.append(silence(GAP_BETWEEN_LANGS_S))
            parts.append(read_pcm(p))
        write_wav_atomic(path, concat(parts))
        return path

    def _file_id(self, path: Path) -> str:
        # Hash the chime's bytes (memoised per size+mtime), so editing it
        # re-renders announcements without anyone clearing the cache.
        try:
            st = path.stat()
        except OSError as exc:
            raise VoiceError(f"chime file {path} cannot be read: {exc}") from exc
        memo = (str(path), st.st_size, st.st_mtime_ns)
        if memo not in self._file_hashes:
            self._file_hashes[memo] = hashlib.sha256(path.read_bytes()).hexdigest()
        return self._file_hashes[memo]
