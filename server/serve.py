"""The dispatch server's I/O: one ``websockets`` asyncio server on one port.

``/ws`` speaks protocol v1 (``server/wire/protocol.py``); plain GETs serve
``/healthz``, ``/metrics``, ``/board``, ``/t/<check>`` and ``/``; ``/console``
and ``/console/...`` (page and websocket) go to ``server/console/``.

Flow per request: decode -> :class:`~server.service.HallService` (core +
store transaction) -> reply to the sender -> broadcast the committed events
to every connected client. Requests that arrive in one turn of the event loop
form a group: they are applied in arrival order and committed in ONE
transaction (``HallService.handle_group``); their replies and events go out
only after it committed (a feature's request or a login goes alone, in its
place in the order). Each connection's requests are answered in the order
sent. The loop never runs a
password hash: hello tokens and login PINs that are not already known are
checked in a small bounded pool (``server/authpool.py``) while the
connection waits; what does not fit is refused at once (``rate_limited``).

Output is written straight into each connection's transport (no writer task
per client). Events committed during one turn of the event loop are flushed
together once at the end of it (``server/fanout.py``): every client gets
them in seq order, each event encoded and its frames serialised once per
format and written to each connection in one write (clients that opted in
to ``batch`` get them as one frame). A client whose unsent output
passes :data:`MAX_BUFFER` bytes is closed (1013) and resyncs with ``since``
(looked at once per :data:`BUFFER_SCAN_S` at most, not per client per flush).

Replay (``hello`` with ``since``) is paced by the reader: pages of
:data:`REPLAY_PAGE` events are read from the store and written only once the
connection's buffer has drained; the client joins the live broadcast in the
same loop step that reads the last page, so it sees every event once, in
seq order. A client that does not drain a page within
:data:`REPLAY_STALL_S` is closed 1013 like a slow live client.

Bounds: text frames of at most 64 KiB (larger: close 1009; binary frames get
``bad_request``), hello within 10 s, at most :data:`MAX_PER_DEVICE`
connections per device (the oldest is closed), the hall's ``[limits]`` per
device and per source address (``server/limits.py``), and an error budget per
connection (a client that floods errors is closed with 1008). HTTP pages
answer GET only (else 405), with the headers of ``server/web/headers.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import signal
import ssl
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import Server as WsServer
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from server import fanout, gcwatch, prewelcome
from server.authpool import LOGIN_QUEUE, AuthPool, PoolBusy, SecretCheck
from server.config import HallConfig, Limits
from server.console import Console, versions
from server.features import default_features
from server.halls import DEFAULT_LEASE_S, SERVE_OPTIONS, Halls, lease_of
from server.halls import html_response as _html
from server.metrics import CONTENT_TYPE_LATEST, Metrics
from server.service import HallService, Reply, Session, Unavailable
from server.store import Store, StoreError
from server.web import headers as http_headers
from server.web import pages
from server.web.api import Citizen
from server.wire import protocol
from server.wire.protocol import ProtocolError

__all__ = ["Server", "main_async", "configure", "run"]

log = logging.getLogger("qhall.serve")
reqlog = logging.getLogger("qhall.requests")
#: Webhook workers being stopped (``Server._stop_citizen``).
_STOPPING: set[asyncio.Task[None]] = set()


def _stopped(task: asyncio.Task[None]) -> None:
    _STOPPING.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("stopping the webhook workers failed", exc_info=task.exception())


HELLO_TIMEOUT_S = 10.0
MAX_PER_DEVICE = 4
MAX_BUFFER = 8 * 1024 * 1024  # unsent bytes before a client counts as too slow
#: Clients' unsent output is looked at most this often (a look at every flush
#: would be Python work per client per loop turn, beside the writes).
BUFFER_SCAN_S = 0.1
ERROR_BUDGET = 20  # errors allowed per ERROR_WINDOW_S before closing 1008
ERROR_WINDOW_S = 10.0
REPLAY_MAX = 50_000
REPLAY_PAGE = 250  # events read and written per step of a replay (a few ms)
REPLAY_STALL_S = 30.0  # a replay page not drained by then: too slow, close 1013
TICK_S = 5.0
#: Most frames answered in one loop turn (one group commit): a client that
#: pipelines thousands waits its turn while output and other clients go on.
MAX_GROUP = 128


class Client:
    """One open connection: its session, its output and its budgets."""

    def __init__(self, ws: ServerConnection, session: Session, batch: bool) -> None:
        self.ws = ws
        self.session = session
        self.batch = batch
        self.errors: collections.deque[float] = collections.deque()
        self.closing = False
        self.peak = 0  # most unsent bytes seen (for /metrics)
        #: A request of this connection waits for its secret check; its later
        #: frames wait here, in order, until it is answered.
        self.checking = False
        self.held: collections.deque[tuple[str | bytes, float]] = collections.deque()
        #: Replies that go out with this loop turn's flush, ahead of its events,
        #: in the same write (``Server._answer``: one send() instead of two).
        self.replies: list[bytes] = []

    def push(self, data: str | bytes) -> bool:
        """Write one text frame now; False when the client is gone or too slow."""
        if self.closing:
            return False
        ws = self.ws
        if ws.protocol.state is not State.OPEN:
            return False
        if self.replies:  # replies waiting for the flush keep their place
            ws.transport.write(self.take_replies())
        ws.protocol.send_text(data.encode() if isinstance(data, str) else data)
        ws.send_data()
        size = ws.transport.get_write_buffer_size()
        if size > self.peak:
            self.peak = size
        return size <= MAX_BUFFER

    def shares_frames(self) -> bool:
        """Whether this connection's frames are the shared bytes of the
        fan-out (open, no extension, no fragmented send: server/fanout.py)."""
        ws = self.ws
        return (ws.protocol.state is State.OPEN and not ws.protocol.extensions
                and ws.send_in_progress is None)

    def take_replies(self) -> bytes:
        """The waiting replies as websocket frames (and none wait any more)."""
        data = fanout.text_frames(self.replies)
        self.replies = []
        return data

    def buffered(self) -> int:
        transport = self.ws.transport
        return transport.get_write_buffer_size() if transport is not None else 0


class Server:
    """The hall's websocket + HTTP server.

    Args:
        service: the hall service (core + store); its ``limits`` are the
            hall's ``[limits]`` (per device and per source address).
    """

    def __init__(self, service: HallService, *, board_html: str | None = None) -> None:
        self.service = service
        self.limits = service.limits
        self.metrics = Metrics()
        self.metrics.registry.register(gcwatch.GcCollector())  # the process's, on every hall
        self.clients: set[Client] = set()
        self.replaying: set[Client] = set()  # authenticated, not yet live
        self.auth = AuthPool()  # hello tokens
        self.pins = AuthPool(queue=LOGIN_QUEUE, share=self.auth)  # login PINs, same thread
        self._buffer_peak = 0  # of connections already gone
        self.by_device: dict[str, list[Client]] = collections.defaultdict(list)
        self.ws_server: WsServer | None = None
        self.accepting = True
        self._board_html = board_html
        self._pending: list[bytes] = []
        self._flush_scheduled = False
        self._replying: list[Client] = []  # clients with replies for the flush
        self._in_turn = False  # answering the inbox: a flush ends this turn
        self._next_scan = 0.0  # loop time of the next look at clients' buffers
        self._scan_scheduled = False
        #: True once the store refused a commit because another instance now
        #: owns the hall (server/halls.py sets it): no reply goes out, the
        #: clients move with 1012 and resend to the new owner.
        self.fenced: Callable[[], bool] = lambda: False
        self._detached = False
        # The webhook workers' stop: started once, by detach or stop, awaited by stop.
        self._citizen_stop: asyncio.Task[None] | None = None
        # Phone pages, /api/v1 and webhooks (issue 15): fed the committed events.
        self.citizen = Citizen([service], self.metrics.registry, self.broadcast,
                               owns=lambda: not self.fenced())
        # Live connections by output format (broadcast goes to each set).
        self._plain: set[ServerConnection] = set()
        self._batched: set[ServerConnection] = set()
        # Frames read this loop turn, answered together (one group commit).
        self._inbox: list[tuple[Client, str | bytes, float]] = []
        self._inbox_scheduled = False
        self._update_waiting()
        self.console = Console(self)  # /console and /console/... (docs/CONSOLE.md)

    # ------------------------------------------------------------ lifecycle
    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> int:
        """Listen; return the bound port (useful with port 0)."""
        self.ws_server = await serve(
            self._handler, host, port,
            process_request=self._process_request, ssl=ssl_context, **SERVE_OPTIONS)
        self.attach()
        sock = next(iter(self.ws_server.sockets))
        return int(sock.getsockname()[1])

    def attach(self) -> None:
        """Start the upkeep and the webhook workers (also when the listener is
        shared: server/halls.py)."""
        self._tick_task = asyncio.get_running_loop().create_task(self._ticker())
        self.citizen.start()
        gcwatch.hall_loaded()  # qhall serve: its heap so far leaves the collector's passes

    def detach(self, code: int, reason: str) -> None:
        """Stop serving the hall on a shared listener: the upkeep stops and every
        client is closed with ``code`` (1012 when stepping down: they move on)."""
        if self._detached:
            return
        self._detached = True
        self.accepting = False
        gcwatch.hall_dropped()  # qhall serve: this server's cycles collectable again
        self._tick_task.cancel()
        # Webhook deliveries still pending stay in the store's outbox: the
        # hall's next owner sends them (server/notify/sender.py).
        self._stop_citizen()
        for client in list(self.clients | self.replaying):
            if not client.closing:
                self._close_client(client, code, reason)
        self.auth.close()

    async def stop(self) -> None:
        """Graceful stop: no new connections, flush replies, close with 1001.

        On a shared listener (no ``ws_server``): waits for what :meth:`detach`
        started."""
        self.accepting = False
        if self.ws_server is None:
            if self._citizen_stop is not None:
                await self._citizen_stop
            return
        self.ws_server.server.close()  # stop accepting new TCP connections
        while self._inbox:
            self._run_inbox()
        await self.drain()
        self._tick_task.cancel()
        # A client still mid-replay resumes with since on another connection
        # anyway; waiting for it to drain could hold the stop for long.
        for client in list(self.replaying):
            if client.ws.transport is not None:
                client.ws.transport.abort()
        self.ws_server.close(close_connections=True)
        await self.ws_server.wait_closed()
        await self._stop_citizen()
        self.auth.close()

    def _stop_citizen(self) -> asyncio.Task[None]:
        """Stop the webhook workers, once: detach starts it (it cannot wait),
        stop awaits the same task."""
        if self._citizen_stop is None:
            task = asyncio.get_running_loop().create_task(self.citizen.stop())
            # Held until done (the loop keeps only weak references to tasks; a
            # hall stepping down drops its Server right after detach).
            _STOPPING.add(task)
            task.add_done_callback(_stopped)
            self._citizen_stop = task
        return self._citizen_stop

    async def drain(self) -> None:
        """Send what is pending; wait (at most 2 s) for the clients to take it."""
        self._flush()
        deadline = time.monotonic() + 2.0
        while any(c.buffered() for c in self.clients) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    # ------------------------------------------------- on a shared listener
    def route_request(self, conn: ServerConnection, request: Request) -> Response | None:
        """Answer one HTTP request of this hall (``request.path`` as if the
        hall were alone: ``/ws``, ``/board``, ...); None accepts a websocket."""
        return self._process_request(conn, request)

    async def handle(self, ws: ServerConnection) -> None:
        """Serve one accepted websocket of this hall until it closes."""
        await self._handler(ws)

    # ----------------------------------------------------------------- HTTP
    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        response = self._route(conn, request)
        if response is not None:
            http_headers.secure(response)
        return response

    def _route(self, conn: ServerConnection, request: Request) -> Response | None:
        path = unquote(urlsplit(request.path).path)
        address = _address(conn)
        if self.citizen.handles(path):
            if not self.limits.page(address):
                return http_headers.too_many(conn, self.limits.http.wait_s(address))
            return self.citizen.route(conn, request, path, address)
        if request.method != "GET":
            # websockets reads no request body: a method with one (POST with
            # content) is dropped before it gets here; the rest is answered 405.
            return http_headers.not_allowed(conn)
        if path == "/ws":
            if not self.accepting:
                return conn.respond(503, "shutting down\n")
            # Refused before the handshake: an address out of hello budget
            # costs a few bytes, never a hash.
            if not self.limits.hello_open(address):
                self.metrics.closed.labels("rate_limited").inc()
                return http_headers.too_many(conn, self.limits.hellos.wait_s(address))
            return None
        if not self.limits.page(address):
            return http_headers.too_many(conn, self.limits.http.wait_s(address))
        if path == "/console" or path.startswith("/console/"):
            return self.console.route(conn, request, path)
        name = self.service.config.name
        if path == "/healthz":
            # Honest: 200 only when a hello would get a welcome from a hall
            # whose memory matches its store.
            if not self.accepting:
                return conn.respond(503, "shutting down\n")
            if not self.service.recover():
                return conn.respond(503, "unavailable: database\n")
            return conn.respond(200, "ok\n")
        if path == "/metrics":
            resp = conn.respond(200, self.metrics_text())
            http_headers.set_header(resp, "Content-Type", CONTENT_TYPE_LATEST)
            return resp
        if path in ("/board", "/board/"):
            return _html(conn, 200, self.board_html())
        if path in ("/", "/index.html"):
            return _html(conn, 200, pages.index_page(name))
        return conn.respond(404, "not found\n")

    def metrics_text(self) -> str:
        """This hall's metrics now (Prometheus text)."""
        self._update_waiting()
        self.metrics.replies.set(self.service.remembered_replies)
        self._update_flow()
        return self.metrics.render().decode()

    def board_html(self) -> str:
        if self._board_html is None:
            try:
                from server.web.board import board_html
            except ImportError:
                return pages.index_page(self.service.config.name)
            self._board_html = board_html()
        return self._board_html

    # ------------------------------------------------------------ websocket
    async def _handler(self, ws: ServerConnection) -> None:
        if self.console.owns(ws):
            await self.console.serve(ws)
            return
        if ws.request is not None and self.citizen.feed_check(urlsplit(ws.request.path).path):
            await self.citizen.feed(ws, _address(ws))  # a ticket's live page
            return
        try:
            session_client = await self._open(ws)
        except ConnectionClosed:
            return  # the client left while its refusal or replay was going out
        if session_client is None:
            return
        client = session_client
        try:
            early = prewelcome.welcomed(ws)  # a request sent before the welcome
            if early is not None:
                self._on_frame(client, early)
            async for frame in ws:
                if client.closing:
                    # The server's close (its code: 1008, 1013) is on its way;
                    # returning now would race it with a plain 1000.
                    await ws.wait_closed()
                    break
                self._on_frame(client, frame)
        except ConnectionClosed:
            pass
        finally:
            self._drop(client)

    async def _open(self, ws: ServerConnection) -> Client | None:
        address = _address(ws)
        try:
            # Pings before the hello are answered (server/prewelcome.py).
            frame = await prewelcome.early(ws, HELLO_TIMEOUT_S).hello()
        except TimeoutError:
            self.limits.hello_attempt(address)
            await ws.close(1008, "no hello within 10 s")
            return None
        except ConnectionClosed:
            return None
        # Every hello counts against its source address until it succeeds.
        if not self.limits.hello_attempt(address):
            await ws.send(protocol.encode(protocol.error(
                None, "rate_limited", "too many failed hellos from this address; "
                f"try again in {self.limits.hellos.wait_s(address)} s")))
            await ws.close(1008, "rate_limited")
            self.metrics.closed.labels("rate_limited").inc()
            return None
        try:
            if isinstance(frame, bytes):
                raise ProtocolError("bad_request", "text frames only (UTF-8 JSON)")
            hello = protocol.parse_hello(protocol.decode(frame))
        except ProtocolError as exc:
            await ws.send(protocol.encode(protocol.error(exc.re, exc.code, exc.message)))
            code = 1002 if exc.code == "unsupported_protocol" else 1008
            await ws.close(code, exc.code)
            self.metrics.closed.labels(exc.code).inc()
            return None
        device = await self._authenticate(ws, hello)
        if device is None:
            return None
        if not self.accepting:
            # Detached (stepped down) while this hello was read or its token
            # checked: detach() closed the clients it knew, not this one, and
            # a welcome now left the device on a server that sends it nothing
            # ever (a chaos run: a board welcomed 0.14 s after its hall's
            # lease lapsed saw none of 514 calls). It moves on, as they did.
            await ws.close(protocol.CLOSE_SERVICE_RESTART, "no longer serving this hall")
            return None
        self.limits.hello_ok(address)
        session = Session(device)
        client = Client(ws, session, batch=hello.get("batch") is True)
        # From here to the registration there is no await: the welcome and
        # the first replay page (or the registration for broadcasts) are one
        # atomic step. Committed events not yet flushed go out first, to the
        # clients that were registered when they were committed.
        self._flush()
        try:
            welcome = self.service.welcome(session, hello["id"], hello["token"])
        except (Unavailable, StoreError) as exc:
            if isinstance(exc, StoreError):
                self.service.check_store()
            log.warning("refused hello from %s: the hall is unavailable", device.id)
            await ws.send(protocol.encode(protocol.error(
                hello["id"], "internal", "the hall is unavailable; try again shortly")))
            await ws.close(1013, "unavailable")
            self.metrics.closed.labels("unavailable").inc()
            return None
        client.push(protocol.encode_bytes(welcome))
        peers = self.by_device[device.id]
        while len(peers) >= MAX_PER_DEVICE:
            old = peers.pop(0)
            self._close_client(old, 1008, "replaced by a newer connection")
        peers.append(client)
        since = hello["since"]
        log.info("device %s (%s) connected since=%s", device.id, device.role, since)
        if since is not None and since < welcome["seq"] and welcome["seq"] - since <= REPLAY_MAX:
            if not await self._replay(client, since):
                self._drop(client)
                return None
        else:
            self._go_live(client)
        return client

    async def _authenticate(self, ws: ServerConnection, hello: dict[str, Any]) -> Any:
        """The hello's device, checked without running scrypt on the loop; or None
        once the refusal is sent and the connection closed."""
        resumed = self.service.resume_device(hello["device"], hello["token"], hello["resume"])
        if resumed is not None:  # the welcome's ticket: one HMAC, no scrypt (failover)
            self.metrics.auth.labels("resumed").inc()
            return resumed
        check = self.service.begin_authenticate(hello["device"], hello["token"])
        if not isinstance(check, SecretCheck):
            self.metrics.auth.labels("cached").inc()
            return check
        try:
            # The device may ping meanwhile (server/prewelcome.py).
            verdict = await prewelcome.early(ws, HELLO_TIMEOUT_S).during(self._verify(check))
        except PoolBusy:
            await ws.send(protocol.encode(protocol.error(
                hello["id"], "rate_limited",
                "服务器正忙，请稍后重连 the server is busy checking other devices; "
                "reconnect in a moment")))
            await ws.close(1013, "busy")
            self.metrics.closed.labels("busy").inc()
            return None
        device = check.finish(verdict)
        if device is None:
            await ws.send(protocol.encode(protocol.error(
                hello["id"], "unauthorized", "unknown device or wrong token")))
            await ws.close(1008, "unauthorized")
            self.metrics.closed.labels("unauthorized").inc()
            log.warning("refused hello from device %r at %s", hello["device"][:64],
                        ws.remote_address)
        return device

    async def _verify(self, check: SecretCheck[Any], pool: AuthPool | None = None) -> bool:
        """Run one secret check in the auth pool (PoolBusy when it is full)."""
        try:
            verdict = await (pool or self.auth).verify(check.secret, check.hashed)
        except PoolBusy:
            self.metrics.auth.labels("refused").inc()
            raise
        self.metrics.auth.labels("ok" if verdict else "failed").inc()
        return verdict

    def _go_live(self, client: Client) -> None:
        """From now on the client gets every broadcast (call with no await since
        its last replayed event was read)."""
        self.replaying.discard(client)
        self.clients.add(client)
        (self._batched if client.batch else self._plain).add(client.ws)
        self.metrics.connections.labels(client.session.role).inc()

    async def _replay(self, client: Client, after: int) -> bool:
        """Send the events after ``after`` page by page as the client drains them,
        then make it live. False when the client went away or was too slow."""
        self.replaying.add(client)
        hall = self.service.config.id
        ws = client.ws
        while True:
            if client.closing or ws.protocol.state is not State.OPEN:
                return False
            # Committed events still pending go to the live clients first;
            # this client reads them from the store below.
            self._flush()
            try:
                page = self.service.store.events_since(hall, after, limit=REPLAY_PAGE)
            except StoreError:
                self.service.check_store()
                self._close_client(client, 1013, "unavailable")
                return False
            frames = [protocol.encode_bytes(self._stored_event(ev)) for ev in page]
            if client.batch and len(frames) > 1:
                frames = fanout.batches(frames)
            ok = True
            for frame in frames:
                ok = client.push(frame)
            self.metrics.replayed.inc(len(page))
            if not ok:
                self._too_slow(client)
                return False
            if page:
                after = int(page[-1]["seq"])
            if len(page) < REPLAY_PAGE:
                self._go_live(client)  # no await since the read: no gap, no repeat
                return True
            try:
                await asyncio.wait_for(ws.drain(), REPLAY_STALL_S)
            except TimeoutError:
                log.warning("closing %s: replay not read for %.0f s",
                            client.session.device.id, REPLAY_STALL_S)
                self._close_client(client, 1013, "too slow; reconnect with since")
                return False
            except Exception:
                return False  # the connection is gone

    def _stored_event(self, ev: dict[str, Any]) -> dict[str, Any]:
        at = ev["at"]
        if hasattr(at, "astimezone"):
            at = at.astimezone(self.service.config.tz).isoformat(timespec="seconds")
        return protocol.event(int(ev["seq"]), ev["name"], str(at), ev["data"])

    def _drop(self, client: Client) -> None:
        self._buffer_peak = max(self._buffer_peak, client.peak)
        self.replaying.discard(client)
        if client in self.clients:
            self.clients.discard(client)
            (self._batched if client.batch else self._plain).discard(client.ws)
            self.metrics.connections.labels(client.session.role).dec()
        peers = self.by_device.get(client.session.device.id, [])
        if client in peers:
            peers.remove(client)

    def _close_client(self, client: Client, code: int, reason: str) -> None:
        if client.replies and client.shares_frames():
            client.ws.transport.write(client.take_replies())  # given: they go first
        client.closing = True
        self.metrics.closed.labels(reason.split(";")[0][:40]).inc()
        self._drop(client)
        asyncio.get_running_loop().create_task(client.ws.close(code, reason))

    def reconfigured(self, old: HallConfig, new: HallConfig) -> None:
        """A new configuration is served (the console's admin, server/console/admin.py):
        a revoked or changed device's connections close (1008); when more than
        staff and devices changed, every device reconnects (1012) for a welcome
        describing the new hall."""
        layout_changed = (dataclasses.replace(old, staff=(), devices=())
                          != dataclasses.replace(new, staff=(), devices=()))
        for client in list(self.clients | self.replaying):
            if client.closing:
                continue
            if new.device(client.session.device.id) != client.session.device:
                self._close_client(client, 1008, "device revoked or changed")
            elif layout_changed:
                self._close_client(client, 1012, "configuration changed; reconnect")

    # ------------------------------------------------------------- requests
    def _on_frame(self, client: Client, frame: str | bytes) -> None:
        """Take one frame; it is answered with the others of this loop turn."""
        started = time.perf_counter()
        if client.checking or client.held:
            client.held.append((frame, started))  # after the request it waits for
            return
        self._inbox.append((client, frame, started))
        if not self._inbox_scheduled:
            self._inbox_scheduled = True
            asyncio.get_running_loop().call_soon(self._run_inbox)

    def _run_inbox(self) -> None:
        """Answer the frames read this turn, in order: runs of groupable
        requests as one group commit each, the others alone in their place."""
        self._inbox_scheduled = False
        inbox, self._inbox = self._inbox[:MAX_GROUP], self._inbox[MAX_GROUP:]
        if self._inbox:  # the rest in the next turn, after the loop's I/O
            self._inbox_scheduled = True
            asyncio.get_running_loop().call_soon(self._run_inbox)
        self._in_turn = True
        try:
            detached = not self._answer_inbox(inbox)
        finally:
            self._in_turn = False
        if detached:
            return
        # The turn's work is done: its events go out now, not a loop turn later.
        self._flush()

    def _answer_inbox(self, inbox: list[tuple[Client, str | bytes, float]]) -> bool:
        """The body of :meth:`_run_inbox`; False once the hall is fenced."""
        run: list[_Item] = []
        for client, frame, started in inbox:
            if client.closing:
                continue  # closed by the server since: its frames are not served
            if client.checking:
                client.held.append((frame, started))
                continue
            item = self._read(client, frame, started)
            if item is None:  # no longer the owner: detached, nothing is answered
                return False
            if item.answer is None and not self.service.groupable(item.kind):
                self._answer_group(run)
                run = []
                self._answer_alone(item)
                continue
            run.append(item)
        self._answer_group(run)
        return True

    def _read(self, client: Client, frame: str | bytes, started: float) -> _Item | None:
        """Decode a frame; refusals that need no hall (bad frame, limits) are
        answered right here (``answer``); None once the hall is fenced."""
        kind = "?"
        try:
            if isinstance(frame, bytes):
                # Never a request, whatever it holds.
                raise ProtocolError("bad_request", "text frames only (UTF-8 JSON)")
            message = protocol.decode(frame)
            kind = str(message.get("type"))[:32]
            rid = message.get("id") if isinstance(message.get("id"), str) else None
            if kind == "hello":
                raise ProtocolError("bad_request", "hello was already received", rid)
            if self.fenced():  # no longer the owner: not even tried
                self.detach(protocol.CLOSE_SERVICE_RESTART, "no longer the owner of this hall")
                return None
            limited = self._rate_limited(client, kind, rid)
            if limited is not None:
                return _Item(client, kind, message, started,
                             protocol.error(rid, "rate_limited", limited))
            return _Item(client, kind, message, started)
        except ProtocolError as exc:
            return _Item(client, kind, {}, started, protocol.error(exc.re, exc.code, exc.message))

    def _answer_group(self, run: list[_Item]) -> None:
        if not run:
            return
        asked = [(item.client.session, item.message) for item in run if item.answer is None]
        replies = iter(self.service.handle_group(asked) if asked else [])
        for item in run:
            if item.answer is not None:
                self._answer(item.client, item.kind, item.answer, [], item.started)
            else:
                reply = next(replies)
                self._answer(item.client, item.kind, reply.message, reply.events, item.started,
                             reply.text)

    def _answer_alone(self, item: _Item) -> None:
        reply = self.service.begin(item.client.session, item.message)
        if isinstance(reply, SecretCheck):
            item.client.checking = True
            asyncio.get_running_loop().create_task(self._answer_after_check(item, reply))
            return
        self._answer(item.client, item.kind, reply.message, reply.events, item.started,
                     reply.text)

    async def _answer_after_check(self, item: _Item, check: SecretCheck[Reply]) -> None:
        client = item.client
        try:
            reply = check.finish(await self._verify(check, self.pins))
            reply_msg, events, text = reply.message, reply.events, reply.text
        except PoolBusy:
            reply_msg, events, text = protocol.error(
                item.message.get("id"), "rate_limited", "服务器正忙，请稍后再试 the server is "
                "busy checking other logins; try again in a moment"), [], None
        finally:
            client.checking = False
        self._answer(client, item.kind, reply_msg, events, item.started, text)
        # The connection's frames that waited for this answer, in order.
        while client.held and not client.checking:
            frame, started = client.held.popleft()
            self._inbox.append((client, frame, started))
        if self._inbox and not self._inbox_scheduled:
            self._inbox_scheduled = True
            asyncio.get_running_loop().call_soon(self._run_inbox)

    def _answer(self, client: Client, kind: str, reply_msg: dict[str, Any],
                events: list[dict[str, Any]], started: float, text: str | None = None) -> None:
        """Send one reply (``text``: it already encoded, as the service keeps it)."""
        session = client.session
        if self.fenced():
            self.detach(protocol.CLOSE_SERVICE_RESTART, "no longer the owner of this hall")
            return
        if kind not in protocol.REQUESTS:
            kind = "invalid"
        if not events and self._pending:
            # A reply with no events of its own (a query such as stats, an
            # error) describes state that includes events committed earlier
            # in this loop turn: those go out first, so a client never sees
            # an answer before its cause (and counts it twice). Replies with
            # events keep the once-per-turn batching of the hot path.
            self._flush()
        frame = text.encode() if text is not None else protocol.encode_bytes(reply_msg)
        if events and self._in_turn and client in self.clients and client.shares_frames():
            # The flush at the end of this turn writes to this client anyway
            # (it gets every event): the reply goes in that write, ahead of
            # the events, as if pushed now (server/fanout.py ``first``).
            client.replies.append(frame)
            self._replying.append(client)
        elif not client.push(frame) and not client.closing:
            self._too_slow(client)
        if events:
            self.broadcast(events)
        outcome = "ok" if reply_msg["type"] == "ok" else reply_msg["code"]
        elapsed = time.perf_counter() - started
        self.metrics.answered(kind, outcome, elapsed)
        if reqlog.isEnabledFor(logging.INFO):
            reqlog.info(json.dumps({
                "device": session.device.id, "type": kind, "outcome": outcome,
                "ms": round(elapsed * 1000, 2)}, ensure_ascii=False))
        if outcome in ("bad_request", "forbidden", "unauthorized", "rate_limited"):
            now = time.monotonic()
            client.errors.append(now)
            while client.errors and now - client.errors[0] > ERROR_WINDOW_S:
                client.errors.popleft()
            if len(client.errors) > ERROR_BUDGET:
                log.warning("closing %s: error flood", session.device.id)
                # Let the last error reply out first, then close.
                asyncio.get_running_loop().create_task(self._close_after_flush(client))

    async def _close_after_flush(self, client: Client) -> None:
        deadline = time.monotonic() + 1.0
        while client.buffered() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if not client.closing:
            self._close_client(client, 1008, "too many bad requests")

    def _rate_limited(self, client: Client, kind: str, rid: str | None) -> str | None:
        """Why this request is refused by the device's limits, or None.

        Kept per device id (not per connection), so reconnecting gains nothing.
        A resent ticket request that was answered already costs no ticket
        budget: it gets its first reply (idempotency).
        """
        device = client.session.device.id
        limited = self.limits.request(device)
        if (limited is None and kind == "issue" and client.session.role == "kiosk"
                and not self.service.remembers(device, rid)):
            limited = self.limits.issue(device)
        return limited

    def broadcast(self, events: list[dict[str, Any]]) -> None:
        """Queue committed events for every client; flushed once per loop turn."""
        self._pending.extend(protocol.encode_bytes(e) for e in events)
        self.console.committed(events)
        self.metrics.events.inc(len(events))
        self.citizen.committed(events)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        for e in events:
            if e["name"] == "queue.changed":
                d = e["data"]
                self.metrics.waiting_now(d["service"], d["waiting"])
            elif e["name"] == "device.fault":
                d = e["data"]
                self.metrics.faults.labels(d["device"], d["kind"]).set(
                    0 if d.get("cleared") else 1)

    def _flush(self) -> None:
        """Write every pending event to every client, in seq order (the
        replies given this turn first, each in its client's write)."""
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        replying = self._take_replying()
        if not pending and not replying:
            return
        first = {c.ws: c.take_replies() for c in replying if c.replies}
        # Each event is encoded once and its frames serialised once per
        # format; each open connection of that format gets the same bytes in
        # one write (server/fanout.py), with no task per client.
        if pending and self._plain:
            fanout.write_all(self._plain, fanout.Frames(pending), first)
        if pending and self._batched:
            fanout.write_all(self._batched, fanout.Frames(fanout.batches(pending)), first)
        for client in replying:
            if client.ws in first and client.shares_frames():  # not written above
                client.ws.transport.write(first.pop(client.ws))
            size = client.buffered()
            client.peak = max(client.peak, size)
            if size > MAX_BUFFER and not client.closing:
                self._too_slow(client)  # as a pushed reply would be
        loop = asyncio.get_running_loop()
        wait = self._next_scan - loop.time()
        if wait <= 0:
            self._scan_buffers()
        elif not self._scan_scheduled:
            self._scan_scheduled = True
            loop.call_later(wait, self._scan_buffers)

    def _take_replying(self) -> list[Client]:
        replying, self._replying = self._replying, []
        return replying

    def _scan_buffers(self) -> None:
        """Close the clients more than :data:`MAX_BUFFER` behind (and note peaks)."""
        self._scan_scheduled = False
        self._next_scan = asyncio.get_running_loop().time() + BUFFER_SCAN_S
        for client in list(self.clients):
            size = client.buffered()
            if size > client.peak:
                client.peak = size
            if size > MAX_BUFFER and not client.closing:
                self._too_slow(client)

    def _too_slow(self, client: Client) -> None:
        if client.ws.protocol.state is State.OPEN:
            log.warning("closing %s: more than %d bytes unsent", client.session.device.id,
                        MAX_BUFFER)
            self._close_client(client, 1013, "too slow; reconnect with since")
        else:
            self._drop(client)

    def _update_flow(self) -> None:
        everyone = self.clients | self.replaying
        self.metrics.buffered.set(sum(c.buffered() for c in everyone))
        self.metrics.buffer_peak.set(max([self._buffer_peak, *(c.peak for c in everyone)]))
        self.metrics.replays.set(len(self.replaying))
        self.metrics.auth_in_flight.set(self.auth.in_flight + self.pins.in_flight)
        self.metrics.up.set(1 if self.service.failed is None else 0)

    def _update_waiting(self) -> None:
        for sid, q in self.service.hall.snapshot()["queues"].items():
            self.metrics.waiting_now(sid, q["waiting"])

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            # A store that went away is noticed here, not by the next user.
            if not self.service.check_store():
                continue
            before = self.service.config
            try:
                events = self.service.tick()
            except Exception:
                log.exception("upkeep failed")
                continue
            if events:
                self.broadcast(events)
            if self.service.config is not before:  # a new day: yesterday's extra counters end
                self.reconfigured(before, self.service.config)
            self.console.upkeep()  # a configuration version stored elsewhere


