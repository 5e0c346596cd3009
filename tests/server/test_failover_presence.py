"""A SIGKILLed owner's hall is taken while its lease still runs (#13).

Two real ``qhall serve`` processes on a real cluster, the default lease
(10 s). The killed owner's sessions end with its sockets, so its presence
lock (server/store/lease.py) goes at once: the standby takes the hall at
its next poll, not once the lease has run out. The proof is the database's
own reading at the takeover (how long the dead owner's ``expires_at`` still
ran, in the standby's log), not a clock in the test.

The last test is the even share (in-process :class:`server.halls.Halls`, one
lease pass driven by hand): a killed process, its heartbeat still recent,
no longer counts among those the halls are divided by.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from pathlib import Path

import pytest

from server.halls import Halls
from server.serve import build_server
from server.store import Store
from server.store.lease import LeaseBook
from server.tools.chaos import chaos_config
from server.tools.pgcluster import PgCluster
from tests.helpers.failover import (
    TAKEOVER_DEADLINE_S,
    fresh_database,
    hello_reply,
    presence_held,
    serve_pair,
    until,
)

pytestmark = pytest.mark.postgres

#: The default lease: after a SIGKILL it runs on for seconds, a standby polls
#: every fifth of it.
LEASE_S = 10.0


@pytest.fixture
def hall(pg_cluster: PgCluster, monkeypatch: pytest.MonkeyPatch) -> str:
    return fresh_database(pg_cluster, monkeypatch, "pr")


def test_a_sigkilled_owners_hall_is_taken_while_its_lease_still_runs(
        hall: str, tmp_path: Path) -> None:
    with serve_pair(chaos_config("main", hall), tmp_path, lease_s=LEASE_S) as (a, b):
        until(lambda: b.healthz() == (503, "standby\n"), 30, "b did not start as the standby")
        a.signal(signal.SIGKILL)
        until(lambda: b.healthz() == (200, "ok\n"), TAKEOVER_DEADLINE_S,
              "the standby did not take over")
        reply = asyncio.run(hello_reply(b.url()))
        assert reply["type"] == "welcome", reply
        taken = re.search(r"hall main: taken from a, whose process is gone \(no presence lock\); "
                          r"its lease still had (\d+\.\d) s", b.output())
        assert taken is not None, b.output()[-3000:]
        assert float(taken.group(1)) > 0


def test_a_killed_process_leaves_the_even_share_at_the_survivors_next_pass(hall: str) -> None:
    """Three processes share three halls: b owns one, c none yet, and c is
    killed (its presence lock goes with its connections; its heartbeat, a
    moment old, would count it live for a lease more). The survivor's next
    pass divides the halls by the two left, a share of two: it takes both
    free halls at once. Before, a share of one (three live): it took one and
    left the other free for ``STRANDED_POLLS`` polls, its devices waiting."""
    database = hall
    peers = [Store(database), Store(database)]
    b, c = LeaseBook(peers[0], "b", 600.0), LeaseBook(peers[1], "c", 600.0)
    names = ("east", "west", "north")
    halls = Halls([chaos_config(h, database) for h in names], build_server, lease_s=10.0,
                  instance="alive")
    halls.advertise = "ws://127.0.0.1:9"  # not listening: one pass driven by hand

    async def main() -> dict[str, bool]:
        await halls.step(time.monotonic())
        # Taken: loading still, or loaded already (the loads run beside the pass).
        taken = {h: halls.slots[h].pending or halls.slots[h].server is not None
                 for h in names}
        await halls.stop()
        return taken

    try:
        assert b.acquire("east", "ws://127.0.0.1:10/ws/east") == 1
        assert c.heartbeat("ws://127.0.0.1:11") == {"c": 0}
        assert b.heartbeat("ws://127.0.0.1:10") == {"b": 1, "c": 0}
        key = c.presence
        peers[1].close()  # c SIGKILLed
        until(lambda: not presence_held(peers[0], key), 10, "c's presence lock stayed")
        taken = asyncio.run(main())
    finally:
        halls.close()
        for store in peers:
            store.close()
    assert taken == {"east": False, "west": True, "north": True}, taken
