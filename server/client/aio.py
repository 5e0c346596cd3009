"""An asyncio protocol-v1 client: the simulator's, demo's and load test's.

A thin I/O layer over :class:`server.client.session.ClientSession` (which
holds the rules: hello, ``since``, seq de-duplication, resend with the same
id, server-URL rotation): one ``websockets`` connection at a time, a driver
task that (re)connects when the session says so and feeds it every frame,
a writer task per connection that keeps frames in order, and a ticker for
the session's deadlines. So a simulated device reconnects and fails over
exactly like a Qt one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from server.client.session import (
    CONNECTING,
    HELLO,
    Action,
    Answered,
    ClientSession,
    Connect,
    Delivered,
    Drop,
    Refused,
    Send,
    Welcomed,
)

__all__ = ["AsyncClient"]

log = logging.getLogger("qhall.client")

#: A simulated hall's board gets big welcomes and bursts (4 MiB, as before).
MAX_INCOMING = 2**22
#: Keepalive ping interval and pong timeout (the Qt link pings every 15 s;
#: this client also runs the failover drills, where a frozen owner must be
#: left well inside the 20 s a device may be offline).
PING_S = 5.0
#: Until its welcome, a socket is pinged every this many seconds and left
#: when a pong takes longer than :data:`PROBE_TIMEOUT_S`: a server frozen
#: (SIGSTOP) after it upgraded the socket would otherwise keep the device for
#: its whole welcome wait (15 s where a takeover is under way,
#: ``OWNER_PATIENCE_S``). A server only busy (a new owner loading halls,
#: holding a hello while the old owner's lease runs out, checking tokens)
#: pongs at once: websockets answers a ping below the application, on the
#: event loop's next turn. Every 3 s with a 3 s timeout (before), a freeze
#: could go unseen for 6 s, and one after +9 s of a 15 s wait was never seen
#: before the welcome deadline (which does not mark the server down); now a
#: freeze is found within 3 s.
PROBE_S = 1.0
#: ... and a probe's pong may take this long (a loaded machine's loop turn).
PROBE_TIMEOUT_S = 2.0
#: A dropped connection's closing handshake with a frozen peer never ends:
#: give up on it after this and abort the socket.
CLOSE_TIMEOUT_S = 1.0


class AsyncClient:
    """One protocol-v1 websocket client: requests with futures, events to a callback.

    Opening a socket (connect and upgrade) may take ``OPEN_S`` (the session's
    ``open_wait()``); a refused or reset connect tells the session the URL is
    gone (see ``GONE_STAY_S``).

    Args:
        device: the device id.
        on_event: called with every event message, once each, in seq order.
        token: the device token (required; the demo hall's is
            ``server.client.tokens.demo_token(device)``).
        only: when given, frames holding no reply and not this substring are
            not even decoded (a counter only needs ``queue.changed``): in a
            busy hall, decoding every broadcast is most of a client's work.
        timeout_s: per-request timeout (the reply is then an ``error`` with
            code ``timeout``), also the bound on getting a welcome once the
            socket is open.
        backoff: ``(first, max)`` reconnect delay in seconds.
        ping_s: keepalive: a ping every ``ping_s`` seconds while connected,
            and the connection is dropped (the session moves to the next URL)
            when its pong has not come ``ping_s`` later. A frozen (SIGSTOPped)
            server keeps its sockets open and answers nothing: without this a
            device that sends nothing (a board) stays on it until it wakes.
            None: no pings.

    Attributes:
        welcome: the last welcome ({} before the first).
        frames: frames received so far.
        session: the protocol state (last seq, URLs, ...).

    Raises:
        ValueError: no token.
    """

    def __init__(self, device: str, on_event: Callable[[dict[str, Any]], None] | None = None,
                 token: str = "", only: str | None = None, *, timeout_s: float = 60.0,
                 backoff: tuple[float, float] = (0.5, 10.0),
                 ping_s: float | None = PING_S) -> None:
        if not token:
            raise ValueError(f"{device}: a device token is needed")
        if ping_s is not None and not ping_s > 0:
            raise ValueError(f"{device}: ping_s must be positive or None, got {ping_s!r}")
        self.device = device
        self.token = token
        self.only = only
        self.on_event = on_event
        self.timeout_s = timeout_s
        self.backoff = backoff
        self.ping_s = ping_s
        self.welcome: dict[str, Any] = {}
        self.frames = 0
        self.session: ClientSession | None = None
        self.ws: ClientConnection | None = None
        self._futures: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._welcomed = asyncio.Event()
        self._refusal: dict[str, Any] | None = None
        self._connect_to: str | None = None
        self._wake = asyncio.Event()  # the driver has a Connect to do
        self._rearm = asyncio.Event()  # the session's next deadline may have moved
        self._outbox: asyncio.Queue[str] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing: set[asyncio.Task[None]] = set()  # polite closes under way

    async def open(self, url: str | Iterable[str], batch: bool = True) -> None:
        """Connect (to the first of ``url``'s comma-separated URLs) and wait for a welcome.

        The client then stays connected by itself (reconnect, failover) until
        :meth:`close`.

        Raises:
            RuntimeError: the server refused this device (bad token...).
            TimeoutError: no welcome within ``timeout_s``.
        """
        self.session = ClientSession(url, self.device, self.token, timeout_s=self.timeout_s,
                                     backoff=self.backoff, batch=batch,
                                     filtered=self.only is not None)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._drive()), loop.create_task(self._tick())]
        self._act(self.session.open())
        async with asyncio.timeout(self.timeout_s):
            await self._welcomed.wait()
        if self._refusal is not None:
            raise RuntimeError(f"{self.device}: no welcome: {self._refusal}")

    async def request(self, kind: str, lat: dict[str, list[float]] | None = None,
                      **fields: Any) -> dict[str, Any]:
        """Send one request and wait for its reply (timing it into ``lat[kind]``).

        A request outlives a lost connection: it is sent again, same id, to
        whichever server welcomes us next. The reply is the server's ``ok``
        or ``error``, or a local ``error`` with code ``timeout`` / ``offline``.
        """
        if self.session is None:
            raise RuntimeError(f"{self.device}: request before open()")
        message = self.session.make_request(kind, fields)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._futures[message["id"]] = fut
        t0 = time.perf_counter()
        self._act(self.session.submit(message))
        reply = await fut
        if lat is not None:
            lat.setdefault(kind, []).append(time.perf_counter() - t0)
        return reply

    async def close(self) -> None:
        """Close the connection for good; pending requests get ``offline``."""
        if self.session is not None:
            self._act(self.session.close())
        if self._closing:  # the closing handshake first: _serve reads on to its end
            await asyncio.wait(self._closing, timeout=self.timeout_s)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # -- carrying out the session's actions -----------------------------------
    def _act(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                if self._outbox is not None:
                    self._outbox.put_nowait(action.text)
            elif isinstance(action, Connect):
                self._connect_to = action.url
                self._wake.set()
            elif isinstance(action, Drop):
                self._drop(action.polite)
            elif isinstance(action, Answered):
                fut = self._futures.pop(action.id, None)
                if fut is not None and not fut.done():
                    fut.set_result(action.result)
            elif isinstance(action, Welcomed):
                self.welcome = action.message
                self._welcomed.set()
            elif isinstance(action, Delivered):
                if self.on_event is not None:
                    self.on_event(action.message)
            elif isinstance(action, Refused):
                self._refusal = action.message
                self._welcomed.set()  # wakes open(), which raises
        self._rearm.set()

    def _drop(self, polite: bool) -> None:
        ws, self.ws = self.ws, None
        self._outbox = None
        if ws is None:
            return
        if polite:
            task = asyncio.get_running_loop().create_task(ws.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        else:
            ws.transport.abort()  # the session has already moved on

    async def _tick(self) -> None:
        assert self.session is not None
        while True:
            deadline = self.session.next_deadline()
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            self._rearm.clear()
            try:
                async with asyncio.timeout(wait):
                    await self._rearm.wait()
            except TimeoutError:
                self._act(self.session.tick())

    async def _drive(self) -> None:
        assert self.session is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            url, self._connect_to = self._connect_to, None
            if url is None:
                continue
            try:
                # The session's OPEN_S deadline bounds the opening too; this
                # one only ends the attempt it gave up on.
                ws = await connect(url, max_size=MAX_INCOMING, compression=None,
                                   open_timeout=self.session.open_wait(),
                                   ping_interval=self.ping_s, ping_timeout=self.ping_s,
                                   close_timeout=CLOSE_TIMEOUT_S)
            except (OSError, TimeoutError, WebSocketException) as exc:
                if self._connect_to is None and self.session.state == CONNECTING:
                    self._act(self.session.lost(None, str(exc) or type(exc).__name__,
                                                gone=_gone(exc)))
                # else: the session gave up on this attempt already (its own
                # deadline) and asked for another: that one is not failed.
                continue
            if self._connect_to is not None or self.session.state != CONNECTING:
                # A socket the session no longer waits for (it timed out and
                # moved on while connect() was still under way).
                ws.transport.abort()
                continue
            await self._serve(ws)

    async def _serve(self, ws: ClientConnection) -> None:
        assert self.session is not None
        self.ws = ws
        outbox: asyncio.Queue[str] = asyncio.Queue()
        self._outbox = outbox
        loop = asyncio.get_running_loop()
        writer = loop.create_task(self._write(ws, outbox))
        self._act(self.session.connected())
        prober = loop.create_task(self._probe(ws))
        try:
            async for frame in ws:
                if self.ws is not ws:
                    # Dropped: read on (and ignore) to the server's close frame,
                    # which comes after the frames already on their way; a
                    # socket left unread pauses with them queued and its close
                    # waits out CLOSE_TIMEOUT_S, then aborts.
                    continue
                self.frames += 1
                if (self.only is not None and isinstance(frame, str) and '"re":' not in frame
                        and self.only not in frame):
                    continue
                self._act(self.session.receive(frame))
        except ConnectionClosed:
            pass
        finally:
            writer.cancel()
            prober.cancel()
        if self.ws is ws:  # it ended by itself, not by our Drop
            self.ws = None
            self._outbox = None
            self._act(self.session.lost(ws.close_code, ws.close_reason or ""))

    async def _probe(self, ws: ClientConnection) -> None:
        """Until the welcome, leave a server that answers no ping (:data:`PROBE_S`)."""
        assert self.session is not None
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ConnectionClosed):
            while self.ws is ws and self.session.state == HELLO:
                sent = loop.time()
                pong = await ws.ping()
                try:
                    async with asyncio.timeout(PROBE_TIMEOUT_S):
                        await pong
                except TimeoutError:
                    if self.ws is ws and self.session.state == HELLO:
                        log.info("client %s: no pong from %s within %g s: frozen",
                                 self.device, self.session.url, PROBE_TIMEOUT_S)
                        self.ws = None  # _serve's reader must not report it again
                        self._outbox = None
                        ws.transport.abort()
                        self._act(self.session.lost(None,
                                                    f"no pong within {PROBE_TIMEOUT_S:g} s"))
                    return
                # The next probe PROBE_S after this one was sent, if still no welcome.
                await asyncio.sleep(max(0.0, sent + PROBE_S - loop.time()))

    @staticmethod
    async def _write(ws: ClientConnection, outbox: asyncio.Queue[str]) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.send(await outbox.get())


def _gone(exc: BaseException) -> bool:
    """Whether a failed opening found nothing listening: the connect refused
    or reset (the server process is dead), here or as the error's cause."""
    seen: BaseException | None = exc
    for _ in range(8):  # a cause chain, not a cycle
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError | ConnectionResetError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
