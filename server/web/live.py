"""The live feed of ONE ticket for its status page: ``/api/v1/tickets/<check>/live``.

A websocket that anyone holding the check code may open (no token: the
code is the secret, as for ``/t/<check>``). It sends ``{"type": "ticket",
"ticket": {...}}`` (the API's ticket object of that ticket and nothing
else) when it opens and whenever that object changes; ``{"type": "gone"}``
when the ticket is no longer held (the day closed). Whatever the page sends
is ignored.

Committed events only mark the services they moved dirty; one flush (at
once after a quiet spell, else at most one per :data:`FLUSH_S`) recomputes
each watched ticket of those services once and writes it to its connections
only if it changed, straight into their transports (no task per connection),
so a call reaches the page well within 2 s however many pages are open.
Bounds: :data:`PER_ADDRESS` feeds per source address,
:data:`MAX_FEEDS` in all, and a connection whose unsent output passes
:data:`MAX_BUFFER` is dropped (the page reconnects).
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

__all__ = ["Feeds", "FLUSH_S", "PER_ADDRESS", "MAX_FEEDS", "SUFFIX"]

#: Changes are gathered this long before watched tickets are recomputed.
FLUSH_S = 0.2
#: Open feeds allowed per source address (a family's phones behind one NAT).
PER_ADDRESS = 16
#: Open feeds allowed in all.
MAX_FEEDS = 50_000
#: Unsent bytes after which a feed connection is dropped.
MAX_BUFFER = 256 * 1024
#: The feed's path after ``/api/v1/tickets/<check>``.
SUFFIX = "/live"


class Feeds:
    """Open feeds by check code, and the last text each was sent.

    Args:
        render: the current API object of the ticket with this check code,
            or None when no hall holds it any more.
        per_address: feeds per source address (0: no limit, as with
            ``qhall serve --no-limits``).
    """

    def __init__(self, render: Callable[[str], dict[str, Any] | None],
                 per_address: int = PER_ADDRESS) -> None:
        self.render = render
        self.per_address = per_address
        self.watchers: dict[str, set[ServerConnection]] = {}
        self.last: dict[str, bytes] = {}
        self.by_address: collections.Counter[str] = collections.Counter()
        self.open = 0
        self.service_of: dict[str, str] = {}  # check -> its service when last sent
        self._dirty: set[str] = set()  # services whose tickets may have moved
        self._scheduled = False
        self._flushed_at = 0.0

    def admit(self, address: str) -> bool:
        """Whether one more feed may open from ``address``."""
        return self.open < MAX_FEEDS and (
            not self.per_address or self.by_address[address] < self.per_address)

    async def serve(self, ws: ServerConnection, check: str, address: str) -> None:
        """Run one feed until the page goes away."""
        self.open += 1
        self.by_address[address] += 1
        conns = self.watchers.setdefault(check, set())
        # The ticket as it is now; remembered as "last sent" only by the first
        # page of it, so a change not flushed yet still reaches the others.
        text = self._text(check, remember=not conns)
        conns.add(ws)
        try:
            _push(ws, text)
            async for _ignored in ws:
                pass
        except ConnectionClosed:
            pass
        finally:
            self.open -= 1
            self.by_address[address] -= 1
            if self.by_address[address] <= 0:
                del self.by_address[address]
            left = self.watchers.get(check)
            if left is not None:
                left.discard(ws)
                if not left:
                    del self.watchers[check]
                    self.last.pop(check, None)
                    self.service_of.pop(check, None)

    def changed(self, events: list[dict[str, Any]]) -> None:
        """Committed events: recompute the watched tickets of the services they
        moved (a ``queue.changed`` names every service whose queue or estimate
        moved; ticket events name the ticket's own) soon."""
        if not self.watchers:
            return
        for ev in events:
            data = ev.get("data") or {}
            # A transfer or a route's next step names where the ticket was
            # (``from_service``): its pages still know it by that service.
            for service in (data.get("service"), data.get("from_service"),
                            data.get("to_service"), (data.get("ticket") or {}).get("service")):
                if isinstance(service, str):
                    self._dirty.add(service)
        if self._scheduled or not self._dirty:
            return
        self._scheduled = True
        # The first change after a quiet spell goes out on the next loop turn;
        # a busy hall's changes are gathered into one flush per FLUSH_S.
        loop = asyncio.get_running_loop()
        loop.call_later(max(0.0, self._flushed_at + FLUSH_S - loop.time()), self.flush)

    def flush(self) -> None:
        """Send each watched ticket whose object changed to its pages."""
        self._scheduled = False
        self._flushed_at = asyncio.get_running_loop().time()
        dirty, self._dirty = self._dirty, set()
        for check, conns in list(self.watchers.items()):
            if self.service_of.get(check) not in dirty:
                continue
            before = self.last.get(check)
            text = self._text(check)
            if text == before:
                continue
            for ws in list(conns):
                _push(ws, text)

    def _text(self, check: str, remember: bool = True) -> bytes:
        ticket = self.render(check)
        message = {"type": "ticket", "ticket": ticket} if ticket is not None else {"type": "gone"}
        text = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
        if remember:
            self.last[check] = text
            if ticket is not None:
                self.service_of[check] = str(ticket.get("service"))
        return text


def _push(ws: ServerConnection, text: bytes) -> None:
    if ws.protocol.state is not State.OPEN or ws.transport is None:
        return
    ws.protocol.send_text(text)
    ws.send_data()
    if ws.transport.get_write_buffer_size() > MAX_BUFFER:
        ws.transport.abort()  # a page that does not read: it reconnects
