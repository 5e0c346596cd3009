"""A small asyncio protocol-v1 client, for the load test and the demo's
simulated citizens and staff (real websocket clients of the real server)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from server.reference import demo_token

__all__ = ["AsyncClient", "hello"]


async def hello(url: str, frame: dict[str, Any],
                **options: Any) -> tuple[ClientConnection, dict[str, Any]]:
    """Connect and send ``frame`` (a hello); the connection and the server's answer.

    A ``rate_limited`` answer (the server's token checks are busy: many
    devices at once, e.g. after a restart) is retried a little later, as
    the protocol says.
    """
    for attempt in range(1, 60):
        ws = await connect(url, **options)
        await ws.send(json.dumps(frame))
        first: dict[str, Any] = json.loads(await ws.recv())
        if first.get("code") != "rate_limited":
            break
        await ws.close()
        await asyncio.sleep(min(1.0, 0.05 * attempt))
    return ws, first


class AsyncClient:
    """One protocol-v1 websocket client: requests with futures, events to a callback.

    Args:
        device: the device id.
        on_event: called with every event message, in order.
        token: the device token (default: the demo token ``demo-<device>``).
        only: when given, frames holding no reply and not this substring are
            not even decoded (a counter only needs ``queue.changed``): in a
            busy hall, decoding every broadcast is most of a client's work.
    """

    def __init__(self, device: str, on_event: Callable[[dict[str, Any]], None] | None = None,
                 token: str | None = None, only: str | None = None):
        self.device = device
        self.token = token or demo_token(device)
        self.only = only
        self.on_event = on_event
        self.ws: ClientConnection | None = None
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.ids = 0
        self.welcome: dict[str, Any] = {}
        self.frames = 0
        self._reader: asyncio.Task[None] | None = None

    async def open(self, url: str, batch: bool) -> None:
        self.ws, first = await hello(
            url, {"type": "hello", "id": "hello", "protocol": 1, "device": self.device,
                  "since": None, "batch": batch, "token": self.token},
            max_size=2**22, compression=None, open_timeout=30, ping_interval=None)
        if first.get("type") != "welcome":
            raise RuntimeError(f"{self.device}: no welcome: {first}")
        self.welcome = first
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        with contextlib.suppress(Exception):
            async for frame in self.ws:
                self.frames += 1
                if (self.only is not None and '"re":' not in frame
                        and self.only not in frame):
                    continue
                msg = json.loads(frame)
                for m in msg["messages"] if msg.get("type") == "batch" else (msg,):
                    kind = m.get("type")
                    if kind == "event":
                        if self.on_event is not None:
                            self.on_event(m)
                    elif kind in ("ok", "error"):
                        fut = self.pending.pop(m.get("re"), None)
                        if fut is not None and not fut.done():
                            fut.set_result(m)
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError(f"{self.device}: connection closed"))

    async def request(self, kind: str, lat: dict[str, list[float]] | None = None,
                      **fields: Any) -> dict[str, Any]:
        """Send one request and wait for its reply (timing it into ``lat[kind]``)."""
        assert self.ws is not None
        self.ids += 1
        rid = f"{self.device}-{self.ids}"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[rid] = fut
        t0 = time.perf_counter()
        await self.ws.send(json.dumps({"type": kind, "id": rid, **fields}))
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a
        # cancellation that races with the reply, and a cancelled client loop
        # would then run on.
        async with asyncio.timeout(60):
            reply = await fut
        if lat is not None:
            lat.setdefault(kind, []).append(time.perf_counter() - t0)
        return reply

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader
