"""``qhall simulate`` speed: one reference day, with the clock-aware ETA and,
as the baseline from the same run, with the estimator qhall used before
issue #17 in its place (so the figure shows what the estimate costs).

    python -m bench.simulate [--seed 1] [--repeat 2]

Printed, not asserted. Before issue #17 the reference day took ~1.3 s on the
development machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from unittest import mock

from server.core import Hall
from server.core.eta import Estimate
from server.reference import demo_config
from server.tools.sim.model import SimParams
from server.tools.simulate import simulate

__all__ = ["main"]


def _previous_estimate(hall: Hall, sid: str, ahead: int, t: object = None) -> Estimate:
    """The pre-#17 estimate of a ticket with ``ahead`` before it (no clock)."""
    free = sum(1 for n in hall._served_by[sid]
               if hall._counters[n].state == "open" and hall._counters[n].current is None)
    calls = ahead + 1 - free
    if calls <= 0:
        return Estimate(0)
    cycle = hall._forecast.cycle_s(sid)
    from server.core import eta

    supplies = hall._forecast.supplies(sid, max(hall._queues.waiting[sid], ahead + 1) * cycle,
                                       hall._now(), False)
    result = eta.drain(supplies, calls * cycle)
    return Estimate(round(result[0] if result is not None else calls * cycle))


def _day(seed: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    sim = simulate(demo_config("sqlite://"), SimParams(seed=seed))
    return time.perf_counter() - t0, sim.result.core_calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.simulate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2, help="best of N runs each")
    args = parser.parse_args(argv)
    now = min(_day(args.seed) for _ in range(args.repeat))
    with mock.patch.object(Hall, "_estimate", _previous_estimate):
        before = min(_day(args.seed) for _ in range(args.repeat))
    print(f"reference day, seed {args.seed}, best of {args.repeat}:")
    for label, (secs, calls) in (("clock-aware ETA", now), ("previous ETA (baseline)", before)):
        print(f"  {label:<24} {secs:6.2f} s  {calls / secs:9,.0f} core commands/s")
    print(f"  ratio {now[0] / before[0]:.2f}x")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
