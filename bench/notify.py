"""Dispatch while a webhook hangs: ``call_next`` with no webhook, one that
accepts, and one that never answers.

Run: ``python -m bench.notify [--tickets 300] [--calls 150] [--rate 5]``

For each mode the real ``qhall serve`` runs in its own process (the reference
hall, always open, SQLite file in a temp dir, ``--no-limits``) with one
``[[notify]]`` webhook (``ticket.soon``, ``ticket.called``) pointing at a sink
in this process that answers 200 (``ok``) or holds every request open until
the run ends (``hang``; mode ``none`` has no webhook). ``--tickets`` remote
tickets are taken over the API, each with its own phone and marked present,
so every call is a ``ticket.called`` delivery (and the first few a
``ticket.soon``). Then the reference hall's 67 counters call at ``--rate``
calls per second, each call followed by ``complete``.

Printed (never asserted): ``call_next`` reply time p50/p99/max per mode (mode
``none`` is the baseline from the same run), and what ``/metrics`` counted:
deliveries sent, retried and still pending in the outbox. A commit only
inserts the outbox rows (the deliveries run on the webhook's own thread), so
a hanging webhook should leave dispatch where the baseline is.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.phone import open_desks, paced, served
from bench.stats import percentile
from bench.wire import _free_port, bench_config

MODES = ("none", "ok", "hang")


class _Sink(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, hang: bool) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hang = hang
        self.release = threading.Event()


class _Handler(BaseHTTPRequestHandler):
    server: _Sink

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.server.hang:
            self.server.release.wait(120)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        return


def _take(base: str, hall: str, service: str, phone: str) -> dict:
    req = urllib.request.Request(f"{base}/api/v1/halls/{hall}/tickets",
                                 json.dumps({"service": service, "phone": phone}).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        ticket = json.loads(r.read())
    with urllib.request.urlopen(urllib.request.Request(
            f"{base}/api/v1/tickets/{ticket['check']}/arrived", b"{}", method="POST"),
            timeout=30) as r:
        r.read()
    return dict(ticket)


def _metric(base: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s series on ``/metrics`` that carry ``labels``."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=30) as r:
        text = r.read().decode()
    total = 0.0
    for found, value in re.findall(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", text, re.M):
        if all(f'{k}="{v}"' in found for k, v in labels.items()):
            total += float(value)
    return total


async def _calls(port: int, hall: str, tickets: int, calls: int, rate: float) -> list[float]:
    from server.reference import demo_config

    url = f"ws://127.0.0.1:{port}/ws"
    base = f"http://127.0.0.1:{port}"
    cfg = demo_config()
    services = [s.id for s in cfg.services]
    await asyncio.gather(*(asyncio.to_thread(_take, base, hall, services[i % len(services)],
                                             f"139{i:08d}") for i in range(tickets)))
    desks = await open_desks(url)
    lat: list[float] = []
    async for i in paced(calls, rate):
        desk = desks[i % len(desks)]
        t0 = time.perf_counter()
        reply = await desk.request("call_next")
        if reply["type"] == "ok":
            lat.append(time.perf_counter() - t0)
            await desk.request("complete")
    return lat


def _run(mode: str, tickets: int, calls: int, rate: float) -> dict:
    from server.config import Notify, dumps

    sink = _Sink(hang=mode == "hang") if mode != "none" else None
    if sink is not None:
        threading.Thread(target=sink.serve_forever, daemon=True).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = bench_config(f"sqlite:///{tmp}/bench.db", 0)
            if sink is not None:
                cfg = dataclasses.replace(cfg, notify=(Notify(
                    f"http://127.0.0.1:{sink.server_address[1]}/hook",
                    ("ticket.soon", "ticket.called"), secret="bench"),))
            path = Path(tmp) / "hall.toml"
            path.write_text(dumps(cfg), encoding="utf-8")
            port = _free_port()
            with served(path, port):
                lat = asyncio.run(_calls(port, cfg.id, tickets, calls, rate))
                base = f"http://127.0.0.1:{port}"
                counted = {o: _metric(base, "qhall_notify_deliveries_total", outcome=o)
                           for o in ("sent", "retried")}
                counted["pending"] = _metric(base, "qhall_notify_pending")
    finally:
        if sink is not None:
            sink.release.set()
            sink.shutdown()
            sink.server_close()
    return {"lat": lat, **counted}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tickets", type=int, default=300)
    ap.add_argument("--calls", type=int, default=150)
    ap.add_argument("--rate", type=float, default=5.0, help="calls per second")
    args = ap.parse_args(argv)
    results = {mode: _run(mode, args.tickets, args.calls, args.rate) for mode in MODES}
    print(f"{args.tickets} remote tickets (each with a phone), {args.calls} calls at "
          f"{args.rate:g}/s by the reference hall's 67 counters")
    print(f"{'webhook':<28}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'sent':>7}{'retried':>9}"
          f"{'pending':>9}")
    names = {"none": "none (baseline)", "ok": "answers 200", "hang": "never answers"}
    for mode, res in results.items():
        ms = [x * 1000 for x in res["lat"]]
        print(f"{names[mode]:<28}{percentile(ms, 50):9.1f}{percentile(ms, 99):9.1f}"
              f"{max(ms):9.1f}{res['sent']:7.0f}{res['retried']:9.0f}{res['pending']:9.0f}")
    print("call_next's reply time: the commit (with its outbox rows) and the reply; "
          "the deliveries run on the webhook's own thread")
    return 0


if __name__ == "__main__":
    sys.exit(main())
