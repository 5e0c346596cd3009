"""Webhook delivery from the outbox: at least once, retried with backoff,
never in dispatch's way.

Deliveries are rows of ``notify_outbox`` (server/store/outbox.py), written in
the transaction of the events that call for them (server/notify/watch.py).
One asyncio worker per webhook, started while this process serves the hall
(a standby or a process that stepped down delivers nothing; the hall's next
owner finds the rows), runs rounds on a thread of its own: read the
webhook's due rows in order, POST each (plain ``http.client``: a sink that
hangs holds that webhook's thread, never the event loop, never another
webhook), then delete the row (2xx, or given up) or move its ``next_at``
on. A failure is retried after 1, 2, 4 ... s (at most
:data:`BACKOFF_MAX_S`) until :data:`GIVE_UP_S` after the delivery was
queued. Every delivery carries the same ``X-Qhall-Delivery`` id on each
attempt (also after a restart), so a receiver can drop repeats. A commit
that queued rows wakes the workers; they also look every :data:`POLL_S`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import hashlib
import http.client
import logging
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge

from server.config import HallConfig
from server.notify.signing import HEADER, sign
from server.store.outbox import Delivery, OutboxRows
from server.wire.clock import utcnow

__all__ = ["Sink", "Notifier", "NotifyMetrics", "load_sinks", "post", "GIVE_UP_S",
           "BATCH"]

log = logging.getLogger("qhall.notify")

#: Retries stop this long after the delivery was queued (PROTOCOL: 10 minutes).
GIVE_UP_S = 600.0
#: First retry delay; doubled after each failure up to :data:`BACKOFF_MAX_S`.
BACKOFF_S = 1.0
BACKOFF_MAX_S = 60.0
#: One attempt may take this long (connect + answer).
TIMEOUT_S = 10.0
#: Rows read per round.
BATCH = 50
#: A worker looks at the outbox at least this often (commits wake it sooner).
POLL_S = 5.0


@dataclasses.dataclass(frozen=True)
class Sink:
    """One webhook: where to POST, the signing key, which events it wants."""

    url: str
    secret: bytes
    events: frozenset[str]

    @property
    def id(self) -> str:
        """Its key in the outbox: the same URL is the same webhook after a restart."""
        return hashlib.sha256(self.url.encode()).hexdigest()[:32]


def load_sinks(config: HallConfig) -> list[Sink]:
    """The hall's webhooks, with each ``secret_file`` read now.

    Raises:
        OSError: a secret file cannot be read (``check-config`` says so first).
    """
    sinks = []
    for n in config.notify:
        secret = n.secret.encode() if n.secret else Path(n.secret_file).read_bytes().strip()
        sinks.append(Sink(n.url, secret, frozenset(n.events)))
    return sinks


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST ``body`` to ``url``; the HTTP status (raises OSError when unreachable)."""
    parts = urllib.parse.urlsplit(url)
    conn_type = (http.client.HTTPSConnection if parts.scheme == "https"
                 else http.client.HTTPConnection)
    conn = conn_type(parts.hostname or "", parts.port, timeout=timeout)
    try:
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(65536)
        return response.status
    finally:
        conn.close()


class NotifyMetrics:
    """The webhook counters of one server (all its halls' notifiers)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "qhall_notify_deliveries", "Webhook deliveries by hall, event and outcome: sent "
            "(2xx), retried (an attempt failed, will retry), gave_up (failing for 10 "
            "minutes), dropped (its webhook is no longer configured)",
            ["hall", "event", "outcome"], registry=registry)
        self.notifiers: list[Notifier] = []
        self.pending = Gauge(
            "qhall_notify_pending", "Webhook deliveries in the outbox of the halls this "
            "process delivers for (queued, being attempted or waiting to retry)",
            registry=registry)
        self.pending.set_function(lambda: sum(n.pending() for n in self.notifiers))


class _Worker:
    """One webhook's deliveries, in order, one round at a time on its thread."""

    def __init__(self, sink: Sink, owner: Notifier) -> None:
        self.sink = sink
        self.owner = owner
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.owner.closed:
            self.wake.clear()
            try:
                pause = await loop.run_in_executor(self.owner.pool, self.round)
            except Exception:  # the database is away: look again later
                log.exception("webhook %s: reading the outbox failed", self.sink.url)
                pause = self.owner.poll_s
            if pause > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), pause)

    def round(self) -> float:
        """Deliver what is due (on the worker's thread); seconds until the next look."""
        owner, rows = self.owner, self.owner.outbox
        if not owner.owns():
            return owner.poll_s  # the hall is about to be stepped down from
        due = rows.due(owner.hall, self.sink.id, owner.clock(), owner.batch)
        for d in due:
            if owner.closed or not owner.owns():
                return 0.0 if owner.closed else owner.poll_s
            self.attempt(d)
        _count, first = rows.waiting(owner.hall, self.sink.id)
        if len(due) == owner.batch:
            return 0.0
        if first is None:
            return owner.poll_s
        return min(owner.poll_s, max(0.0, (first - owner.clock()).total_seconds()))

    def attempt(self, d: Delivery) -> None:
        owner = self.owner
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            HEADER: sign(self.sink.secret, d.body),
            "X-Qhall-Event": d.event,
            "X-Qhall-Delivery": d.delivery,
            "User-Agent": "qhall-notify",
        }
        try:
            status = owner.post(self.sink.url, d.body, headers, owner.timeout_s)
        except Exception as exc:  # unreachable, timeout, bad answer: retry
            status = 0
            reason = f"{type(exc).__name__}: {exc}"
        else:
            reason = f"HTTP {status}"
        counted = owner.metrics.deliveries
        if 200 <= status < 300:
            owner.outbox.done([d.id])
            counted.labels(owner.hall, d.event, "sent").inc()
            return
        attempts = d.attempts + 1
        delay = min(owner.backoff_max_s, owner.backoff_s * 2 ** (attempts - 1))
        now = owner.clock()
        if (now - d.created_at).total_seconds() + delay > owner.give_up_s:
            owner.outbox.done([d.id])
            counted.labels(owner.hall, d.event, "gave_up").inc()
            log.warning("webhook %s: giving up %s %s after %d attempts (%s)",
                        self.sink.url, d.event, d.delivery, attempts, reason)
            return
        owner.outbox.retry(d.id, attempts, now + dt.timedelta(seconds=delay))
        counted.labels(owner.hall, d.event, "retried").inc()
        log.info("webhook %s: %s %s failed (%s); retry in %.1f s",
                 self.sink.url, d.event, d.delivery, reason, delay)


