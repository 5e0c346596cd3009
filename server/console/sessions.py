"""Console sessions: cookie, CSRF token, idle timeout, login grants.

A supervisor logs in over the console's websocket (the password is checked
off the event loop, with the PIN lockout of ``server/limits.py``); a good
password yields a one-time *grant*, which the page trades at
``GET /console/session?grant=...`` for the session cookie: ``HttpOnly``
(no script reads it), ``SameSite=Strict`` (no other site's page sends it),
``Path=/console``. The cookie is 256 random bits; the store keeps only its
SHA-256 digest, with the session's CSRF token and when it was last used.

A session ends after ``[console] idle_timeout_s`` without a request from its
user (pushes do not count), at logout, or when the staff member loses the
supervisor/admin role or the password in the configuration.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

from server.config import HallConfig, Staff
from server.store import ConsoleSessionRow, Store

__all__ = ["CONSOLE_ROLES", "COOKIE", "GRANT_S", "Active", "Grants", "Sessions", "cookie_of",
           "may_use_console", "session_allowed"]

#: Staff roles that may use the console.
CONSOLE_ROLES = ("supervisor", "admin")
#: The session cookie's name.
COOKIE = "qhall_console"
#: A login grant is good for this long, once.
GRANT_S = 30.0


def may_use_console(staff: Staff | None) -> bool:
    """A staff member, not disabled, with a console role and a password set
    (or to be set at this login: ``reset`` names it)."""
    return (staff is not None and not staff.disabled
            and bool(staff.password_hash or "password" in staff.reset)
            and any(r in CONSOLE_ROLES for r in staff.roles))


def session_allowed(staff: Staff | None) -> bool:
    """Whether a session of ``staff`` stays open: console access and no
    password reset pending (a reset ends the sessions opened before it)."""
    return may_use_console(staff) and staff is not None and "password" not in staff.reset


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def cookie_of(raw: str | None) -> str | None:
    """The session cookie's value in a ``Cookie`` header, or None."""
    if not raw:
        return None
    for part in raw.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and value:
            return value
    return None


class Grants:
    """One-time login grants: random value -> session cookie, in memory."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._grants: dict[str, tuple[str, float]] = {}
        self._monotonic = monotonic

    def issue(self, token: str) -> str:
        now = self._monotonic()
        for key in [k for k, (_t, until) in self._grants.items() if until < now]:
            del self._grants[key]
        grant = secrets.token_urlsafe(24)
        self._grants[grant] = (token, now + GRANT_S)
        return grant

    def redeem(self, grant: str) -> str | None:
        """The cookie for ``grant`` (it is used up), or None when unknown or late."""
        found = self._grants.pop(grant, None)
        if found is None or found[1] < self._monotonic():
            return None
        return found[0]


@dataclasses.dataclass(frozen=True)
class Active:
    """A live session: its staff member and CSRF token."""

    staff: Staff
    csrf: str
    digest: str

    def csrf_ok(self, given: object) -> bool:
        return isinstance(given, str) and hmac.compare_digest(given, self.csrf)


class Sessions:
    """The hall's console sessions, kept in the store."""

    def __init__(self, config: Callable[[], HallConfig], store: Store,
                 clock: Callable[[], dt.datetime]) -> None:
        self._config = config  # the hall's configuration now (it changes live)
        self.rows = store.console
        self.clock = clock

    @property
    def config(self) -> HallConfig:
        return self._config()

    def open(self, staff: Staff) -> str:
        """A new session for ``staff``; returns the cookie value."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        self.rows.open_session(ConsoleSessionRow(
            hall=self.config.id, digest=digest(token), staff=staff.id,
            csrf=secrets.token_urlsafe(24), created_at=now, seen_at=now))
        return token

    def find(self, token: str | None) -> Active | None:
        """The live session of this cookie, or None (unknown, ended, idle, or its
        staff member may no longer use the console)."""
        if not token or len(token) > 200:
            return None
        row = self.rows.session(self.config.id, digest(token))
        if row is None or row.ended_at is not None:
            return None
        if self.idle_left(row) <= 0:
            return None
        staff = self.config.staff_member(row.staff)
        if not session_allowed(staff):
            return None
        assert staff is not None
        return Active(staff, row.csrf, row.digest)

    def idle_left(self, row: ConsoleSessionRow) -> float:
        """Seconds before this session times out for idleness (<= 0: it has)."""
        limit = dt.timedelta(seconds=self.config.console.idle_timeout_s)
        return (row.seen_at + limit - self.clock()).total_seconds()

    def left(self, active: Active) -> float:
        row = self.rows.session(self.config.id, active.digest)
        if row is None or row.ended_at is not None:
            return 0.0
        return self.idle_left(row)

    def touch(self, active: Active) -> None:
        self.rows.touch(self.config.id, active.digest, self.clock())

    def end(self, active: Active) -> None:
        self.rows.end_session(self.config.id, active.digest, self.clock())

    def purge(self) -> int:
        """Delete ended sessions and those idle past the timeout; returns how many."""
        limit = dt.timedelta(seconds=self.config.console.idle_timeout_s)
        return self.rows.purge_sessions(self.config.id, self.clock() - limit)
