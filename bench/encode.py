"""Event encoding benchmark: the CPU of turning a committed event into its
event row and its wire frame, the data encoded twice beside once, in one run.

Run: ``python -m bench.encode [--events 3000] [--rounds 30]``

The events are real: a big hall's core (``bench.core.build``: issue,
``call_next``, ``start``, ``complete``) runs until it has made ``--events``
of them (``ticket.*``, ``queue.changed``, ``counter.*``). Each round takes
every event through what a commit and a flush do with it:

* the store's ``prepare`` (checks, the event row with its data as JSON text,
  the ticket and counter rows);
* the wire frame: ``protocol.encode_bytes`` of the event message, either a
  plain dict (``twice``: the data encoded again, main's code before session
  7) or the message carrying the stored text (``once``:
  :class:`server.wire.protocol.EventMessage`, what ``Context.wire_event``
  builds now).

The two ways alternate round by round so a shared machine's load falls on
both alike; the figure is CPU time (``time.process_time``) per event, the
median of the rounds. The frames are checked byte for byte first. Printed,
never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
from collections.abc import Callable

from bench.core import build
from server.core import CoreError, Event
from server.store import commit as commit_steps
from server.wire import protocol

AT = "2026-11-26T08:30:00+08:00"
Way = Callable[[list[Event]], list[bytes]]


def day_events(count: int, seed: int = 1) -> list[Event]:
    """At least ``count`` events of a busy hall's core, in the order made."""
    hall, clock = build()
    rng = random.Random(seed)
    services = [s.id for s in hall.config.services]
    numbers = [c.number for c in hall.config.counters]
    out: list[Event] = []
    for _ in range(200):
        out += hall.issue(rng.choice(services))
    while len(out) < count:
        clock.now += dt.timedelta(seconds=2)
        c = rng.choice(numbers)
        try:
            out += hall.issue(rng.choice(services))
            current = hall.counter_state(c).current
            if current is None:
                out += hall.call_next(c)
            elif getattr(hall.ticket(current), "status", None) == "called":
                out += hall.start(c)
            else:
                out += hall.complete(c)
        except CoreError:
            pass
    for seq, event in enumerate(out, 1):
        event.seq = seq
    return out


def twice(events: list[Event]) -> list[bytes]:
    """The store's rows, then each frame encoded in full."""
    commit_steps.prepare("bench", events, dt.datetime(2026, 11, 26))
    return [protocol.encode_bytes({"type": "event", "seq": e.seq, "name": e.name, "at": AT,
                                   "data": e.data}) for e in events]


def once(events: list[Event]) -> list[bytes]:
    """The store's rows, then each frame around the row's data text."""
    batch = commit_steps.prepare("bench", events, dt.datetime(2026, 11, 26))
    return [protocol.encode_bytes(protocol.event(int(e.seq or 0), e.name, AT, e.data, row["data"]))
            for e, row in zip(events, batch.events, strict=True)]


def measure(events: list[Event], rounds: int) -> dict[str, float]:
    """Median CPU µs per event of each way, rounds interleaved."""
    ways: dict[str, Way] = {"twice": twice, "once": once}
    samples: dict[str, list[float]] = {name: [] for name in ways}
    for r in range(rounds):
        order = list(ways.items()) if r % 2 == 0 else list(ways.items())[::-1]
        for name, way in order:
            start = time.process_time()
            way(events)
            samples[name].append((time.process_time() - start) / len(events) * 1e6)
    return {name: statistics.median(s) for name, s in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.encode",
                                     description="Event row + wire frame: data encoded "
                                                 "twice vs once.")
    parser.add_argument("--events", type=int, default=3000, help="events per round")
    parser.add_argument("--rounds", type=int, default=30, help="rounds per way")
    args = parser.parse_args(argv)
    events = day_events(args.events)
    if twice(events) != once(events):
        print("bench.encode: the two ways' frames differ", file=sys.stderr)
        return 1
    names = sorted({e.name for e in events})
    print(f"{len(events):,} events of a big hall's core ({', '.join(names)}), "
          f"{args.rounds} rounds each, CPU per event (median of rounds):")
    got = measure(events, args.rounds)
    print(f"  data encoded twice (store row + wire, main before session 7): {got['twice']:.2f} µs")
    print(f"  data encoded once (the frame built around the stored text):   {got['once']:.2f} µs "
          f"({got['once'] / got['twice']:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
