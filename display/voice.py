"""Speech for call announcements: text, synthesis, disk cache, WAV assembly.

``qhall announce --ticket A001 --counter 3 --out call.wav`` renders one
announcement: the ding-dong chime (``sounds/chime.wav``), then the Chinese
call, then (``--lang both``) the English one, joined into ONE mono 16-bit
PCM WAV at :data:`SAMPLE_RATE`.

How numbers are spoken (:func:`announcement_text`): a ticket number is read
digit by digit, as halls do ("A001" -> "A零零一号", never "A一号"); a counter
number is read as a number ("12" -> "十二号窗口"). English reads
"Number A-0 0 1, please go to counter 12." (the hyphen makes espeak say the
letter "A", not the article "a").

Engines: pyttsx3's espeak driver is the primary path, as DESIGN names it
(see :class:`PyttsxEngine` for why we use its libespeak-ng binding rather
than ``save_to_file``); when pyttsx3 cannot load libespeak-ng, the
``espeak-ng`` program is run instead. The voice ``cmn-latn-pinyin`` reads Chinese
characters as Mandarin (plain ``cmn`` spells Latin letters the English
way). Whatever the engine's sample rate or channel count, every part is
converted to :data:`SAMPLE_RATE` mono before joining.

Cache: a speech WAV is stored under ``cache_dir`` named by a SHA-256 of
(text, voice, rate, engine name and version, output format), and a whole
announcement by a hash of its parts, so a repeat costs a hash and a stat,
and the engine is not even started (files are written atomically, so a
crashed render never leaves a half file behind). Deleting the directory is
always safe.
"""

from __future__ import annotations

import argparse
import array
import contextlib
import ctypes
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import wave
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from sounds import DIR as SOUNDS_DIR

__all__ = [
    "CHIME",
    "LANGS",
    "SAMPLE_RATE",
    "Engine",
    "EspeakCliEngine",
    "PyttsxEngine",
    "Voice",
    "VoiceError",
    "announcement_text",
    "configure",
    "default_cache_dir",
    "default_engine",
    "read_pcm",
    "run",
    "wav_duration",
]

log = logging.getLogger(__name__)

SAMPLE_RATE = 22050
CHIME = SOUNDS_DIR / "chime.wav"
LANGS = ("zh", "en", "both")
#: Bump when the bytes we write change for the same inputs (invalidates caches).
FORMAT_VERSION = 2
GAP_AFTER_CHIME_S = 0.25
GAP_BETWEEN_LANGS_S = 0.6
DEFAULT_RATE = 150  # words/min; espeak's 175 is too quick for a noisy hall
ENGLISH_VOICE = "en"

_HANZI_DIGITS = "零一二三四五六七八九"
_TICKET = re.compile(r"([A-Z]{0,3})([0-9]{1,6})")
_INSTALL_HINT = "install it (Debian/Ubuntu: sudo apt-get install espeak-ng)"


class VoiceError(RuntimeError):
    """Speech could not be made; the message says why and what to do."""


# ---------------------------------------------------------------- text


def _split_ticket(number: str) -> tuple[str, str]:
    m = _TICKET.fullmatch(number.strip().upper())
    if not m:
        raise ValueError(
            f"ticket number must be up to 3 letters then 1-6 digits, like A001: got {number!r}"
        )
    return m.group(1), m.group(2)


def _zh_integer(n: int) -> str:
    """Read 1..99999 the way a number is said in Mandarin (12 -> 十二, 105 -> 一百零五)."""
    if not 0 < n < 100000:
        raise ValueError(f"counter number must be 1..99999: got {n}")
    units = ("", "十", "百", "千", "万")
    digits = [int(c) for c in str(n)]
    out: list[str] = []
    zero = False
    for i, d in enumerate(digits):
        place = len(digits) - 1 - i
        if d == 0:
            zero = True
            continue
        if zero and out:
            out.append("零")  # one 零 for any run of inner zeros: 1005 -> 一千零五
        zero = False
        out.append(_HANZI_DIGITS[d] + units[place])
    text = "".join(out)
    # 10..19 are said 十, 十一 ... not 一十, 一十一.
    return text[1:] if text.startswith("一十") else text


def _zh_numbers_in(name: str) -> str:
    return re.sub(r"[0-9]+", lambda m: _zh_integer(int(m.group())), name)


