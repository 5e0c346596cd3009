"""Owner and standby ``qhall serve`` processes of one hall on PostgreSQL.

Real processes, a real cluster, the real failover client (AsyncClient). The
lease is short (``LEASE_S``) so takeovers take a few seconds; every wait
polls with a deadline. After each failover the hall's invariants are checked
(server/tools/chaos.py ``check_hall``): every acknowledged ticket exists, no
number twice in a day, no ticket called twice, seqs contiguous, each board
saw every call exactly once.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from server.config import dumps
from server.reference import demo_token
from server.store import Store
from server.store.lease import LeaseBook
from server.tools.chaos import HallLoad, Instance, chaos_config, check_hall, wait_boards
from server.tools.pgcluster import PgCluster, free_port
from tests.helpers.failover import LEASE_S, TAKEOVER_DEADLINE_S, fresh_database, serve_pair, until

pytestmark = pytest.mark.slow


@pytest.fixture
def hall(pg_cluster: PgCluster, monkeypatch) -> str:
    return fresh_database(pg_cluster, monkeypatch, "fo")


@pytest.fixture
def pair(hall: str, tmp_path: Path) -> Iterator[tuple[Instance, Instance]]:
    with serve_pair(chaos_config("main", hall), tmp_path) as both:
        yield both


def _hello(url: str) -> tuple[dict, int | None]:
    with connect(url, open_timeout=10) as ws:
        ws.send(json.dumps({"type": "hello", "id": "h1", "protocol": 1, "device": "board-1",
                            "token": demo_token("board-1"), "since": None}))
        reply = json.loads(ws.recv(timeout=10))
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        return reply, ws.close_code


def _run_with_failover(a: Instance, b: Instance, database: str,
                       disrupt: Callable[[HallLoad], None],
                       after: Callable[[HallLoad], None]) -> HallLoad:
    """Load the hall through [a, b]; disrupt a mid-load; go on; stop; return the load."""
    load = HallLoad("main", [a.url(), b.url()], issue_every_s=0.1)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(load.run(stop))

        async def until(what: Callable[[], bool], timeout: float, why: str) -> None:
            deadline = time.monotonic() + timeout
            while not what():
                assert time.monotonic() < deadline, why
                assert not task.done(), task.exception() if task.done() else ""
                await asyncio.sleep(0.05)

        await until(lambda: len(load.acked) >= 20, 60, "no load before the failover")
        await asyncio.to_thread(disrupt, load)
        await asyncio.to_thread(after, load)
        more = len(load.acked) + 20
        await until(lambda: len(load.acked) >= more, 60, "no load after the failover")
        stop.set()
        await task
        await wait_boards([load], database)
        await load.close_boards()

    asyncio.run(main())
    return load


@pytest.mark.postgres
def test_a_standby_names_the_owner_and_takes_over_after_its_sigkill_mid_load(pair, hall) -> None:
    a, b = pair
    database = hall
    assert b.healthz() == (503, "standby\n")
    reply, code = _hello(b.url())
    assert (reply["type"], reply["code"], reply["re"]) == ("error", "standby", "h1")
    assert reply["owner"] == a.url()
    assert code == 1013

    def kill(_load: HallLoad) -> None:
        a.signal(signal.SIGKILL)
        until(lambda: b.healthz() == (200, "ok\n"), TAKEOVER_DEADLINE_S,
               "the standby did not take over")

    load = _run_with_failover(a, b, database, kill, lambda _load: None)
    assert check_hall(database, "main", load) == []
    assert "now the owner" in b.output()


@pytest.mark.postgres
def test_sigstop_of_the_owner_then_sigcont_it_commits_nothing_and_steps_down(pair, hall) -> None:
    a, b = pair
    database = hall

    def freeze(_load: HallLoad) -> None:
        a.signal(signal.SIGSTOP)  # its clients' requests wait in its socket buffers
        until(lambda: b.healthz() == (200, "ok\n"), TAKEOVER_DEADLINE_S,
               "the standby did not take over")

    def wake(_load: HallLoad) -> None:
        a.signal(signal.SIGCONT)
        until(lambda: a.healthz() == (503, "standby\n"), TAKEOVER_DEADLINE_S,
               "the old owner did not step down")

    load = _run_with_failover(a, b, database, freeze, wake)
    assert check_hall(database, "main", load) == []
    # The requests the frozen owner held were answered by the new one (the
    # old one sent no reply: no `internal`, nothing to retry by hand).
    assert load.failed["internal"] == 0
    assert "standby now" in a.output()
    assert "now the owner" in b.output()
    # A clean stop gives the hall up at once (not by expiry): the standby takes
    # it at its next poll.
    b.terminate()
    with Store(database) as store:
        holder = LeaseBook(store, "reader", LEASE_S).owner("main")
    assert holder is not None and not (holder.owner == "b" and holder.live)
    until(lambda: a.healthz() == (200, "ok\n"), TAKEOVER_DEADLINE_S, "a did not take over")


def test_a_second_process_on_one_sqlite_file_refuses_to_start(tmp_path: Path) -> None:
    path = tmp_path / "hall.toml"
    path.write_text(dumps(chaos_config("main", f"sqlite:///{tmp_path / 'h.db'}")),
                    encoding="utf-8")
    first = Instance("a", ["--config", str(path)], free_port(), tmp_path / "a.log", LEASE_S)
    second = Instance("b", ["--config", str(path)], free_port(), tmp_path / "b.log", LEASE_S)
    try:
        first.start()
        with pytest.raises(RuntimeError) as err:
            second.start()
        assert "exited (1)" in str(err.value)
        assert "already served by another qhall serve process" in second.output()
        assert first.healthz() == (200, "ok\n")
    finally:
        first.terminate()
        second.terminate()


@pytest.mark.postgres
def test_a_woken_old_owner_answers_nothing_it_held_writes_nothing_and_closes_1012(
        pair, hall) -> None:
    a, b = pair
    with connect(a.url(), open_timeout=10) as ws:
        ws.send(json.dumps({"type": "hello", "id": "h1", "protocol": 1, "device": "kiosk-2",
                            "token": demo_token("kiosk-2"), "since": None}))
        assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
        a.signal(signal.SIGSTOP)
        # Waits in the frozen owner's socket buffer while the standby takes over.
        ws.send(json.dumps({"type": "issue", "id": "held-1", "service": "qydj"}))
        until(lambda: b.healthz() == (200, "ok\n"), TAKEOVER_DEADLINE_S,
              "the standby did not take over")
        a.signal(signal.SIGCONT)
        frames: list[dict] = []
        with pytest.raises(ConnectionClosed):
            while True:
                frames.append(json.loads(ws.recv(timeout=TAKEOVER_DEADLINE_S)))
        assert ws.close_code == 1012  # stepping down: the client moves on
        assert [f for f in frames if f.get("re") == "held-1"] == []
    until(lambda: a.healthz() == (503, "standby\n"), TAKEOVER_DEADLINE_S,
          "the old owner did not step down")
    with Store(hall) as store:
        assert store.recall_reply("main", "kiosk-2", "held-1") is None  # a wrote nothing
    # The same id resent to the new owner is done there, once.
    with connect(b.url(), open_timeout=10) as ws:
        ws.send(json.dumps({"type": "hello", "id": "h2", "protocol": 1, "device": "kiosk-2",
                            "token": demo_token("kiosk-2"), "since": None}))
        assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
        ws.send(json.dumps({"type": "issue", "id": "held-1", "service": "qydj"}))
        reply = next(f for f in iter(lambda: json.loads(ws.recv(timeout=10)), None)
                     if f.get("re") == "held-1")
        assert reply["type"] == "ok"
    with Store(hall) as store:
        assert json.loads(store.recall_reply("main", "kiosk-2", "held-1") or "{}") \
            ["ticket"]["id"] == reply["ticket"]["id"]