@dataclasses.dataclass
class _Item:
    """One frame read: its request, or the refusal it already got (``answer``)."""

    client: Client
    kind: str
    message: dict[str, Any]
    started: float
    answer: dict[str, Any] | None = None


def _address(conn: ServerConnection) -> str:
    """The peer's IP address (the key of per-source limits)."""
    peer = conn.remote_address
    return str(peer[0]) if isinstance(peer, tuple) and peer else "?"


# ------------------------------------------------------------------ CLI
def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", action="append",
                        help="hall configuration (TOML); give it once per hall to serve "
                             "several halls; default: the built-in demo hall")
    parser.add_argument("--config-dir", metavar="DIR",
                        help="serve every hall configuration (*.toml) in this directory")
    parser.add_argument("--lease-s", type=float, metavar="SECONDS",
                        help="PostgreSQL: how long a hall's owner lease lives without renewal; "
                             "a standby takes over at most 1.2x this after the owner stops "
                             f"(default: the configs' [failover] lease_s, else "
                             f"{DEFAULT_LEASE_S:g})")
    parser.add_argument("--advertise", metavar="URL",
                        help="the ws:// or wss:// base URL clients reach this instance at "
                             "(standbys name it to clients; default: from --host/--port)")
    parser.add_argument("--instance", metavar="ID",
                        help="this instance's id among those sharing halls (default: random)")
    parser.add_argument("--host", help="address to listen on (default: config, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: config, 8765)")
    parser.add_argument("--database", metavar="URL",
                        help="database URL, overrides the config "
                             "(sqlite:///FILE or postgresql+psycopg://...)")
    parser.add_argument("--tls-cert", metavar="PEM", help="certificate: serve wss:// and https")
    parser.add_argument("--tls-key", metavar="PEM", help="private key for --tls-cert")
    parser.add_argument("--kiosk-rate", type=int, default=None, metavar="N",
                        help="tickets per minute allowed per kiosk device (0: no limit; "
                             "default: [limits] kiosk_issues_per_min, 60)")
    parser.add_argument("--no-limits", action="store_true",
                        help="turn every per-device and per-source limit off (load tests "
                             "and benchmarks from one address; never in a hall)")
    parser.add_argument("--log-level", default="INFO",
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.add_argument("--quiet-requests", action="store_true",
                        help="do not log one line per request")


def load_config(args: argparse.Namespace) -> HallConfig:
    """The (first) hall config named by ``--config`` (or the demo hall), with overrides."""
    return load_configs(args)[0]


def config_paths(args: argparse.Namespace) -> list[str]:
    """The files named by ``--config`` and ``--config-dir``, in that order.

    Raises:
        ConfigError: ``--config-dir`` holds no ``*.toml``.
    """
    from pathlib import Path

    from server.config import ConfigError

    paths = list(getattr(args, "config", None) or [])
    if isinstance(paths, str):
        paths = [paths]
    if getattr(args, "config_dir", None):
        found = sorted(Path(args.config_dir).glob("*.toml"))
        if not found:
            raise ConfigError([f"{args.config_dir}: no *.toml hall configuration"])
        paths += [str(p) for p in found]
    return paths


def load_configs(args: argparse.Namespace) -> list[HallConfig]:
    """Every hall named by ``--config``/``--config-dir`` (or the demo hall), with overrides.

    Raises:
        ConfigError: a bad file, or two halls with one ``[hall] id``.
    """
    from server import config as config_mod

    paths = config_paths(args)
    if paths:
        configs = [config_mod.load(p) for p in paths]
    else:
        from server.reference import demo_config

        configs = [demo_config()]
    ids = [c.id for c in configs]
    doubles = sorted({i for i in ids if ids.count(i) > 1})
    if doubles:
        raise config_mod.ConfigError(
            [f"两个配置是同一个大厅 two configurations have the same [hall] id: {doubles}"])
    return [_override(cfg, args) for cfg in configs]


def _override(cfg: HallConfig, args: argparse.Namespace) -> HallConfig:
    import dataclasses

    changes: dict[str, Any] = {}
    if getattr(args, "database", None):
        changes["database"] = args.database
    if getattr(args, "host", None):
        changes["host"] = args.host
    if getattr(args, "port", None) is not None:
        changes["port"] = args.port
    limits = Limits.off() if getattr(args, "no_limits", False) else cfg.limits
    if getattr(args, "kiosk_rate", None) is not None:
        limits = dataclasses.replace(limits, kiosk_issues_per_min=args.kiosk_rate)
    if limits != cfg.limits:
        changes["limits"] = limits
    return dataclasses.replace(cfg, **changes) if changes else cfg


def _ssl_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.tls_cert and not args.tls_key:
        return None
    if not (args.tls_cert and args.tls_key):
        raise SystemExit("qhall serve: --tls-cert and --tls-key go together")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.tls_cert, args.tls_key)
    return ctx


