"""The Qt client link: one WebSocket to the dispatch server (protocol v1).

Kiosk, counter, display and evaluator apps talk to the server only through
:class:`Link`. It runs on Qt's own event loop (``QWebSocket``), so there is
no second loop and tests can use ``qtbot.waitSignal``.

What it does for the app:

* sends ``hello`` as the first frame of every connection, with ``since`` set
  to the last event ``seq`` it delivered;
* emits ``welcomed`` with the whole welcome after every successful hello, then
  every ``event`` exactly once and in ``seq`` order (replays included);
* reconnects by itself with bounded exponential backoff and jitter, except
  after the server refused the hello (wrong token, unsupported protocol):
  then it stops, so a misconfigured device cannot hammer the server;
* queues requests while offline (bounded) and sends them after the next
  welcome; a request that was sent but not answered when the connection
  dropped is sent again **with the same id** after the reconnect. The server
  is idempotent per ``(device, id)`` (PROTOCOL.md), so the resend returns the
  first reply and changes nothing: a request is executed at most once and
  ``Reply.done`` fires exactly once.

Local failures are reported like server errors, with the codes ``timeout``
(no reply within ``timeout_ms`` of the ``request()`` call, wherever the
request was: queued, in flight or being resent) and ``offline`` (``close()``
was called, the send queue is full, or the server refused the hello). After
a ``timeout`` the outcome of a mutating request is unknown; ``retry(reply)``
sends it again with the same id, which is safe for the same reason.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from collections.abc import Callable
from typing import Any, TypeGuard

from PySide6.QtCore import QObject, QTimer, QUrl, Signal
from PySide6.QtNetwork import QAbstractSocket
from PySide6.QtWebSockets import QWebSocket

__all__ = ["PROTOCOL_VERSION", "MAX_FRAME_BYTES", "REFUSAL_CODES", "Link", "Reply",
           "reconnect_delay"]

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
#: Frames are at most 64 KiB (PROTOCOL.md, "Frames").
MAX_FRAME_BYTES = 64 * 1024
#: Hello error codes after which reconnecting cannot help.
REFUSAL_CODES = frozenset({"unauthorized", "unsupported_protocol"})

# Status values emitted by Link.status.
CONNECTING = "connecting"
ONLINE = "online"
OFFLINE = "offline"


def _is_int(value: Any) -> TypeGuard[int]:
    # bool is an int subclass; a seq of True is malformed, not 1.
    return isinstance(value, int) and not isinstance(value, bool)


def reconnect_delay(attempt: int, backoff: tuple[float, float],
                    rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before reconnect attempt number ``attempt`` (0-based).

    Exponential (``first * 2**attempt``) capped at ``max``, then scaled by a
    random factor in [0.5, 1): "equal jitter", so a hall of clients spreads
    out after a server restart yet none waits longer than ``max``.
    """
    first, most = backoff
    return min(most, first * 2 ** min(attempt, 30)) * (0.5 + rand() / 2)


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
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)

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
        self._timer.stop()
        self.result = result
        self.done.emit(result)
        return True


