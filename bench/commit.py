"""CPU per commit of the store's real commit path, beside older code in the same run.

One commit is what a hall's group commit writes for one issued ticket:
``Store.commit`` of ``ticket.issued`` (numbering compare-and-set, the
ticket row) and ``queue.changed`` (two event rows, the hall's seq) with the
request's idempotency reply. Each side runs in a fresh subprocess on a fresh
database, its events built before the clock starts, and reports the process
CPU time (``time.process_time``: this process only, not PostgreSQL's
backend) and the wall time of ``--commits`` commits after a short warm-up.

The baseline is the ``server`` package of ``--baseline-ref`` (default
``main``), extracted with ``git archive`` to a temporary directory and put
first on the subprocess's ``sys.path``; the new side is this tree's. Rounds
alternate which side goes first; the medians are printed with the ratios
new/old. Both sides run SQLite with the same ``synchronous`` (``--sync``,
default the store's own: ``QHALL_SQLITE_SYNC`` or FULL), forced on every
connection and read back from one after the run (older code hard-coded
NORMAL). PostgreSQL runs on a throwaway cluster (``fsync=off``; skipped when
the server binaries are missing, or with ``--no-postgres``).

    python -m bench.commit [--commits 2000] [--rounds 3] [--baseline-ref main]
                           [--sync full|normal] [--no-postgres]

Printed, not asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["main", "side"]

ROOT = Path(__file__).resolve().parent.parent
DAY = dt.date(2026, 12, 1)
WARMUP = 50
_PRAGMA = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def _groups(count: int, start: int) -> list[tuple[list[Any], tuple[str, str, str]]]:
    """``count`` commits' events and replies: ticket ``start``, ``start + 1``, ..."""
    from server.core.model import Event, Ticket

    now = dt.datetime.now(dt.UTC)
    groups = []
    for n in range(start, start + count):
        t = Ticket(id=f"t{n}", number=f"A{n:03d}", service="svc", seqno=n, issued_at=now,
                   day=DAY, rank=(3, float(n)), check=f"c{n}")
        events = [Event("ticket.issued", {"ticket": {"id": t.id, "number": t.number}},
                        t.copy(), None),
                  Event("queue.changed", {"service": "svc", "waiting": n, "eta_s": 300})]
        reply = json.dumps({"type": "ok", "id": f"r{n}", "ticket": {"id": t.id}})
        groups.append((events, ("kiosk-1", f"r{n}", reply)))
    return groups


