"""Store throughput: committed ticket operations per second.

One operation is one ``Store.commit`` transaction of a realistic command:
issuing a ticket (``ticket.issued`` + ``queue.changed``: numbering CAS,
ticket insert, two event rows) or claiming one (``ticket.called`` +
``queue.changed``: version-checked update, two event rows), alternating.
Measured on a SQLite file and on a throwaway PostgreSQL cluster (started via
``tests/helpers/pg.py``; skipped if the server binaries are missing), first
by one process, then by several processes at once on the same hall (each
on its own service, so they contend for the hall's seq row and the SQLite
write lock; only committed operations count).

    python -m bench.store [--ops 4000] [--procs 4]

Printed, not asserted. Target: >= 2,000 ops/s on SQLite (one process).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

from server.core.model import Event, Ticket
from server.store import StaleState, Store
from server.store.engine import sqlite_sync

__all__ = ["main", "run_ops"]

DAY = dt.date(2026, 11, 26)


def run_ops(store: Store, ops: int, hall: str = "bench", tag: str = "p0",
            service: str = "svc", prefix: str = "A") -> tuple[int, int, float]:
    """Alternate issue and claim commits; returns (committed, conflicts, seconds)."""
    loaded = store.load(hall, DAY)
    last = loaded.last_numbers.get((service, DAY), 0)
    waiting: list[Ticket] = []
    committed = conflicts = 0
    start = time.perf_counter()
    while committed < ops:
        now = dt.datetime.now(dt.UTC)
        if committed % 2 == 0 or not waiting:
            t = Ticket(id=f"{tag}-{committed}", number=f"{prefix}{last + 1:03d}", service=service,
                       seqno=last + 1, issued_at=now, day=DAY, check=f"c{committed}")
            events = [Event("ticket.issued", {"ticket": {"id": t.id, "number": t.number}},
                            t.copy(), None),
                      Event("queue.changed", {"service": service, "waiting": len(waiting) + 1,
                                              "eta_s": 300})]
            try:
                store.commit(hall, events)
            except StaleState:
                conflicts += 1
                if conflicts > 10 * ops:  # a bug, not contention: do not spin forever
                    raise
                last = store.load(hall, DAY).last_numbers.get((service, DAY), 0)
                continue
            last += 1
            waiting.append(t)
        else:
            t = waiting.pop(0)
            called = t.copy()
            called.status, called.counter, called.called_at = "called", 1, now
            called.version = t.version + 1
            events = [Event("ticket.called", {"ticket": {"id": t.id}, "counter": 1,
                                              "counter_name": "1"}, called, t.version),
                      Event("queue.changed", {"service": service, "waiting": len(waiting),
                                              "eta_s": 300})]
            try:
                store.commit(hall, events)
            except StaleState:  # pragma: no cover - own tickets only
                conflicts += 1
                continue
        committed += 1
    return committed, conflicts, time.perf_counter() - start


def _worker(url: str, ops: int, index: int, barrier: object, out: object) -> None:
    with Store(url) as store:  # connect and check the schema before the clock starts
        barrier.wait()  # type: ignore[attr-defined]
        # one service per process, like kiosks issuing for different services:
        # what is measured is concurrent writers on one hall (one seq row)
        # (and its own prefix: numbers are unique per hall and day)
        out.put(run_ops(store, ops, tag=f"w{index}",  # type: ignore[attr-defined]
                        service=f"svc{index}", prefix="ABCDEFGHJKLMNPQRSTUVWXYZ"[index]))


def run_parallel(url: str, ops: int, procs: int) -> tuple[int, int, float]:
    """``procs`` processes, ``ops`` each, on one hall."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(procs + 1), ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(url, ops, i, barrier, out))
               for i in range(procs)]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.perf_counter()
    results = [out.get(timeout=600) for _ in workers]
    elapsed = time.perf_counter() - start
    for w in workers:
        w.join()
    return sum(r[0] for r in results), sum(r[1] for r in results), elapsed


def _report(label: str, committed: int, conflicts: int, seconds: float) -> None:
    print(f"  {label:<28} {committed:>6} ops in {seconds:6.2f} s = "
          f"{committed / seconds:8.0f} ops/s  ({conflicts} conflicts retried)", flush=True)


def bench(name: str, make_url, ops: int, procs: int) -> None:
    print(f"{name}:", flush=True)
    with Store(make_url("single")) as store:  # migrate outside the timing
        _report("1 process", *run_ops(store, ops))
    if procs > 1:
        url = make_url("parallel")
        Store(url).close()
        _report(f"{procs} processes", *run_parallel(url, ops // procs, procs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=4000, help="operations per run")
    parser.add_argument("--procs", type=int, default=4, help="processes in the parallel run")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    if not 1 <= args.procs <= 24:
        parser.error("--procs must be 1..24 (one ticket prefix letter each)")

    with tempfile.TemporaryDirectory(prefix="qhall-bench-") as tmp:
        # the store's own setting (QHALL_SQLITE_SYNC, default FULL: server/store/engine.py)
        bench(f"SQLite file (WAL, synchronous={sqlite_sync()})",
              lambda n: f"sqlite:///{Path(tmp) / n}.db", args.ops, args.procs)

    if args.no_postgres:
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.helpers.pg import PgCluster, unavailable

    reason = unavailable()
    if reason:
        print(f"PostgreSQL: skipped ({reason})")
        return 0
    with PgCluster() as cluster:
        bench("PostgreSQL 15 (throwaway cluster, fsync=off)", cluster.create_database,
              args.ops, args.procs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
