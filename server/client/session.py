"""The client side of protocol v1 as a sans-I/O state machine.

:class:`ClientSession` holds everything a qhall client must get right, and
nothing about sockets, Qt or asyncio: the I/O layer (``server.client.qtlink.Link`` on
Qt, :class:`server.client.aio.AsyncClient` on asyncio) tells it what
happened (``connected()``, ``receive(text)``, ``lost(code)``, ``tick()``)
and carries out the :class:`Action` list each call returns, in order. So the
rules are written once and unit-tested without a network.

Rules:

* Every connection starts with ``hello`` (protocol, device, token, ``since`` =
  the last event ``seq`` delivered, ``batch`` when asked for).
* Events are delivered once and in ``seq`` order: ``seq <= last`` is a
  duplicate (dropped); a jump the welcome's snapshot does not cover is a gap:
  drop the connection and resume with ``since`` (the server replays or sends
  an authoritative snapshot). A welcome whose ``seq`` is lower than ours means
  the server's history restarted: its snapshot is the truth.
* Requests are kept by id until answered or expired. Unanswered ones are sent
  again, **with the same id**, after the next welcome; the server is
  idempotent per ``(device, id)``, so a resend returns the first reply. Each
  request is answered exactly once (server reply, ``timeout`` or ``offline``).
* Several server URLs (failover, PROTOCOL.md "Several instances of one
  hall"): a connection that ends for any reason but our own resync (close
  1012/1013, a dead socket, no welcome in time, a hello error) moves to the
  next URL after ``reconnect_delay``. A hello refused with ``standby`` moves to
  the owner it names when that is one of our URLs (a device token is never
  sent to an address the operator did not configure), else to the next one;
  when that owner was found down just now, it stays on (says hello again to)
  that standby: the owner's lease is running out, and the standby knows
  first who serves next (it holds such a hello until it has taken the hall
  or seen who did), where any other URL's state is unknown. Unless the
  standby says that owner took the hall after it was found down (its
  ``owner_for``): restarted or woken, it is up, and the standby would name
  it for as long as it renews.
* A URL found down is passed over for a while (:data:`AVOID_S`), a URL
  found *gone* (its connect refused or reset: nothing listens there) only
  :data:`GONE_STAY_S`; the opening handshake may take :data:`OPEN_S`. When
  the owner a standby named turns out gone, the device goes back to that
  standby.
* The welcome may take :data:`OWNER_PATIENCE_S` instead of the timeout once
  the socket is open, at the owner a standby named, at the standby stayed
  on, and at any URL while another was found down lately or gave no welcome
  in its wait (a takeover is under way: a new owner loading, a standby
  holding the hello).
* ``unauthorized`` / ``unsupported_protocol`` stop the session: reconnecting
  cannot help, and a misconfigured device must not hammer the server.

States and transitions (``TRANSITIONS`` below is the table the code obeys)::

        open()                 connected()             welcome
  IDLE ───────▶ CONNECTING ───────────────▶ HELLO ───────────────▶ ONLINE
   ▲              ▲   │                      │                       │
   │   retry due  │   │ lost / deadline      │ lost / deadline /     │ lost / gap
   │   (tick)     │   ▼                      │ hello error / standby │
   │            WAITING ◀────────────────────┴───────────────────────┘
   │
   └── close() from any state; refusal (unauthorized, unsupported_protocol)
       from HELLO
"""

from __future__ import annotations

import collections
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from server.wire.protocol import (
    CLOSE_SERVICE_RESTART,
    CLOSE_TRY_AGAIN,
    MAX_FRAME,
    PROTOCOL_VERSION,
    REFUSAL_CODES,
    STANDBY,
)

__all__ = [
    "IDLE", "CONNECTING", "HELLO", "ONLINE", "WAITING", "TRANSITIONS",
    "Action", "Connect", "Send", "Drop", "Status", "Welcomed", "Delivered", "Answered",
    "Refused", "ClientSession", "SessionError", "parse_urls", "reconnect_delay",
    "OWNER_PATIENCE_S", "OPEN_S", "AVOID_S", "GONE_STAY_S",
]

log = logging.getLogger(__name__)

