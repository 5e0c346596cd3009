"""``qhall demo``: a whole demo hall that comes alive on one machine.

It starts the real server with the built-in demo hall (``server.reference``)
on an embedded SQLite file, in a background thread with its own asyncio
loop, and real websocket clients that play the hall:

* simulated citizens take tickets at kiosks 2-6, Poisson by the reference
  hall's profile (about 7,000 visitors a day, morning peak);
* simulated staff log in at counters 2-67, call, serve (lognormal service
  times), mark a few no-shows, and the rating pads next to them rate most
  finished tickets;
* counter 1 and kiosk 1 are left to people: on a desktop the demo opens the
  kiosk, the counter (``counter-1``, logged in as staff ``s001``, PIN 1234)
  and the lobby board (``board-1``) in this process (one QApplication, see
  :class:`DemoGui`), tiled on the primary screen: the kiosk portrait on the
  left, the board top right, the counter below it. The board speaks counter
  1's calls, and is mute without an audio output (or with ``--mute``).

Demo time: the hall has opening hours (08:30-12:00, 13:30-17:30), so the
demo runs the hall on a virtual clock that starts at 08:30 today (``--start``)
and runs ``--speed`` times faster than real time; it works at any hour.
Each demo starts a fresh day: its database file is deleted first, so
numbers start at 001. The apps show hall time too (the kiosk's opening
hours and clock, the board's clock, waited times at the counter); their own
timers (idle, flashing) run in real time. ``--no-gui`` (or no display) runs
headless, ``--gui`` forces the windows (e.g. with ``QT_QPA_PLATFORM=offscreen``);
``--duration S`` stops after S seconds and prints a summary; Ctrl-C, SIGTERM
or closing one of the windows stop everything cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import math
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server.config import HallConfig, Limits
from server.reference import DEMO_PIN, demo_config, demo_token

__all__ = ["VirtualClock", "DemoStats", "DemoHall", "DemoGui", "tile_windows", "audio_available",
           "default_database", "configure", "run"]

#: Rating pads rate this share of finished tickets; scores drawn from SCORES.
RATE_SHARE = 0.7
SCORES = ((5, 0.82), (4, 0.13), (3, 0.035), (2, 0.01), (1, 0.005))
#: An idle simulated clerk calls a new ticket after this many hall seconds.
REACTION_S = (10.0, 45.0)
GUI_COUNTER = 1
GUI_KIOSK = "kiosk-1"
BOARD_DEVICE = "board-1"
OBSERVER_DEVICE = "board-20"  # the demo's own eyes on the hall (summary figures)
#: The counter window's main page (buttons, queue) needs this height to lay out.
COUNTER_MIN_H = 600
#: Smallest window the demo makes (small screens squeeze the apps, never overlap them).
MIN_WINDOW = (160, 160)


class VirtualClock:
    """Hall time that starts at ``start`` and runs ``speed`` times real time.

    Args:
        start: the aware datetime the demo starts at.
        speed: virtual seconds per real second (> 0).
        monotonic: real seconds (injected for tests).
    """

    def __init__(self, start: dt.datetime, speed: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if start.tzinfo is None:
            raise ValueError("the start time must carry a timezone")
        if not speed > 0:
            raise ValueError("--speed must be > 0")
        self.start = start
        self.speed = speed
        self._mono = monotonic
        self._t0 = monotonic()

    def __call__(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=(self._mono() - self._t0) * self.speed)

    def seconds_of_day(self) -> float:
        """Hall-local seconds after midnight now."""
        now = self()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return (now - midnight).total_seconds()

    def real(self, virtual_s: float) -> float:
        """Real seconds that ``virtual_s`` hall seconds take."""
        return max(0.0, virtual_s / self.speed)


@dataclasses.dataclass
class DemoStats:
    """What the demo's observer saw (every event of the hall)."""

    issued: int = 0
    served: int = 0
    no_shows: int = 0
    refused: int = 0
    waits: dict[str, float] = dataclasses.field(default_factory=dict)  # ticket -> s (hall)
    scores: list[int] = dataclasses.field(default_factory=list)

    def on_event(self, m: dict[str, Any]) -> None:
        name, data = m["name"], m["data"]
        if name == "ticket.issued":
            self.issued += 1
        elif name in ("ticket.called", "ticket.recalled") and name == "ticket.called":
            t = data["ticket"]
            with contextlib.suppress(KeyError, ValueError):
                wait = (dt.datetime.fromisoformat(m["at"])
                        - dt.datetime.fromisoformat(t["issued_at"])).total_seconds()
                self.waits[t["id"]] = max(0.0, wait)  # the last call counts
        elif name == "ticket.completed":
            self.served += 1
        elif name == "ticket.no_show":
            self.no_shows += 1
        elif name == "ticket.rated":
            self.scores.append(int(data["score"]))

    def summary(self) -> dict[str, Any]:
        waits = sorted(self.waits.values())
        p90 = waits[max(0, math.ceil(0.9 * len(waits)) - 1)] if waits else None
        return {
            "issued": self.issued, "served": self.served, "no_shows": self.no_shows,
            "mean_wait_min": round(sum(waits) / len(waits) / 60, 1) if waits else None,
            "p90_wait_min": round(p90 / 60, 1) if p90 is not None else None,
            "ratings": len(self.scores),
            "satisfaction": (round(sum(1 for s in self.scores if s >= 3) / len(self.scores), 4)
                             if self.scores else None),
        }


