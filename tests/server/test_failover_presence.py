"""A SIGKILLed owner's hall is taken while its lease still runs (#13).

Two real ``qhall serve`` processes on a real cluster, the default lease
(10 s). The killed owner's sessions end with its sockets, so its presence
lock (server/store/lease.py) goes at once: the standby takes the hall at
its next poll, not once the lease has run out. The proof is the database's
own reading at the takeover (how long the dead owner's ``expires_at`` still
ran, in the standby's log), not a clock in the test.
"""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import pytest

from server.tools.chaos import chaos_config
from server.tools.pgcluster import PgCluster
from tests.helpers.failover import (
    TAKEOVER_DEADLINE_S,
    fresh_database,
    hello_reply,
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