#: The close code of a connection that ended without a closing handshake.
CLOSE_ABNORMAL = 1006
#: Connection steps kept in ``ClientSession.trail``.
TRAIL = 64
# -- failover timings: the web board (server/web/board.html) has the same
# values in ms (tests/web/test_webboard.py keeps them equal).
#: The opening handshake (TCP connect and the websocket upgrade's HTTP
#: answer) may take this long, or the request timeout when that is shorter.
#: A live server answers an upgrade in milliseconds (tens under load); a
#: frozen one (SIGSTOP: the kernel still accepts its TCP connections) never
#: does, and a device used to wait the whole request timeout (5 s in chaos)
#: there before trying the next URL. On expiry the URL is found down.
OPEN_S = 3.0
#: A URL found down (no HTTP answer within OPEN_S, a socket cut or left
#: unanswered: a frozen or dead server) is passed over for this long while
#: another URL is worth a try, even when a standby names it as the owner: a
#: standby names a dead owner until its lease runs out (up to a lease, 5 s
#: by default), and a frozen one costs OPEN_S per visit.
AVOID_S = 10.0
#: ... but a URL found *gone* (its connect refused or reset: nothing listens
#: there, the process is dead) only this long: trying it again costs nothing
#: (the refusal is immediate), and a killed instance is restarted within
#: seconds. This holds for the owner a standby names too: found gone, it is
#: tried again once this has passed (and, if still gone, the device goes
#: back to that standby, not round the other URLs).
GONE_STAY_S = 2.0
#: After a standby's refusal the next try comes within this, whatever the
#: backoff: a standby means the hall is about to have an owner again (a
#: takeover takes about a lease), and a device must not sleep through it.
STANDBY_BACKOFF_MAX_S = 1.5
#: Once a socket to the server a standby has just named as the hall's owner
#: is open, its welcome may take this long (not just the timeout). That
#: server is up - it answered the upgrade - and only busy: a new owner
#: loading the halls it took and welcoming all their devices at once. Leaving
#: it sent the device round the standbys (each names it again) only to queue
#: its hello at the back once more: devices cycled for a minute. A dead owner
#: still ends the socket (closed, or no pong), and a frozen one costs at most
#: this. The same patience goes to a standby that named an owner found down
#: (the device stays on it: it holds the hello until it has taken the hall
#: or seen who did, about a lease at most) and to any server while a URL was
#: found down within AVOID_S: during a takeover a server that answered the
#: upgrade is a standby holding the hello or a new owner loading. So does
#: any other server tried within AVOID_S after one that gave no welcome in
#: its wait though it answered every probe (alive but silent: a takeover
#: under way, and the next server is likely the one loading the hall): before,
#: after a 15 s silence at the standby stayed on, the owner found down had
#: dropped out of AVOID_S and the next server got the 5 s timeout only.
OWNER_PATIENCE_S = 15.0

# Session states.
IDLE = "idle"              # not wanted: before open(), after close() or a refusal
WAITING = "waiting"        # between attempts: the next one is due at a deadline
CONNECTING = "connecting"  # the I/O layer is opening a socket
HELLO = "hello"            # socket open, hello sent, no welcome yet
ONLINE = "online"          # welcomed: events and replies flow

#: (state, trigger) -> next state. Anything else is a bug in the I/O layer.
TRANSITIONS: dict[tuple[str, str], str] = {
    (IDLE, "open"): CONNECTING,
    (WAITING, "retry"): CONNECTING,
    (CONNECTING, "connected"): HELLO,
    (HELLO, "welcome"): ONLINE,
    (HELLO, "refused"): IDLE,
    (CONNECTING, "failed"): WAITING,
    (HELLO, "failed"): WAITING,
    (ONLINE, "failed"): WAITING,
    (ONLINE, "resync"): WAITING,
    **{(state, "close"): IDLE for state in (IDLE, WAITING, CONNECTING, HELLO, ONLINE)},
}

# Status values reported to the app (Link.status): fewer than the states.
_STATUS = {IDLE: "offline", WAITING: "offline", CONNECTING: "connecting", HELLO: "connecting",
           ONLINE: "online"}


class SessionError(RuntimeError):
    """The I/O layer called the session in a state where that cannot happen."""


# -- actions: what the I/O layer must do, in order -----------------------------
@dataclass(frozen=True)
class Connect:
    """Open a socket to ``url``; then call ``connected()`` or ``lost()``."""

    url: str


