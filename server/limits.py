"""Abuse limits of one hall, kept per device, staff member and source address.

A limit never belongs to a connection: a device that reconnects between
bursts finds its bucket as it left it, and wrong PINs survive a restart (they
are kept in the store). The server and the service ask one
:class:`HallLimits` object and refuse with the wire error ``rate_limited``
when it says no. Every limit comes from ``[limits]`` in the hall config
(0 = unlimited; ``qhall serve --no-limits`` turns them all off).

Buckets: a key starts with a full burst, which refills at the sustained rate.
Per-key tables are bounded (the least recently used idle key goes first), so a
flood of fresh keys (source addresses, unknown device ids) cannot grow memory.
"""

from __future__ import annotations

import collections
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from server.config import Limits
from server.store import Store

__all__ = ["Bucket", "Buckets", "HallLimits", "PIN_WINDOW_S"]

#: Wrong PINs count for this long (``[limits] pin_failures`` per 5 minutes).
PIN_WINDOW_S = 300
#: Most keys one table keeps; beyond it the least recently used key is dropped.
MAX_KEYS = 20_000


@dataclass
class Bucket:
    """A token bucket: ``tokens`` left, refilled at ``rate`` per second up to ``burst``."""

    tokens: float
    at: float


class Buckets:
    """Token buckets by key, all with one rate and burst.

    Args:
        per_s: sustained rate (tokens per second); 0 or less disables the limit.
        burst: bucket size (tokens available at once to a fresh key).
        monotonic: the clock.
    """

    def __init__(self, per_s: float, burst: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.per_s = per_s
        self.burst = max(1.0, burst)
        self.monotonic = monotonic
        self._buckets: collections.OrderedDict[str, Bucket] = collections.OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.per_s > 0

    def _bucket(self, key: str) -> Bucket:
        now = self.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(self.burst, now)
            while len(self._buckets) > MAX_KEYS:
                self._buckets.popitem(last=False)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.per_s)
            bucket.at = now
            self._buckets.move_to_end(key)
        return bucket

    def take(self, key: str) -> bool:
        """Spend one token of ``key``; False (nothing spent) when it has none."""
        if not self.enabled:
            return True
        bucket = self._bucket(key)
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def has(self, key: str) -> bool:
        """Whether ``key`` has a token, without spending it."""
        return not self.enabled or self._bucket(key).tokens >= 1.0

    def give_back(self, key: str) -> None:
        """Return a token taken for an attempt that turned out legitimate."""
        if self.enabled and key in self._buckets:
            bucket = self._buckets[key]
            bucket.tokens = min(self.burst, bucket.tokens + 1.0)

    def wait_s(self, key: str) -> int:
        """Whole seconds until ``key`` has a token again (at least 1)."""
        if not self.enabled:
            return 0
        bucket = self._bucket(key)
        return max(1, int((1.0 - bucket.tokens) / self.per_s + 0.999))


