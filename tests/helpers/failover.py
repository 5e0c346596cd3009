"""Two ``qhall serve`` processes of one hall on PostgreSQL: an owner and a standby.

``serve_pair`` writes the hall's config, starts ``a`` and waits until it owns
the hall, then starts ``b`` (a standby), and stops both at the end. The lease
is short so a takeover takes seconds; waits poll with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from websockets.asyncio.client import connect

from server.config import HallConfig, dumps
from server.reference import demo_token
from server.store import Store
from server.store.lease import PRESENCE_SPACE
from server.tools.chaos import Instance
from server.tools.pgcluster import PgCluster, free_port
from tests.conftest import TEST_PII_KEY

__all__ = ["LEASE_S", "TAKEOVER_DEADLINE_S", "fresh_database", "hello_reply", "serve_pair",
           "steal_lease", "until"]

#: Short so a takeover takes seconds, but not 2 s: at 2 s (a renewal every
#: 0.67 s) a CI run with Chromium and a second job on the 2 cores once let
#: the owner's lease lapse under load, and the web-board failover test's first
#: call met "no longer the owner" before any kill (session 9).
LEASE_S = 3.0
#: The contract's takeover bound (15 s) plus room for a loaded test machine.
TAKEOVER_DEADLINE_S = 30.0


def fresh_database(pg_cluster: PgCluster, monkeypatch: Any, prefix: str) -> str:
    """A new database of the session's cluster, named ``prefix`` + a random
    tail, with the PII key every ``qhall serve`` and store of it needs."""
    monkeypatch.setenv("QHALL_PII_KEY", TEST_PII_KEY)
    return pg_cluster.create_database(f"{prefix}{uuid.uuid4().hex[:12]}")


def until(what: Callable[[], object], timeout: float, why: str) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, why
        time.sleep(0.05)


async def hello_reply(url: str) -> dict[str, Any]:
    """board-1's hello on a socket to ``url``: the first frame it is answered."""
    async with connect(url) as ws:
        await ws.send(json.dumps({"type": "hello", "id": "h1", "protocol": 1,
                                  "device": "board-1", "token": demo_token("board-1"),
                                  "since": None}))
        async with asyncio.timeout(30):
            reply: dict[str, Any] = json.loads(await ws.recv())
            return reply


def steal_lease(database: str, hall: str, url: str) -> None:
    """Another instance ("thief", at ``url``) holds the hall's lease for a
    minute, written straight into the row (as a takeover while the owner
    was frozen leaves it): the owner's next renewal is refused."""
    engine = sa.create_engine(database)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(
                "UPDATE hall_leases SET epoch = epoch + 1, owner = 'thief', url = :url, "
                "presence = NULL, expires_at = clock_timestamp() + interval '60 s' "
                "WHERE hall = :hall"),
                {"url": url, "hall": hall})
    finally:
        engine.dispose()


@contextlib.contextmanager
def serve_pair(config: HallConfig, workdir: Path,
               lease_s: float = LEASE_S) -> Iterator[tuple[Instance, Instance]]:
    path = workdir / "hall.toml"
    path.write_text(dumps(config), encoding="utf-8")
    a = Instance("a", ["--config", str(path)], free_port(), workdir / "a.log", lease_s)
    b = Instance("b", ["--config", str(path)], free_port(), workdir / "b.log", lease_s)
    try:
        a.start()
        until(lambda: a.healthz() == (200, "ok\n"), 30, "a did not become the owner")
        b.start()
        yield a, b
    finally:
        a.terminate()
        b.terminate()


def presence_held(store: Store, key: int) -> bool:
    """Whether some session holds the presence lock ``key`` now (the two-key
    advisory lock: ``objsubid = 2``)."""
    with store.transaction() as conn:
        return bool(conn.execute(sa.text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND objsubid = 2 AND classid = CAST(:space AS oid) AND objid = CAST(:key AS oid) "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
            {"space": PRESENCE_SPACE, "key": key}).scalar())