@dataclass(frozen=True)
class Send:
    """Send ``text`` as one text frame on the current socket."""

    text: str


@dataclass(frozen=True)
class Drop:
    """Close the current socket and ignore anything it still reports.

    ``polite``: a closing handshake (we are done); else abort at once.
    """

    polite: bool = False


@dataclass(frozen=True)
class Status:
    """The app-visible status changed: ``connecting``, ``online``, ``offline``."""

    status: str


@dataclass(frozen=True)
class Welcomed:
    """A welcome arrived (after every successful hello)."""

    message: dict[str, Any]


@dataclass(frozen=True)
class Delivered:
    """An event to hand to the app (each seq once, in order)."""

    message: dict[str, Any]


@dataclass(frozen=True)
class Answered:
    """Request ``id`` is finished with ``result`` (``ok`` or ``error``)."""

    id: str
    result: dict[str, Any]


@dataclass(frozen=True)
class Refused:
    """The server refused this device for good (``message`` is its error)."""

    message: dict[str, Any]


Action = Connect | Send | Drop | Status | Welcomed | Delivered | Answered | Refused


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


def parse_urls(urls: str | Iterable[str]) -> tuple[str, ...]:
    """Server URLs from ``"ws://a/ws,ws://b/ws"`` or a list, checked, in order.

    Raises:
        ValueError: none given, or one is not ``ws://host[:port]/path`` /
            ``wss://...`` (the message names it).
    """
    parts = urls.split(",") if isinstance(urls, str) else list(urls)
    out: list[str] = []
    for part in parts:
        url = part.strip() if isinstance(part, str) else part
        try:
            split = urlsplit(url) if isinstance(url, str) else None
            ok = split is not None and split.scheme in ("ws", "wss") and bool(split.hostname)
            if split is not None:
                split.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"server url must be ws://host:port/path or wss://..., got {url!r}")
        if url not in out:
            out.append(url)
    if not out:
        raise ValueError("at least one server url is needed")
    return tuple(out)


@dataclass
class _Pending:
    message: dict[str, Any]
    text: str
    deadline: float
    sent: bool = False  # on the current connection


