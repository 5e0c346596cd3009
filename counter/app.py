"""``qhall counter``: wiring of link, state and window.

The :class:`CounterController` is the only place where the three meet:
link signals go into the state, window intents become requests, replies
go back into the state, and the window is re-rendered after each change
(and once a second, so waited times tick).

Defaults: server ``ws://127.0.0.1:8765/ws`` (several, comma-separated, for
failover); device ``counter-1``; the token from ``--token-file`` (a real hall
gives each counter PC its own) or, with ``--demo``, the demo hall's
``demo-counter-1``.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from PySide6.QtCore import QObject, QTimer

from counter.keys import KeyConfigError, load_keys, merge_keys, parse_key_args
from counter.state import CounterModel, Message, NotLegal, Request
from counter.view import FONT_FAMILIES, CounterWindow
from server.client.bootstrap import (
    DEFAULT_SERVER,
    add_server_options,
    resolve_server_options,
)

__all__ = ["DEFAULT_SERVER", "DEMO_DEVICE", "CounterController",
           "configure", "run"]

#: Mutating requests retried (same id) after a local ``timeout``.
RETRIED = frozenset({"call_next", "call", "recall", "start", "complete", "no_show",
                     "transfer", "pause", "resume", "logout", "unmiss", "requeue"})
MAX_RETRIES = 3
DEMO_DEVICE = "counter-1"


class CounterController(QObject):
    """Connects a link (``server.client.qtlink.Link`` or a FakeLink) to state and window.

    Args:
        link: has signals ``welcomed``, ``event``, ``status``, ``refused``
            and ``request(type, **fields)`` returning a reply with ``done``.
        state: the state to drive (a new one by default).
        window: the window to render into (a new one by default).
        debounce_ms: how long to gather events before asking for the queue.
    """

    def __init__(self, link: Any, state: CounterModel | None = None,
                 window: CounterWindow | None = None, debounce_ms: int = 150,
                 tick_ms: int = 1000) -> None:
        window = window or CounterWindow()
        # Owned by the window: the wiring lives exactly as long as the screen.
        super().__init__(window)
        self.link = link
        self.state = state or CounterModel()
        self.window = window
        self._replies: dict[int, Any] = {}  # keep replies alive until done
        self._queue_timer = QTimer(self)
        self._queue_timer.setSingleShot(True)
        self._queue_timer.setInterval(debounce_ms)
        self._queue_timer.timeout.connect(self.refresh_queue)
        self._tick = QTimer(self)
        self._tick.setInterval(tick_ms)
        self._tick.timeout.connect(self.render)
        self._tick.start()
        link.status.connect(self._on_status)
        link.welcomed.connect(self._on_welcome)
        link.event.connect(self._on_event)
        link.refused.connect(self._on_refused)
        self.window.intent.connect(self.act)
        self.window.login_requested.connect(self.login)
        self.window.logout_requested.connect(self.logout)
        self.render()

    # -- link -> state ----------------------------------------------------
    def _on_status(self, status: str) -> None:
        self.state.set_status(status)
        self.render()

    def _on_welcome(self, welcome: dict) -> None:
        self.state.set_status("online")
        self.state.apply_welcome(welcome)
        # Today's figures from the server (it may not offer them: ignored).
        self.send(Request("stats"))
        self._after_change()

    def _on_event(self, event: dict) -> None:
        self.state.apply_event(event)
        self._after_change()

    def _on_refused(self, message: dict) -> None:
        self.state.set_refused(message)
        self.render()

    # -- window -> requests ---------------------------------------------
    def act(self, action: str, fields: dict | None = None) -> bool:
        """Do a staff action if legal; returns whether a request was sent."""
        try:
            request = self.state.intent(action, **(fields or {}))
        except NotLegal as exc:
            self.state.message = Message("warn", str(exc))
            self.render()
            return False
        self.send(request)
        self.render()
        return True

    def login(self, staff: str, pin: str) -> None:
        try:
            request = self.state.login(staff, pin)
        except NotLegal as exc:
            self.state.login_error = str(exc)
            self.render()
            return
        self.send(request)
        self.render()

    def logout(self) -> None:
        try:
            request = self.state.logout()
        except NotLegal as exc:
            self.state.message = Message("warn", str(exc))
            self.render()
            return
        self.send(request)
        self.render()

    def refresh_queue(self) -> None:
        """Ask the server for the waiting list (only it knows the order)."""
        if self.state.online and self.state.logged_in:
            self.send(Request("queue"))

    def send(self, request: Request) -> Any:
        """Send ``request``; its reply goes to the state, then the window."""
        return self._watch(request, self.link.request(request.type, **request.fields), 0)

    def _watch(self, request: Request, reply: Any, tries: int) -> Any:
        key = id(reply)
        self._replies[key] = reply

        def done(message: dict) -> None:
            self._replies.pop(key, None)
            if (message.get("code") == "timeout" and request.type in RETRIED
                    and tries < MAX_RETRIES and hasattr(self.link, "retry")):
                # The outcome is unknown: ask again with the same id, which
                # the server answers with the first outcome (never twice).
                self._watch(request, self.link.retry(reply), tries + 1)
                return
            self._on_reply(request, message)

        reply.done.connect(done)
        return reply

    def _on_reply(self, request: Request, message: dict) -> None:
        was_logged_in = self.state.logged_in
        self.state.apply_reply(request, message)
        if request.type == "login" and not self.state.logged_in and was_logged_in:
            self.window.login.staff.setFocus()
        self._after_change()

    def _after_change(self) -> None:
        relogin = self.state.take_relogin()
        if relogin is not None:
            self.send(relogin)
        if self.state.take_queue_refresh():
            self._queue_timer.start()  # restart: many events, one request
        if self.state.take_missed_refresh():
            self.send(Request("missed"))
        self.render()

    def render(self) -> None:
        self.window.render(self.state)


def configure(parser: argparse.ArgumentParser) -> None:
    add_server_options(parser, device_default=DEMO_DEVICE,
                       device_help=f"this counter PC's device id (default {DEMO_DEVICE})")
    parser.add_argument("--keys", metavar="FILE",
                        help="TOML file with a [keys] table, e.g. call_next = \"F1\"")
    parser.add_argument("--key", action="append", default=[], metavar="ACTION=KEY",
                        help="override one shortcut, e.g. --key call_next=F9 (repeatable)")
    parser.add_argument("--fullscreen", action="store_true", help="start full screen")


def run(args: argparse.Namespace) -> int:
    try:
        keys = load_keys(args.keys) if args.keys else None
        keys = merge_keys(parse_key_args(args.key), keys)
    except KeyConfigError as exc:
        print(f"qhall counter: {exc}", file=sys.stderr)
        return 2
    try:
        server = resolve_server_options(args)
    except ValueError as exc:
        print(f"qhall counter: {exc}", file=sys.stderr)
        return 2

    from PySide6.QtGui import QFont
    from PySide6.QtWidgets import QApplication

    from server.client.qtlink import Link

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)  # a widgets app, not a core one
    app.setFont(QFont(FONT_FAMILIES, 12))
    try:
        window = CounterWindow(keys)
    except ValueError as exc:
        print(f"qhall counter: {exc}", file=sys.stderr)
        return 2
    link = Link(server.urls, server.device, server.token)
    controller = CounterController(link, window=window)
    link.open()
    # Ctrl+C / SIGTERM quit cleanly: Python runs signal handlers only between
    # bytecodes, so a timer wakes the interpreter now and then.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: app.quit())
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(250)
    if args.fullscreen:
        window.showFullScreen()
    else:
        window.show()
    code = app.exec()
    link.close()
    del controller
    return int(code)
