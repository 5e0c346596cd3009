"""Fan-out benchmark: the server's CPU per flush, websockets.broadcast beside
server/fanout.py, in one run.

Run: ``python -m bench.fanout [--clients 200] [--events 3] [--rounds 400]``

One flush is what ``Server._flush`` does at the end of a loop turn: a few
committed events (``--events``, each ~300 bytes of JSON like a
``ticket.called``) written to every live connection. Four ways, rounds
interleaved so that a shared machine's load falls on all of them alike:

* ``broadcast, plain``: main's code before session 6 for clients without
  ``batch``: ``websockets.broadcast`` once per event (a ``send_text``,
  a frame serialisation and a ``transport.write`` per client per event);
* ``broadcast, batch``: the same for ``batch`` clients (one frame a flush);
* ``fanout, plain`` / ``fanout, batch``: :func:`server.fanout.write_all`,
  the frames serialised once and one write per client.

The figure is the server thread's CPU time inside the flush call
(``time.thread_time``), not wall time: the clients are raw sockets in
another process that read and discard, and each round waits until every
transport's buffer is empty, so each write is a ``send()`` system call as
in a server that keeps up. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import selectors
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from websockets.asyncio.server import ServerConnection, broadcast, serve

from server import fanout
from server.wire import protocol

Flush = Callable[[list[ServerConnection], list[bytes]], None]


def _event(seq: int) -> bytes:
    return protocol.encode_bytes(protocol.event(seq, "ticket.called", "2026-11-30T10:00:00+08:00", {
        "ticket": {"id": f"t-{seq}", "number": f"A{seq % 1000:03d}", "service": "gjj",
                   "state": "called", "counter": 12, "issued_at": "2026-11-30T09:41:07+08:00",
                   "priority": "normal", "version": 3},
        "counter": {"number": 12, "name": "12号窗口 Window 12", "state": "calling"},
        "announce": "请A001号到12号窗口办理 Number A001 to window 12"}))


def _broadcast_plain(conns: list[ServerConnection], pending: list[bytes]) -> None:
    for frame in pending:
        broadcast(conns, frame, text=True)


def _broadcast_batch(conns: list[ServerConnection], pending: list[bytes]) -> None:
    for frame in fanout.batches(pending):
        broadcast(conns, frame, text=True)


def _fanout_plain(conns: list[ServerConnection], pending: list[bytes]) -> None:
    fanout.write_all(conns, fanout.Frames(pending))


def _fanout_batch(conns: list[ServerConnection], pending: list[bytes]) -> None:
    fanout.write_all(conns, fanout.Frames(fanout.batches(pending)))


WAYS: dict[str, Flush] = {
    "broadcast, plain": _broadcast_plain, "fanout, plain": _fanout_plain,
    "broadcast, batch": _broadcast_batch, "fanout, batch": _fanout_batch,
}


def sink(port: int, n: int) -> None:
    """``n`` websocket clients on raw sockets that read and discard everything."""
    sel = selectors.DefaultSelector()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for ready, _ in sel.select():
            sock = ready.fileobj
            assert isinstance(sock, socket.socket)
            if not sock.recv(1 << 16):
                return  # the server went away: the run is over


async def measure(clients: int, events: int, rounds: int) -> dict[str, list[float]]:
    conns: list[ServerConnection] = []
    everyone = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        conns.append(ws)
        if len(conns) == clients:
            everyone.set()
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.fanout", "--sink", str(port), str(clients),
            stdout=subprocess.PIPE)
        try:
            assert proc.stdout is not None
            await asyncio.wait_for(proc.stdout.readline(), 60)
            await asyncio.wait_for(everyone.wait(), 60)
            cpu: dict[str, list[float]] = {name: [] for name in WAYS}
            seq = 0
            for _ in range(rounds):
                for name, way in WAYS.items():
                    pending = [_event(seq + i) for i in range(events)]
                    seq += events
                    t0 = time.thread_time()
                    way(conns, pending)
                    cpu[name].append(time.thread_time() - t0)
                    # Each round starts with empty buffers: a write is a send().
                    while any(c.transport.get_write_buffer_size() for c in conns):
                        await asyncio.sleep(0.001)
            return cpu
        finally:
            for c in conns:
                c.transport.abort()
            await proc.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--events", type=int, default=3, help="events per flush")
    ap.add_argument("--rounds", type=int, default=400)
    ap.add_argument("--sink", nargs=2, type=int, metavar=("PORT", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.sink:
        sink(*args.sink)
        return 0
    cpu = asyncio.run(measure(args.clients, args.events, args.rounds))
    print(f"fan-out: {args.clients} clients, {args.events} events of "
          f"{len(_event(1))} bytes a flush, {args.rounds} rounds each, interleaved")
    print(f"{'server CPU per flush':<24}{'mean µs':>10}{'median µs':>11}{'µs/client':>11}")
    for name, xs in cpu.items():
        mean = statistics.fmean(xs) * 1e6
        print(f"{name:<24}{mean:10.0f}{statistics.median(xs) * 1e6:11.0f}"
              f"{mean / args.clients:11.2f}")
    for kind in ("plain", "batch"):
        ratio = statistics.fmean(cpu[f"fanout, {kind}"]) / statistics.fmean(
            cpu[f"broadcast, {kind}"])
        print(f"fanout/broadcast ({kind}): {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