class ClientSession:
    """One device's protocol-v1 session, across connections and servers.

    Args:
        urls: server URLs (``parse_urls`` input): tried in turn.
        device: this device's id in the hall configuration.
        token: this device's secret.
        timeout_s: per-request timeout, also the bound on getting the
            welcome once the socket is open; opening it may take
            :data:`OPEN_S` (or ``timeout_s`` when shorter).
        backoff: ``(first, max)`` reconnect delay in seconds (see
            :func:`reconnect_delay`).
        max_queued: how many requests may wait while not online; beyond that
            a request fails at once with ``offline``.
        batch: ask the server for several events per frame.
        filtered: the I/O layer skips frames the app does not need (the load
            test's counters), so a jump in ``seq`` is not a gap.
        clock: monotonic seconds; deadlines are on this clock.
        rand: jitter source for the backoff.

    Attributes:
        state: one of the states above.
        urls: the server URLs, in order.
        index: which of them the current (or next) connection goes to.
        last_seq: the seq of the last event delivered (or covered by a welcome).
        welcome: the last welcome, None before the first.
        trail: the last connection steps as ``(clock seconds, what)``
            (connect, lost, standby, no welcome, welcome...): why a device
            was offline, for diagnostics (``qhall chaos`` prints the worst).

    Raises:
        ValueError: on a bad url, device, token or timing argument.
    """

    def __init__(self, urls: str | Iterable[str], device: str, token: str, *,
                 timeout_s: float = 5.0, backoff: tuple[float, float] = (0.5, 10.0),
                 max_queued: int = 100, batch: bool = True, filtered: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 rand: Callable[[], float] = random.random) -> None:
        self.urls = parse_urls(urls)
        if not isinstance(device, str) or not device:
            raise ValueError("device must be a non-empty string")
        if not isinstance(token, str):
            raise ValueError("token must be a string")
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) \
                or not timeout_s > 0:
            raise ValueError(f"timeout must be positive, got {timeout_s!r}")
        first, most = backoff
        if not 0 < first <= most:
            raise ValueError(f"backoff must be (first, max) with 0 < first <= max, "
                             f"got {backoff!r}")
        if not _is_int(max_queued) or max_queued < 0:
            raise ValueError(f"max_queued must be an int >= 0, got {max_queued!r}")
        self.device = device
        self.token = token
        self.timeout_s = float(timeout_s)
        self.backoff = (float(first), float(most))
        self.max_queued = max_queued
        self.batch = batch
        self.filtered = filtered
        self.clock = clock
        self.rand = rand
        self.state = IDLE
        self.index = 0
        self.last_seq: int | None = None
        self.welcome: dict[str, Any] | None = None
        #: the last welcome's ``resume`` ticket, sent back in the next hello
        #: (the server then skips the token's scrypt check: failover)
        self.resume: str | None = None
        self._status = _STATUS[IDLE]
        self._attempt = 0  # failed connection attempts in a row
        self._deadline: float | None = None  # retry due (WAITING) or welcome due
        self._hello_id: str | None = None
        self._covered = -1  # the current welcome's snapshot covers events <= this seq
        self._early: list[dict[str, Any]] = []  # events seen before the welcome
        self._pending: dict[str, _Pending] = {}  # in request order
        self._unreachable: dict[int, float] = {}  # url index -> when it last could not be reached
        self._gone: set[int] = set()  # ... and those whose connect was refused or reset then
        self._named: int | None = None  # url index a standby named as the owner, for the next try
        self._stayed = False  # ... and that index is the standby itself (its owner found down)
        self._named_by: int | None = None  # ... and the standby that named it (not stayed on)
        self._welcome_s = self.timeout_s  # the current socket's wait for its welcome
        #: (url index, when): the last open socket that got no welcome in time
        self._silent: tuple[int, float] | None = None
        self.trail: collections.deque[tuple[float, str]] = collections.deque(maxlen=TRAIL)
        #: hello refusals by code (rate_limited, standby...), for the load tools
        self.hello_errors: collections.Counter[str] = collections.Counter()

    # -- reading ------------------------------------------------------------
    @property
    def url(self) -> str:
        """The URL of the current (or next) connection."""
        return self.urls[self.index]

    @property
    def status(self) -> str:
        """The last status reported: connecting, online or offline."""
        return self._status

    @property
    def online(self) -> bool:
        return self.state == ONLINE

    @property
    def pending(self) -> int:
        """How many requests wait for an answer."""
        return len(self._pending)

    def open_wait(self) -> float:
        """How long opening a socket (connect and upgrade) may take: :data:`OPEN_S`,
        or ``timeout_s`` when shorter."""
        return min(OPEN_S, self.timeout_s)

    def welcome_wait(self) -> float:
        """How long an open socket waits for its welcome: ``timeout_s``, or
        :data:`OWNER_PATIENCE_S` when this URL is the owner a standby named
        just before or the standby stayed on, or while a URL was found down
        or gave no welcome within :data:`AVOID_S` (see there)."""
        return max(self.timeout_s, OWNER_PATIENCE_S) if self._patience() else self.timeout_s

    def _patience(self) -> str | None:
        """Why this URL's welcome earns :data:`OWNER_PATIENCE_S` (None: it does not)."""
        if self._named is not None and self._named == self.index:
            return "the standby stayed on" if self._stayed else "the owner named by a standby"
        now = self.clock()
        if any(now - failed < AVOID_S for failed in self._unreachable.values()):
            return "a server was found down: a takeover is under way"
        if self._silent is not None and self._silent[0] != self.index \
                and now - self._silent[1] < AVOID_S:
            return "a server gave no welcome: a takeover is under way"
        return None

    def next_deadline(self) -> float | None:
        """When ``tick()`` has something to do (clock seconds), or None."""
        times = [p.deadline for p in self._pending.values()]
        if self._deadline is not None:
            times.append(self._deadline)
        return min(times, default=None)

    # -- commands from the app ----------------------------------------------
    def open(self) -> list[Action]:
        """Start connecting (and keep reconnecting until ``close()``).

        Again after a refusal: one more try (say, the token was fixed). While
        already open: nothing.
        """
        if self.state != IDLE:
            return []
        self._attempt = 0
        self._move("open")
        return self._connect()

    def close(self) -> list[Action]:
        """Disconnect, stop reconnecting, fail pending requests with ``offline``."""
        had_socket = self.state in (CONNECTING, HELLO, ONLINE)
        self._move("close")
        self._named = self._named_by = None
        self._reset_connection()
        out: list[Action] = [Drop(polite=True)] if had_socket else []
        out += self._fail_pending("offline", "link closed")
        return out + self._status_actions()

    def make_request(self, type: str, fields: dict[str, Any]) -> dict[str, Any]:  # noqa: A002
        """A request message with a fresh id, checked to fit in one frame.

        Raises:
            ValueError: bad type, a field named ``id``, fields that are not
                JSON-ready, or a frame over the limit.
        """
        if not isinstance(type, str) or not type or type == "hello":
            raise ValueError(f"request type must be a non-empty string other than hello: {type!r}")
        if "id" in fields:
            raise ValueError("request ids are assigned by the link; do not pass id=")
        message = {"type": type, "id": uuid.uuid4().hex, **fields}
        self._encode(message)
        return message

    def submit(self, message: dict[str, Any]) -> list[Action]:
        """Send ``message`` (a request with an ``id``) now or after the next welcome.

        Its answer comes as exactly one :class:`Answered` later, or in the
        returned list (``offline``: not online and the queue is full). The
        same message may be submitted again once answered: same id, so the
        server gives the first outcome.

        Raises:
            ValueError: the id is already pending, or the frame is too big.
        """
        rid = message.get("id")
        if not isinstance(rid, str) or not rid:
            raise ValueError("a request needs a non-empty string id")
        if rid in self._pending:
            raise ValueError(f"request {rid} is still pending")
        text = self._encode(message)
        if not self.online and len(self._pending) >= self.max_queued:
            return [Answered(rid, _error(rid, "offline", "link offline and send queue full"))]
        entry = _Pending(message, text, self.clock() + self.timeout_s)
        self._pending[rid] = entry
        return self._send_pending(entry) if self.online else []

    # -- what the I/O layer saw -----------------------------------------------
    def connected(self) -> list[Action]:
        """The socket asked for by :class:`Connect` is open: say hello."""
        self._move("connected")
        wait = self._welcome_s = self.welcome_wait()
        self._note(f"open {self.url}, hello sent"
                   + (f" ({self._patience()}: {wait:g} s for a welcome)"
                      if wait > self.timeout_s else ""))
        # The welcome gets a whole timeout from here: a server that upgraded
        # the socket is up (a frozen one never gets this far), only busy -
        # a new owner loading its halls and checking every device's token -
        # and leaving it for a standby helps nobody.
        self._deadline = self.clock() + wait
        self._hello_id = uuid.uuid4().hex
        hello = {"type": "hello", "id": self._hello_id, "protocol": PROTOCOL_VERSION,
                 "device": self.device, "token": self.token, "since": self.last_seq}
        if self.resume is not None:
            hello["resume"] = self.resume
        if self.batch:
            # Several events may come in one frame (docs/PROTOCOL.md): one
            # frame per burst instead of one per event on a busy hall.
            hello["batch"] = True
        return [Send(json.dumps(hello, ensure_ascii=False))]

    def lost(self, code: int | None = None, reason: str = "", *,
             gone: bool = False) -> list[Action]:
        """The socket failed to open or ended by itself (``code``: its close code).

        ``gone``: the I/O layer's connect was refused or reset (nothing
        listens there); heeded while connecting only. The URL is then passed
        over for :data:`GONE_STAY_S`, not :data:`AVOID_S`.
        """
        if self.state not in (CONNECTING, HELLO, ONLINE):
            return []  # a socket we already dropped
        gone = gone and self.state == CONNECTING
        if self.state == CONNECTING or code in (None, CLOSE_ABNORMAL):
            # Refused, reset or cut: the server is down, not stepping aside.
            self._found_down(gone=gone)
        why = {CLOSE_SERVICE_RESTART: "server restarting or stepping down",
               CLOSE_TRY_AGAIN: "server busy or standby"}.get(code or 0, reason or "closed")
        log.info("client %s: connection to %s lost (%s%s)", self.device, self.url,
                 f"{code}: " if code else "", why)
        self._note(f"lost {self.url} ({f'{code}: ' if code else ''}{why})"
                   + (f", gone: passed over {GONE_STAY_S:g} s" if gone else ""))
        back = self._named_by if gone and self._named == self.index else None
        if back is not None:
            # The owner a standby named is gone (its lease not yet out): that
            # standby, not a URL of unknown state, learns first who serves next.
            self._note(f"back to the standby {self.urls[back]}")
            return self._fail_attempt(back, drop=False, standby=True)
        return self._fail_attempt(self._next_index(), drop=False)

    def receive(self, text: str | bytes) -> list[Action]:
        """One frame arrived on the current socket."""
        if self.state not in (HELLO, ONLINE):
            return []
        try:
            msg = json.loads(text)
        except ValueError:
            log.warning("client %s: ignoring a frame that is not JSON: %.200r", self.device, text)
            return []
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            log.warning("client %s: ignoring a frame without a type: %.200r", self.device, text)
            return []
        out: list[Action] = []
        self._on_message(msg, out)
        return out

    def tick(self) -> list[Action]:
        """Act on every deadline that has passed (call at ``next_deadline()``)."""
        now = self.clock()
        out: list[Action] = []
        for rid, entry in list(self._pending.items()):
            if entry.deadline <= now:
                del self._pending[rid]
                ms = round(self.timeout_s * 1000)
                out.append(Answered(rid, _error(rid, "timeout", f"no reply within {ms} ms")))
        if self._deadline is not None and self._deadline <= now:
            if self.state == WAITING:
                self._move("retry")
                out += self._connect()
            elif self.state in (CONNECTING, HELLO):
                if self.state == CONNECTING:
                    # Not even an HTTP answer: a frozen server (the kernel
                    # still accepts its TCP connections). See OPEN_S.
                    waited = self.open_wait()
                    log.warning("client %s: no upgrade from %s within %.1f s", self.device,
                                self.url, waited)
                    self._note(f"no upgrade from {self.url} within {waited:g} s")
                    self._found_down()
                else:
                    log.warning("client %s: no welcome from %s within %.1f s", self.device,
                                self.url, self._welcome_s)
                    self._note(f"no welcome from {self.url} within {self._welcome_s:g} s")
                    # Up (it upgraded the socket, and answered the I/O
                    # layer's probes) but silent: see OWNER_PATIENCE_S.
                    self._silent = (self.index, self.clock())
                out += self._fail_attempt(self._next_index(), drop=True)
        return out

    # -- internals -----------------------------------------------------------
    def _note(self, what: str) -> None:
        self.trail.append((self.clock(), what))

    def _move(self, trigger: str) -> None:
        try:
            self.state = TRANSITIONS[self.state, trigger]
        except KeyError:
            raise SessionError(f"{trigger!r} cannot happen in state {self.state!r}") from None

    def _status_actions(self) -> list[Action]:
        status = _STATUS[self.state]
        if status == self._status:
            return []
        self._status = status
        return [Status(status)]

    def _encode(self, message: dict[str, Any]) -> str:
        try:
            text = json.dumps(message, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"request fields are not JSON-ready: {exc}") from None
        size = len(text.encode("utf-8"))
        if size > MAX_FRAME:
            raise ValueError(f"request frame is {size} bytes, over the {MAX_FRAME} limit")
        return text

    def _connect(self) -> list[Action]:
        self._reset_connection()
        self._deadline = self.clock() + self.open_wait()
        self._note(f"connect {self.url}")
        return [*self._status_actions(), Connect(self.url)]

    def _reset_connection(self) -> None:
        self._hello_id = None
        self._early = []
        self._deadline = None
        for entry in self._pending.values():
            entry.sent = False  # resent with the same id after the next welcome

    def _found_down(self, *, gone: bool = False) -> None:
        """The current URL could not be reached (``gone``: its connect was refused or reset)."""
        self._unreachable[self.index] = self.clock()
        if gone:
            self._gone.add(self.index)
        else:
            self._gone.discard(self.index)

    def _reachable(self, index: int) -> bool:
        """Whether ``urls[index]`` is worth a try (not found down just now:
        within :data:`AVOID_S`, or :data:`GONE_STAY_S` when found gone)."""
        failed = self._unreachable.get(index)
        stay = GONE_STAY_S if index in self._gone else AVOID_S
        return failed is None or self.clock() - failed >= stay

    def _took_since_down(self, index: int, owner_for: object) -> bool:
        """Whether the owner at ``urls[index]`` took the hall after it was
        found down: the standby says it has held it at most ``owner_for``
        seconds. Then it is up (restarted, or woken and taken back), and
        waiting at the standby for its lease to run out would wait for
        nothing: the standby names it as long as it renews. In chaos runs
        that wait, up to AVOID_S per visit, was three quarters of the time
        devices stayed at standbys."""
        found = self._unreachable.get(index)
        if found is None or not isinstance(owner_for, (int, float)) \
                or isinstance(owner_for, bool) or owner_for < 0:
            return False
        return self.clock() - owner_for > found

    def _next_index(self) -> int:
        """The next URL in turn that is worth a try (this one last); when none
        is, the one found down the longest ago."""
        n = len(self.urls)
        order = [(self.index + k) % n for k in range(1, n + 1)]
        for index in order:
            if self._reachable(index):
                return index
        return min(order, key=lambda i: self._unreachable.get(i, float("-inf")))

    def _fail_attempt(self, index: int, *, drop: bool, trigger: str = "failed",
                      standby: bool = False) -> list[Action]:
        """Leave the current connection; the next attempt goes to ``urls[index]``.

        The backoff grows once per round of the URLs (the next server may
        well be up), and stays short after a standby's refusal.
        """
        if self.state == ONLINE:
            self._attempt = 0  # a connection that worked: start the backoff over
        self._named = self._named_by = None  # a standby names it again below
        self._move(trigger)
        self._reset_connection()
        self.index = index
        first, most = self.backoff
        cap = min(most, max(first, STANDBY_BACKOFF_MAX_S)) if standby else most
        delay = reconnect_delay(self._attempt // len(self.urls), (first, cap), self.rand)
        self._attempt += 1
        self._deadline = self.clock() + delay
        self._note(f"next: {self.url} in {delay:.1f} s")
        return [*([Drop()] if drop else []), *self._status_actions()]

    def _fail_pending(self, code: str, message: str) -> list[Action]:
        pending, self._pending = self._pending, {}
        return [Answered(rid, _error(rid, code, message)) for rid in pending]

    def _send_pending(self, entry: _Pending) -> list[Action]:
        if entry.sent:
            return []
        entry.sent = True
        return [Send(entry.text)]

    def _on_message(self, msg: dict[str, Any], out: list[Action]) -> None:
        kind = msg["type"]
        if kind == "batch" and self.state == ONLINE:
            for inner in msg.get("messages") or ():
                if isinstance(inner, dict) and isinstance(inner.get("type"), str):
                    self._on_message(inner, out)
                    if self.state != ONLINE:
                        return  # a gap inside the batch dropped the connection
        elif self.state == HELLO:
            self._on_opening(msg, kind, out)
        elif kind == "event":
            self._on_event(msg, out)
        elif kind in ("ok", "error"):
            self._on_reply(msg, out)
        else:
            # Unknown types are protocol extensions this client does not use.
            log.debug("client %s: ignoring message type %r", self.device, kind)

    def _on_opening(self, msg: dict[str, Any], kind: str, out: list[Action]) -> None:
        re = msg.get("re")
        if kind == "welcome" and re is not None and re == self._hello_id:
            self._on_welcome(msg, out)
        elif kind == "error" and re is not None and re == self._hello_id:
            self._on_hello_error(msg, out)
        elif kind == "event":
            self._early.append(msg)  # should not happen before the welcome; keep it
        else:
            log.warning("client %s: ignoring %r before the welcome", self.device, kind)

    def _on_hello_error(self, msg: dict[str, Any], out: list[Action]) -> None:
        code = msg.get("code")
        self.hello_errors[str(code)] += 1
        if code in REFUSAL_CODES:
            log.error("client %s: server refused hello: %s (%s)", self.device, code,
                      msg.get("message"))
            self._note(f"refused by {self.url}: {code}")
            self._move("refused")
            self._reset_connection()
            out.append(Drop(polite=True))
            out += self._fail_pending("offline", f"server refused this device: {code}")
            out += self._status_actions()
            out.append(Refused(msg))
            return
        index = self._next_index()
        if code == STANDBY:
            owner = msg.get("owner")
            named = self.urls.index(owner) if isinstance(owner, str) and owner in self.urls \
                else None
            # Not to an owner just found down: a standby names a dead owner
            # until its lease runs out. Nor round the other URLs (one may be
            # frozen, costing a timeout): this standby knows first who serves
            # next, and holds the hello once the lease is nearly out.
            took = stay = False
            if named is not None and not self._reachable(named):
                took = self._took_since_down(named, msg.get("owner_for"))
                stay = not took
            if stay:
                index = self.index
            elif named is not None:
                index = named
            log.info("client %s: %s is a standby (owner %r); trying %s", self.device, self.url,
                     owner, self.urls[index])
            self._note(f"standby {self.url} (owner {owner}"
                       + (", found down: staying)" if stay else
                          ", found down but took the hall since: going)" if took else ")"))
            here = self.index
            out += self._fail_attempt(index, drop=True, standby=True)
            if stay or index == named:
                self._named = index  # its welcome earns OWNER_PATIENCE_S
                self._stayed = stay
                self._named_by = None if stay else here
            return
        else:
            # bad_request, rate_limited, internal...: worth another try later.
            log.warning("client %s: hello failed: %s (%s)", self.device, code, msg.get("message"))
            self._note(f"hello failed at {self.url}: {code}")
        out += self._fail_attempt(index, drop=True)

    def _on_welcome(self, msg: dict[str, Any], out: list[Action]) -> None:
        seq = msg.get("seq")
        if not _is_int(seq) or seq < 0 or not isinstance(msg.get("role"), str):
            log.warning("client %s: malformed welcome, reconnecting: %.200r", self.device, msg)
            self._note(f"malformed welcome from {self.url}")
            out += self._fail_attempt(self._next_index(), drop=True)
            return
        if self.last_seq is not None and seq < self.last_seq:
            # The server's history restarted (new database): its snapshot is
            # the truth and our old seqs mean nothing any more.
            log.warning("client %s: server seq went back from %d to %d", self.device,
                        self.last_seq, seq)
            self.last_seq = seq
        elif self.last_seq is None:
            self.last_seq = seq
        self._covered = seq
        self.welcome = msg
        resume = msg.get("resume")
        self.resume = resume if isinstance(resume, str) else None
        self._unreachable.pop(self.index, None)
        self._gone.discard(self.index)
        self._named = self._named_by = None
        self._silent = None
        # Logged too (chaos's --client-log): with the wall time, each outage
        # can be matched with the instance failures under way.
        log.info("client %s: welcome from %s (seq %d)", self.device, self.url, seq)
        self._note(f"welcome from {self.url} (seq {seq})")
        self._move("welcome")
        self._attempt = 0
        self._deadline = None
        # Flush before the app hears of the welcome: a request it makes then
        # must not jump ahead of requests queued earlier.
        for entry in self._pending.values():
            out += self._send_pending(entry)
        out += self._status_actions()
        out.append(Welcomed(msg))
        early, self._early = self._early, []
        for ev in early:
            self._on_event(ev, out)
            if self.state != ONLINE:
                return

    def _on_event(self, msg: dict[str, Any], out: list[Action]) -> None:
        seq = msg.get("seq")
        if not _is_int(seq) or not isinstance(msg.get("name"), str):
            log.warning("client %s: ignoring a malformed event: %.200r", self.device, msg)
            return
        last = -1 if self.last_seq is None else self.last_seq
        if seq <= last:
            log.debug("client %s: duplicate event %d dropped", self.device, seq)
            return
        if not self.filtered and seq != last + 1 and seq - 1 > self._covered:
            # Events are missing and the welcome's snapshot does not cover
            # them: reconnect (same server) with since=last; it replays them
            # or sends a snapshot that is authoritative.
            log.warning("client %s: event gap (%d after %d), resyncing", self.device, seq, last)
            self._note(f"event gap ({seq} after {last}) on {self.url}")
            out += self._fail_attempt(self.index, drop=True, trigger="resync")
            return
        self.last_seq = seq
        out.append(Delivered(msg))

    def _on_reply(self, msg: dict[str, Any], out: list[Action]) -> None:
        re = msg.get("re")
        entry = self._pending.pop(re, None) if isinstance(re, str) else None
        if entry is None:
            if msg["type"] == "error":
                log.warning("client %s: server error %s (%s) for %r", self.device,
                            msg.get("code"), msg.get("message"), re)
            else:
                log.debug("client %s: late or unknown reply for %r", self.device, re)
            return
        assert isinstance(re, str)
        out.append(Answered(re, msg))


def _error(rid: str, code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "re": rid, "code": code, "message": message}
