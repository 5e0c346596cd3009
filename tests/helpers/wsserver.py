"""A loopback protocol-v1 server for link tests (not the real dispatch server).

It speaks just enough of ../shared/PROTOCOL.md to exercise ``server.client.qtlink``:
hello/welcome with ``seq``, unauthorized/unsupported_protocol refusals,
``ok`` replies that are idempotent per ``(device, id)``, events broadcast to
welcomed clients, and replay after ``since`` when it still holds the events.
It runs a ``websockets`` asyncio server on its own loop in a background
thread, so a test's Qt event loop stays free; every control method is
thread-safe and blocks until the server thread has done it.

Test controls: ``drop()`` (abort every connection), ``freeze()`` (stop
reading, so pings go unanswered), ``stop()``/``start()``
(go down, come back on the same port), ``emit()`` (new event, optionally not
delivered live, to make a gap), ``forget()`` (drop old history so a replay
is impossible), ``send_raw()`` (arbitrary frames), the sets ``lose``
(execute the request but lose the reply) and ``silent`` (never answer), and
``standby`` (play a standby instance of the hall: every hello gets error
``standby`` naming ``standby_owner``, then close 1013, as PROTOCOL.md's
failover section says).
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

__all__ = ["LoopbackServer"]

DEFAULT_DEVICES = {
    "kiosk-1": ("kiosk-secret", "kiosk", None),
    "counter-3": ("counter-secret", "counter", 3),
}


class LoopbackServer:
    """A tiny protocol-v1 server on 127.0.0.1 for tests.

    Args:
        devices: device id -> (token, role, counter).

    Attributes:
        hellos: every hello received, in order.
        requests: every request frame received, resends included.
        executed: the first execution of each ``(device, id)``.
        lose: request types whose reply is computed but never sent.
        silent: request types that are neither executed nor answered.
        mute_hello: when True, hellos get no answer at all.
        standby: when True, hellos are refused as by a standby instance.
        standby_owner: the ``owner`` URL such a refusal names (None: unknown).
        standby_owner_for: the refusal's ``owner_for`` (None: not sent).
    """

    def __init__(self, devices: dict[str, tuple[str, str, int | None]] | None = None) -> None:
        self.devices = dict(DEFAULT_DEVICES if devices is None else devices)
        self.port = 0
        self.seq = 0
        self.history: list[dict[str, Any]] = []
        self.hellos: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.executed: list[dict[str, Any]] = []
        self.lose: set[str] = set()
        self.silent: set[str] = set()
        self.mute_hello = False
        self.standby = False
        self.standby_owner: str | None = None
        self.standby_owner_for: float | None = None
        self._replies: dict[tuple[str, str], dict[str, Any]] = {}
        self._conns: set[ServerConnection] = set()
        self._live: set[ServerConnection] = set()
        self._server: Server | None = None
        self._closing: set[asyncio.Future[None]] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="wsserver",
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The ws:// URL clients connect to."""
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def connections(self) -> int:
        """How many client connections are open right now."""
        return len(self._conns)

    # -- thread-safe controls -------------------------------------------------
    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=5)

    def start(self) -> LoopbackServer:
        """Listen (on a free port the first time, on the same port after)."""
        self._call(self._start())
        return self

    def stop(self) -> None:
        """Go down like a crash: abort every connection and stop listening."""
        self._call(self._stop())

    def drop(self, *, polite: bool = False) -> None:
        """End every client connection.

        Args:
            polite: send a close frame (1012, service restart) instead of
                aborting at the TCP level. The close handshake finishes in the
                background: the caller's (Qt) thread must run to answer it.
        """
        self._call(self._drop(polite))

    def freeze(self) -> None:
        """Stop reading from every open connection: a hung peer (no pongs)."""
        self._call(self._freeze())

    def emit(self, name: str, data: dict[str, Any] | None = None, *,
             deliver: bool = True) -> int:
        """Append an event to the history and broadcast it; returns its seq.

        With ``deliver=False`` the event is only recorded (a lost frame).
        """
        return self._call(self._emit(name, data or {}, deliver))

    def forget(self, upto: int) -> None:
        """Drop events with seq <= upto from the history (replay impossible)."""
        self._call(self._forget(upto))

    def send_raw(self, text: str) -> None:
        """Send a raw text frame to every welcomed client."""
        self._call(self._broadcast(text))

    def shutdown(self) -> None:
        """Stop the server and its thread (use at test teardown)."""
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    # -- server thread --------------------------------------------------------
    async def _start(self) -> None:
        if self._server is not None:
            return
        self._server = await serve(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        # Abort first: a close handshake would need the blocked Qt thread.
        await self._drop(polite=False)
        server.close()
        await server.wait_closed()

    async def _drop(self, polite: bool) -> None:
        for conn in list(self._conns):
            if polite:
                self._closing.add(asyncio.ensure_future(conn.close(1012, "restart")))
            else:
                conn.transport.abort()

    async def _freeze(self) -> None:
        for conn in list(self._conns):
            conn.transport.pause_reading()

    async def _emit(self, name: str, data: dict[str, Any], deliver: bool) -> int:
        self.seq += 1
        event = {"type": "event", "seq": self.seq, "name": name,
                 "at": "2026-11-26T09:00:00+08:00", "data": data}
        self.history.append(event)
        if deliver:
            await self._broadcast(json.dumps(event, ensure_ascii=False))
        return self.seq

    async def _forget(self, upto: int) -> None:
        self.history = [e for e in self.history if e["seq"] > upto]

    async def _broadcast(self, text: str) -> None:
        for conn in list(self._live):
            try:
                await conn.send(text)
            except ConnectionClosed:
                pass

    async def _handle(self, conn: ServerConnection) -> None:
        self._conns.add(conn)
        try:
            device = await self._opening(conn)
            if device is None:
                return
            async for text in conn:
                await self._on_request(conn, device, text)
        except ConnectionClosed:
            pass
        finally:
            self._conns.discard(conn)
            self._live.discard(conn)

    async def _send(self, conn: ServerConnection, message: dict[str, Any]) -> None:
        await conn.send(json.dumps(message, ensure_ascii=False))

    async def _opening(self, conn: ServerConnection) -> str | None:
        hello = json.loads(await conn.recv())
        self.hellos.append(hello)
        hid = hello.get("id")
        if self.mute_hello:
            await conn.wait_closed()
            return None
        if self.standby:
            refusal = {"type": "error", "re": hid, "code": "standby",
                       "owner": self.standby_owner, "message": "this instance is a standby"}
            if self.standby_owner_for is not None:
                refusal["owner_for"] = self.standby_owner_for
            await self._send(conn, refusal)
            await conn.close(1013, "standby")
            return None
        if hello.get("type") != "hello":
            await self._send(conn, {"type": "error", "re": hid, "code": "bad_request",
                                    "message": "first frame must be hello"})
            await conn.close(1008)
            return None
        if hello.get("protocol") != 1:
            await self._send(conn, {"type": "error", "re": hid, "code": "unsupported_protocol",
                                    "message": "protocol 1 only"})
            await conn.close(1002)
            return None
        device = hello.get("device")
        spec = self.devices.get(device)
        if spec is None or spec[0] != hello.get("token"):
            await self._send(conn, {"type": "error", "re": hid, "code": "unauthorized",
                                    "message": "unknown device or bad token"})
            await conn.close(1008)
            return None
        _, role, counter = spec
        await self._send(conn, {
            "type": "welcome", "re": hid, "protocol": 1, "role": role, "counter": counter,
            "hall": {"name": "Loopback hall", "timezone": "Asia/Shanghai",
                     "services": [], "counters": []},
            "snapshot": {"queues": {}, "counters": {}, "recent_calls": []},
            "seq": self.seq,
        })
        since = hello.get("since")
        first_held = self.history[0]["seq"] if self.history else self.seq + 1
        sent = since if isinstance(since, int) and since + 1 >= first_held else self.seq
        # Replay until caught up; joining _live right after the last check (no
        # await in between) means no event falls between replay and broadcast.
        while True:
            missing = [e for e in self.history if e["seq"] > sent]
            if not missing:
                break
            for event in missing:
                await self._send(conn, event)
                sent = event["seq"]
        self._live.add(conn)
        return device

    async def _on_request(self, conn: ServerConnection, device: str, text: str) -> None:
        message = json.loads(text)
        self.requests.append(message)
        rid = message.get("id")
        if message.get("type") in self.silent:
            return
        key = (device, rid)
        reply = self._replies.get(key)
        if reply is None:
            self.executed.append(message)
            fields = {k: v for k, v in message.items() if k not in ("type", "id")}
            reply = {"type": "ok", "re": rid, "echo": fields, "n": len(self.executed)}
            self._replies[key] = reply
            if message["type"] in self.lose:
                return
        await self._send(conn, reply)
