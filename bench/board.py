"""Lobby board latency: a call until the board has painted the new number.

Runs the real server (the reference hall, always open, SQLite file in a temp
dir) in a thread with its own asyncio loop, as ``qhall demo`` does, and in
this process the real lobby board wiring of ``qhall display`` (a
:class:`server.client.qtlink.Link`, :class:`display.state.BoardState`,
:class:`display.view.BoardView` and :class:`display.app.DisplayController`,
offscreen, 1920x1080) plus a kiosk link and a logged-in counter link.

For each sample the counter sends ``call_next`` and three times are noted:

* *sent*: the counter link sends the request;
* *event*: the ``ticket.called`` event arrives at the board's link;
* *painted*: the board's newest-number label has finished painting the
  called number (an event filter runs the label's own paint, then stamps).

Printed are p50/p95 of event->painted (the board's own part: state, render,
layout, paint) and of sent->painted (the whole path through the server),
then the announcement latency of ``bench.announce`` (cached and uncached
speech) unless ``--announce 0`` or espeak-ng is missing.

    python -m bench.board [--n 200] [--announce 20]

Printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.stats import percentile

__all__ = ["HallThread", "main", "measure_board", "open_hall"]

#: the demo hall's staff PIN (server/reference.py)
_PIN = "1234"


class HallThread:
    """The real server on a free loopback port, in a thread with its own loop.

    Args:
        config: the hall (``config.database`` is where the store lives).
    """

    def __init__(self, config: Any) -> None:
        self.config = config
        self.port = 0
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="bench-hall", daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def __enter__(self) -> HallThread:
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("the server did not start within 60 s")
        if self.error is not None:
            raise self.error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the starting thread
            self.error = exc
            self._ready.set()

    async def _main(self) -> None:
        from server.config import Limits
        from server.features import default_features
        from server.serve import Server
        from server.service import HallService
        from server.store import Store

        store = Store(self.config.database)
        try:
            # Hundreds of boards from one address: the per-source limits would refuse them.
            server = Server(HallService(dataclasses.replace(self.config, limits=Limits.off()),
                                        store, features=default_features()))
            self.port = await server.start("127.0.0.1", 0)
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await self._stop.wait()
            await server.stop()
        finally:
            store.close()


def open_hall(database: str) -> Any:
    """The reference hall with every service always open and no quota."""
    from bench.wire import bench_config

    return bench_config(database, displays=0)


def _quiet_offscreen(_mode: Any, _context: Any, message: str) -> None:
    # The offscreen platform says this on every window size change; the rest
    # of Qt's messages still reach stderr.
    if "propagateSizeHints" not in message:
        print(message, file=sys.stderr)


def measure_board(url: str, config: Any, n: int) -> tuple[list[float], list[float]]:
    """``n`` calls on the hall's first counter: (event->painted, sent->painted) in ms.

    Args:
        url: the server's websocket URL.
        config: the hall it runs (demo devices and tokens, always open).
        n: how many calls to time.
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import qInstallMessageHandler

    previous = qInstallMessageHandler(_quiet_offscreen)
    try:
        return _measure_board(url, config, n)
    finally:
        qInstallMessageHandler(previous)


