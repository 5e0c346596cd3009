"""A takeover's hello storm, with and without resume tickets (issue 13).

Run: ``python -m bench.resume [--devices 650]``

When an instance dies, the survivor that takes its halls gets every device's
hello at once, from devices whose tokens this process has never checked.
This runs the real :class:`server.serve.Server` (in this process, one hall,
``--devices`` display devices whose token hash has the production scrypt
cost; limits off) twice on one SQLite file, each a fresh instance (empty
token cache), and sends every device's hello at once:

1. **baseline**: hellos with the token only (before resume tickets: one
   scrypt check each, one thread, queue 16, ``rate_limited`` beyond; a
   refused device retries after 0.2 s, doubling up to 2 s, as the clients do);
2. **resume**: the same hellos carrying the ``resume`` the first instance's
   welcomes gave (what a device sends after a failover).

Printed per phase (never asserted): seconds until every device was welcomed,
the slowest device, hellos refused ``rate_limited``, token checks the
instance ran. The machine's load average is printed too: the baseline's
figure scales with the CPU the scrypt thread gets.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from server.auth import hash_secret
from server.config import Device, Limits
from server.serve import Server
from server.service import HallService
from server.store import Store
from server.tools.loadserver import loadtest_config
from server.wire.protocol import PROTOCOL_VERSION

TOKEN = "bench-resume-token"


@dataclasses.dataclass
class Storm:
    """One phase's figures."""

    seconds: float = 0.0
    slowest: float = 0.0
    refused: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    checks: int = 0
    resumed: int = 0
    tickets: dict[str, str] = dataclasses.field(default_factory=dict)


async def _hello(url: str, device: str, resume: str | None, storm: Storm) -> float:
    """Say hello until welcomed; seconds it took."""
    start = time.perf_counter()
    delay = 0.2
    while True:
        hello: dict[str, Any] = {"type": "hello", "id": "h", "protocol": PROTOCOL_VERSION,
                                 "device": device, "token": TOKEN, "since": None}
        if resume is not None:
            hello["resume"] = resume
        try:
            async with connect(url, open_timeout=60, max_size=2**24) as ws:
                await ws.send(json.dumps(hello))
                first = json.loads(await ws.recv())
        except (OSError, TimeoutError, WebSocketException) as exc:
            storm.refused[type(exc).__name__] += 1
        else:
            if first.get("type") == "welcome":
                if isinstance(first.get("resume"), str):
                    storm.tickets[device] = first["resume"]
                return time.perf_counter() - start
            storm.refused[str(first.get("code"))] += 1
        await asyncio.sleep(delay)
        delay = min(2.0, delay * 2)


async def _phase(db: str, hashed: str, devices: list[str],
                 tickets: dict[str, str] | None) -> Storm:
    cfg = loadtest_config(db)
    cfg = dataclasses.replace(cfg, limits=Limits.off(), devices=tuple(
        Device(name, "display", hashed) for name in devices))
    storm = Storm()
    with Store(db) as store:
        server = Server(HallService(cfg, store))
        port = await server.start("127.0.0.1", 0)
        try:
            url = f"ws://127.0.0.1:{port}/ws"
            began = time.perf_counter()
            took = await asyncio.gather(*(
                _hello(url, d, None if tickets is None else tickets[d], storm) for d in devices))
            storm.seconds = time.perf_counter() - began
            storm.slowest = max(took)
            storm.checks = server.auth.checked
            storm.resumed = int(server.metrics.auth.labels("resumed")._value.get())
        finally:
            await server.stop()
    return storm


def _line(name: str, storm: Storm, devices: int) -> str:
    return (f"{name:9s} {devices} devices welcomed in {storm.seconds:6.1f} s (slowest "
            f"{storm.slowest:5.1f} s); token checks {storm.checks}, let in by a ticket "
            f"{storm.resumed}; refused {dict(storm.refused) or 0}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=650,
                    help="devices of the halls taken over (7 reference halls: ~650)")
    args = ap.parse_args(argv)
    devices = [f"board-{i}" for i in range(1, args.devices + 1)]
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'hall.db'}"
        # The production cost; one hash that every device's check runs (a
        # ticket is bound to it: the same hash in both phases, as on failover).
        hashed = hash_secret(TOKEN)
        baseline = asyncio.run(_phase(db, hashed, devices, None))
        resumed = asyncio.run(_phase(db, hashed, devices, baseline.tickets))
    print(_line("baseline", baseline, args.devices))
    print(_line("resume", resumed, args.devices))
    print(f"machine load average (1, 5, 15 min) {' '.join(f'{x:.1f}' for x in load)} "
          f"at the start, {' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