class Link(QObject):
    """A self-healing connection to the dispatch server.

    Args:
        url: ``ws://host:port/ws`` (or ``wss://``).
        device: this device's id in the hall configuration.
        token: this device's secret.
        parent: Qt parent.
        timeout_ms: per-request timeout, also the bound on opening a
            connection and getting the welcome.
        backoff: ``(first, max)`` reconnect delay in seconds. The n-th failed
            attempt in a row waits ``min(max, first * 2**n)`` scaled by a
            random factor in [0.5, 1] so a hall of clients does not reconnect
            in lock-step after a server restart.
        max_queued: how many requests may wait while offline; beyond that a
            request fails at once with code ``offline``.
        ping_ms: keep-alive ping interval while online; a ping still
            unanswered at the next tick means a dead (half-open) connection.
            0 disables it.

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
        url: str,
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
        qurl = QUrl(url)
        if not isinstance(url, str) or qurl.scheme() not in ("ws", "wss") or not qurl.host():
            raise ValueError(f"link url must be ws://host:port/path or wss://..., got {url!r}")
        if not isinstance(device, str) or not device:
            raise ValueError("link device must be a non-empty string")
        if not isinstance(token, str):
            raise ValueError("link token must be a string")
        if not _is_int(timeout_ms) or timeout_ms <= 0:
            raise ValueError(f"timeout_ms must be a positive int, got {timeout_ms!r}")
        first, most = backoff
        if not 0 < first <= most:
            raise ValueError(f"backoff must be (first, max) with 0 < first <= max, got {backoff!r}")
        if not _is_int(max_queued) or max_queued < 0:
            raise ValueError(f"max_queued must be an int >= 0, got {max_queued!r}")
        if not _is_int(ping_ms) or ping_ms < 0:
            raise ValueError(f"ping_ms must be an int >= 0, got {ping_ms!r}")

        self._url = qurl
        self._device = device
        self._token = token
        self._timeout_ms = timeout_ms
        self._backoff = (float(first), float(most))
        self._max_queued = max_queued

        self._wanted = False  # open() called and neither close() nor refused since
        self._ws: QWebSocket | None = None
        self._hello_id: str | None = None
        self._online = False
        self._status = OFFLINE
        self._attempt = 0  # failed connection attempts in a row
        self._last_seq: int | None = None
        self._covered = -1  # the current welcome's snapshot covers events <= this seq
        self._early: list[dict[str, Any]] = []  # events seen before the welcome
        self._welcome: dict[str, Any] | None = None
        # Pending requests in request() order; value: sent on this connection?
        self._pending: dict[str, Reply] = {}
        self._sent: set[str] = set()

        self._retry_timer = QTimer(self)
        self._retry_timer.setSingleShot(True)
        self._retry_timer.timeout.connect(self._connect)
        # Bounds connecting + hello; a server that never welcomes gets dropped.
        self._open_timer = QTimer(self)
        self._open_timer.setSingleShot(True)
        self._open_timer.timeout.connect(self._open_timed_out)
        self._ping_timer = QTimer(self)
        self._ping_timer.setInterval(ping_ms)
        self._ping_timer.timeout.connect(self._ping)
        self._ping_enabled = ping_ms > 0
        self._awaiting_pong = False

    # -- properties ---------------------------------------------------------
    @property
    def url(self) -> str:
        """The server URL."""
        return self._url.toString()

    @property
    def device(self) -> str:
        """This device's id."""
        return self._device

    @property
    def last_seq(self) -> int | None:
        """The seq of the last event delivered (or covered by a welcome)."""
        return self._last_seq

    @property
    def welcome(self) -> dict[str, Any] | None:
        """The last welcome message, None before the first."""
        return self._welcome

    @property
    def online(self) -> bool:
        """True between a welcome and the next drop."""
        return self._online

    @property
    def state(self) -> str:
        """The last status emitted: connecting, online or offline."""
        return self._status

    @property
    def role(self) -> str | None:
        """This device's role from the last welcome."""
        return None if self._welcome is None else self._welcome.get("role")

    @property
    def counter(self) -> int | None:
        """This device's counter number from the last welcome (None if unbound)."""
        return None if self._welcome is None else self._welcome.get("counter")

    @property
    def pending(self) -> int:
        """How many requests are waiting for an answer."""
        return len(self._pending)

    # -- opening and closing ------------------------------------------------
    def open(self) -> None:
        """Start connecting (and keep reconnecting until ``close()``).

        Calling it again after a refusal tries once more (e.g. after the
        token was fixed); calling it while open does nothing.
        """
        if self._wanted:
            return
        self._wanted = True
        self._attempt = 0
        self._connect()

    def close(self) -> None:
        """Disconnect, stop reconnecting, fail pending requests with ``offline``."""
        self._wanted = False
        self._retry_timer.stop()
        self._drop_socket(polite=True)
        self._fail_pending("offline", "link closed")
        self._set_status(OFFLINE)

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
        if not isinstance(type, str) or not type or type == "hello":
            raise ValueError(f"request type must be a non-empty string other than hello: {type!r}")
        if "id" in fields:
            raise ValueError("request ids are assigned by the link; do not pass id=")
        message = {"type": type, "id": uuid.uuid4().hex, **fields}
        self._check_frame(message)
        reply = Reply(message)
        if not self._online and len(self._pending) >= self._max_queued:
            self._fail_later(reply, "offline", "link offline and send queue full")
            return reply
        self._track(reply)
        return reply

    def retry(self, reply: Reply) -> Reply:
        """Send a finished request again with the same id (same server outcome).

        Use it after a ``timeout`` or ``offline`` failure of a mutating
        request: the server returns the first reply if it had executed it.

        Raises:
            ValueError: when ``reply`` is still pending.
        """
        if not reply.finished:
            raise ValueError(f"request {reply.id} is still pending")
        again = Reply(dict(reply.message))
        if not self._online and len(self._pending) >= self._max_queued:
            self._fail_later(again, "offline", "link offline and send queue full")
            return again
        self._track(again)
        return again

    def _track(self, reply: Reply) -> None:
        self._pending[reply.id] = reply
        reply._timer.timeout.connect(lambda rid=reply.id: self._expire(rid))
        reply._timer.start(self._timeout_ms)
        if self._online:
            self._send_request(reply)

    @staticmethod
    def _check_frame(message: dict[str, Any]) -> str:
        try:
            text = json.dumps(message, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"request fields are not JSON-ready: {exc}") from None
        size = len(text.encode("utf-8"))
        if size > MAX_FRAME_BYTES:
            raise ValueError(f"request frame is {size} bytes, over the {MAX_FRAME_BYTES} limit")
        return text

    def _fail_later(self, reply: Reply, code: str, message: str) -> None:
        # Deferred so the caller can connect to done first.
        result = {"type": "error", "re": reply.id, "code": code, "message": message}
        QTimer.singleShot(0, reply, lambda: reply._finish(result))

    def _expire(self, rid: str) -> None:
        reply = self._pending.pop(rid, None)
        self._sent.discard(rid)
        if reply is not None:
            reply._finish({"type": "error", "re": rid, "code": "timeout",
                           "message": f"no reply within {self._timeout_ms} ms"})

    def _fail_pending(self, code: str, message: str) -> None:
        pending, self._pending = self._pending, {}
        self._sent.clear()
        for rid, reply in pending.items():
            reply._finish({"type": "error", "re": rid, "code": code, "message": message})

    def _send_request(self, reply: Reply) -> None:
        if reply.id in self._sent or self._ws is None:
            return
        self._sent.add(reply.id)
        self._ws.sendTextMessage(json.dumps(reply.message, ensure_ascii=False))

    # -- connection life cycle ----------------------------------------------
    def _set_status(self, status: str) -> None:
        if status != self._status:
            self._status = status
            self.status.emit(status)

    def _connect(self) -> None:
        if not self._wanted or self._ws is not None:
            return
        ws = QWebSocket()
        ws.setParent(self)
        self._ws = ws
        self._hello_id = None
        self._early = []
        # Each handler checks the socket is still the current one: an old
        # socket's late signals must not touch the new connection's state.
        ws.connected.connect(lambda: self._on_connected(ws))
        ws.textMessageReceived.connect(lambda text: self._on_text(ws, text))
        ws.stateChanged.connect(lambda state: self._on_state(ws, state))
        ws.pong.connect(lambda *_: self._on_pong(ws))
        ws.errorOccurred.connect(lambda _err: log.debug("link %s: %s", self._device,
                                                        ws.errorString()))
        self._set_status(CONNECTING)
        self._open_timer.start(self._timeout_ms)
        ws.open(self._url)

    def _on_connected(self, ws: QWebSocket) -> None:
        if ws is not self._ws:
            return
        self._hello_id = uuid.uuid4().hex
        hello = {"type": "hello", "id": self._hello_id, "protocol": PROTOCOL_VERSION,
                 "device": self._device, "token": self._token, "since": self._last_seq,
                 # Several events may come in one frame (docs/PROTOCOL.md): one
                 # frame per burst instead of one per event on a busy hall.
                 "batch": True}
        ws.sendTextMessage(json.dumps(hello, ensure_ascii=False))

    def _on_state(self, ws: QWebSocket, state: QAbstractSocket.SocketState) -> None:
        if state == QAbstractSocket.SocketState.UnconnectedState and ws is self._ws:
            self._lost()

    def _open_timed_out(self) -> None:
        if self._ws is not None and not self._online:
            log.warning("link %s: no welcome within %d ms", self._device, self._timeout_ms)
            self._ws.abort()

    def _drop_socket(self, polite: bool) -> None:
        """Detach the current socket (its late signals are ignored) and close it."""
        ws, self._ws = self._ws, None
        self._online = False
        self._hello_id = None
        self._open_timer.stop()
        self._ping_timer.stop()
        self._awaiting_pong = False
        # Unanswered requests are resent with the same id on the next welcome.
        self._sent.clear()
        if ws is None:
            return
        if polite and ws.state() == QAbstractSocket.SocketState.ConnectedState:
            ws.disconnected.connect(ws.deleteLater)
            ws.close()
        else:
            ws.abort()
            ws.deleteLater()

    def _lost(self) -> None:
        """The current connection ended (or never opened): schedule a retry."""
        was_online = self._online
        ws = self._ws
        self._drop_socket(polite=False)
        if ws is not None:
            reason = ws.closeReason() or ws.errorString()
            log.info("link %s: connection lost (%s)", self._device, reason)
        self._set_status(OFFLINE)
        if not self._wanted:
            return
        if was_online:
            self._attempt = 0
        delay = reconnect_delay(self._attempt, self._backoff)
        self._attempt += 1
        self._retry_timer.start(max(1, round(delay * 1000)))

    def _ping(self) -> None:
        if self._ws is None:
            return
        if self._awaiting_pong:
            log.warning("link %s: no pong, dropping the connection", self._device)
            self._ws.abort()
            return
        self._awaiting_pong = True
        self._ws.ping()

    def _on_pong(self, ws: QWebSocket) -> None:
        if ws is self._ws:
            self._awaiting_pong = False

    # -- incoming frames ----------------------------------------------------
    def _on_text(self, ws: QWebSocket, text: str) -> None:
        if ws is not self._ws:
            return
        self._awaiting_pong = False  # any frame proves the connection is alive
        try:
            msg = json.loads(text)
        except ValueError:
            log.warning("link %s: ignoring a frame that is not JSON: %.200r", self._device, text)
            return
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            log.warning("link %s: ignoring a frame without a type: %.200r", self._device, text)
            return
        self._on_message(msg)

    def _on_message(self, msg: dict[str, Any]) -> None:
        kind = msg["type"]
        if kind == "batch" and self._online:
            for inner in msg.get("messages") or ():
                if isinstance(inner, dict) and isinstance(inner.get("type"), str):
                    self._on_message(inner)
                    if not self._online:
                        return  # a gap inside the batch dropped the connection
            return
        if not self._online:
            self._on_text_opening(msg, kind)
        elif kind == "event":
            self._on_event(msg)
        elif kind in ("ok", "error"):
            self._on_reply(msg)
        else:
            # Unknown types are protocol extensions this client does not use.
            log.debug("link %s: ignoring message type %r", self._device, kind)

    def _on_text_opening(self, msg: dict[str, Any], kind: str) -> None:
        re = msg.get("re")
        if kind == "welcome" and re is not None and re == self._hello_id:
            self._on_welcome(msg)
        elif kind == "error" and re is not None and re == self._hello_id:
            self._on_hello_error(msg)
        elif kind == "event":
            # Should not happen before the welcome; keep it for after.
            self._early.append(msg)
        else:
            log.warning("link %s: ignoring %r before the welcome", self._device, kind)

    def _on_hello_error(self, msg: dict[str, Any]) -> None:
        code = msg.get("code")
        if code in REFUSAL_CODES:
            log.error("link %s: server refused hello: %s (%s)", self._device, code,
                      msg.get("message"))
            self._wanted = False
            self._retry_timer.stop()
            self._drop_socket(polite=True)
            self._fail_pending("offline", f"server refused this device: {code}")
            self._set_status(OFFLINE)
            self.refused.emit(msg)
        else:
            # bad_request, rate_limited, internal...: worth another try later.
            log.warning("link %s: hello failed: %s (%s)", self._device, code, msg.get("message"))
            if self._ws is not None:
                self._ws.abort()

    def _on_welcome(self, msg: dict[str, Any]) -> None:
        seq = msg.get("seq")
        if not _is_int(seq) or seq < 0 or not isinstance(msg.get("role"), str):
            log.warning("link %s: malformed welcome, reconnecting: %.200r", self._device, msg)
            if self._ws is not None:
                self._ws.abort()
            return
        if self._last_seq is not None and seq < self._last_seq:
            # The server's history restarted (new database): its snapshot is
            # the truth and our old seqs mean nothing any more.
            log.warning("link %s: server seq went back from %d to %d",
                        self._device, self._last_seq, seq)
            self._last_seq = seq
        elif self._last_seq is None:
            self._last_seq = seq
        self._covered = seq
        self._welcome = msg
        self._online = True
        self._attempt = 0
        self._open_timer.stop()
        if self._ping_enabled:
            self._ping_timer.start()
        # Flush before emitting: a slot that calls request() must not jump
        # ahead of requests queued earlier.
        for reply in list(self._pending.values()):
            self._send_request(reply)
        ws = self._ws
        self._set_status(ONLINE)
        if self._ws is ws:
            self.welcomed.emit(msg)
        early, self._early = self._early, []
        for ev in early:
            if self._ws is not ws:  # a slot closed or dropped the link
                return
            self._on_event(ev)

    def _on_event(self, msg: dict[str, Any]) -> None:
        seq = msg.get("seq")
        if not _is_int(seq) or not isinstance(msg.get("name"), str):
            log.warning("link %s: ignoring a malformed event: %.200r", self._device, msg)
            return
        last = -1 if self._last_seq is None else self._last_seq
        if seq <= last:
            log.debug("link %s: duplicate event %d dropped", self._device, seq)
            return
        if seq != last + 1 and seq - 1 > self._covered:
            # Events are missing and the welcome's snapshot does not cover
            # them: reconnect with since=last; the server replays them or
            # sends a snapshot that is authoritative.
            log.warning("link %s: event gap (%d after %d), resyncing", self._device, seq, last)
            if self._ws is not None:
                self._ws.abort()
            return
        self._last_seq = seq
        self.event.emit(msg)

    def _on_reply(self, msg: dict[str, Any]) -> None:
        re = msg.get("re")
        reply = self._pending.pop(re, None) if isinstance(re, str) else None
        if reply is None:
            if msg["type"] == "error":
                log.warning("link %s: server error %s (%s) for %r", self._device,
                            msg.get("code"), msg.get("message"), re)
            else:
                log.debug("link %s: late or unknown reply for %r", self._device, re)
            return
        self._sent.discard(re)
        reply._finish(msg)

