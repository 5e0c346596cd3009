"""A device connection before its welcome: its ``ping`` answered, its hello kept.

A device that opened a socket does not know, until its welcome, whether the
server behind it is busy (a standby holding the hello while the owner's
lease runs out, a new owner loading the hall, a token being checked) or
frozen after it upgraded the socket (SIGSTOP, a paused VM: the kernel still
completes the TCP and the upgrade may already be done). The asyncio client
and the Qt link ask with a websocket ping, which ``websockets`` answers
below the application; a browser has no such API, so the web board sends
the application ``ping`` (docs/PROTOCOL.md) and this module answers it
before the welcome: ``{"type": "ok", "re": <id>}`` (no ``seq``: the hall's
state comes with the welcome), or the same ``bad_request`` a malformed ping
gets after the welcome.

Everything else keeps its place: the first frame that is not a ping is the
hello (kept for the server to read, good or bad, as before), and the first
frame after the hello that is not a ping stops the reading, so requests sent
before the welcome are answered after it, in order, as they always were.
It costs an unauthenticated socket almost nothing: no store, no hall, a
JSON decode of a frame the server would read anyway, at most
:data:`EARLY_PINGS` answers per connection (the budget spent, the next
frame is the hello, or after the hello waits as a request does), and the
hello is still due within the server's hello timeout (10 s) of the first
look at the socket, whatever it pings; how many such sockets an address
may open is bounded by the hello limits (every connection is a hello
attempt).

``server/serve.py`` reads the hello through :meth:`Early.hello` and answers
pings while a token is checked; ``server/halls.py`` while a standby holds the
hello or a hall just taken loads (:meth:`Early.during`).
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import Awaitable
from typing import Any, TypeVar

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from server.wire import protocol
from server.wire.protocol import ProtocolError

__all__ = ["EARLY_PINGS", "Early", "early", "hello_device", "welcomed"]

#: Pings answered on one connection before its welcome: the web board
#: probes every 3 s, and a welcome comes within about 20 s (a held hello, a
#: load, a token check) or the device has left. Beyond this a connection's
#: frames wait for the welcome like any request.
EARLY_PINGS = 16

T = TypeVar("T")
Frame = str | bytes

_EARLY: weakref.WeakKeyDictionary[ServerConnection, Early] = weakref.WeakKeyDictionary()


def early(ws: ServerConnection, hello_s: float) -> Early:
    """The connection's pre-welcome reader, made at the first look: its hello
    is due within ``hello_s`` of that (a later look keeps that deadline)."""
    found = _EARLY.get(ws)
    if found is None:
        found = _EARLY[ws] = Early(ws, hello_s)
    return found


def welcomed(ws: ServerConnection) -> Frame | None:
    """The connection is past its welcome: forget its reader; the frame it
    stopped at (a request sent before the welcome), to be read first."""
    found = _EARLY.pop(ws, None)
    return found.after if found is not None else None


def hello_device(ws: ServerConnection) -> str | None:
    """The ``device`` its hello names, when the hello was read here and names
    one (for a log line; the hello itself is checked by the hall's server)."""
    found = _EARLY.get(ws)
    frame = found.first if found is not None else None
    if not isinstance(frame, str):
        return None
    try:
        device = json.loads(frame).get("device")
    except (ValueError, RecursionError, AttributeError):
        return None
    return device[:64] if isinstance(device, str) else None


class Early:
    """One connection's frames until its welcome.

    Attributes:
        first: the hello frame (the first frame not a ping), once read.
        after: the first frame after the hello that is not a ping (reading
            stopped there), for the server to take before any other.
        answered: pings answered so far.
    """

    def __init__(self, ws: ServerConnection, hello_s: float) -> None:
        # Weak: the registry's value must not keep its key alive.
        self._ws = weakref.ref(ws)
        self.deadline = time.monotonic() + hello_s
        self.first: Frame | None = None
        self.after: Frame | None = None
        self.answered = 0
        self.closed = False  # the connection ended while read here

    @property
    def ws(self) -> ServerConnection:
        ws = self._ws()
        if ws is None:
            raise ConnectionClosed(None, None)
        return ws

    @property
    def reading(self) -> bool:
        """Whether frames are still read here (no request after the hello yet)."""
        return self.after is None and not self.closed

    async def hello(self) -> Frame:
        """The hello frame, reading (and answering pings) until it comes.

        Raises:
            TimeoutError: none by the deadline set at the first look.
            ConnectionClosed: the connection ended first.
        """
        while self.first is None:
            if self.closed:
                raise ConnectionClosed(None, None)
            async with asyncio.timeout_at(_loop_time(self.deadline)):
                self._take(await self.ws.recv())
        return self.first

    async def during(self, work: Awaitable[T]) -> T:
        """Await ``work`` while answering this connection's pings.

        A frame that is not a ping (after the hello) stops the reading; the
        rest wait in the connection's queue as they did before.
        """
        task: asyncio.Future[T] = asyncio.ensure_future(work)
        reader: asyncio.Task[Frame] | None = None
        try:
            while not task.done() and self.reading:
                reader = asyncio.ensure_future(self.ws.recv())
                await asyncio.wait((task, reader), return_when=asyncio.FIRST_COMPLETED)
                if not reader.done():
                    break  # the work is done: the reader is stopped below
                self._reaped(reader)
                reader = None
            return await task
        finally:
            if reader is not None:
                # recv() is safe to cancel (nothing is lost); waited for, so
                # the next recv() does not find this one still under way.
                reader.cancel()
                await asyncio.wait((reader,))
                self._reaped(reader)
            if not task.done():
                task.cancel()

    def _reaped(self, reader: asyncio.Task[Frame]) -> None:
        """Take the frame a finished reader read (a cancelled one read none)."""
        if reader.cancelled():
            return
        exc = reader.exception()
        if isinstance(exc, ConnectionClosed):
            self.closed = True
        elif exc is not None:
            raise exc
        else:
            self._take(reader.result())

    def _take(self, frame: Frame) -> None:
        if self.answered < EARLY_PINGS:
            reply = _ping_reply(frame)
            if reply is not None:
                self.answered += 1
                self._send(reply)
                return
        if self.first is None:
            self.first = frame
        else:
            self.after = frame

    def _send(self, reply: dict[str, Any]) -> None:
        # Written at once, as the server writes its replies (serve.Client.push):
        # nothing else writes to a connection before its welcome.
        ws = self.ws
        if ws.protocol.state is State.OPEN:
            ws.protocol.send_text(protocol.encode_bytes(reply))
            ws.send_data()


def _ping_reply(frame: Frame) -> dict[str, Any] | None:
    """The answer to ``frame`` when it is a ``ping``, as after the welcome; None
    when it is not one."""
    if isinstance(frame, bytes):
        return None
    try:
        message = protocol.decode(frame)
    except ProtocolError as exc:
        # A ping the decoder refuses (a lone surrogate, a control character,
        # a duplicate key...) gets its refusal, as after the welcome; any
        # other frame it refuses is the hello's to refuse.
        return protocol.error(exc.re, exc.code, exc.message) if _says_ping(frame) else None
    if message.get("type") != "ping":
        return None
    try:
        _, rid, _ = protocol.parse_request(message)
    except ProtocolError as exc:
        return protocol.error(exc.re, exc.code, exc.message)
    return protocol.ok(rid)


def _says_ping(frame: str) -> bool:
    """Whether a frame the decoder refused is still a JSON object of type ping."""
    try:
        message = json.loads(frame)
    except (ValueError, RecursionError):
        return False
    return isinstance(message, dict) and message.get("type") == "ping"


def _loop_time(deadline: float) -> float:
    """A monotonic deadline on the running loop's clock."""
    loop = asyncio.get_running_loop()
    return loop.time() + (deadline - time.monotonic())
