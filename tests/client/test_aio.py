"""server.client.aio.AsyncClient against the loopback protocol-v1 server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from server.client.aio import AsyncClient
from tests.helpers.wsserver import LoopbackServer

FAST = {"timeout_s": 5.0, "backoff": (0.02, 0.1)}


@pytest.fixture
def server():
    srv = LoopbackServer().start()
    yield srv
    srv.shutdown()


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def test_refused_device_raises_and_does_not_retry(server):
    async def main() -> None:
        client = AsyncClient("kiosk-1", token="wrong", **FAST)
        with pytest.raises(RuntimeError, match="unauthorized"):
            await client.open(server.url)
        await client.close()

    asyncio.run(main())
    assert len(server.hellos) == 1


def test_lost_reply_is_resent_with_the_same_id_after_a_drop(server):
    server.lose.add("issue")  # executed, but the reply never leaves the server

    async def main() -> None:
        seen: list[dict] = []
        client = AsyncClient("kiosk-1", seen.append, "kiosk-secret", **FAST)
        await client.open(server.url, batch=False)
        pending = asyncio.ensure_future(client.request("issue", service="gjj"))
        await until(lambda: len(server.executed) == 1)
        server.lose.clear()
        server.emit("queue.changed", deliver=False)  # happens while the client is away
        await asyncio.to_thread(server.drop)
        reply = await pending
        assert reply["type"] == "ok" and reply["n"] == 1  # the first execution's reply
        await until(lambda: [e["seq"] for e in seen] == [1])  # replayed after `since`
        await client.close()

    asyncio.run(main())
    issues = [r for r in server.requests if r["type"] == "issue"]
    assert len(issues) == 2 and issues[0]["id"] == issues[1]["id"]
    assert len(server.executed) == 1
    assert server.hellos[1]["since"] == 0


def test_request_before_open_or_without_token_is_a_programming_error():
    async def main() -> None:
        with pytest.raises(RuntimeError, match="before open"):
            await AsyncClient("kiosk-1", token="t").request("ping")

    asyncio.run(main())
    with pytest.raises(ValueError, match="token"):
        AsyncClient("kiosk-1")
