"""Resume tickets: a welcome's proof that lets the device's next hello skip scrypt.

When an instance dies, a survivor takes its halls and every device of them
says hello again at once; checking each token with scrypt (tens of ms by
design, ``server/auth.py``) kept devices waiting, or refused ``rate_limited``,
for many seconds. So every welcome carries ``resume``, and a hello may send
it back beside its token. Any instance serving the hall checks it with one
HMAC-SHA256 instead of scrypt::

    r1.<expires, unix seconds>.<HMAC(hall key, hall, device, token hash, expires, token)>

* the hall key is random, one per hall, in the database (``resume_keys``),
  so every instance of the hall checks the tickets of every other;
* the device's current token hash is in the MAC: a rotated or revoked token
  (or a device removed from the configuration) ends its tickets at once;
* the token itself is in the MAC, so a ticket without the device's token is
  worth nothing; with it, the ticket only spares the scrypt check;
* a ticket lives :data:`RESUME_TTL_S` (12 hours, see docs/SECURITY.md); one
  that claims to live longer than that from now is not believed.

Anything wrong with a ticket (shape, hall, device, token, expiry, a key the
database cannot give now) makes :meth:`ResumeTickets.good` say False: the
caller checks the token the usual way, so a bad ticket is never an error
and never costs a second scrypt check.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Callable

from server.config import Device
from server.store import Store, StoreError

__all__ = ["MAX_TICKET", "RESUME_TTL_S", "ResumeTickets"]

log = logging.getLogger("qhall.resume")

#: How long a ticket is good for: longer than a hall's working day, so a
#: device welcomed at opening still resumes at closing without scrypt;
#: short enough that a ticket copied today is dead tomorrow. Every welcome
#: gives a fresh one.
RESUME_TTL_S = 12 * 3600
#: Instances' clocks may differ this much: a ticket expiring up to this far
#: beyond a full lifetime from now is still believed.
SKEW_S = 300
#: The longest ticket looked at (ours are 60 characters).
MAX_TICKET = 200
_VERSION = "r1"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


class ResumeTickets:
    """Gives and checks one hall's resume tickets.

    Args:
        store: the hall's store (its ``resume_keys``).
        hall: the hall id.
        clock: the hall's clock (aware datetimes).
    """

    def __init__(self, store: Store, hall: str, clock: Callable[[], dt.datetime]) -> None:
        self._store = store
        self._hall = hall
        self._clock = clock
        self._key: bytes | None = None  # read (or made) once per process

    def give(self, device: Device, token: str) -> str | None:
        """A ticket for ``device`` whose ``token`` was just accepted; None
        when the hall's key cannot be had now (the welcome goes without)."""
        key = self._hall_key()
        if key is None:
            return None
        expires = int(self._clock().timestamp()) + RESUME_TTL_S
        return f"{_VERSION}.{expires}.{self._mac(key, device, token, expires)}"

    def good(self, device: Device, token: str, ticket: object) -> bool:
        """Whether ``ticket`` (a hello's ``resume``, any JSON value) proves
        ``token`` for ``device`` as configured now, without scrypt."""
        if not isinstance(ticket, str) or len(ticket) > MAX_TICKET:
            return False
        parts = ticket.split(".")
        if len(parts) != 3 or parts[0] != _VERSION:
            return False
        stamp = parts[1]
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
            return False
        expires = int(stamp)
        now = self._clock().timestamp()
        if not now < expires <= now + RESUME_TTL_S + SKEW_S:
            return False
        key = self._hall_key()
        if key is None:
            return False
        expected = f"{_VERSION}.{stamp}.{self._mac(key, device, token, expires)}"
        return hmac.compare_digest(expected.encode("ascii"),
                                   ticket.encode("utf-8", "surrogatepass"))

    def _mac(self, key: bytes, device: Device, token: str, expires: int) -> str:
        message = "\0".join((_VERSION, self._hall, device.id, device.token_hash, str(expires),
                             token))
        return _b64(hmac.new(key, message.encode("utf-8", "surrogatepass"),
                             hashlib.sha256).digest())

    def _hall_key(self) -> bytes | None:
        if self._key is None:
            try:
                self._key = self._store.resume_keys.key(self._hall, self._clock())
            except StoreError as exc:
                log.warning("hall %s: no resume key (%s): hellos check their tokens",
                            self._hall, str(exc).splitlines()[0][:200])
                return None
        return self._key
