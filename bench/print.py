"""Ticket printing latency: "issue ok" received -> job bytes out of the kiosk.

One sample is one ticket: :func:`kiosk.ticket.render_ticket` (QPainter,
CJK text, QR code), the 1-bit conversion and the ESC/POS job
(:func:`kiosk.printer.escpos_job`, also timed alone), then ``print_ticket``
to a loopback TCP "printer" that answers the status requests
(``network:127.0.0.1:PORT``): the job again, connect, send, status. That is
everything but the paper. ``total`` = render + print.

    python -m bench.print [--n 50] [--width 576|384]

Printed, not asserted. Target: p95 < 250 ms a ticket, so the kiosk's ticket
screen appears while the paper is still coming out.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import threading
import time

__all__ = ["main"]


def _loopback_printer() -> tuple[socket.socket, int]:
    """A TCP sink on 127.0.0.1 answering DLE EOT n with "online, paper ok"."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                buf = b""
                while chunk := conn.recv(65536):
                    buf = (buf + chunk)[-3:]
                    if buf in (b"\x10\x04\x01", b"\x10\x04\x04"):
                        conn.sendall(b"\x12")

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.print", description=__doc__)
    parser.add_argument("--n", type=int, default=50, help="tickets (default 50)")
    parser.add_argument("--width", type=int, choices=(576, 384), default=576)
    args = parser.parse_args(argv)

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    from kiosk.printer import escpos_job, open_printer
    from kiosk.ticket import render_ticket

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 - keep alive
    server, port = _loopback_printer()
    printer = open_printer(f"network:127.0.0.1:{port}", paper_px=args.width)
    times: dict[str, list[float]] = {"render": [], "job": [], "print": [], "total": []}
    try:
        for i in range(args.n + 1):
            ticket = {"number": f"A{i + 1:03d}", "priority": "normal", "ahead": i,
                      "eta_s": 90 * i, "issued_at": "2026-11-26T09:00:01+08:00"}
            t0 = time.perf_counter()
            image = render_ticket(ticket, "滁州市政务服务中心", "公积金", "Housing provident fund",
                                  f"http://127.0.0.1:8765/t/CHK{i:05d}", width_px=args.width)
            t1 = time.perf_counter()
            escpos_job(image, args.width)  # timed alone; print_ticket builds it again
            t2 = time.perf_counter()
            printer.print_ticket(image)
            t3 = time.perf_counter()
            if i == 0:
                continue  # warm-up: font loading
            times["render"].append(t1 - t0)
            times["job"].append(t2 - t1)
            times["print"].append(t3 - t2)  # job + connect + send + status questions
            times["total"].append((t1 - t0) + (t3 - t2))
    finally:
        server.close()
    print(f"{args.n} tickets, {args.width} dots wide, loopback network printer")
    for stage, values in times.items():
        ms = [v * 1000 for v in values]
        print(f"  {stage:<7} median {statistics.median(ms):7.1f} ms   p95 {_p95(ms):7.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
