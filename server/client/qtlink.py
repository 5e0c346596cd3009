"""The Qt client link: one WebSocket to the dispatch server (protocol v1).

Kiosk, counter, display and evaluator apps talk to the server only through
:class:`Link`. It runs on Qt's own event loop (``QWebSocket``), so there is
no second loop and tests can use ``qtbot.waitSignal``.

The protocol rules live in :class:`server.client.session.ClientSession`
(sans I/O, shared with the asyncio client); this module only carries them
out with a ``QWebSocket``, one ``QTimer`` for the session's deadlines, a
keep-alive ping and Qt signals. What the app gets:

* ``hello`` as the first frame of every connection, with ``since`` set to the
  last event ``seq`` it delivered;
* ``welcomed`` with the whole welcome after every successful hello, then
  every ``event`` exactly once and in ``seq`` order (replays included);
* reconnection by itself with bounded exponential backoff and jitter, moving
  along the server URLs it was given (failover: ``standby``, close
  1012/1013, a dead socket), except after the server refused the hello
  (wrong token, unsupported protocol): then it stops, so a misconfigured
  device cannot hammer the server;
* requests queued while offline (bounded) and sent after the next welcome; a
  request that was sent but not answered when the connection dropped is sent
  again **with the same id** after the reconnect. The server is idempotent
  per ``(device, id)`` (PROTOCOL.md), so the resend returns the first reply
  and changes nothing: a request is executed at most once and ``Reply.done``
  fires exactly once.

Local failures are reported like server errors, with the codes ``timeout``
(no reply within ``timeout_ms`` of the ``request()`` call, wherever the
request was: queued, in flight or being resent) and ``offline`` (``close()``
was called, the send queue is full, or the server refused the hello). After
a ``timeout`` the outcome of a mutating request is unknown; ``retry(reply)``
sends it again with the same id, which is safe for the same reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any, TypeGuard

from PySide6.QtCore import QObject, QTimer, QUrl, Signal
from PySide6.QtNetwork import QAbstractSocket
from PySide6.QtWebSockets import QWebSocket

from server.client.session import (
    Action,
    Answered,
    ClientSession,
    Connect,
    Delivered,
    Drop,
    Refused,
    Send,
    Status,
    Welcomed,
    reconnect_delay,
)
from server.wire.protocol import MAX_FRAME as MAX_FRAME_BYTES
from server.wire.protocol import PROTOCOL_VERSION, REFUSAL_CODES

__all__ = ["PROTOCOL_VERSION", "MAX_FRAME_BYTES", "REFUSAL_CODES", "Link", "Reply",
           "reconnect_delay"]

log = logging.getLogger(__name__)

#: Until its welcome the link pings every this many ms (at most ``ping_ms``)
#: and leaves a socket whose pong has not come within :data:`PROBE_TIMEOUT_MS`:
#: a server frozen (SIGSTOP) after it upgraded the socket would otherwise
#: keep the device for its whole welcome wait (15 s where a takeover is under
#: way). A server only busy or holding the hello pongs at once (below the
#: app). Every 3 s with a 3 s timeout (before), a freeze after +9 s of a 15 s
#: wait went unseen until the welcome deadline; now one is found within 3 s.
PROBE_MS = 1000
#: ... and a probe's pong may take this long (counted in probe ticks).
PROBE_TIMEOUT_MS = 2000
#: Socket errors of an opening that found nothing listening (refused, or
#: reset: Qt reports a reset as the remote host closing): the URL is gone
#: (``server.client.session.GONE_STAY_S``). The opening itself is bounded
#: by the session (``OPEN_S``).
_GONE_ERRORS = (QAbstractSocket.SocketError.ConnectionRefusedError,
                QAbstractSocket.SocketError.RemoteHostClosedError)


def _is_int(value: Any) -> TypeGuard[int]:
    # bool is an int subclass; a timeout of True is malformed, not 1.
    return isinstance(value, int) and not isinstance(value, bool)


class Reply(QObject):
    """The pending answer to one request.

    Attributes:
        id: the request id (uuid4 hex), also the ``re`` of the answer.
        message: the request message as sent on the wire.
        result: the answer (``ok`` or ``error`` message), None until done.
    """

    done = Signal(dict)

    def __init__(self, message: dict[str, Any]) -> None:
        # No Qt parent: the Link holds a Python reference while the request is
        # pending, the caller holds its own; a parent would keep every Reply
        # alive for the lifetime of the link.
        super().__init__()
        self.id: str = message["id"]
        self.message = message
        self.result: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        """True once ``done`` has been emitted."""
        return self.result is not None

    @property
    def ok(self) -> bool:
        """True when the answer is an ``ok`` message."""
        return self.result is not None and self.result.get("type") == "ok"

    def _finish(self, result: dict[str, Any]) -> bool:
        """Record the answer and emit ``done``; a second answer is ignored."""
        if self.result is not None:
            return False
        self.result = result
        self.done.emit(result)
        return True


class Link(QObject):
    """A self-healing connection to the dispatch server.

    Args:
        url: ``ws://host:port/ws`` (or ``wss://``); several for failover, as a
            list or comma-separated (``"ws://a:8765/ws,ws://b:8765/ws"``).
        device: this device's id in the hall configuration.
        token: this device's secret.
        parent: Qt parent.
        timeout_ms: per-request timeout, also the bound on getting the
            welcome once the socket is open; opening it (connect and
            upgrade) may take ``OPEN_S`` (3 s) or ``timeout_ms`` when shorter.
        backoff: ``(first, max)`` reconnect delay in seconds. The n-th failed
            attempt in a row waits ``min(max, first * 2**n)`` scaled by a
            random factor in [0.5, 1] so a hall of clients does not reconnect
            in lock-step after a server restart.
        max_queued: how many requests may wait while offline; beyond that a
            request fails at once with code ``offline``.
        ping_ms: keep-alive ping interval while online; a ping still
            unanswered at the next tick means a dead (half-open) connection.
            Until the welcome the interval is :data:`PROBE_MS` (or less). 0
            disables both.

    Raises:
        ValueError: on a bad url, device, token or timing argument.
    """

    welcomed = Signal(dict)
    # The signal is named ``event`` by the Link contract (ARCHITECTURE.md);
    # it shadows QObject.event(QEvent) as far as type checkers see, but
    # nothing calls link.event(...) as the event handler method.
    event = Signal(dict)  # type: ignore[assignment]
    status = Signal(str)
    refused = Signal(dict)

    def __init__(
        self,
        url: str | Iterable[str],
        device: str,
        token: str,
        parent: QObject | None = None,
        *,
        timeout_ms: int = 5000,
        backoff: tuple[float, float] = (0.5, 10.0),
        max_queued: int = 100,
        ping_ms: int = 15000,
    ) -> None:
        super().__init__(parent)
        if not _is_int(timeout_ms) or timeout_ms <= 0:
            raise ValueError(f"timeout_ms must be a positive int, got {timeout_ms!r}")
        if not _is_int(ping_ms) or ping_ms < 0:
            raise ValueError(f"ping_ms must be an int >= 0, got {ping_ms!r}")
        self._session = ClientSession(url, device, token, timeout_s=timeout_ms / 1000,
                                      backoff=backoff, max_queued=max_queued,
                                      clock=time.monotonic)
        self._ws: QWebSocket | None = None
        self._replies: dict[str, Reply] = {}
        # Bumped whenever the socket changes: actions computed for an older
        # socket (a slot closed the link mid-list) are not carried out.
        self._generation = 0

        # One timer for every session deadline (retry due, welcome due,
        # request timeouts).
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(lambda: self._run(self._session.tick()))
        self._ping_ms = ping_ms
        self._ping_timer = QTimer(self)
        self._ping_timer.setInterval(ping_ms)
        self._ping_timer.timeout.connect(self._ping)
        self._ping_enabled = ping_ms > 0
        self._awaiting_pong = False
        self._ticks_unanswered = 0  # ping ticks since the unanswered ping was sent

    # -- properties ---------------------------------------------------------
    @property
    def url(self) -> str:
        """The server URL of the current (or next) connection."""
        return self._session.url

    @property
    def urls(self) -> tuple[str, ...]:
        """Every server URL this link may use, in order."""
        return self._session.urls

    @property
    def trail(self) -> list[str]:
        """The last connection steps (connect, lost and why, standby, no
        welcome, welcome...): why the device was offline, for diagnostics."""
        return [what for _, what in self._session.trail]

    @property
    def device(self) -> str:
        """This device's id."""
        return self._session.device

    @property
    def last_seq(self) -> int | None:
        """The seq of the last event delivered (or covered by a welcome)."""
        return self._session.last_seq

    @property
    def welcome(self) -> dict[str, Any] | None:
        """The last welcome message, None before the first."""
        return self._session.welcome

    @property
    def online(self) -> bool:
        """True between a welcome and the next drop."""
        return self._session.online

    @property
    def state(self) -> str:
        """The last status emitted: connecting, online or offline."""
        return self._session.status

    @property
    def role(self) -> str | None:
        """This device's role from the last welcome."""
        welcome = self._session.welcome
        return None if welcome is None else welcome.get("role")

    @property
    def counter(self) -> int | None:
        """This device's counter number from the last welcome (None if unbound)."""
        welcome = self._session.welcome
        return None if welcome is None else welcome.get("counter")

    @property
    def pending(self) -> int:
        """How many requests are waiting for an answer."""
        return self._session.pending

    # -- opening and closing ------------------------------------------------
    def open(self) -> None:
        """Start connecting (and keep reconnecting until ``close()``).

        Calling it again after a refusal tries once more (e.g. after the
        token was fixed); calling it while open does nothing.
        """
        self._run(self._session.open())

    def close(self) -> None:
        """Disconnect, stop reconnecting, fail pending requests with ``offline``."""
        self._run(self._session.close())

    # -- requests -----------------------------------------------------------
    def request(self, type: str, **fields: Any) -> Reply:  # noqa: A002 - wire name
        """Send a request; the answer arrives on the returned ``Reply.done``.

        ``done`` is never emitted before this method returns, so connecting to
        it right after the call is always in time.

        Args:
            type: the request type, e.g. ``"issue"``.
            **fields: the request's fields (JSON-ready). ``id`` is assigned
                by the link.

        Raises:
            ValueError: bad type, a field named ``id``, fields that are not
                JSON-ready, or a frame over 64 KiB.
        """
        return self._submit(Reply(self._session.make_request(type, fields)))

    def retry(self, reply: Reply) -> Reply:
        """Send a finished request again with the same id (same server outcome).

        Use it after a ``timeout`` or ``offline`` failure of a mutating
        request: the server returns the first reply if it had executed it.

        Raises:
            ValueError: when ``reply`` is still pending.
        """
        if not reply.finished:
            raise ValueError(f"request {reply.id} is still pending")
        return self._submit(Reply(dict(reply.message)))

    def _submit(self, reply: Reply) -> Reply:
        actions = self._session.submit(reply.message)
        immediate = [a for a in actions if isinstance(a, Answered) and a.id == reply.id]
        if immediate:
            # Refused at once (queue full): deferred so the caller can connect
            # to done first.
            result = immediate[0].result
            QTimer.singleShot(0, reply, lambda: reply._finish(result))
        else:
            self._replies[reply.id] = reply
        self._run([a for a in actions if a not in immediate])
        return reply

    # -- carrying out the session's actions -----------------------------------
    def _run(self, actions: list[Action]) -> None:
        generation = self._generation
        for action in actions:
            if isinstance(action, Send):
                if self._ws is not None:
                    self._ws.sendTextMessage(action.text)
            elif isinstance(action, Connect):
                self._open_socket(action.url)
            elif isinstance(action, Drop):
                self._drop_socket(action.polite)
            elif isinstance(action, Status):
                self.status.emit(action.status)
            elif isinstance(action, Answered):
                reply = self._replies.pop(action.id, None)
                if reply is not None:
                    reply._finish(action.result)
            elif isinstance(action, Refused):
                self.refused.emit(action.message)
            elif self._generation != generation:
                # A slot dropped or closed the link: what came from the old
                # connection is no longer news.
                continue
            elif isinstance(action, Welcomed):
                if self._ping_enabled:
                    self._ping_timer.setInterval(self._ping_ms)  # the probe is over
                    self._ping_timer.start()
                self.welcomed.emit(action.message)
            elif isinstance(action, Delivered):
                self.event.emit(action.message)
        self._arm()

    def _arm(self) -> None:
        deadline = self._session.next_deadline()
        if deadline is None:
            self._timer.stop()
        else:
            wait_ms = max(0, (deadline - time.monotonic()) * 1000)
            self._timer.start(min(int(wait_ms) + 1, 2**31 - 1))

    def _open_socket(self, url: str) -> None:
        self._drop_socket(polite=False)
        ws = QWebSocket()
        ws.setParent(self)
        self._ws = ws
        # Each handler checks the socket is still the current one: an old
        # socket's late signals must not touch the new connection's state.
        ws.connected.connect(lambda: self._on_connected(ws))
        ws.textMessageReceived.connect(lambda text: self._on_text(ws, text))
        ws.stateChanged.connect(lambda state: self._on_state(ws, state))
        ws.pong.connect(lambda *_: self._on_pong(ws))
        ws.errorOccurred.connect(lambda _err: log.debug("link %s: %s", self.device,
                                                        ws.errorString()))
        ws.open(QUrl(url))

    def _drop_socket(self, polite: bool) -> None:
        """Detach the current socket (its late signals are ignored) and close it."""
        ws, self._ws = self._ws, None
        self._generation += 1
        self._ping_timer.stop()
        self._awaiting_pong = False
        if ws is None:
            return
        if polite and ws.state() == QAbstractSocket.SocketState.ConnectedState:
            ws.disconnected.connect(ws.deleteLater)
            ws.close()
        else:
            ws.abort()
            ws.deleteLater()

    def _on_connected(self, ws: QWebSocket) -> None:
        if ws is self._ws:
            self._run(self._session.connected())
            if self._ping_enabled and ws is self._ws and not self._session.online:
                # Probe until the welcome (PROBE_MS): a frozen server is left.
                self._ping_timer.setInterval(min(PROBE_MS, self._ping_ms))
                self._ping_timer.start()
                self._ping()

    def _on_state(self, ws: QWebSocket, state: QAbstractSocket.SocketState) -> None:
        if state != QAbstractSocket.SocketState.UnconnectedState or ws is not self._ws:
            return
        code = int(ws.closeCode().value) if ws.closeCode() is not None else None
        reason = ws.closeReason() or ws.errorString()
        # Qt sets the error before it reports the state (errorOccurred comes
        # after). The session heeds gone while connecting only.
        # (PySide6's stubs know only the deprecated signal of that name.)
        gone = ws.error() in _GONE_ERRORS  # type: ignore[operator]
        self._drop_socket(polite=False)
        self._run(self._session.lost(code, reason, gone=gone))

    def _on_text(self, ws: QWebSocket, text: str) -> None:
        if ws is not self._ws:
            return
        self._awaiting_pong = False  # any frame proves the connection is alive
        self._run(self._session.receive(text))

    def _ping(self) -> None:
        if self._ws is None:
            return
        if self._awaiting_pong:
            self._ticks_unanswered += 1
            probing = not self._session.online
            # Online: unanswered at the next tick. Probing: within PROBE_TIMEOUT_MS.
            allowed = max(1, PROBE_TIMEOUT_MS // max(1, min(PROBE_MS, self._ping_ms))) \
                if probing else 1
            if self._ticks_unanswered < allowed:
                return
            waited = self._ticks_unanswered * self._ping_timer.interval() / 1000
            log.warning("link %s: no pong within %g s, dropping the connection",
                        self.device, waited)
            # Told to the session here (not via the socket's close), so the
            # trail says why: the URL is marked down like a refused one.
            self._drop_socket(polite=False)
            self._run(self._session.lost(None, f"no pong within {waited:g} s"))
            return
        self._awaiting_pong = True
        self._ticks_unanswered = 0
        self._ws.ping()

    def _on_pong(self, ws: QWebSocket) -> None:
        if ws is self._ws:
            self._awaiting_pong = False
