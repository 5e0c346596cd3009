"""Secret checks that cost the event loop nothing: a token cache and a small pool.

A device token or staff PIN is checked with scrypt (``server/auth.py``), tens
of milliseconds of CPU by design. Run inside the event loop, every bad
``hello`` from an unauthenticated socket would stall every logged-in device
for that long. So:

* :class:`TokenCache` remembers tokens already verified, as an HMAC under a
  key that lives only in this process (never the token, never a digest an
  attacker with a memory dump could test offline faster than scrypt). The
  entry is keyed by the device and its stored hash, so a changed token (or a
  changed ``token_hash`` in the config) misses and is checked again; the
  comparison is constant-time (:func:`hmac.compare_digest`).
* :class:`AuthPool` runs the checks that miss in a bounded thread pool
  (``hashlib.scrypt`` releases the GIL, so the loop keeps running). At most
  ``workers + queue`` checks' worth of work is in flight, counted in checks
  at the default scrypt cost (a cheaper hash, as the demo hall uses, weighs
  less); one more is refused at once with :class:`PoolBusy`, which the
  server answers ``rate_limited``. An attacker can make legitimate hellos
  wait or retry, never stall the hall.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from server.auth import DEFAULT_N, DEFAULT_P, DEFAULT_R, parse_hash, verify_secret

__all__ = ["AUTH_QUEUE", "AUTH_WORKERS", "DUMMY_HASH", "LOGIN_QUEUE", "AuthPool", "PoolBusy",
           "SecretCheck", "TokenCache", "check_weight"]

T = TypeVar("T")

#: Threads that run scrypt. One leaves the other core of a small hall PC to
#: the event loop; a check takes ~30 ms, so one worker verifies ~30 hellos/s.
AUTH_WORKERS = 1
#: Hello checks that may wait for a worker; beyond workers + queue: refused
#: at once (the hello gets ``rate_limited``, the device reconnects later).
AUTH_QUEUE = 16
#: Login PIN checks that may wait. Only authenticated counters send logins,
#: one at a time per connection, so this only bounds a morning rush (or a
#: restart) of every counter logging in at once.
LOGIN_QUEUE = 256


@dataclass
class SecretCheck(Generic[T]):
    """A decision that waits for one secret check.

    The service returns this instead of running scrypt itself; the caller
    runs ``verify(secret, hashed)`` wherever it likes (the server: in the
    pool) and hands the verdict to ``finish``, which completes the decision
    on the state as it is *then*.
    """

    secret: str
    hashed: str
    finish: Callable[[bool], T]

    def run_inline(self) -> T:
        """Verify here and now (tools and tests that have no event loop)."""
        return self.finish(verify_secret(self.secret, self.hashed))


_DEFAULT_COST = DEFAULT_N * DEFAULT_R * DEFAULT_P

#: Checked instead of an unknown id's hash (it matches nothing): every
#: attempt costs one default scrypt check, so timing tells nobody which ids exist.
DUMMY_HASH = (
    "scrypt$n=16384,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)


def check_weight(hashed: str) -> float:
    """A check's work in default-cost checks (a malformed hash weighs 1)."""
    params = parse_hash(hashed)
    if params is None:
        return 1.0
    return max(params.n * params.r * params.p / _DEFAULT_COST, 1 / 256)


class PoolBusy(Exception):
    """Every worker and queue place is taken: refuse the check now."""


class TokenCache:
    """Device tokens verified in this process, compared in constant time.

    Args:
        max_entries: devices remembered (oldest forgotten first); a hall has
            a few hundred devices at most.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._key = os.urandom(32)
        self._known: dict[str, bytes] = {}
        self._max = max_entries
        self._lock = threading.Lock()

    def _digest(self, device_id: str, token_hash: str, token: str) -> bytes:
        message = "\0".join((device_id, token_hash, token)).encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def known(self, device_id: str, token_hash: str, token: str) -> bool:
        """True when exactly this token was verified for this device and hash."""
        with self._lock:
            entry = self._known.get(device_id)
        if entry is None:
            return False
        return hmac.compare_digest(entry, self._digest(device_id, token_hash, token))

    def remember(self, device_id: str, token_hash: str, token: str) -> None:
        """Record a token that scrypt has just accepted."""
        digest = self._digest(device_id, token_hash, token)
        with self._lock:
            self._known.pop(device_id, None)
            self._known[device_id] = digest
            while len(self._known) > self._max:
                del self._known[next(iter(self._known))]

    def forget(self, device_id: str) -> None:
        with self._lock:
            self._known.pop(device_id, None)

    def __len__(self) -> int:
        return len(self._known)


class AuthPool:
    """A bounded pool for secret checks, awaited from the event loop.

    Args:
        workers: threads running the checks.
        queue: checks allowed to wait for a thread.
        verify: ``(secret, hashed) -> bool``; :func:`server.auth.verify_secret`.
        share: another pool whose threads this one uses (its own admission
            bound, the same CPU budget).
    """

    def __init__(self, workers: int = AUTH_WORKERS, queue: int = AUTH_QUEUE,
                 verify: Callable[[str, str], bool] = verify_secret,
                 share: AuthPool | None = None) -> None:
        if workers < 1 or queue < 0:
            raise ValueError("an auth pool needs at least one worker and a queue >= 0")
        self.workers: int = share.workers if share else workers
        self.capacity = self.workers + queue
        self._verify = verify
        self._owner = share is None
        self._executor: ThreadPoolExecutor = (
            share._executor if share else
            ThreadPoolExecutor(workers, thread_name_prefix="qhall-auth"))
        self.in_flight = 0
        self.load = 0.0  # in default-cost checks
        self.refused = 0
        self.checked = 0

    async def verify(self, secret: str, hashed: str) -> bool:
        """Check ``secret`` against ``hashed`` off the loop.

        Raises:
            PoolBusy: the pool is full or closed; nothing was started.
        """
        weight = check_weight(hashed)
        if self.in_flight and self.load + weight > self.capacity + 1e-9:
            self.refused += 1
            raise PoolBusy("too many secret checks in progress")
        loop = asyncio.get_running_loop()
        try:
            job = self._executor.submit(self._verify, secret, hashed)
        except RuntimeError:
            # Closed: the hall's server stepped down while this hello waited
            # (issue 13); the device is told "busy" and tries the next server.
            self.refused += 1
            raise PoolBusy("the secret-check pool is closed") from None
        # Counted after submit: _finished runs on this loop, so not before this.
        self.in_flight += 1
        self.load += weight
        # Counted until the thread is done, not until the awaiting task is:
        # a cancelled waiter must not free a place its check still holds.
        job.add_done_callback(lambda _: self._release(loop, weight))
        result = await asyncio.wrap_future(job)
        self.checked += 1
        return bool(result)

    def _release(self, loop: asyncio.AbstractEventLoop, weight: float) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
            loop.call_soon_threadsafe(self._finished, weight)

    def _finished(self, weight: float) -> None:
        self.in_flight -= 1
        self.load = max(0.0, self.load - weight) if self.in_flight else 0.0

    def close(self) -> None:
        if self._owner:
            self._executor.shutdown(wait=False, cancel_futures=True)