def _measure_board(url: str, config: Any, n: int) -> tuple[list[float], list[float]]:
    from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    from display.app import DisplayController
    from display.state import BoardState
    from display.view import BoardView
    from server.client.qtlink import Link
    from server.reference import demo_token

    _app = QApplication.instance() or QApplication([])  # held for the whole run
    counter = config.counters[0]
    service = counter.services[0]

    def wait_until(done: Any, what: str, timeout_s: float = 10.0) -> None:
        loop = QEventLoop()
        timer = QTimer()
        timer.timeout.connect(loop.quit)
        timer.start(5)  # re-check often: the signal that ends a wait is not always ours
        deadline = time.perf_counter() + timeout_s
        while not done():
            if time.perf_counter() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            loop.exec()
        timer.stop()

    def ask(link: Any, kind: str, **fields: Any) -> dict[str, Any]:
        reply = link.request(kind, **fields)
        wait_until(lambda: reply.result is not None, f"the reply to {kind}")
        if reply.result.get("type") != "ok":
            raise RuntimeError(f"{kind} failed: {reply.result}")
        return dict(reply.result)

    stamps: dict[str, float] = {}
    called: dict[str, str] = {}

    def on_event(msg: dict[str, Any]) -> None:
        if msg.get("name") == "ticket.called":
            stamps["event"] = time.perf_counter()
            called["number"] = msg["data"]["ticket"]["number"]

    class PaintStamp(QObject):
        """Runs the label's paint itself, then notes when the called number is done."""

        def eventFilter(self, obj: Any, ev: Any) -> bool:  # noqa: N802 - Qt's name
            if ev.type() != QEvent.Type.Paint or "number" not in called:
                return False
            obj.event(ev)  # the label's own paint, inside the timing
            if obj.text() == called["number"] and "painted" not in stamps:
                stamps["painted"] = time.perf_counter()
            return True  # already painted

    board = Link(url, "board-1", demo_token("board-1"))
    # Connected before the controller's slot, so the stamp precedes its work.
    board.event.connect(on_event)
    state = BoardState(lambda: dt.datetime.now(dt.UTC))
    view = BoardView()
    view.resize(1920, 1080)
    controller = DisplayController(board, state, view)
    stamper = PaintStamp()
    view.newest_number.installEventFilter(stamper)
    view.show()
    kiosk = Link(url, "kiosk-1", demo_token("kiosk-1"))
    desk = Link(url, f"counter-{counter.number}", demo_token(f"counter-{counter.number}"))
    for link in (board, kiosk, desk):
        link.open()
    wait_until(lambda: all(link.online for link in (board, kiosk, desk)), "the welcomes")
    for _ in range(n):
        ask(kiosk, "issue", service=service)
    ask(desk, "login", staff=config.staff[0].id, pin=_PIN)

    to_paint: list[float] = []
    round_trip: list[float] = []
    for _ in range(n):
        stamps.clear()
        called.clear()
        sent = time.perf_counter()
        number = ask(desk, "call_next")["ticket"]["number"]
        # The reply and the board's event travel on different sockets: the
        # board may not have the event yet, or may have painted it already.
        wait_until(lambda: "painted" in stamps, f"the board to paint {number}")
        if called["number"] != number:
            raise RuntimeError(f"the board painted {called['number']}, the counter called {number}")
        to_paint.append((stamps["painted"] - stamps["event"]) * 1000)
        round_trip.append((stamps["painted"] - sent) * 1000)
        ask(desk, "no_show")  # frees the counter for the next call
    controller.stop()
    for link in (board, kiosk, desk):
        link.close()
    view.close()
    # Let the websocket close handshakes go out, so the server stops at once.
    settle = QEventLoop()
    QTimer.singleShot(300, settle.quit)
    settle.exec()
    return to_paint, round_trip


def _line(name: str, ms: list[float]) -> str:
    return (f"{name:<26} n={len(ms):<4} p50={percentile(ms, 50):7.1f} ms  "
            f"p95={percentile(ms, 95):7.1f} ms  max={max(ms):7.1f} ms")


def _announce(n: int) -> None:
    """Cached and uncached announcement latency, as ``python -m bench.announce``."""
    try:
        from bench.announce import measure
        from display.speech.cache import Voice

        tickets = [f"A{i:03d}" for i in range(1, n + 1)]
        with tempfile.TemporaryDirectory(prefix="qhall-bench-") as tmp:
            voice = Voice(Path(tmp) / "cache")
            _ = voice.engine  # start the engine outside the timings
            uncached = measure(voice, tickets, "zh")
            cached = measure(voice, tickets, "zh")
    except Exception as exc:  # no espeak-ng here: the board figures still stand
        print(f"announce: unavailable ({exc}); see python -m bench.announce")
        return
    print(_line("announce uncached (zh)", uncached))
    print(_line("announce cached (zh)", cached))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.board", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="calls to time (default 200)")
    parser.add_argument("--announce", type=int, default=20, metavar="N",
                        help="announcement samples per case (default 20; 0: skip)")
    args = parser.parse_args(argv)
    if args.n < 1 or args.announce < 0:
        parser.error("--n must be at least 1 and --announce at least 0")
    with tempfile.TemporaryDirectory(prefix="qhall-bench-") as tmp:
        config = open_hall(f"sqlite:///{Path(tmp) / 'board.db'}")
        with HallThread(config) as hall:
            to_paint, round_trip = measure_board(hall.url, config, args.n)
    print(f"lobby board (BoardView 1920x1080, offscreen), {args.n} calls on counter "
          f"{config.counters[0].number}:")
    print(_line("event -> painted", to_paint))
    print(_line("call_next sent -> painted", round_trip))
    if args.announce:
        _announce(args.announce)
    else:
        print("announce: skipped; see python -m bench.announce")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