def default_database() -> str:
    """``sqlite:///`` + ``$XDG_DATA_HOME/qhall/demo.db`` (``~/.local/share/qhall``)."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{base / 'qhall' / 'demo.db'}"


def fresh_database(url: str) -> None:
    """Delete a demo SQLite file (and its WAL/SHM) so the day starts at 001."""
    if not url.startswith("sqlite:///"):
        return  # a server database is never deleted by the demo
    path = Path(url[len("sqlite:///"):])
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


class DemoHall:
    """The server plus simulated clients, in a background thread with its own loop.

    Args:
        config: the hall (the demo hall).
        clock: the virtual hall clock.
        host, port: where the server listens (port 0: any free port).
        seed: the simulated citizens' and staff's random seed.
        visitors: visitors in a whole (virtual) day.
        gui_counter: a counter left to a person (not simulated), or None.
    """

    def __init__(self, config: HallConfig, clock: VirtualClock, *, host: str = "127.0.0.1",
                 port: int = 8765, seed: int = 1, visitors: float = 7000.0,
                 gui_counter: int | None = GUI_COUNTER) -> None:
        self.config = config
        self.clock = clock
        self.host = host
        self.port = port
        self.seed = seed
        self.visitors = visitors
        self.gui_counter = gui_counter
        self.stats = DemoStats()
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._halting = False  # the simulated clients' loops end when set

    @property
    def http(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> DemoHall:
        """Start the server and the clients; raise if the server cannot start."""
        self._thread = threading.Thread(target=self._run, name="qhall-demo", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"the demo server did not start within {timeout:g} s")
        if self.error is not None:
            raise self.error
        return self

    def stop(self) -> None:
        """Stop the clients, then the server (graceful); wait for the thread."""
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(30)

    # ------------------------------------------------------------ the loop
    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by start() or after stop()
            self.error = exc
            self._ready.set()

    async def _main(self) -> None:
        from server.features import default_features
        from server.serve import Server
        from server.service import HallService
        from server.store import Store

        store = Store(self.config.database)
        try:
            # Simulated citizens run from one address at hall speed times N.
            service = HallService(dataclasses.replace(self.config, limits=Limits.off()), store,
                                  clock=self.clock, features=default_features())
            server = Server(service)
            self.port = await server.start(self.host, self.port)
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            url = f"ws://127.0.0.1:{self.port}/ws"
            tasks: list[asyncio.Task[Any]] = []
            clients: list[Any] = []
            try:
                from server.tools.sim.client import AsyncClient

                observer = AsyncClient(OBSERVER_DEVICE, self.stats.on_event,
                                       token=demo_token(OBSERVER_DEVICE))
                clients.append(observer)
                await observer.open(url, batch=True)
                self._ready.set()
                for c in self.config.counters:
                    if c.number != self.gui_counter:
                        tasks.append(asyncio.create_task(self._staff(url, c.number, c.services,
                                                                     clients)))
                tasks.append(asyncio.create_task(self._citizens(url, clients)))
                await self._stop.wait()
            finally:
                self._halting = True
                for t in tasks:
                    t.cancel()
                await asyncio.wait(tasks, timeout=5) if tasks else None
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.gather(
                        *(c.close() for c in clients), return_exceptions=True), 5)
                await server.stop()
        finally:
            store.close()

    async def _sleep(self, virtual_s: float) -> None:
        await asyncio.sleep(self.clock.real(virtual_s))

    async def _citizens(self, url: str, clients: list[Any]) -> None:
        from server.tools.sim.client import AsyncClient
        from server.tools.sim.model import SimParams, default_profile, draw_arrivals

        kiosks = [AsyncClient(f"kiosk-{i}", token=demo_token(f"kiosk-{i}")) for i in range(2, 7)]
        # Each client is on the list before it opens: a stop while it is
        # still opening closes it too (it would be left connected).
        for k in kiosks:
            clients.append(k)
            await k.open(url, batch=False)
        # Kiosks issue normal and priority tickets; appointments come by check-in.
        params = SimParams(seed=self.seed, appointment_rate=0.0)
        arrivals = draw_arrivals(self.config,
                                 default_profile(self.config, self.visitors, params=params),
                                 params)
        start = self.clock.seconds_of_day()
        for i, a in enumerate(a for a in arrivals if a.at >= start):
            if self._halting:
                return
            await self._sleep(a.at - self.clock.seconds_of_day())
            reply = await kiosks[i % len(kiosks)].request("issue", service=a.service,
                                                          priority=a.priority)
            if reply["type"] != "ok":
                self.stats.refused += 1

    async def _staff(self, url: str, number: int, services: tuple[str, ...],
                     clients: list[Any]) -> None:
        from server.tools.sim.client import AsyncClient
        from server.tools.sim.model import SimParams

        rng = random.Random(f"{self.seed}:{number}")
        params = SimParams(seed=self.seed)
        by_id = {s.id: s for s in self.config.services}
        waiting = dict.fromkeys(services, 0)
        wake = asyncio.Event()

        def on_event(m: dict[str, Any]) -> None:
            if m["name"] == "queue.changed" and m["data"]["service"] in waiting:
                waiting[m["data"]["service"]] = m["data"]["waiting"]
                if m["data"]["waiting"] > 0:
                    wake.set()

        desk = AsyncClient(f"counter-{number}", on_event, demo_token(f"counter-{number}"),
                           only='"queue.changed"')
        pad = AsyncClient(f"evaluator-{number}", token=demo_token(f"evaluator-{number}"),
                          only="\x00")  # needs replies only
        clients += [desk, pad]  # before they open (see _citizens)
        await desk.open(url, batch=True)
        await pad.open(url, batch=True)
        await self._sleep(rng.uniform(0, 120))  # staff do not all sit down at once
        login = await desk.request("login", staff=f"s{number:03d}", pin=DEMO_PIN)
        if login["type"] != "ok":
            return
        while not self._halting:
            wake.clear()
            reply = await desk.request("call_next")
            if reply["type"] != "ok":
                if any(waiting.values()):
                    await asyncio.sleep(0.05)
                else:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(2.0):
                            await wake.wait()
                    if wake.is_set():
                        # An idle clerk looks up before calling: short queues
                        # show on the kiosk and at counter 1 instead of
                        # vanishing the instant a ticket is printed.
                        await self._sleep(rng.uniform(*REACTION_S))
                continue
            ticket = reply["ticket"]
            if rng.random() < params.no_show_rate:
                await self._sleep(params.no_show_wait_s / 2)
                await desk.request("recall")
                await self._sleep(params.no_show_wait_s / 2)
                await desk.request("no_show")
                continue
            await self._sleep(params.walk_s)
            await desk.request("start")
            svc = by_id[ticket["service"]]
            mean = params.mean_service_s(svc)
            sigma = math.sqrt(math.log(1 + params.service_cv ** 2))
            await self._sleep(rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma))
            await desk.request("complete")
            if rng.random() < RATE_SHARE:
                score = rng.choices([s for s, _ in SCORES], [w for _, w in SCORES])[0]
                await pad.request("rate", ticket=ticket["id"], score=score)
            await self._sleep(rng.uniform(5, 20))  # a breath between citizens


# ------------------------------------------------------------------ CLI
def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-gui", action="store_true",
                        help="server and simulated clients only (headless machines)")
    parser.add_argument("--gui", action="store_true",
                        help="open the windows even when no display is detected")
    parser.add_argument("--mute", action="store_true",
                        help="no voice announcements from the lobby board")
    parser.add_argument("--speed", type=float, default=10.0, metavar="X",
                        help="hall time runs X times real time (default 10)")
    parser.add_argument("--duration", type=float, metavar="S",
                        help="stop after S real seconds and print a summary")
    parser.add_argument("--start", default="08:30", metavar="HH:MM",
                        help="hall time the demo day starts at (default 08:30)")
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any)")
    parser.add_argument("--database", metavar="URL",
                        help=f"SQLite URL, deleted and recreated at start "
                             f"(default {default_database()})")
    parser.add_argument("--visitors", type=float, default=7000.0, metavar="N",
                        help="visitors in a whole hall day (default 7000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")


def _start_time(text: str, config: HallConfig) -> dt.datetime:
    try:
        hh, mm = (int(x) for x in text.split(":"))
        t = dt.time(hh, mm)
    except ValueError:
        raise ValueError(f"--start wants HH:MM, got {text!r}") from None
    today = dt.datetime.now(config.tz).date()
    return dt.datetime.combine(today, t, tzinfo=config.tz)


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or sys.platform in ("win32", "darwin"))


def run(args: argparse.Namespace, on_gui: Callable[[DemoGui], None] | None = None) -> int:
    """Run the demo until ``--duration``, Ctrl-C, SIGTERM or a closed window.

    Args:
        args: the parsed ``qhall demo`` options.
        on_gui: called with the :class:`DemoGui` once its windows are shown,
            inside the Qt event loop's set-up (tests watch the windows with it).

    Returns:
        0 on a clean stop, 1 if the server could not start or failed, 2 on
        bad options.
    """
    if args.duration is not None and args.duration <= 0:
        print("qhall demo: --duration must be > 0", file=sys.stderr)
        return 2
    database = args.database or default_database()
    if not database.startswith("sqlite:///"):
        print("qhall demo: --database must be a sqlite:/// URL (the demo deletes it at start)",
              file=sys.stderr)
        return 2
    config = demo_config(database)
    try:
        clock = VirtualClock(_start_time(args.start, config), args.speed)
    except ValueError as exc:
        print(f"qhall demo: {exc}", file=sys.stderr)
        return 2
    if args.gui and args.no_gui:
        print("qhall demo: --gui and --no-gui exclude each other", file=sys.stderr)
        return 2
    gui = args.gui or (not args.no_gui and _has_display())
    if gui and not _has_display() and not os.environ.get("QT_QPA_PLATFORM"):
        # Qt would abort the process on a missing display; say why instead.
        print("qhall demo: --gui needs a display (DISPLAY / WAYLAND_DISPLAY) or "
              "QT_QPA_PLATFORM (e.g. offscreen)", file=sys.stderr)
        return 2
    if not gui and not args.no_gui:
        print("qhall demo: no display found; running headless (as --no-gui)", flush=True)
    # From here on Ctrl-C / SIGTERM end the demo cleanly (exit 0), even one
    # that arrives while the server or the windows are still starting.
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _run(args, config, clock, database, gui, stop, on_gui)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(args: argparse.Namespace, config: HallConfig, clock: VirtualClock, database: str,
         gui: bool, stop: threading.Event, on_gui: Callable[[DemoGui], None] | None) -> int:
    fresh_database(database)
    hall = DemoHall(config, clock, host=args.host, port=args.port, seed=args.seed,
                    visitors=args.visitors, gui_counter=GUI_COUNTER if gui else None)
    try:
        hall.start()
    except Exception as exc:  # e.g. the port is taken
        print(f"qhall demo: cannot start the server: {exc}", file=sys.stderr)
        return 1
    board = f"{hall.http}/board#device={BOARD_DEVICE}&token={demo_token(BOARD_DEVICE)}"
    print(f"qhall demo: {config.name}, hall time {clock():%H:%M} at {args.speed:g}x "
          f"(database {database})", flush=True)
    print(f"  lobby board  {board}", flush=True)
    print(f"  metrics      {hall.http}/metrics", flush=True)
    if gui:
        print(f"  counter {GUI_COUNTER}: staff s001, PIN {DEMO_PIN}; kiosk {GUI_KIOSK}",
              flush=True)
    print("  Ctrl-C stops the demo.", flush=True)
    try:
        if gui:
            code = _run_gui(hall, clock, args.duration, stop, mute=args.mute, on_gui=on_gui)
        else:
            code = _run_headless(args.duration, stop)
    finally:
        hall.stop()
    _print_summary(hall, clock)
    if hall.error is not None and not isinstance(hall.error, asyncio.CancelledError):
        print(f"qhall demo: the server stopped with an error: {hall.error}", file=sys.stderr)
        return 1
    return code


def _run_headless(duration: float | None, stop: threading.Event) -> int:
    """Until ``duration`` passes or ``stop`` is set (by Ctrl-C / SIGTERM)."""
    deadline = None if duration is None else time.monotonic() + duration
    while not stop.is_set():
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            break
        stop.wait(0.25 if left is None else min(0.25, left))
    return 0


def tile_windows(x: int, y: int, width: int, height: int,
                 counter_h: int = 0) -> dict[str, tuple[int, int, int, int]]:
    """Where the demo's three windows go on a screen area (frames included).

    The kiosk is portrait (9:16, the kiosk's own shape) on the left, full
    height; the counter takes the bottom of the rest, as tall as it needs;
    the lobby board gets what is left above it (it scales to any size).

    Args:
        x, y, width, height: the screen's available area.
        counter_h: the counter window's minimum height (its buttons and
            queue); at least 38% of the height is given to it anyway.

    Returns:
        ``{"kiosk" | "board" | "counter": (x, y, width, height)}``.
    """
    kiosk_w = min(round(height * 9 / 16), round(width * 0.36))
    right_x, right_w = x + kiosk_w, width - kiosk_w
    counter_h = min(max(counter_h, round(height * 0.38)), round(height * 0.6))
    board_h = min(round(right_w * 9 / 16), height - counter_h)
    return {
        "kiosk": (x, y, kiosk_w, height),
        "board": (right_x, y, right_w, board_h),
        "counter": (right_x, y + board_h, right_w, height - board_h),
    }


def audio_available() -> bool:
    """Whether an audio output is likely there, without waking QtMultimedia.

    Linux: a PulseAudio/PipeWire socket or ALSA devices; then QtMultimedia is
    asked for an output. Elsewhere QtMultimedia decides. Without one the
    board runs mute (QtMultimedia would only log errors).
    """
    if sys.platform.startswith("linux"):
        runtime = Path(os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}")
        if not (os.environ.get("PULSE_SERVER") or (runtime / "pulse" / "native").exists()
                or (runtime / "pipewire-0").exists() or Path("/dev/snd").exists()):
            return False
    try:
        from PySide6.QtMultimedia import QMediaDevices

        return bool(QMediaDevices.audioOutputs())
    except Exception:  # no QtMultimedia backend at all
        return False


class DemoGui:
    """The kiosk, counter 1 and the lobby board of the demo, in one QApplication.

    The apps' states read the hall's virtual clock where it is hall time
    (opening hours on the kiosk, the board's clock, waited times at the
    counter); their timers (idle, ticket screen, flashing) stay real time.
    Counter 1 logs in as ``s001`` by itself, so it is ready to call. The
    board speaks only counter 1's calls (the simulated counters call several
    tickets a second at demo speed), and is mute without an audio output.

    Args:
        hall: the running demo hall.
        clock: its virtual clock.
        mute: no voice announcements at all.
    """

    def __init__(self, hall: DemoHall, clock: VirtualClock, *, mute: bool = False) -> None:
        from PySide6.QtCore import QEvent, QObject
        from PySide6.QtGui import QFont
        from PySide6.QtWidgets import QApplication

        from counter.app import CounterController
        from counter.state import CounterModel
        from counter.view import CounterWindow
        from display.app import DisplayController
        from display.state import BoardState
        from display.view import BoardView
        from kiosk.app import DEFAULT_PRINTER, KioskController
        from kiosk.printer import open_printer
        from kiosk.state import KioskState
        from kiosk.ticket import ticket_font_family
        from kiosk.view import FONT_FAMILIES, KioskWindow
        from server.client.qtlink import Link

        app = QApplication.instance() or QApplication(sys.argv[:1])
        assert isinstance(app, QApplication)  # widgets, not a core app
        self.app = app
        font = QFont()
        font.setFamilies(FONT_FAMILIES)
        app.setFont(font)
        ticket_font_family()  # resolve the ticket font on the GUI thread, once
        url = f"ws://127.0.0.1:{hall.port}/ws"

        # Kiosk 1: tickets become PNG previews (no printer on a demo desktop).
        self.kiosk_window = KioskWindow()
        self.kiosk_link = Link(url, GUI_KIOSK, demo_token(GUI_KIOSK), parent=self.kiosk_window)
        self.kiosk = KioskController(self.kiosk_link, open_printer(DEFAULT_PRINTER),
                                     state=KioskState(server_url=url, hall_clock=clock),
                                     window=self.kiosk_window)
        # Counter 1, for a person: waited times tick in hall time.
        self.counter_window = CounterWindow()
        self.counter_link = Link(url, f"counter-{GUI_COUNTER}",
                                 demo_token(f"counter-{GUI_COUNTER}"))
        self.counter = CounterController(self.counter_link, CounterModel(clock),
                                         window=self.counter_window)
        self.counter_link.welcomed.connect(self._login)
        # The lobby board.
        self.announcer = None if mute or not audio_available() else _board_announcer()
        self.board_state = BoardState(lambda: dt.datetime.now(dt.UTC), hall_clock=clock)
        self.board_view = BoardView()
        self.board_link = Link(url, BOARD_DEVICE, demo_token(BOARD_DEVICE))
        self.board = DisplayController(self.board_link, self.board_state, self.board_view,
                                       self._announce if self.announcer is not None else None)
        self.windows = {"kiosk": self.kiosk_window, "board": self.board_view,
                        "counter": self.counter_window}
        self.kiosk_window.setWindowTitle("qhall demo · 取号机 kiosk-1")
        self.board_view.setWindowTitle("qhall demo · 叫号屏 lobby board")
        for w in self.windows.values():
            # Their own minimum sizes are for full-size screens; here they share one.
            w.setMinimumSize(*MIN_WINDOW)

        # Closing any of the three windows ends the demo.
        class CloseWatch(QObject):
            def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 - Qt API
                if event.type() == QEvent.Type.Close:
                    app.exit(0)  # not quit(): see _run_gui
                return False

        self._close_watch = CloseWatch()
        for w in self.windows.values():
            w.installEventFilter(self._close_watch)

    def _login(self, _welcome: dict) -> None:
        if not self.counter.state.logged_in and not self.counter.state.busy:
            self.counter.login(f"s{GUI_COUNTER:03d}", DEMO_PIN)

    def _announce(self, number: str, counter: int, name: str, recall: bool) -> None:
        if counter == GUI_COUNTER and self.announcer is not None:
            self.announcer.announce(number, counter, name, recall)

    def show(self) -> None:
        """Open the links, show and place the windows on the primary screen."""
        from PySide6.QtCore import QTimer

        for link in (self.kiosk_link, self.counter_link, self.board_link):
            link.open()
        self.kiosk.check_printer()
        self.board_view.notice.start()
        area = self.app.primaryScreen().availableGeometry()
        self._rects = tile_windows(area.x(), area.y(), area.width(), area.height(),
                                   COUNTER_MIN_H)
        for name, w in self.windows.items():
            x, y, width, height = self._rects[name]
            w.setGeometry(x, y, width, height)
            w.show()
        # A window manager adds frames once the windows are mapped: fit them then.
        QTimer.singleShot(300, self._fit_frames)

    def _fit_frames(self) -> None:
        for name, w in self.windows.items():
            x, y, width, height = self._rects[name]
            frame, inner = w.frameGeometry(), w.geometry()
            dw, dh = frame.width() - inner.width(), frame.height() - inner.height()
            if dw or dh:
                w.resize(max(MIN_WINDOW[0], width - dw), max(MIN_WINDOW[1], height - dh))
                w.move(x, y)  # move() places the frame

    def close(self) -> None:
        """Stop the apps: timers, announcements, links; hide and free the windows."""
        self.board.stop()
        if self.announcer is not None:
            self.announcer.clear()
        for w in self.windows.values():
            w.removeEventFilter(self._close_watch)
            w.hide()
        links = (self.kiosk_link, self.counter_link, self.board_link)
        for link in links:
            link.close()
        self._drain(links)
        self.kiosk.pool.waitForDone(5000)  # a ticket being printed to its preview file
        for w in self.windows.values():
            w.deleteLater()
        self.app.processEvents()

    def _drain(self, links: tuple[Any, ...], timeout_s: float = 3.0) -> None:
        """Run Qt events until the links' websockets finished their close handshake.

        The event loop has stopped by now; without this the close frames
        would never leave, and the server's graceful stop would wait for
        each socket's close timeout (10 s) instead.
        """
        from PySide6.QtCore import QEventLoop
        from PySide6.QtNetwork import QAbstractSocket
        from PySide6.QtWebSockets import QWebSocket

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(
                ws.state() != QAbstractSocket.SocketState.UnconnectedState
                for link in links for ws in link.findChildren(QWebSocket)):
            self.app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)


def _board_announcer() -> Any:
    """The display app's announcer with its default options, or None."""
    from display import app as display_app

    parser = argparse.ArgumentParser()
    display_app.configure(parser)
    return display_app.make_announcer(parser.parse_args([]))


