"""run_window: the apps' shared CLI tail (show, open, run, stop, close, refusal)."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QWidget

from server.client.qtlink import Link
from server.client.qtrun import run_window
from tests.helpers.server import free_port


def _run(qapp, qtbot, refusal, fullscreen=False):
    view = QWidget()
    qtbot.addWidget(view)
    link = Link(f"ws://127.0.0.1:{free_port()}/ws", "board-1", "t")  # nobody listens
    stopped: list[bool] = []
    seen: dict[str, bool] = {}

    def quit_soon() -> None:
        seen["visible"] = view.isVisible()
        seen["full"] = view.isFullScreen()
        qapp.exit(3)

    QTimer.singleShot(0, quit_soon)
    code = run_window("qhall display", qapp, view, link, fullscreen=fullscreen,
                      stop=lambda: stopped.append(True), refusal=lambda: refusal)
    return code, stopped, seen


def test_the_loops_exit_code_after_stopping(qapp, qtbot, capsys) -> None:
    code, stopped, seen = _run(qapp, qtbot, None)
    assert (code, stopped, seen["visible"]) == (3, [True], True)
    assert capsys.readouterr().err == ""


def test_a_refused_device_exits_1_with_the_servers_reason(qapp, qtbot, capsys) -> None:
    code, stopped, seen = _run(qapp, qtbot, {"code": "unauthorized", "message": "bad token"},
                               fullscreen=True)
    assert (code, stopped, seen["full"]) == (1, [True], True)
    assert capsys.readouterr().err == (
        "qhall display: refused by the server: unauthorized bad token\n")