def announcement_text(number: str, counter_number: int, counter_name: str = "",
                      lang: str = "zh") -> str:
    """The words to speak for one call.

    Args:
        number: the ticket number, letters then digits ("A001").
        counter_number: the counter's number (1..99999).
        counter_name: the counter's configured name ("3号窗口"); Chinese only,
            used instead of "N号窗口" when given.
        lang: ``"zh"`` or ``"en"``.

    Returns:
        The text for the speech engine, with numbers spelled to be read naturally.

    Raises:
        ValueError: a malformed ticket number, counter number or language.
    """
    letters, digits = _split_ticket(number)
    if isinstance(counter_number, bool) or not isinstance(counter_number, int):
        raise ValueError(f"counter number must be an int: got {counter_number!r}")
    if lang == "zh":
        counter = _zh_numbers_in(counter_name.strip()) or f"{_zh_integer(counter_number)}号窗口"
        spoken = letters + "".join(_HANZI_DIGITS[int(d)] for d in digits)
        return f"请{spoken}号，到{counter}办理。"
    if lang == "en":
        _zh_integer(counter_number)  # same range check as Chinese
        spelled = "".join(c + "-" for c in letters) + " ".join(digits)
        return f"Number {spelled}, please go to counter {counter_number}."
    raise ValueError(f"language must be 'zh' or 'en' for one text: got {lang!r}")


# ---------------------------------------------------------------- PCM helpers


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


def _write_wav_atomic(path: Path, samples: array.array) -> None:
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


# ---------------------------------------------------------------- engines


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
        _write_wav_atomic(path, samples)
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
            parts += [read_pcm(chime), _silence(GAP_AFTER_CHIME_S)]
        for i, p in enumerate(speech):
            if i:
                parts.append(_silence(GAP_BETWEEN_LANGS_S))
            parts.append(read_pcm(p))
        _write_wav_atomic(path, _concat(parts))
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


def _silence(seconds: float) -> array.array:
    return array.array("h", bytes(2 * int(round(seconds * SAMPLE_RATE))))


def _concat(parts: Iterable[array.array]) -> array.array:
    out = array.array("h")
    for p in parts:
        out.extend(p)
    return out


# ---------------------------------------------------------------- CLI


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``qhall announce``."""
    parser.add_argument("--ticket", required=True, help="ticket number, e.g. A001")
    parser.add_argument("--counter", required=True, type=int, help="counter number, e.g. 3")
    parser.add_argument("--counter-name", default="",
                        help="the counter's Chinese name (default: 'N号窗口')")
    parser.add_argument("--lang", choices=LANGS, default="zh",
                        help="zh, en, or both (Chinese then English); default zh")
    parser.add_argument("--voice", default="cmn-latn-pinyin",
                        help="espeak-ng voice for Chinese (default cmn-latn-pinyin)")
    parser.add_argument("--english-voice", default=ENGLISH_VOICE,
                        help=f"espeak-ng voice for English (default {ENGLISH_VOICE})")
    parser.add_argument("--rate", type=int, default=DEFAULT_RATE,
                        help=f"speaking rate, words per minute (default {DEFAULT_RATE})")
    parser.add_argument("--no-chime", action="store_true", help="speech only, no chime first")
    parser.add_argument("--cache", type=Path, default=None,
                        help="speech cache directory (default: $QHALL_CACHE/voice "
                             "or ~/.cache/qhall/voice)")
    parser.add_argument("--out", required=True, type=Path, help="the WAV file to write")


def run(args: argparse.Namespace) -> int:
    """``qhall announce``: write one announcement WAV; 0 ok, 1 engine error, 2 bad input."""
    try:
        voice = Voice(args.cache or default_cache_dir(), voice=args.voice, rate=args.rate,
                      english_voice=args.english_voice)
        built = voice.build_announcement(args.ticket, args.counter, args.counter_name,
                                         args.lang, None if args.no_chime else CHIME)
    except ValueError as exc:
        print(f"qhall announce: {exc}", file=sys.stderr)
        return 2
    except VoiceError as exc:
        print(f"qhall announce: {exc}", file=sys.stderr)
        return 1
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, args.out)
    except OSError as exc:
        print(f"qhall announce: cannot write {args.out}: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({wav_duration(args.out):.2f} s)")
    return 0
