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
import uuid

import pytest
import sqlalchemy as sa
from websockets.asyncio.client import connect

from server.halls import Halls
from server.owner import State
from server.reference import demo_token
from server.serve import build_server
from server.tools.chaos import chaos_config
from server.tools.pgcluster import PgCluster
from tests.conftest import TEST_PII_KEY

pytestmark = pytest.mark.postgres

LEASE_S = 3.0
HALL = "east"
THIEF = f"ws://127.0.0.1:10/ws/{HALL}"


@pytest.fixture
def database(pg_cluster: PgCluster, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("QHALL_PII_KEY", TEST_PII_KEY)
    return pg_cluster.create_database(f"sd{uuid.uuid4().hex[:12]}")


def _steal(database: str) -> None:
    """Another instance's lease on HALL, a minute long."""
    engine = sa.create_engine(database)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "UPDATE hall_leases SET epoch = epoch + 1, owner = 'thief', "
                f"url = '{THIEF}', expires_at = clock_timestamp() + interval '60 s' "
                f"WHERE hall = '{HALL}'")
    finally:
        engine.dispose()


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
        await asyncio.to_thread(_steal, database)
        deadline = time.monotonic() + 30
        while not watch.owner:
            assert time.monotonic() < deadline, "the owner did not step down"
            await asyncio.sleep(0.05)
        assert slot.machine is not None and slot.machine.state is State.STANDBY
        # A device of the hall, back right after its 1012.
        async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
            await ws.send(json.dumps({"type": "hello", "id": "h1", "protocol": 1,
                                      "device": "board-1", "token": demo_token("board-1"),
                                      "since": None}))
            async with asyncio.timeout(30):
                return json.loads(await ws.recv())

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
