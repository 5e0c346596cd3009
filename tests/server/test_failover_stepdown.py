"""An owner that loses a hall knows who took it as it steps down.

In-process :class:`server.halls.Halls` on a throwaway PostgreSQL owning one
hall; another instance takes the lease (written straight into the lease
row, as a takeover after a freeze would leave it). The owner's next renewal
is refused and it steps down. Before, it then knew no owner until its next
poll as a standby: the hall's devices, closed with 1012 and coming back,
were held for that poll (or, waiting for a load that would not come,
refused naming no owner). Now it reads the lease as it steps down and
names the new owner at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest
from websockets.exceptions import ConnectionClosed

from server.halls import Halls
from server.owner import State
from server.serve import build_server
from server.tools.chaos import chaos_config
from server.tools.pgcluster import PgCluster
from tests.helpers.failover import fresh_database, hello_reply, steal_lease
from tests.helpers.server import TOKEN, RunningServer, dial, small_config

pytestmark = pytest.mark.postgres

LEASE_S = 3.0
HALL = "east"
THIEF = f"ws://127.0.0.1:10/ws/{HALL}"


@pytest.fixture
def database(pg_cluster: PgCluster, monkeypatch: pytest.MonkeyPatch) -> str:
    return fresh_database(pg_cluster, monkeypatch, "sd")


class _AtStepDown(logging.Handler):
    """Notes what the hall's slot names as its owner when "standby now" is logged."""

    def __init__(self, halls: Halls) -> None:
        super().__init__(logging.WARNING)
        self.halls = halls
        self.owner: list[str | None] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(f"hall {HALL}: standby now"):
            self.owner.append(self.halls.slots[HALL].owner_url)


def test_an_owner_that_lost_its_hall_names_the_new_owner_as_it_steps_down(
        database: str, caplog: pytest.LogCaptureFixture) -> None:
    halls = Halls([chaos_config(HALL, database)], build_server, lease_s=LEASE_S,
                  instance="alive")
    watch = _AtStepDown(halls)
    logger = logging.getLogger("qhall.halls")

    async def main() -> dict:
        try:
            return await scenario()
        finally:
            await halls.stop()

    async def scenario() -> dict:
        await halls.start("127.0.0.1", 0)
        assert halls.ws_server is not None
        port = int(next(iter(halls.ws_server.sockets)).getsockname()[1])
        slot = halls.slots[HALL]
        assert slot.server is not None, "the hall was not taken at the start"
        await asyncio.to_thread(steal_lease, database, HALL, THIEF)
        deadline = time.monotonic() + 30
        while not watch.owner:
            assert time.monotonic() < deadline, "the owner did not step down"
            await asyncio.sleep(0.05)
        assert slot.machine is not None and slot.machine.state is State.STANDBY
        # A device of the hall, back right after its 1012.
        return await hello_reply(f"ws://127.0.0.1:{port}/ws")

    logger.addHandler(watch)
    try:
        reply = asyncio.run(main())
    finally:
        logger.removeHandler(watch)
        halls.close()
    # Known as it stepped down (before: None until its next poll).
    assert watch.owner == [THIEF], watch.owner
    assert (reply["type"], reply["code"], reply["owner"]) == ("error", "standby", THIEF), reply
    # Refused at once, not held until a poll told it who the owner is.
    held = [r.getMessage() for r in caplog.records if " waited " in r.getMessage()]
    assert held == [], held


def test_a_standby_says_how_long_an_owner_it_saw_take_the_hall_has_held_it(
        database: str) -> None:
    # A device that found an owner down stays at the standby naming it
    # (waiting for its lease to run out) unless the standby says the owner
    # took the hall since (`owner_for`): restarted or woken, it is up. The
    # standby says so only for an owner it saw take the hall: not for the one
    # it first read (when that one took it is not known here).
    halls = Halls([chaos_config(HALL, database)], build_server, lease_s=LEASE_S,
                  instance="alive")
    second = f"ws://127.0.0.1:11/ws/{HALL}"

    async def main() -> tuple[dict, dict, float]:
        try:
            return await scenario()
        finally:
            await halls.stop()

    async def until_owner(url: str) -> None:
        deadline = time.monotonic() + 30
        while halls.slots[HALL].owner_url != url:
            assert time.monotonic() < deadline, f"{url} not read as the owner"
            await asyncio.sleep(0.05)

    async def scenario() -> tuple[dict, dict, float]:
        await halls.start("127.0.0.1", 0)
        assert halls.ws_server is not None
        port = int(next(iter(halls.ws_server.sockets)).getsockname()[1])
        await asyncio.to_thread(steal_lease, database, HALL, THIEF)
        await until_owner(THIEF)  # read as it stepped down: its first read
        first_seen = time.monotonic()
        first = await hello_reply(f"ws://127.0.0.1:{port}/ws")
        await asyncio.to_thread(steal_lease, database, HALL, second)
        await until_owner(second)  # seen take the hall at a standby's poll
        reply = await hello_reply(f"ws://127.0.0.1:{port}/ws")
        return first, reply, time.monotonic() - first_seen

    try:
        first, reply, since_first = asyncio.run(main())
    finally:
        halls.close()
    assert (first["code"], first["owner"]) == ("standby", THIEF) and "owner_for" not in first
    assert (reply["code"], reply["owner"]) == ("standby", second), reply
    # It took the hall after the standby's read before the one that saw it,
    # and that read was no earlier than the one that first saw THIEF.
    assert 0 <= reply["owner_for"] <= since_first + 0.05, (reply, since_first)


def test_a_hello_whose_hall_steps_down_during_its_token_check_is_closed_not_welcomed(
        tmp_path) -> None:
    # The hall's server is detached (its lease lapsed, stepping down) while a
    # hello's token is checked: detach() closes the clients it knows, not this
    # one. Before, the welcome went out anyway and the device stayed on a
    # server that sent it nothing ever (a chaos run: a board saw none of 514
    # calls). Now it is closed 1012 and moves on.
    srv = RunningServer(small_config(f"sqlite:///{tmp_path / 'hall.db'}")).start()
    try:
        server = srv.server
        checked = server._authenticate

        async def checked_then_detached(ws, hello):
            device = await checked(ws, hello)
            server.detach(1012, "no longer the owner of this hall")
            return device

        srv.call(lambda: setattr(server, "_authenticate", checked_then_detached))
        ws = dial(srv.url)
        try:
            ws.send(json.dumps({"type": "hello", "id": "h1", "protocol": 1, "device": "board-1",
                                "token": TOKEN("board-1"), "since": None}))
            with pytest.raises(ConnectionClosed):
                frame = ws.recv(timeout=10)
                raise AssertionError(f"answered: {frame}")
            assert ws.close_code == 1012
        finally:
            ws.close()
    finally:
        srv.stop()