def _run_gui(hall: DemoHall, clock: VirtualClock, duration: float | None,
             stop: threading.Event, *, mute: bool = False,
             on_gui: Callable[[DemoGui], None] | None = None) -> int:
    from PySide6.QtCore import QTimer

    gui = DemoGui(hall, clock, mute=mute)
    app = gui.app
    # exit(0), not quit(): QGuiApplication.quit() also closes every window,
    # whose close then leaves the thread's "quit now" flag set after exec()
    # returns, so every later QEventLoop.exec() in this process (a test's
    # waitSignal) would return at once. gui.close() closes the windows.
    def on_signal(*_: Any) -> None:
        stop.set()
        app.exit(0)  # does nothing before exec() has started: the wake timer sees `stop`

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    # Lets Python run its signal handlers between Qt events, and ends the loop
    # for a Ctrl-C / SIGTERM that came before exec() (while the windows opened).
    wake = QTimer()
    wake.timeout.connect(lambda: app.exit(0) if stop.is_set() else None)
    wake.start(200)
    # A timer we own, not a fire-and-forget singleShot: when a closed window
    # ends the demo first, it must not end a later event loop in this process.
    end = QTimer()
    end.setSingleShot(True)
    end.timeout.connect(lambda: app.exit(0))
    try:
        gui.show()
        if duration is not None:
            end.start(int(duration * 1000))
        if on_gui is not None:
            on_gui(gui)
        code = app.exec()
    finally:
        end.stop()
        wake.stop()
        gui.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return int(code)


def _print_summary(hall: DemoHall, clock: VirtualClock) -> None:
    s = hall.stats.summary()

    def fmt(v: Any, unit: str = "") -> str:
        return "–" if v is None else f"{v}{unit}"

    sat = s["satisfaction"]
    print(f"qhall demo summary (hall time {clock():%H:%M}): issued {s['issued']}, "
          f"served {s['served']}, no-shows {s['no_shows']}, mean wait "
          f"{fmt(s['mean_wait_min'], ' min')}, p90 wait {fmt(s['p90_wait_min'], ' min')}, "
          f"ratings {s['ratings']}, satisfaction "
          f"{'–' if sat is None else f'{100 * sat:.1f}%'}", flush=True)
