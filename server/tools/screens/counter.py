"""Render the counter client's screens to PNG files (for docs/screens/).

``python -m server.tools.screens.counter [OUTDIR]`` draws the real widgets offscreen at
1366x768 with a realistic sample state (no server needed) and writes
``counter-login.png``, ``counter-main.png``, ``counter-offline.png``,
``counter-missed.png`` (a no-show just marked: the undo button and the missed
list) and ``counter-transfer.png`` (the transfer dialog).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

from server.tools.screens.shot import shoot

__all__ = ["sample_state", "render_screens"]

_T0 = dt.datetime(2026, 11, 26, 2, 41, tzinfo=dt.UTC)  # 10:41 in Shanghai
_CST = dt.timezone(dt.timedelta(hours=8))


def _ticket(number: str, service: str, minutes: float, **extra: Any) -> dict[str, Any]:
    issued = (_T0 - dt.timedelta(minutes=minutes)).astimezone(_CST).isoformat()
    return {"id": f"t-{number}", "number": number, "service": service, "status": "waiting",
            "priority": "normal", "issued_at": issued, "counter": None, **extra}


def _welcome() -> dict[str, Any]:
    services = [
        {"id": "gjj", "name": "公积金业务", "name_en": "Housing provident fund", "prefix": "A"},
        {"id": "bdc", "name": "不动产登记", "name_en": "Real estate registration", "prefix": "B"},
        {"id": "tax", "name": "税务缴纳", "name_en": "Tax payment", "prefix": "C"},
        {"id": "sb", "name": "社保业务", "name_en": "Social insurance", "prefix": "D"},
    ]
    counters = [{"number": n, "name": f"{n}号窗口", "services": s} for n, s in
                ((3, ["gjj", "bdc"]), (4, ["gjj"]), (5, ["tax"]), (6, ["sb"]))]
    return {"type": "welcome", "protocol": 1, "role": "counter", "counter": 3,
            "hall": {"name": "滁州市政务服务中心", "timezone": "Asia/Shanghai",
                     "services": services, "counters": counters},
            "snapshot": {"counters": {"3": {"state": "closed", "staff": None, "current": None}},
                         "queues": {}, "recent_calls": []},
            "seq": 4810}


def sample_state(logged_in: bool = True) -> Any:
    """A CounterModel mid-morning: A012 being served, 12 people waiting."""
    from counter.state import CounterModel, Figures, Request

    state = CounterModel(lambda: _T0)
    state.set_status("online")
    state.apply_welcome(_welcome())
    if not logged_in:
        return state
    state.apply_reply(state.login("s001", "1234"),
                      {"type": "ok", "staff": {"id": "s001", "name": "王芳"}})
    state.message = None
    called = _ticket("A012", "gjj", 15.5, status="serving", counter=3)
    state.apply_event({"type": "event", "seq": 4811, "name": "ticket.called",
                       "at": (_T0 - dt.timedelta(minutes=3, seconds=10)).isoformat(),
                       "data": {"ticket": {**called, "status": "called"}, "counter": 3}})
    state.apply_event({"type": "event", "seq": 4812, "name": "ticket.started",
                       "at": (_T0 - dt.timedelta(minutes=2, seconds=41)).isoformat(),
                       "data": {"ticket": called, "counter": 3}})
    waiting = [
        _ticket("A013", "gjj", 12.5), _ticket("B004", "bdc", 10.0, priority="priority"),
        _ticket("A014", "gjj", 9.8), _ticket("A015", "gjj", 8.2),
        _ticket("B005", "bdc", 7.9, priority="appointment"), _ticket("A016", "gjj", 6.0),
        _ticket("A017", "gjj", 5.1), _ticket("B006", "bdc", 4.4), _ticket("A018", "gjj", 3.0),
        _ticket("A019", "gjj", 2.2), _ticket("A020", "gjj", 1.0), _ticket("B007", "bdc", 0.3),
    ]
    state.apply_reply(Request("queue"), {"type": "ok", "waiting": waiting})
    state.figures = Figures(served=23, no_shows=2, service_s_total=23 * 400, timed=23)
    state.staff_figures["s001"] = Figures(served=12, no_shows=1, service_s_total=12 * 370,
                                          timed=12)
    return state


def render_screens(outdir: str | Path) -> list[Path]:
    """Write the three PNGs into ``outdir``; returns their paths."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QFont
    from PySide6.QtWidgets import QApplication

    from counter.view import FONT_FAMILIES, CounterWindow

    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)  # a widgets app, not a core one
    app.setFont(QFont(FONT_FAMILIES, 12))
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    window = CounterWindow()
    window.resize(1366, 768)

    def shot(name: str, state: Any) -> None:
        paths.append(shoot(app, window, state, out / f"counter-{name}.png"))

    login = sample_state(logged_in=False)
    login.login_error = None
    shot("login", login)
    main = sample_state()
    shot("main", main)
    offline = sample_state()
    offline.set_status("offline")
    shot("offline", offline)
    shot("missed", _missed_state())
    transfer = sample_state()
    _hall_figures(transfer)
    shot_dialog(out / "counter-transfer.png", window, transfer, paths)
    window.close()
    return paths


def _hall_figures(state: Any) -> None:
    """The rest of the hall as the transfer dialog shows it."""
    state.counter_states.update({4: "open", 5: "paused", 6: "closed"})
    state.queue_waiting.update({"gjj": 9, "bdc": 3, "tax": 14, "sb": 6})
    state.open_counters.update({"gjj": 2, "bdc": 1, "tax": 0, "sb": 0})


def _missed_state() -> Any:
    """A020 just marked no-show (undo offered), three recent no-shows listed."""
    from counter.state import Request

    state = sample_state()
    state.apply_reply(Request("complete"), {"type": "ok", "ticket": _ticket(
        "A012", "gjj", 15.5, status="done", counter=3)})
    called = _ticket("A013", "gjj", 12.5, status="called", counter=3)
    state.apply_reply(Request("call_next"), {"type": "ok", "ticket": called})
    state.apply_reply(Request("no_show"), {"type": "ok", "ticket": {**called,
                                                                     "status": "no_show"}})
    missed = [_ticket(n, s, m, status="no_show", counter=3)
              for n, s, m in (("A013", "gjj", 12.5), ("B003", "bdc", 40.0),
                              ("A009", "gjj", 55.0))]
    state.apply_reply(Request("missed"), {"type": "ok", "missed": missed})
    return state


def shot_dialog(path: Path, window: Any, state: Any, paths: list[Path]) -> None:
    """Open the transfer dialog over the window and save it."""
    from PySide6.QtWidgets import QApplication

    from counter.view import TransferDialog

    window.render(state)
    dialog = TransferDialog(state, window)
    dialog.show()
    QApplication.processEvents()
    if not dialog.grab().save(str(path)):
        raise OSError(f"cannot write {path}")
    dialog.close()
    paths.append(path)


if __name__ == "__main__":  # pragma: no cover
    for p in render_screens(sys.argv[1] if len(sys.argv) > 1 else "docs/screens"):
        print(p)
