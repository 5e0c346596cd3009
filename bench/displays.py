"""Receiving devices for ``bench.wire`` in a process of their own.

Run by ``bench.wire`` (not by hand): ``python -m bench.displays URL FIRST
COUNT [COUNTER ...]`` connects the display devices ``bench-board-FIRST`` ..
``bench-board-(FIRST+COUNT-1)`` and the named counter devices (hello only,
no login: a counter receives every event of its hall either way), each a
:class:`~server.tools.lightclient.LightDevice` asking for ``batch`` frames.
Every frame is received and checked as it arrives (:class:`Watch`): each
device must see ``welcome seq + 1``, ``+ 2``, ... up to the hall's last seq,
with no gap and no repeat (the server writes ``"type":"event","seq":N`` at
the head of each event, server/wire/protocol.py, so a frame's first and
last seq and its event count are found without decoding it).

Protocol with the parent, one JSON line each way: the child prints
``{"ready": true}`` once connected; the parent writes the hall's last seq;
the child waits until every device has seen exactly the events up to it
(or one saw a gap, a repeat, or the deadline passed) and prints the result:
``ok``, ``problems``, ``devices``, ``events``, ``frames``, ``caught_up`` (the
``time.perf_counter`` of the last device's last frame: a monotonic clock
shared by the processes of one machine) and ``cpu`` (this process's CPU
seconds from ready to result).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time

from server.tools.lightclient import LightDevice

_MARK = b'"type":"event","seq":'
_DIGITS = re.compile(rb"\d+")


def _seq_at(data: bytes, at: int) -> int:
    """The seq of the event whose mark starts at ``at``."""
    match = _DIGITS.match(data, at + len(_MARK))
    return int(match.group()) if match else -1

#: How long the devices may take to catch up after the parent's last seq.
CATCH_UP_S = 120.0


class Watch:
    """One device's stream: every event once, in order, from its welcome on."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.start: int | None = None  # the welcome's seq
        self.first: int | None = None
        self.last: int | None = None
        self.events = 0
        self.frames = 0
        self.bytes = 0
        self.at = 0.0
        self.problem: str | None = None

    def on_events(self, data: bytes, at: float) -> None:
        # Per frame, not per event (a display gets ~60 events per batch frame
        # at full load): the frame's first and last seq and its event count.
        # The server numbers a frame's events consecutively, so a gap, a
        # repeat or a lost event shows as first != last seen + 1 or as
        # last - first + 1 != count (only a repeat and a gap cancelling out
        # inside one frame would pass).
        self.frames += 1
        self.bytes += len(data)
        self.at = at
        count = data.count(_MARK)
        if not count:
            return
        first = _seq_at(data, data.find(_MARK))
        last = first if count == 1 else _seq_at(data, data.rfind(_MARK))
        if self.problem is None:
            if self.last is not None and first != self.last + 1:
                self.problem = f"{self.device}: seq {first} after {self.last}"
            elif last - first + 1 != count:
                self.problem = f"{self.device}: {count} events numbered {first}..{last}"
        if self.first is None:
            self.first = first
        self.last = last
        self.events += count

    def check(self, target: int) -> str | None:
        """None when the device saw exactly ``start + 1 .. target`` once each."""
        if self.problem is not None:
            return self.problem
        if self.start is None:
            return f"{self.device}: no welcome"
        want = target - self.start
        if self.events != want:
            return f"{self.device}: {self.events} events, expected {want}"
        if want and (self.first != self.start + 1 or self.last != target):
            return f"{self.device}: saw {self.first}..{self.last}, expected " \
                   f"{self.start + 1}..{target}"
        return None


async def _run(url: str, first: int, count: int, counters: list[str]) -> dict:
    from server.reference import demo_token

    names = [(f"bench-board-{i}", "bench") for i in range(first, first + count)]
    names += [(dev, demo_token(dev)) for dev in counters]
    watches = [Watch(dev) for dev, _ in names]
    devices = [LightDevice(dev, token, w.on_events)
               for (dev, token), w in zip(names, watches, strict=True)]
    for chunk in range(0, len(devices), 50):
        welcomes = await asyncio.gather(*(d.open(url) for d in devices[chunk:chunk + 50]))
        for w, welcome in zip(watches[chunk:chunk + 50], welcomes, strict=True):
            w.start = int(welcome["seq"])
    print(json.dumps({"ready": True}), flush=True)
    loop = asyncio.get_running_loop()
    cpu0 = time.process_time()
    line = await loop.run_in_executor(None, sys.stdin.readline)
    if not line.strip():  # the parent gave up
        for d in devices:
            d.close()
        return {"ok": False, "problems": ["no target seq from the parent"]}
    target = int(line)
    deadline = time.perf_counter() + CATCH_UP_S
    while time.perf_counter() < deadline:
        if all(w.last == target or w.problem for w in watches):
            break
        await asyncio.sleep(0.05)
    cpu = time.process_time() - cpu0
    problems = [p for p in (w.check(target) for w in watches) if p is not None]
    for d in devices:
        d.close()
    return {"ok": not problems, "problems": problems[:5], "devices": len(watches),
            "events": sum(w.events for w in watches), "frames": sum(w.frames for w in watches),
            "bytes": sum(w.bytes for w in watches),
            "caught_up": max(w.at for w in watches), "cpu": cpu}


def main(argv: list[str]) -> int:
    url, first, count, *counters = argv
    print(json.dumps(asyncio.run(_run(url, int(first), int(count), counters))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
