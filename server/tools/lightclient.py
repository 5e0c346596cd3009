"""A lean protocol-v1 device for load runs: thousands in one client process.

A city of 20 halls is ~1,900 connections, each receiving every event of its
hall. The full client (``server.client.aio.AsyncClient``: a session machine,
a writer task and a ticker per connection, every frame decoded) would make
the load generator, not the server, the thing measured. Here one
connection is an :class:`asyncio.Protocol` around websockets' sans-I/O
``ClientProtocol``: a received frame is handed over as bytes, and only
frames holding a reply (``"re":``) are decoded; a board hook may scan the
others (the server's fixed key order lets a regex find seqs and calls).
No reconnect, no resend: a load run on loopback wants to see a drop, not
hide it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

__all__ = ["LightDevice"]

#: The longest a hello or a request may wait for its answer.
ANSWER_TIMEOUT_S = 120.0


class _Link(asyncio.Protocol):
    """One websocket connection; text frames go to ``on_frame`` as bytes."""

    def __init__(self, url: str, on_frame: Callable[[bytes], None]) -> None:
        self.ws = ClientProtocol(parse_uri(url), max_size=2**23)
        self.on_frame = on_frame
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.ws.send_request(self.ws.connect())
        self._write()

    def data_received(self, data: bytes) -> None:
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Frame):
                if event.opcode is Opcode.TEXT:
                    self.on_frame(bytes(event.data))
            elif isinstance(event, Response) and not self.opened.done():
                if event.status_code == 101 and self.ws.handshake_exc is None:
                    self.opened.set_result(None)
                else:
                    self.opened.set_exception(ConnectionError(
                        f"handshake refused: {event.status_code}"))
        self._write()  # pongs, the closing handshake

    def connection_lost(self, exc: Exception | None) -> None:
        self.ws.receive_eof()
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed before the handshake"))
        if not self.lost.done():
            self.lost.set_result(None)

    def send(self, text: str) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("the connection is closed")
        self.ws.send_text(text.encode())
        self._write()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.ws.send_close(1000)
            self._write()
            self.transport.close()

    def _write(self) -> None:
        if self.transport is None:
            return
        for data in self.ws.data_to_send():
            if data:
                self.transport.write(data)
            elif self.transport.can_write_eof():
                self.transport.write_eof()


class LightDevice:
    """A device: hello, requests answered by id, everything else to ``on_events``.

    Args:
        device: its id; token: its secret.
        on_events: called with each event frame (bytes, undecoded) and the
            time it arrived (``time.perf_counter``).
    """

    def __init__(self, device: str, token: str,
                 on_events: Callable[[bytes, float], None] | None = None) -> None:
        self.device = device
        self.token = token
        self.on_events = on_events
        self.welcome: dict[str, Any] = {}
        self._link: _Link | None = None
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._n = 0

    async def open(self, url: str, batch: bool = True) -> dict[str, Any]:
        """Connect and say hello (again a little later while the server is
        busy checking other hellos); the welcome."""
        host, port = _host_port(url)
        loop = asyncio.get_running_loop()
        for attempt in range(1, 200):
            _, link = await loop.create_connection(lambda: _Link(url, self._frame), host, port)
            self._link = link
            await asyncio.wait_for(link.opened, ANSWER_TIMEOUT_S)
            answer = await self._ask({"type": "hello", "id": "hello", "protocol": 1,
                                      "device": self.device, "token": self.token,
                                      "since": None, "batch": batch}, "hello")
            if answer.get("code") != "rate_limited":
                if answer.get("type") != "welcome":
                    raise ConnectionError(f"{self.device}: hello refused: {answer}")
                self.welcome = answer
                return answer
            link.close()
            await asyncio.sleep(min(1.0, 0.05 * attempt))
        raise ConnectionError(f"{self.device}: the server kept refusing the hello as busy")

    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Send a request; its reply."""
        self._n += 1
        rid = f"{self.device}-{self._n}"
        return await self._ask({"type": kind, "id": rid, **fields}, rid)

    async def _ask(self, message: dict[str, Any], rid: str) -> dict[str, Any]:
        if self._link is None:
            raise ConnectionError(f"{self.device} is not connected")
        future = asyncio.get_running_loop().create_future()
        self._waiting[rid] = future
        try:
            self._link.send(json.dumps(message))
            done, _ = await asyncio.wait([future, self._link.lost], timeout=ANSWER_TIMEOUT_S,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._waiting.pop(rid, None)
        if future not in done:
            raise ConnectionError(f"{self.device}: no answer to {message['type']}")
        return future.result()

    def close(self) -> None:
        if self._link is not None:
            self._link.close()

    def _frame(self, data: bytes) -> None:
        if b'"re":' in data:
            message = json.loads(data)
            for m in message["messages"] if message.get("type") == "batch" else [message]:
                future = self._waiting.get(str(m.get("re")))
                if future is not None and not future.done():
                    future.set_result(m)
            if message.get("type") != "batch":
                return
        if self.on_events is not None:
            self.on_events(data, time.perf_counter())


def _host_port(url: str) -> tuple[str, int]:
    uri = parse_uri(url)
    return uri.host, uri.port
