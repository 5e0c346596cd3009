"""``qhall display``: the lobby board, or with ``--counter N`` a counter display.

Wiring only: the link's messages go into a :class:`display.state.BoardState`,
the view re-renders from it, and every call (replayed ones included, in
order) goes to the voice announcer unless ``--mute``. The lobby board speaks;
a counter display stays silent (the board speaks for the hall, and two
speakers saying the same call would overlap).

Defaults: server ``ws://127.0.0.1:8765/ws`` (several, comma-separated, for
failover), device ``board-1``, also with ``--counter``; the token from
``--token-file``, or with ``--demo`` the demo hall's ``demo-<device>``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from server.client.bootstrap import (
    DEFAULT_SERVER,
    add_server_options,
    resolve_server_options,
)
from server.wire.labels import CATEGORY_IDS

__all__ = [
    "DEFAULT_SERVER",
    "DEFAULT_DEVICE",
    "RENDER_MS",
    "DisplayController",
    "make_announcer",
    "configure",
    "run",
]

DEFAULT_DEVICE = "board-1"
#: re-render period: the clock ticks and the newest call flashes
RENDER_MS = 250

log = logging.getLogger("qhall.display")

#: announce(ticket_number, counter_number, counter_name, recall)
AnnounceFn = Callable[[str, int, str, bool], Any]


class DisplayController:
    """Connects a link, a BoardState, a view and an optional announcer.

    Args:
        link: a ``server.client.qtlink.Link`` (or ``FakeLink``) with ``welcomed``,
            ``event``, ``status``, ``refused`` signals.
        state: the state the view shows.
        view: a widget with ``render(state)``.
        announce: called once per applied call, in order; None = silent.
        render_ms: re-render period for the clock and the flash (0 = no timer).
    """

    def __init__(self, link: Any, state: Any, view: Any,
                 announce: AnnounceFn | None = None, render_ms: int = RENDER_MS) -> None:
        from PySide6.QtCore import QTimer

        self.link, self.state, self.view, self.announce = link, state, view, announce
        self.refusal: dict[str, Any] | None = None
        self.errors: list[str] = []
        link.welcomed.connect(self.on_welcome)
        link.event.connect(self.on_event)
        link.status.connect(self.on_status)
        link.refused.connect(self.on_refused)
        self.timer = QTimer()
        self.timer.setInterval(render_ms or 1000)
        self.timer.timeout.connect(self.render)
        if render_ms:
            self.timer.start()
        self.render()

    def render(self) -> None:
        self.view.render(self.state)

    def on_welcome(self, message: dict) -> None:
        from display.state import StateError

        try:
            self.state.apply_welcome(message)
        except StateError as exc:
            self._bad(str(exc))
        self.render()

    def on_event(self, message: dict) -> None:
        from display.state import StateError

        try:
            call = self.state.apply_event(message)
        except StateError as exc:
            # One bad event must not take the board down; log and go on.
            self._bad(str(exc))
            return
        if call is not None and self.announce is not None:
            try:
                self.announce(call.number, call.counter, call.counter_name, call.recall)
            except Exception:  # the board keeps showing calls even if audio fails
                log.exception("announcement of %s failed", call.number)
        self.render()

    def on_status(self, status: str) -> None:
        self.state.set_status(status)
        self.render()

    def on_refused(self, message: dict) -> None:
        self.refusal = message
        # The link stops retrying: say so on the screen, not only in the log.
        self.state.set_status("refused")
        log.error("server refused this display: %s %s",
                  message.get("code"), message.get("message", ""))
        self.render()

    def _bad(self, text: str) -> None:
        self.errors.append(text)
        log.warning("ignored a bad server message: %s", text)

    def stop(self) -> None:
        self.timer.stop()


def make_announcer(args: argparse.Namespace, player: Any = None, voice: Any = None) -> Any:
    """The voice announcer for ``args`` (``display.announcer.Announcer``), or None.

    None when ``--mute`` or when no audio/speech is available (the board then
    runs silent and says so in the log: the calls still show).

    Args:
        args: parsed ``qhall display`` options (``mute``, ``repeat``,
            ``max_backlog``, ``voice``, ``english``).
        player: the audio output; default ``display.player.QtPlayer``.
        voice: the speech renderer; default ``display.speech.cache.Voice`` on the
            default cache directory.
    """
    if args.mute:
        return None
    try:
        from display.announcer import Announcer

        if voice is None:
            from display.speech.cache import Voice, default_cache_dir

            voice = Voice(default_cache_dir(), voice=args.voice)
        if player is None:
            from display.player import QtPlayer

            player = QtPlayer()
    except Exception as exc:  # no QtMultimedia, no audio device: still show calls
        log.warning("voice announcements unavailable (%s); running silent", exc)
        return None
    lang = "both" if args.english else "zh"
    return Announcer(
        player,
        lambda number, counter, name: voice.build_announcement(number, counter, name, lang),
        time.monotonic, repeat=args.repeat, max_backlog=args.max_backlog)


def split_list(values: list[str]) -> list[str]:
    """``--zone A --zone "B,C"`` -> ``["A", "B", "C"]`` (blanks dropped)."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``qhall display`` options."""
    add_server_options(parser, device_default=DEFAULT_DEVICE,
                       device_help=f"this display's device id (default {DEFAULT_DEVICE})")
    parser.add_argument("--counter", type=int, default=None, metavar="N",
                        help="show the small display of counter N instead of the lobby board")
    parser.add_argument("--fullscreen", action="store_true", help="run full screen")
    parser.add_argument("--mute", action="store_true", help="no voice announcements")
    parser.add_argument("--notice", default=None, metavar="TEXT",
                        help="scrolling notice (default: the hall's notice)")
    parser.add_argument("--repeat", type=int, default=2, metavar="N",
                        help="say each call N times (default 2)")
    parser.add_argument("--max-backlog", type=int, default=6, metavar="N",
                        help="plays waiting above which the oldest repeats are dropped "
                             "(default 6; a call's first play is never dropped)")
    parser.add_argument("--voice", default="cmn-latn-pinyin", metavar="NAME",
                        help="espeak-ng voice for Chinese (default cmn-latn-pinyin)")
    parser.add_argument("--zone", action="append", default=[], metavar="Z",
                        help="show only the calls and queues of services in zone Z (a "
                             "service's [[services]] zone, or its start: 'A区'); repeat or "
                             "separate with commas for several")
    parser.add_argument("--category", action="append", default=[], metavar="C",
                        help="show only services of category C (approval, public, "
                             "intermediary); repeat or separate with commas")
    parser.add_argument("--english", action="store_true",
                        help="announce in English too, after the Chinese")


def run(args: argparse.Namespace) -> int:
    """Run the display until its window is closed."""
    if args.counter is not None and args.counter < 1:
        print("qhall display: --counter must be a positive counter number", file=sys.stderr)
        return 2
    if args.repeat < 1 or args.max_backlog < 1:
        print("qhall display: --repeat and --max-backlog must be at least 1", file=sys.stderr)
        return 2
    zones, categories = split_list(args.zone), split_list(args.category)
    bad = [c for c in categories if c not in CATEGORY_IDS]
    if bad:
        print(f"qhall display: unknown --category {', '.join(bad)}; expected one of "
              f"{', '.join(CATEGORY_IDS)}", file=sys.stderr)
        return 2
    # A counter display is a display device too (the demo hall has board-1..20);
    # --counter picks which counter it shows.
    try:
        server = resolve_server_options(args)
    except ValueError as exc:
        print(f"qhall display: {exc}", file=sys.stderr)
        return 2

    from PySide6.QtWidgets import QApplication

    from display.state import BoardState
    from display.view import BoardView, CounterView
    from server.client.qtlink import Link
    from server.client.qtrun import run_window

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    state = BoardState(lambda: dt.datetime.now(dt.UTC), counter=args.counter,
                       notice=args.notice, zones=zones, categories=categories)
    view = CounterView() if args.counter is not None else BoardView()
    link = Link(server.urls, server.device, server.token)
    # The counter display stays silent: the lobby board speaks for the hall.
    announcer = make_announcer(args) if args.counter is None else None
    controller = DisplayController(link, state, view,
                                   announcer.announce if announcer is not None else None)
    if isinstance(view, BoardView):
        view.notice.start()

    def stop() -> None:
        controller.stop()
        if announcer is not None:
            announcer.clear()

    return run_window("qhall display", app, view, link, fullscreen=args.fullscreen,
                      stop=stop, refusal=lambda: controller.refusal)
