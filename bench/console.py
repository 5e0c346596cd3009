"""What one console floor push costs: build the floor and its alerts.

The hall of ``bench.core`` (60 services, 70 counters) after a busy morning
(``--ops`` core commands: a few thousand tickets), then the console's floor
(``server/console/floor.py``) and alerts (``alerts.py``) built and encoded
``--rounds`` times. Beside it, from the same run, the baseline: the welcome
snapshot every connecting device gets (``Hall.snapshot``) encoded the same way.
The server pushes at most one floor per 0.25 s while a console is connected.

    python -m bench.console [--ops 20000] [--rounds 50]

Printed, not asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from collections.abc import Callable

from bench.core import build
from server.console import alerts, floor
from server.core import CoreError, Hall

__all__ = ["main"]


def _morning(ops: int) -> tuple[Hall, Callable[[], dt.datetime]]:
    hall, clock = build()
    rng = random.Random(1)
    services = [s.id for s in hall.config.services]
    numbers = [c.number for c in hall.config.counters]
    for _ in range(ops):
        clock.now += dt.timedelta(milliseconds=500)
        try:
            if rng.random() < 0.35:
                hall.issue(rng.choice(services))
            else:
                c = rng.choice(numbers)
                current = hall.counter_state(c).current
                if current is None:
                    hall.call_next(c)
                else:
                    hall.complete(c)
        except CoreError:
            pass
    return hall, clock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.console",
                                     description="Cost of one console floor push.")
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args(argv)
    hall, clock = _morning(args.ops)
    config = hall.config
    tickets = len(hall.tickets())
    start = time.perf_counter()
    for _ in range(args.rounds):
        view = floor.build(hall, config, {}, clock())
        text = json.dumps({"floor": view, "alerts": alerts.evaluate(view, config, [], {})},
                          ensure_ascii=False)
    push_s = (time.perf_counter() - start) / args.rounds
    start = time.perf_counter()
    for _ in range(args.rounds):
        snap = json.dumps(hall.snapshot(), ensure_ascii=False)
    snap_s = (time.perf_counter() - start) / args.rounds
    print(f"hall: {len(config.services)} services, {len(config.counters)} counters, "
          f"{tickets} tickets today")
    print(f"console floor + alerts, encoded: {push_s * 1000:.1f} ms, {len(text) // 1024} KiB")
    print(f"baseline welcome snapshot, encoded: {snap_s * 1000:.1f} ms, "
          f"{len(snap) // 1024} KiB")
    print(f"at one push per 0.25 s: {push_s / 0.25:.0%} of one core while a console is open")
    return 0


if __name__ == "__main__":
    sys.exit(main())