class HallLimits:
    """Every limit of one hall.

    Args:
        limits: the ``[limits]`` table.
        store: where wrong PINs are kept (so a lockout survives a restart).
        hall_id: the hall's id in the store.
        clock: wall clock (aware), for the persisted PIN window.
        monotonic: for the in-memory buckets.
    """

    def __init__(self, limits: Limits, store: Store, hall_id: str,
                 clock: Callable[[], dt.datetime],
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.config = limits
        self.store = store
        self.hall_id = hall_id
        self.clock = clock
        per_min = limits.kiosk_issues_per_min
        # A kiosk may print a short burst back to back (a family), then the rate applies.
        self.issues = Buckets(per_min / 60.0, max(5.0, per_min / 6.0), monotonic)
        self.requests = Buckets(float(limits.requests_per_s), 2.0 * limits.requests_per_s,
                                monotonic)
        hellos = limits.hellos_per_min
        self.hellos = Buckets(hellos / 60.0, max(5.0, hellos / 6.0), monotonic)
        # HTTP pages per source address: the same budget as hellos, ten times
        # over (a phone's status page reloads itself; a hall Wi-Fi NATs many phones).
        self.http = Buckets(10 * hellos / 60.0, max(50.0, 10 * hellos / 6.0), monotonic)
        # A fault is a state: a device changes it a few times a minute at most.
        self.faults = Buckets(6 / 60.0 if limits.requests_per_s else 0.0, 6.0, monotonic)
        self._pins: dict[str, collections.deque[dt.datetime]] = collections.defaultdict(
            collections.deque)
        if limits.pin_failures:
            for key, at in store.login_failures(hall_id, self._pin_horizon()):
                self._pins[key].append(at)

    # ---------------------------------------------------------- devices
    def issue(self, device: str) -> str | None:
        """None when the kiosk ``device`` may issue a ticket now, else why not."""
        if self.issues.take(device):
            return None
        return (f"too many tickets from this kiosk; try again in {self.issues.wait_s(device)} s "
                "(本机取号过快，请稍候)")

    def request(self, device: str) -> str | None:
        """None when ``device`` may send one more request now, else why not."""
        if self.requests.take(device):
            return None
        return f"too many requests from this device (more than {self.config.requests_per_s}/s)"

    def fault(self, device: str) -> str | None:
        """None when ``device`` may change its fault state now, else why not."""
        if self.faults.take(device):
            return None
        return f"too many fault reports; try again in {self.faults.wait_s(device)} s"

    # ---------------------------------------------------- source addresses
    def hello_open(self, address: str) -> bool:
        """Whether ``address`` may try a hello at all (checked at the upgrade)."""
        return self.hellos.has(address)

    def hello_attempt(self, address: str) -> bool:
        """Spend a hello token for ``address``; False when it has none left."""
        return self.hellos.take(address)

    def hello_ok(self, address: str) -> None:
        """The hello authenticated: it does not count against the address."""
        self.hellos.give_back(address)

    def page(self, address: str) -> bool:
        """Whether ``address`` may be served one more HTTP page now."""
        return self.http.take(address)

    # --------------------------------------------------------------- PINs
    def _pin_horizon(self) -> dt.datetime:
        return self.clock() - dt.timedelta(seconds=PIN_WINDOW_S)

    def _recent(self, key: str) -> collections.deque[dt.datetime]:
        fails = self._pins.get(key)
        if fails is None:
            return collections.deque()
        horizon = self._pin_horizon()
        while fails and fails[0] < horizon:
            fails.popleft()
        if not fails:
            del self._pins[key]
        return fails

    def pin_locked(self, device: str, staff: str) -> str | None:
        """None when a PIN for ``staff`` may be tried from ``device``, else why not.

        Wrong PINs count per device across staff ids (one counter cannot
        spray guesses at every clerk) and per staff member across devices.
        """
        limit = self.config.pin_failures
        if not limit:
            return None
        for key, who in ((f"device:{device}", "this counter"), (f"staff:{staff}", staff)):
            fails = self._recent(key)
            if len(fails) >= limit:
                left = (fails[-limit] - self._pin_horizon()).total_seconds()
                return (f"too many wrong PINs for {who}; try again in {int(left) + 1} s "
                        "(PIN 错误次数过多，请稍后再试)")
        return None

    def pin_failed(self, device: str, staff: str | None) -> None:
        """Count a wrong PIN against the device and, for a known staff id, the staff member."""
        if not self.config.pin_failures:
            return
        keys = [f"device:{device}"] + ([f"staff:{staff}"] if staff is not None else [])
        now = self.clock()
        # Stored first: a lockout must hold across a restart.
        self.store.add_login_failure(self.hall_id, keys, now)
        for key in keys:
            self._pins[key].append(now)

    def pin_ok(self, staff: str) -> None:
        """The staff member proved their PIN: their own count starts again.

        The device's count stays: a clerk's own login must not let the same
        counter go on guessing other clerks' PINs.
        """
        key = f"staff:{staff}"
        if self._pins.pop(key, None):
            self.store.clear_login_failures(self.hall_id, key)