class Notifier:
    """Delivers a hall's outbox to its webhooks while this process serves it.

    Args:
        hall: the hall id (a label of the counters; the outbox rows' hall).
        sinks: the webhooks (:func:`load_sinks`).
        metrics: the server's webhook counters.
        outbox: the store's outbox rows.
        post: how one POST is made (run on the webhook's thread).
        backoff_s, backoff_max_s, give_up_s, timeout_s, poll_s, batch: as the
            module constants (tests shorten them).
        clock: the aware UTC now (real time: retries are real-world waits).
        owns: whether this process still owns the hall (a fenced owner, frozen
            and woken after another took over, delivers nothing more).
    """

    def __init__(self, hall: str, sinks: list[Sink], metrics: NotifyMetrics,
                 outbox: OutboxRows, *,
                 post: Callable[[str, bytes, dict[str, str], float], int] = post,
                 backoff_s: float = BACKOFF_S, backoff_max_s: float = BACKOFF_MAX_S,
                 give_up_s: float = GIVE_UP_S, timeout_s: float = TIMEOUT_S,
                 poll_s: float = POLL_S, batch: int = BATCH,
                 clock: Callable[[], dt.datetime] = utcnow,
                 owns: Callable[[], bool] = lambda: True) -> None:
        self.sinks = sinks
        self.owns = owns
        self.outbox = outbox
        self.post = post
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.give_up_s = give_up_s
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.batch = batch
        self.clock = clock
        self.hall = hall
        self.metrics = metrics
        self.pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, len(sinks)), thread_name_prefix="qhall-notify")
        self.closed = False
        self._workers: list[_Worker] = []
        self._pending = 0

    def start(self) -> None:
        """Start one worker per webhook (on the running loop; called from it).

        Deliveries left for webhooks no longer configured are dropped (counted).
        """
        self.metrics.notifiers.append(self)
        try:
            for event in self.outbox.orphans(self.hall, [s.id for s in self.sinks]):
                self.metrics.deliveries.labels(self.hall, event, "dropped").inc()
        except Exception:
            log.exception("hall %s: could not clear deliveries of removed webhooks", self.hall)
        loop = asyncio.get_running_loop()
        self._workers = [_Worker(s, self) for s in self.sinks]
        for w in self._workers:
            w.task = loop.create_task(w.run())

    def wake(self) -> None:
        """A commit queued deliveries: look now (on the loop; never blocks)."""
        for w in self._workers:
            w.wake.set()

    async def stop(self) -> None:
        """Stop the workers; what is pending stays in the outbox for the next owner."""
        self.closed = True
        for w in self._workers:
            if w.task is not None:
                w.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await w.task
        if self in self.metrics.notifiers:
            self.metrics.notifiers.remove(self)
        # A thread stuck on a hanging sink ends at its timeout; do not wait for it.
        self.pool.shutdown(wait=False, cancel_futures=True)

    def pending(self) -> int:
        """Deliveries in the hall's outbox now (the last count if the database is away)."""
        if self.sinks:
            try:
                self._pending = self.outbox.count(self.hall)
            except Exception:
                log.warning("hall %s: cannot count the outbox", self.hall)
        return self._pending
