"""Two ``qhall serve`` processes of one hall on PostgreSQL: an owner and a standby.

``serve_pair`` writes the hall's config, starts ``a`` and waits until it owns
the hall, then starts ``b`` (a standby), and stops both at the end. The lease
is short so a takeover takes seconds; waits poll with a deadline.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from server.config import HallConfig, dumps
from server.tools.chaos import Instance
from server.tools.pgcluster import free_port

__all__ = ["LEASE_S", "TAKEOVER_DEADLINE_S", "serve_pair", "until"]

LEASE_S = 2.0
#: The contract's takeover bound (15 s) plus room for a loaded test machine.
TAKEOVER_DEADLINE_S = 30.0


def until(what: Callable[[], object], timeout: float, why: str) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, why
        time.sleep(0.05)


@contextlib.contextmanager
def serve_pair(config: HallConfig, workdir: Path) -> Iterator[tuple[Instance, Instance]]:
    path = workdir / "hall.toml"
    path.write_text(dumps(config), encoding="utf-8")
    a = Instance("a", ["--config", str(path)], free_port(), workdir / "a.log", LEASE_S)
    b = Instance("b", ["--config", str(path)], free_port(), workdir / "b.log", LEASE_S)
    try:
        a.start()
        until(lambda: a.healthz() == (200, "ok\n"), 30, "a did not become the owner")
        b.start()
        yield a, b
    finally:
        a.terminate()
        b.terminate()
