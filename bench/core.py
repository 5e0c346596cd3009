"""Core-only dispatch throughput: Hall commands per second, no I/O.

A busy day at a big hall in fast-forward: 60 services, 70 counters (ordered
and oldest mode), a mix of normal, priority and appointment tickets and a
standing queue of a few hundred. One operation is one Hall command:
``issue``, ``call_next``, ``start`` or ``complete`` (plus the odd no-show,
requeue and transfer), each building its events and wire tickets exactly as
the server uses them.

    python -m bench.core [--ops 100000]

Printed, not asserted. Target: > 20,000 ops/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import random
import sys
import time

from server.config import Counter, Dispatch, HallConfig, Service
from server.core import CoreError, Hall

__all__ = ["build", "run", "main"]


class _Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 26, 0, 30, tzinfo=dt.UTC)  # 08:30 Shanghai

    def __call__(self) -> dt.datetime:
        return self.now


def build(services: int = 60, counters: int = 70) -> tuple[Hall, _Clock]:
    """A hall with this many services and counters, all counters open."""
    letters = [a + b for a in " ABCDEFGHIJKLMNOPQRSTUVWXYZ" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"]
    svcs = tuple(Service(id=f"s{i}", name=f"事项{i}", name_en=f"Service {i}",
                         prefix=letters[i].strip(), category="public")
                 for i in range(services))
    ctrs = tuple(Counter(number=n + 1, name=f"{n + 1}号窗口",
                         services=tuple(f"s{(n + k) % services}" for k in range(3)),
                         mode="oldest" if n % 4 == 0 else "ordered")
                 for n in range(counters))
    cfg = HallConfig(name="bench", timezone="Asia/Shanghai", database="sqlite://",
                     services=svcs, counters=ctrs, dispatch=Dispatch())
    clock = _Clock()
    ids = itertools.count(1)
    hall = Hall(cfg, clock, ids=lambda: f"t{next(ids)}", codes=lambda: f"c{next(ids)}")
    for c in ctrs:
        hall.open_counter(c.number, f"s{c.number}", "staff")
    return hall, clock


def run(ops: int, seed: int = 1) -> tuple[int, float, int]:
    """Run ``ops`` commands; returns (ops done, seconds, events produced)."""
    hall, clock = build()
    rng = random.Random(seed)
    services = [s.id for s in hall.config.services]
    numbers = [c.number for c in hall.config.counters]
    priorities = ["normal"] * 8 + ["priority", "appointment"]
    for _ in range(400):  # a standing queue
        hall.issue(rng.choice(services), rng.choice(priorities))
    done = events = 0
    start = time.perf_counter()
    while done < ops:
        clock.now += dt.timedelta(milliseconds=50)
        roll = rng.random()
        try:
            if roll < 0.3:
                out = hall.issue(rng.choice(services), rng.choice(priorities))
            else:
                c = rng.choice(numbers)
                current = hall.counter_state(c).current
                if current is None:
                    out = hall.call_next(c)
                elif (held := hall.ticket(current)) is not None and held.status == "called":
                    out = hall.no_show(c) if roll > 0.98 else hall.start(c)
                elif roll > 0.97:
                    out = hall.transfer(c, service=rng.choice(services))
                else:
                    out = hall.complete(c)
        except CoreError:
            out = []
        done += 1
        events += len(out)
    return done, time.perf_counter() - start, events


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.core",
                                     description="Core-only dispatch throughput.")
    parser.add_argument("--ops", type=int, default=100_000, help="commands to run")
    args = parser.parse_args(argv)
    done, seconds, events = run(args.ops)
    rate = done / seconds
    print(f"core: {done} ops in {seconds:.2f} s = {rate:,.0f} ops/s "
          f"({events / seconds:,.0f} events/s); target > 20,000 ops/s "
          f"{'OK' if rate > 20_000 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
