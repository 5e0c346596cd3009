"""``qhall kiosk``: wiring of link, state, window and printer.

:class:`KioskController` is the only place where they meet: link signals go
into the state, window intents become requests, replies go back into the
state, a ticket the server issued is rendered and printed on a worker thread
(a network printer may take its 3 s timeout; the screen must not freeze),
and the printer's outcome goes back into the state, which may ask to report
or clear a fault on the server.

Defaults: server ``ws://127.0.0.1:8765/ws`` (several, comma-separated, for
failover); device ``kiosk-1``; the token from ``--token-file`` or, with
``--demo``, the demo hall's ``demo-kiosk-1`` (see server/client/bootstrap.py); printer
``preview:<temp dir>/qhall-kiosk-tickets`` (each ticket becomes a PNG there)
when no ``--printer`` is given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

from kiosk.search import warm_up
from kiosk.state import LANGS, KioskState, PrintJob, Request
from server.client.bootstrap import (
    DEFAULT_SERVER,
    add_server_options,
    resolve_server_options,
)

__all__ = ["DEFAULT_PRINTER", "DEFAULT_SERVER", "DEMO_DEVICE",
           "KioskController", "build", "configure", "fit_to_screen", "run"]

DEMO_DEVICE = "kiosk-1"
DEFAULT_PRINTER = f"preview:{Path(tempfile.gettempdir()) / 'qhall-kiosk-tickets'}"


class _PrintSignals(QObject):
    # Lives in the GUI thread; emitted from the worker, so delivery is queued.
    finished = Signal(object, str, str)  # job, error kind ("" = printed), message


class _PrintTask(QRunnable):
    """Render and print one ticket off the GUI thread."""

    def __init__(self, job: PrintJob, printer: Any, signals: _PrintSignals,
                 paper_px: int) -> None:
        super().__init__()
        self.job, self.printer, self.signals, self.paper_px = job, printer, signals, paper_px

    def run(self) -> None:
        from kiosk.printer import PrinterError
        from kiosk.ticket import render_ticket

        job = self.job
        try:
            image = render_ticket(job.ticket, job.hall_name, job.service_name,
                                  job.service_name_en, job.status_url, lang=job.lang,
                                  width_px=self.paper_px, where=job.where)
            self.printer.print_ticket(image)
        except PrinterError as exc:
            self.signals.finished.emit(job, exc.kind, exc.message)
            return
        except Exception as exc:  # a bad ticket or a printer bug: still a fault to report
            self.signals.finished.emit(job, "other", f"{type(exc).__name__}: {exc}")
            return
        self.signals.finished.emit(job, "", "")


class KioskController(QObject):
    """Connects a link (``server.client.qtlink.Link`` or a FakeLink), the state, the
    window and a printer (``kiosk.printer.TicketPrinter`` or a FakePrinter).

    Args:
        link: signals ``welcomed``, ``event``, ``status``, ``refused`` and
            ``request(type, **fields)`` returning a reply with ``done``.
        printer: has ``print_ticket(QImage)`` and ``status()``.
        state: the state to drive (a new one by default).
        window: the window to render into (a new one by default).
        pool: where print jobs run (a private one-thread pool by default, so
            tickets print in order).
        tick_ms: how often the clock and the timers are checked.
        paper_px: print-head width in dots.

    Signals:
        printed(dict, str): a ticket's print finished: the ticket and ""
            when it printed, else the error kind.
        ready(): the first screen with the hall's services is up.
    """

    printed = Signal(dict, str)
    ready = Signal()

    def __init__(self, link: Any, printer: Any, state: KioskState | None = None,
                 window: Any = None, pool: QThreadPool | None = None,
                 tick_ms: int = 1000, paper_px: int = 576) -> None:
        from kiosk.view import KioskWindow

        window = window or KioskWindow()
        # Owned by the window: the wiring lives exactly as long as the screen.
        super().__init__(window)
        self.link = link
        self.printer = printer
        self.state = state or KioskState()
        self.window = window
        self.paper_px = paper_px
        if pool is None:
            pool = QThreadPool(self)
            pool.setMaxThreadCount(1)
        self.pool = pool
        self._signals = _PrintSignals(self)
        self._signals.finished.connect(self._on_printed)
        self._replies: dict[int, Any] = {}  # keep replies alive until done
        self._is_ready = False
        self._tick = QTimer(self)
        self._tick.setInterval(tick_ms)
        self._tick.timeout.connect(self._on_tick)
        self._tick.start()
        link.status.connect(self._on_status)
        link.welcomed.connect(self._on_welcome)
        link.event.connect(self._on_event)
        link.refused.connect(self._on_refused)
        window.intent.connect(self.act)
        self.render()

    # -- link -> state ----------------------------------------------------
    def _on_status(self, status: str) -> None:
        self.state.set_status(status)
        self.render()

    def _on_welcome(self, welcome: dict) -> None:
        self.state.apply_welcome(welcome)
        self.render()
        if not self._is_ready:
            self._is_ready = True
            self.ready.emit()

    def _on_event(self, event: dict) -> None:
        if self.state.apply_event(event):
            self.render()

    def _on_refused(self, message: dict) -> None:
        self.state.set_refused(message)
        self.render()

    # -- window -> state --------------------------------------------------
    def act(self, action: str, arg: Any = None) -> None:
        """Apply one intent of the window (see kiosk.view for the list)."""
        s = self.state
        request: Request | None = None
        if action == "touch":
            s.touch()
            return  # nothing on screen changes
        if action == "lang":
            s.toggle_lang()
        elif action == "category":
            s.choose_category(arg)
        elif action == "service":
            request = s.issue(arg)
        elif action == "back":
            s.back()
        elif action == "checkin":
            s.open_checkin()
        elif action == "priority":
            s.open_priority()
        elif action == "priority_confirm":
            s.confirm_priority()
        elif action == "key":
            s.press(arg)
        elif action == "delete":
            s.delete()
        elif action == "clear":
            s.clear_code()
        elif action == "submit":
            request = s.submit_code()
        elif action == "requeue":
            s.open_requeue()
        elif action == "requeue_submit":
            request = s.submit_requeue()
        elif action == "scan":
            if s.screen != "requeue":
                s.open_requeue()
            request = s.submit_requeue(str(arg))
        elif action == "ticket":
            if not s.ticket_tapped():
                return
        elif action == "search":
            s.open_search()
        elif action == "query_key":
            s.type_query(arg)
        elif action == "query_text":
            s.set_query(arg)
        elif action == "query_delete":
            s.delete_query()
        elif action == "query_clear":
            s.set_query("")
        else:
            raise ValueError(f"unknown kiosk intent {action!r}")
        if request is not None:
            self.send(request)
        self.render()

    @property
    def pending_requests(self) -> int:
        """Requests sent and not answered yet."""
        return len(self._replies)

    def send(self, request: Request) -> Any:
        reply = self.link.request(request.type, **request.fields)
        key = id(reply)
        self._replies[key] = reply

        def done(message: dict) -> None:
            self._replies.pop(key, None)
            self._on_reply(request, message)

        reply.done.connect(done)
        return reply

    def _on_reply(self, request: Request, message: dict) -> None:
        follow = self.state.apply_reply(request, message)
        if follow is not None:
            self.send(follow)
        job = self.state.take_print()
        if job is not None:
            self.pool.start(_PrintTask(job, self.printer, self._signals, self.paper_px))
        self.render()

    def _on_printed(self, job: PrintJob, kind: str, message: str) -> None:
        follow = self.state.print_finished(kind or None, message, ticket=job.ticket)
        if follow is not None:
            self.send(follow)
        self.render()
        self.printed.emit(job.ticket, kind)

    def check_printer(self) -> None:
        """Ask the printer for its status off the GUI thread; report a fault."""
        pool_signals = _StatusSignals(self)
        pool_signals.finished.connect(self._on_status_checked)
        self.pool.start(_StatusTask(self.printer, pool_signals))

    def _on_status_checked(self, status: str) -> None:
        if status in ("offline", "paper_out"):
            follow = self.state.print_finished(status, f"printer reports {status} at start-up")
            if follow is not None:
                self.send(follow)
            self.render()

    def _on_tick(self) -> None:
        self.state.tick()
        self.render()

    def render(self) -> None:
        self.window.render(self.state)


class _StatusSignals(QObject):
    finished = Signal(str)


class _StatusTask(QRunnable):
    def __init__(self, printer: Any, signals: _StatusSignals) -> None:
        super().__init__()
        self.printer, self.signals = printer, signals

    def run(self) -> None:
        try:
            status = self.printer.status()
        except Exception:  # status() must not raise; be safe anyway
            status = "unknown"
        self.signals.finished.emit(status)


# ---------------------------------------------------------------------------
# command line

def fit_to_screen(size: tuple[int, int], window: Any) -> tuple[int, int]:
    """``size``, shrunk (same shape) to fit the screen's available area less
    the window frame: a 1080x1920 kiosk on a 1080-tall desktop still shows
    every button. Unchanged when it fits or no screen is known."""
    screen = window.screen()
    if screen is None:
        return size
    area = screen.availableGeometry()
    # Title bar and borders: the frame is only known once shown; 40/10 px is
    # what common window managers add.
    room_w, room_h = area.width() - 10, area.height() - 40
    w, h = size
    k = min(1.0, room_w / w, room_h / h)
    return (max(320, int(w * k)), max(320, int(h * k))) if k < 1.0 else size


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if w < 320 or h < 320:
        raise argparse.ArgumentTypeError(f"window size {text} is too small (min 320x320)")
    return w, h


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``qhall kiosk`` arguments."""
    add_server_options(parser, device_default=DEMO_DEVICE,
                       device_help=f"this kiosk's device id (default {DEMO_DEVICE})")
    parser.add_argument("--printer", default=DEFAULT_PRINTER, metavar="SPEC",
                        help="ticket printer: usb:VID:PID, network:HOST[:PORT], "
                             "serial:DEV[:BAUD], file:PATH or preview:DIR "
                             f"(default {DEFAULT_PRINTER}: PNG files, no printer)")
    parser.add_argument("--paper", type=int, choices=(576, 384), default=576,
                        help="paper width in dots: 576 for 80 mm, 384 for 58 mm (default 576)")
    parser.add_argument("--lang", choices=LANGS, default="zh",
                        help="default language; the screen returns to it when idle (default zh)")
    parser.add_argument("--idle", type=float, default=60.0, metavar="SECONDS",
                        help="seconds without a touch before returning home (default 60)")
    parser.add_argument("--size", type=_size, default=(1080, 1920), metavar="WxH",
                        help="window size when not full screen (default 1080x1920)")
    parser.add_argument("--fullscreen", action="store_true", help="start full screen")


