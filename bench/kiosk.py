"""Kiosk latency: a tap on a service until the ticket's last byte is on the printer.

Runs the real server (a small hall, SQLite file) in a thread, the real kiosk
widgets offscreen over a real link, and a ``file:`` printer. For each ticket
the clock starts when the service tile is clicked and stops when
``print_ticket`` has returned (the ESC/POS job written and the file closed):
request, server transaction, reply, ticket rendering, 1-bit conversion,
ESC/POS encoding and the write are all inside.

Then the cold start: ``qhall kiosk`` started as a fresh process until its
first interactive screen (the hall's categories after the server's welcome).

    python -m bench.kiosk [--tickets 200] [--starts 3]

Printed, not asserted. Targets: p95 under 150 ms; cold start under 2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.stats import percentile

__all__ = ["main", "measure_taps", "measure_cold_start"]


class _TimedPrinter:
    """Delegates to a real printer and notes when each job was written."""

    def __init__(self, printer: Any) -> None:
        self.printer = printer
        self.spec = printer.spec
        self.done_at: list[float] = []

    def print_ticket(self, image: Any) -> None:
        self.printer.print_ticket(image)
        self.done_at.append(time.perf_counter())

    def status(self) -> str:
        return self.printer.status()


def measure_taps(url: str, tickets: int, workdir: Path) -> list[float]:
    """Tap-to-printed latencies in seconds for ``tickets`` tickets."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from kiosk.app import KioskController
    from kiosk.printer import open_printer
    from kiosk.state import KioskState
    from kiosk.ticket import ticket_font_family
    from kiosk.view import KioskWindow
    from server.client.qtlink import Link
    from tests.helpers.server import TOKEN

    app = QApplication.instance() or QApplication([])
    ticket_font_family()
    printer = _TimedPrinter(open_printer(f"file:{workdir / 'lp0'}"))
    window = KioskWindow()
    window.resize(1080, 1920)
    window.show()
    link = Link(url, "kiosk-1", TOKEN("kiosk-1"), parent=window)
    ctl = KioskController(link, printer, state=KioskState(server_url=url), window=window)

    def wait(signal: Any, timeout_ms: int = 10_000) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)
        QTimer.singleShot(timeout_ms, loop.quit)
        loop.exec()
        signal.disconnect(loop.quit)

    link.open()
    if not ctl.state.online:
        wait(ctl.ready)
    if not ctl.state.online:
        raise RuntimeError(f"the kiosk could not connect to {url}")
    from PySide6.QtCore import Qt

    latencies = []
    for i in range(tickets):
        ctl.state.go_home()
        ctl.act("category", "public")
        app.processEvents()
        tile = window.service_tiles["gjj" if i % 2 else "tax"]
        before = len(printer.done_at)
        start = time.perf_counter()
        QTest.mouseClick(tile, Qt.MouseButton.LeftButton)
        while len(printer.done_at) == before:
            wait(ctl.printed)
            if time.perf_counter() - start > 10:
                raise RuntimeError(f"ticket {i + 1} did not print within 10 s")
        latencies.append(printer.done_at[-1] - start)
    link.close()
    window.close()
    return latencies


def measure_cold_start(url: str, workdir: Path) -> float:
    """Seconds from starting ``qhall kiosk`` to its first interactive screen."""
    token = workdir / "token"
    token.write_text("tok-kiosk-1\n", encoding="utf-8")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QHALL_KIOSK_EXIT_WHEN_READY": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "kiosk", "--server", url, "--device", "kiosk-1",
         "--token-file", str(token), "--printer", f"file:{workdir / 'cold'}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        cwd=Path(__file__).resolve().parent.parent)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "ready in" in line:
            took = time.perf_counter() - start
            break
    else:
        err = proc.stderr.read() if proc.stderr else ""
        raise RuntimeError(f"qhall kiosk never became ready: {err}")
    proc.wait(20)
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kiosk", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument("--starts", type=int, default=3, help="cold starts to time")
    args = parser.parse_args(argv)
    from tests.helpers.server import RunningServer, small_config

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with RunningServer(small_config(f"sqlite:///{work / 'bench.db'}")) as server:
            starts = [measure_cold_start(server.url, work) for _ in range(args.starts)]
            latencies = measure_taps(server.url, args.tickets, work)
    ms = [x * 1000 for x in latencies]
    print(f"tap -> last byte on a file: printer, {len(ms)} tickets: "
          f"p50 {percentile(ms, 50):.1f} ms, p95 {percentile(ms, 95):.1f} ms, "
          f"max {max(ms):.1f} ms, mean {statistics.mean(ms):.1f} ms  (target p95 < 150 ms)")
    print(f"cold start to the first interactive screen, {len(starts)} runs: "
          f"best {min(starts):.2f} s, median {statistics.median(starts):.2f} s, "
          f"worst {max(starts):.2f} s  (target < 2 s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
