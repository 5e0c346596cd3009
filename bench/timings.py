"""Wall-clock figures that used to be asserts inside tests (issue #20).

``python -m bench.timings`` prints, for each, the measured time, the budget
the old test asserted and a baseline measured in the same run, so a slow
machine shows as a slow baseline rather than a failed test:

* scrypt: verifying a PIN at the default cost (budget 3 ms .. 1 s; baseline:
  the same check at the cheap test cost);
* demo config: building the reference hall, first call (budget 1 s;
  baseline: parsing its TOML text);
* simulation: one reference day (budget 5 s; baseline: building its config);
* printer: a print to a refused network port fails ``offline`` (budget 2 s;
  baseline: the refused TCP connect alone).
"""

from __future__ import annotations

import argparse
import socket
import time
from collections.abc import Callable
from typing import Any

__all__ = ["main"]


def _best(fn: Callable[[], Any], repeat: int) -> float:
    """The fastest of ``repeat`` runs, in seconds (the least disturbed by others)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _refused_port() -> int:
    probe = socket.create_server(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()  # nothing listens there now
    return port


def _connect_refused(port: int) -> None:
    try:
        socket.create_connection(("127.0.0.1", port), 2).close()
    except OSError:
        return


def _print_refused(port: int) -> None:
    from PySide6.QtGui import QImage

    from kiosk.printer import PrinterError, open_printer

    image = QImage(576, 64, QImage.Format.Format_Mono)
    image.fill(1)
    try:
        open_printer(f"network:127.0.0.1:{port}").print_ticket(image)
    except PrinterError:
        return
    raise RuntimeError("a refused port printed")


def measure(repeat: int) -> list[tuple[str, float, str, float]]:
    """(name, seconds, budget, baseline seconds) for each figure."""
    from server.auth import hash_secret, verify_secret
    from server.config import parse
    from server.reference import demo_config, demo_toml
    from server.tools.sim.model import SimParams
    from server.tools.simulate import simulate

    rows = []
    # demo_config caches its tables: the first call is the one the old test timed.
    cold = _best(demo_config, 1)
    slow, cheap = hash_secret("4821"), hash_secret("4821", n=2**10)
    rows.append(("scrypt verify (default cost)", _best(lambda: verify_secret("4821", slow),
                                                        repeat),
                 "3 ms .. 1 s", _best(lambda: verify_secret("4821", cheap), repeat)))
    text = demo_toml()
    rows.append(("demo_config() (first call)", cold, "< 1 s",
                 _best(lambda: parse(text), repeat)))
    cfg = demo_config("sqlite://")
    rows.append(("simulate one reference day", _best(lambda: simulate(cfg, SimParams(seed=1)),
                                                     max(1, repeat // 3)),
                 "< 5 s", _best(lambda: demo_config("sqlite://"), repeat)))
    port = _refused_port()
    rows.append(("print to a refused port", _best(lambda: _print_refused(port), repeat),
                 "< 2 s", _best(lambda: _connect_refused(port), repeat)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.timings", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best kept)")
    args = parser.parse_args(argv)
    print(f"{'figure':34} {'measured':>10} {'budget':>12} {'baseline':>10}")
    for name, seconds, budget, baseline in measure(max(1, args.repeat)):
        print(f"{name:34} {seconds * 1000:8.1f}ms {budget:>12} {baseline * 1000:8.1f}ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