def build_server(cfg: HallConfig, store: Store) -> Server:
    """One hall's server: its newest stored configuration version (docs/CONFIG.md;
    ``cfg`` when none is stored) and its service loaded from the store."""
    from server.config import ConfigError

    number = 0
    try:
        cfg, number = versions.current_version(store, cfg)
    except ConfigError as exc:
        log.error("hall %s: the newest stored configuration is invalid, serving the file's "
                  "(fix it with qhall config import): %s", cfg.id, exc)
    service = HallService(cfg, store, features=default_features())
    service.config_version = number
    return Server(service)


async def main_async(cfgs: HallConfig | list[HallConfig], *,
                     ssl_context: ssl.SSLContext | None = None, ready: Any = None,
                     lease_s: float = DEFAULT_LEASE_S, advertise: str | None = None,
                     instance: str | None = None, sources: dict[str, str] | None = None,
                     ) -> int:
    """Run the server until SIGTERM/SIGINT; return the exit code.

    ``sources``: hall id -> its configuration file; a hall whose database
    holds no configuration version yet gets the file as version 1.
    """
    from server.config import ConfigError
    from server.pii import PiiKeyError

    configs = cfgs if isinstance(cfgs, list) else [cfgs]
    first = configs[0]
    try:
        halls = Halls(configs, build_server, lease_s=lease_s, advertise=advertise,
                      instance=instance)
    except StoreError as exc:  # AlreadyServed (SQLite), cannot connect or migrate
        print(f"qhall serve: {exc}", file=sys.stderr)
        return 1
    try:
        for slot in halls.slots.values():
            if sources and slot.id in sources:
                try:
                    said = versions.import_file(slot.store, sources[slot.id])
                except (ConfigError, StoreError, OSError) as exc:
                    said = f"hall {slot.id}: the file was not stored as a version: {exc}"
                print(f"qhall: {said}", flush=True)
        try:
            port = await halls.start(first.host, first.port, ssl_context)
        except PiiKeyError as exc:
            print(f"qhall serve: {exc}", file=sys.stderr)
            await halls.stop()
            return 1
        scheme = "wss" if ssl_context else "ws"
        web = "https" if ssl_context else "http"
        base = f"{first.host}:{port}"
        if len(configs) == 1:
            print(f"qhall: {first.name} listening on {scheme}://{base}/ws "
                  f"(board {web}://{base}/board, metrics {web}://{base}/metrics)", flush=True)
        else:
            print(f"qhall: {len(configs)} halls listening on {scheme}://{base}/ws/<hall-id> "
                  f"(boards {web}://{base}/board/<hall-id>, metrics {web}://{base}/metrics)",
                  flush=True)
        for slot in halls.slots.values():
            state = "owner" if slot.server is not None else f"standby (owner: {slot.owner_url})"
            print(f"qhall: hall {slot.id} ({slot.config.name}): {state}", flush=True)
        gcwatch.WATCH.sample_lag()
        if ready is not None:
            ready(port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("stopping: finishing in-flight requests, closing clients (1001)")
        await halls.stop()
        return 0
    finally:
        await gcwatch.WATCH.stop_lag()
        halls.close()


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.quiet_requests:
        reqlog.setLevel(logging.WARNING)
    from server.config import ConfigError

    try:
        cfgs = load_configs(args)
    except ConfigError as exc:
        print(f"qhall serve: configuration error:\n{exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"qhall serve: cannot read config: {exc}", file=sys.stderr)
        return 2
    try:
        lease_s = args.lease_s if args.lease_s is not None else lease_of(cfgs)
    except ValueError as exc:
        print(f"qhall serve: configuration error:\n{exc}", file=sys.stderr)
        return 1
    try:
        ctx = _ssl_context(args)
    except (OSError, ssl.SSLError) as exc:
        print(f"qhall serve: TLS: {exc}", file=sys.stderr)
        return 2
    # Before the halls load: their heap is frozen as each attaches (server/gcwatch.py).
    gcwatch.tune()
    gcwatch.WATCH.install()
    try:
        paths = config_paths(args)
        sources = {c.id: p for c, p in zip(cfgs, paths, strict=True)} if paths else None
        return asyncio.run(main_async(cfgs, ssl_context=ctx, lease_s=lease_s,
                                      advertise=args.advertise, instance=args.instance,
                                      sources=sources))
    except OSError as exc:
        print(f"qhall serve: {exc}", file=sys.stderr)
        return 1