def side(url: str, commits: int, sync: str) -> dict[str, Any]:
    """Run in the subprocess: time ``commits`` commits of the imported ``server``."""
    import sqlalchemy as sa

    import server
    from server.store import Store

    store = Store(url)
    try:
        setting = None
        if store.backend == "sqlite":
            @sa.event.listens_for(store._engine, "connect")
            def _same_sync(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.execute(f"PRAGMA synchronous={sync}")
            store._engine.dispose()  # every connection from now on gets it
        for events, reply in _groups(WARMUP, 1):
            store.commit("bench", events, reply=reply)
        groups = _groups(commits, WARMUP + 1)
        cpu, wall = time.process_time(), time.perf_counter()
        for events, reply in groups:
            store.commit("bench", events, reply=reply)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if store.backend == "sqlite":
            with store.transaction() as conn:
                value = conn.exec_driver_sql("PRAGMA synchronous").scalar()
                setting = _PRAGMA.get(value, str(value)) if isinstance(value, int) else str(value)
        assert store.last_seq("bench") == 2 * (WARMUP + commits)
    finally:
        store.close()
    return {"cpu": cpu, "wall": wall, "commits": commits, "sync": setting,
            "server": str(Path(server.__file__).resolve().parent)}


_CHILD = """
import json, sys
sys.path[:0] = [{server_root!r}, {bench_root!r}]
from bench.commit import side
print(json.dumps(side({url!r}, {commits!r}, {sync!r})))
"""


def _run_side(server_root: Path, url: str, commits: int, sync: str, cwd: str) -> dict[str, Any]:
    code = _CHILD.format(server_root=str(server_root), bench_root=str(ROOT), url=url,
                         commits=commits, sync=sync)
    env = {**os.environ, "QHALL_SQLITE_SYNC": sync.lower()}
    env.pop("PYTHONPATH", None)
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench side under {server_root} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    expected = (server_root / "server").resolve()
    if Path(result["server"]) != expected:
        raise SystemExit(f"the side meant for {expected} imported {result['server']}")
    return result


def _extract(ref: str, into: Path) -> str:
    """``git archive ref server`` into ``into``; the commit's short hash."""
    commit = subprocess.run(["git", "rev-parse", "--short", f"{ref}^{{commit}}"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.strip()
    archive = subprocess.run(["git", "archive", commit, "server"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return commit


def compare(name: str, make_url: Any, old_root: Path, old_label: str, commits: int,
            rounds: int, sync: str, cwd: str) -> None:
    """Print one database's medians and ratios."""
    runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    roots = {"old": old_root, "new": ROOT}
    for r in range(rounds):
        for which in (("old", "new") if r % 2 == 0 else ("new", "old")):
            runs[which].append(_run_side(roots[which], make_url(f"{which}{r}"), commits,
                                         sync, cwd))
    settings = {w: {run["sync"] for run in runs[w]} for w in runs}
    if settings["old"] != settings["new"] or len(settings["old"]) != 1:
        raise SystemExit(f"{name}: the sides ran different synchronous settings: {settings}")
    (setting,) = settings["old"]
    print(f"{name}, {commits} commits x {rounds} rounds, synchronous="
          f"{setting or 'n/a'} on both sides:", flush=True)
    medians = {}
    for which, label in (("old", old_label), ("new", "new (this tree)")):
        cpu_us = statistics.median(run["cpu"] / run["commits"] * 1e6 for run in runs[which])
        rate = statistics.median(run["commits"] / run["wall"] for run in runs[which])
        medians[which] = (cpu_us, rate)
        spread = ", ".join(f"{run['cpu'] / run['commits'] * 1e6:.0f}" for run in runs[which])
        print(f"  {label:<24} {cpu_us:7.1f} us CPU/commit ({spread}), {rate:7.0f} commits/s "
              f"[synchronous={runs[which][0]['sync'] or 'n/a'}]", flush=True)
    print(f"  ratio new/old: CPU per commit {medians['new'][0] / medians['old'][0]:.2f}x, "
          f"commits/s {medians['new'][1] / medians['old'][1]:.2f}x", flush=True)


def main(argv: list[str] | None = None) -> int:
    from server.store.engine import sqlite_sync

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=2000, help="timed commits per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per side (medians)")
    parser.add_argument("--baseline-ref", default="main",
                        help="git ref whose server/ is the baseline (default main)")
    parser.add_argument("--sync", type=str.upper, choices=["FULL", "NORMAL"], default=None,
                        help="SQLite synchronous for both sides (default: the store's own)")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    if args.commits < 1 or args.rounds < 1:
        parser.error("--commits and --rounds must be at least 1")
    sync = args.sync or sqlite_sync()

    with tempfile.TemporaryDirectory(prefix="qhall-bench-commit-") as tmp:
        base, work = Path(tmp) / "baseline", Path(tmp) / "work"
        base.mkdir()
        work.mkdir()
        commit = _extract(args.baseline_ref, base)
        old_label = f"old ({args.baseline_ref} {commit})"
        load = os.getloadavg()
        print(f"bench.commit {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load average "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} CPUs", flush=True)
        compare("SQLite file (WAL)", lambda n: f"sqlite:///{work / n}.db", base, old_label,
                args.commits, args.rounds, sync, str(work))
        if args.no_postgres:
            return 0
        from server.tools.pgcluster import PgCluster, unavailable

        reason = unavailable()
        if reason:
            print(f"PostgreSQL: skipped ({reason})")
            return 0
        with PgCluster() as cluster:
            compare("PostgreSQL (throwaway cluster, fsync=off)", cluster.create_database, base,
                    old_label, args.commits, args.rounds, sync, str(work))
    return 0


if __name__ == "__main__":
    sys.exit(main())
