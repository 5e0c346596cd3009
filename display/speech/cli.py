"""``qhall announce --ticket A001 --counter 3 --out call.wav``: one announcement
to a WAV file (the chime, then the Chinese call, then with ``--lang both`` the
English one, as ONE mono 16-bit PCM WAV)."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from display.speech.cache import (
    CHIME,
    DEFAULT_RATE,
    ENGLISH_VOICE,
    LANGS,
    Voice,
    default_cache_dir,
)
from display.speech.errors import VoiceError
from display.speech.wav import wav_duration

__all__ = ["configure", "run"]


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
