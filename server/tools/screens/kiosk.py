"""Render the kiosk's screens to PNG files (for docs/screens/).

``python -m server.tools.screens.kiosk [OUTDIR]`` draws the real widgets offscreen with a
realistic sample state: the welcome a real hall service on the demo hall gives
mid-morning (in memory, no server process), and
writes ``kiosk-{SCREEN}-{zh,en}.png`` for every :data:`SCREENS` at 1080x1920
portrait, plus ``kiosk-{home,services,search,ticket,checkin}-landscape-{zh,en}.png``
at 1920x1080.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import os
import sys
from pathlib import Path
from typing import Any, cast

from server.tools.screens.shot import shoot

__all__ = ["SCREENS", "sample_state", "sample_welcome", "render_screens"]

#: Screen names written, in order.
SCREENS = ("home", "services", "search", "ticket", "printfail", "checkin", "checkinerror",
           "priority", "offline", "requeue")

_NOW = dt.datetime(2026, 11, 26, 1, 41, tzinfo=dt.UTC)  # 09:41 in Shanghai


def sample_welcome() -> dict[str, Any]:
    """A welcome of the demo hall mid-morning, with queues: what a real
    ``HallService`` says to ``kiosk-1`` (a fresh copy on every call)."""
    return cast(dict[str, Any], json.loads(_welcome_text()))


@functools.cache
def _welcome_text() -> str:
    """Run the demo hall's morning (08:30-09:41) on a real hall service over
    an in-memory store: three counters in four staffed, tickets issued
    through the kiosk at a steady pace. Deterministic."""
    from server.config import Limits
    from server.reference import DEMO_PIN, demo_config
    from server.service import HallService, Session
    from server.store import Store

    config = dataclasses.replace(demo_config("sqlite://"), limits=Limits.off())
    clock = _Clock(_NOW - dt.timedelta(minutes=71))
    sent = 0

    def session(device_id: str) -> Session:
        device = config.device(device_id)
        if device is None:
            raise RuntimeError(f"the demo hall has no device {device_id}")
        return Session(device)

    def send(device: str, kind: str, **fields: Any) -> None:
        nonlocal sent
        sent += 1
        reply = service.handle(session(device),
                               {"type": kind, "id": f"sample-{sent}", **fields}).message
        if reply["type"] != "ok":
            raise RuntimeError(f"the sample hall refused {kind}: {reply}")

    with Store(config.database, clock=clock) as store:
        service = HallService(config, store, clock=clock)
        for i, counter in enumerate(config.counters):
            if i % 4 != 3:
                send(f"counter-{counter.number}", "login", staff=config.staff[i].id,
                     pin=DEMO_PIN)
        # Each service's arrivals spread evenly over the 70 minutes.
        kiosk_services = [s.id for s in config.services if s.kiosk]
        arrivals = sorted((70 * (k + 1) // (count + 1), sid)
                          for i, sid in enumerate(kiosk_services)
                          for count in [(i * 7 + 3) % 19] for k in range(count))
        for minute, sid in arrivals:
            clock.now = _NOW - dt.timedelta(minutes=70 - minute)
            send("kiosk-1", "issue", service=sid)
        clock.now = _NOW
        return json.dumps(service.welcome(session("kiosk-1"), "sample"))


@dataclasses.dataclass
class _Clock:
    now: dt.datetime

    def __call__(self) -> dt.datetime:
        return self.now


def sample_state(screen: str, lang: str = "zh") -> Any:
    """A KioskState showing ``screen`` (one of :data:`SCREENS`)."""
    from kiosk.state import KioskState

    if screen not in SCREENS:
        raise ValueError(f"unknown screen {screen!r}; expected one of {SCREENS}")
    state = KioskState(lambda: _NOW, lang=lang)
    state.apply_welcome(sample_welcome())
    # rlzy (quota 30) has issued all its tickets today: its tile says so.
    state.apply_event({"type": "event", "seq": 1235, "name": "ticket.issued",
                       "data": {"ticket": {"number": "N030", "service": "rlzy",
                                           "issued_at": "2026-11-26T09:30:00+08:00"}}})
    if screen == "services":
        state.choose_category("approval")
    elif screen == "search":
        state.open_search()
        state.type_query("gjj")
    elif screen in ("ticket", "printfail"):
        state.choose_category("public")
        request = state.issue("gjjdk")
        if request is None:  # a fresh online state always sends it
            raise RuntimeError("the sample kiosk state refused to issue a ticket")
        state.apply_reply(request, {"type": "ok", "ticket": {
            "id": "t1", "number": "Q015", "service": "gjjdk", "status": "waiting",
            "priority": "normal", "issued_at": "2026-11-26T09:41:07+08:00", "counter": None,
            "ahead": 6, "eta_s": 1260, "check": "K7Q2M9XA"}})
        state.take_print()
        state.print_finished("paper_out" if screen == "printfail" else None)
    elif screen in ("checkin", "checkinerror"):
        state.open_checkin()
        for key in "2611":
            state.press(key)
        if screen == "checkinerror":
            request = state.submit_code()
            if request is None:
                raise RuntimeError("the sample kiosk state refused to check in")
            state.apply_reply(request, {"type": "error", "code": "not_found",
                                        "message": "no booking 2611"})
    elif screen == "priority":
        state.open_priority()
    elif screen == "offline":
        state.set_status("offline")
    elif screen == "requeue":  # 过号重排: a scanned ticket, back in the queue
        state.open_requeue()
        request = state.submit_requeue("https://qh.example.gov.cn/t/K7Q2M9XA")
        if request is None:
            raise RuntimeError("the sample kiosk state refused to re-queue")
        state.apply_reply(request, {"type": "ok", "ticket": {
            "id": "t1", "number": "Q009", "service": "gjjdk", "status": "waiting",
            "priority": "normal", "issued_at": "2026-11-26T09:12:40+08:00", "counter": None,
            "ahead": 3, "eta_s": 540, "check": "K7Q2M9XA"}})
    return state


def render_screens(outdir: str | Path, landscape: bool = True) -> list[Path]:
    """Write every screen in both languages into ``outdir``; returns the paths."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from kiosk.view import KioskWindow

    app = QApplication.instance() or QApplication([])
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    window = KioskWindow()

    def shot(name: str, state: Any, size: tuple[int, int]) -> None:
        window.resize(*size)
        paths.append(shoot(app, window, state, out / f"kiosk-{name}.png"))

    for lang in ("zh", "en"):
        for screen in SCREENS:
            shot(f"{screen}-{lang}", sample_state(screen, lang), (1080, 1920))
        if landscape:
            for screen in ("home", "services", "search", "ticket", "checkin"):
                shot(f"{screen}-landscape-{lang}", sample_state(screen, lang), (1920, 1080))
    window.close()
    return paths


if __name__ == "__main__":  # pragma: no cover
    for p in render_screens(sys.argv[1] if len(sys.argv) > 1 else "docs/screens"):
        print(p)