def _escpos_cache() -> None:
    """Give python-escpos a lasting cache for its parsed printer capabilities.

    Without ``ESCPOS_CAPABILITIES_PICKLE_DIR`` escpos parses its 1 MB
    capabilities file with PyYAML into a fresh temp dir on every start
    (about 0.3-0.5 s, and a stray directory per run); with a lasting
    directory later starts load a pickle in milliseconds.
    """
    if "ESCPOS_CAPABILITIES_PICKLE_DIR" in os.environ:
        return
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    cache = Path(base) / "qhall" / "escpos"
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # read-only home: escpos falls back to its temp dir
    os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"] = str(cache)


def build(args: argparse.Namespace) -> tuple[Any, KioskController, Any]:
    """Make the application, link, printer and controller for ``args``.

    Returns:
        ``(app, controller, link)``; the link is not opened yet.

    Raises:
        ValueError: a bad printer spec, server URL or token file, or no
            token (neither ``--token-file`` nor ``--demo``).
    """
    _escpos_cache()
    from kiosk.printer import open_printer

    printer = open_printer(args.printer, paper_px=args.paper)  # bad spec: fail before Qt
    server = resolve_server_options(args)

    from PySide6.QtGui import QFont
    from PySide6.QtWidgets import QApplication

    from kiosk.ticket import ticket_font_family
    from kiosk.view import FONT_FAMILIES, KioskWindow
    from server.client.qtlink import Link

    app = QApplication.instance() or QApplication(sys.argv[:1])
    font = QFont()
    font.setFamilies(FONT_FAMILIES)
    QApplication.setFont(font)  # static: instance() is typed as a QCoreApplication
    ticket_font_family()  # resolve the ticket font on the GUI thread, once
    state = KioskState(lambda: dt.datetime.now().astimezone(), server_url=server.urls[0],
                       lang=args.lang, idle_s=args.idle)
    window = KioskWindow()
    window.resize(*fit_to_screen(args.size, window))
    link = Link(server.urls, server.device, server.token, parent=window)
    controller = KioskController(link, printer, state=state, window=window,
                                 paper_px=args.paper)
    return app, controller, link


def run(args: argparse.Namespace, on_ready: Callable[[], None] | None = None) -> int:
    """Run the kiosk until its window closes. 2 on a bad printer spec."""
    started = time.perf_counter()
    try:
        app, controller, link = build(args)
    except ValueError as exc:
        print(f"qhall kiosk: {exc}", file=sys.stderr)
        return 2
    window = controller.window

    def report_ready() -> None:
        took = time.perf_counter() - started
        print(f"qhall kiosk: ready in {took:.2f} s ({args.server}, printer "
              f"{controller.printer.spec})", flush=True)
        if on_ready is not None:
            on_ready()

    controller.ready.connect(report_ready)
    # Search needs the pinyin dictionaries: load them while nobody waits.
    controller.ready.connect(warm_up)
    link.open()
    controller.check_printer()
    if args.fullscreen:
        window.showFullScreen()
    else:
        window.show()
    if os.environ.get("QHALL_KIOSK_EXIT_WHEN_READY"):
        # Used by bench/kiosk.py to time a cold start to the first usable screen.
        controller.ready.connect(lambda: QTimer.singleShot(0, app.quit))
    code = app.exec()
    link.close()
    return int(code)
