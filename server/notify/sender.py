"""Webhook delivery: at least once, retried with backoff, never in dispatch's way.

The server hands each committed notification to :meth:`Notifier.submit`,
which only appends it to the webhook's bounded queue (``put_nowait``) and
returns: dispatch never waits for a webhook. One asyncio worker per webhook
takes its queue in order and POSTs each body on a small thread pool (plain
``http.client``: a sink that hangs holds one thread of its own webhook, never
the event loop, never another webhook). An answer other than 2xx, a refused
connection or a timeout is retried after 1, 2, 4 ... s (at most
:data:`BACKOFF_MAX_S`) until :data:`GIVE_UP_S` after the first attempt;
then the delivery is given up and counted. Every delivery carries the same
``X-Qhall-Delivery`` id on each attempt, so a receiver can drop repeats.

Queues live in memory: deliveries still pending when the server stops are
lost (counted as ``dropped``); a full queue drops the new delivery (counted).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import http.client
import json
import logging
import time
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from server.config import HallConfig
from server.notify.signing import HEADER, sign

__all__ = ["Sink", "Notifier", "NotifyMetrics", "load_sinks", "post", "GIVE_UP_S", "QUEUE_SIZE"]

log = logging.getLogger("qhall.notify")

#: Retries stop this long after the first attempt (PROTOCOL: 10 minutes).
GIVE_UP_S = 600.0
#: First retry delay; doubled after each failure up to :data:`BACKOFF_MAX_S`.
BACKOFF_S = 1.0
BACKOFF_MAX_S = 60.0
#: One attempt may take this long (connect + answer).
TIMEOUT_S = 10.0
#: Deliveries waiting per webhook (queued + waiting to retry).
QUEUE_SIZE = 10_000


@dataclasses.dataclass(frozen=True)
class Sink:
    """One webhook: where to POST, the signing key, which events it wants."""

    url: str
    secret: bytes
    events: frozenset[str]


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


@dataclasses.dataclass
class _Delivery:
    event: str
    body: bytes
    id: str
    first: float
    attempts: int = 0


class NotifyMetrics:
    """The webhook counters of one server (all its halls' notifiers)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "qhall_notify_deliveries", "Webhook deliveries by hall, event and outcome: sent "
            "(2xx), retried (an attempt failed, will retry), gave_up (failing for 10 "
            "minutes), dropped (queue full or server stopping)", ["hall", "event", "outcome"],
            registry=registry)
        self.notifiers: list[Notifier] = []
        self.pending = Gauge(
            "qhall_notify_pending", "Webhook deliveries queued or waiting to retry",
            registry=registry)
        self.pending.set_function(lambda: sum(n.pending() for n in self.notifiers))


class _Worker:
    """One webhook's queue and the task that empties it, in order."""

    def __init__(self, sink: Sink, owner: Notifier) -> None:
        self.sink = sink
        self.owner = owner
        self.queue: asyncio.Queue[_Delivery] = asyncio.Queue(owner.queue_size)
        self.waiting_retry = 0
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        while True:
            delivery = await self.queue.get()
            try:
                await self.attempt(delivery)
            finally:
                self.queue.task_done()

    async def attempt(self, d: _Delivery) -> None:
        owner = self.owner
        d.attempts += 1
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            HEADER: sign(self.sink.secret, d.body),
            "X-Qhall-Event": d.event,
            "X-Qhall-Delivery": d.id,
            "User-Agent": "qhall-notify",
        }
        loop = asyncio.get_running_loop()
        try:
            status = await loop.run_in_executor(
                owner.pool, owner.post, self.sink.url, d.body, headers, owner.timeout_s)
        except Exception as exc:  # unreachable, timeout, bad answer: retry
            status = 0
            reason = f"{type(exc).__name__}: {exc}"
        else:
            reason = f"HTTP {status}"
        if 200 <= status < 300:
            owner.metrics.deliveries.labels(owner.hall, d.event, "sent").inc()
            return
        delay = min(owner.backoff_max_s, owner.backoff_s * 2 ** (d.attempts - 1))
        if owner.clock() + delay - d.first > owner.give_up_s:
            owner.metrics.deliveries.labels(owner.hall, d.event, "gave_up").inc()
            log.warning("webhook %s: giving up %s %s after %d attempts (%s)",
                        self.sink.url, d.event, d.id, d.attempts, reason)
            return
        owner.metrics.deliveries.labels(owner.hall, d.event, "retried").inc()
        log.info("webhook %s: %s %s failed (%s); retry in %.1f s",
                 self.sink.url, d.event, d.id, reason, delay)
        self.waiting_retry += 1
        loop.call_later(delay, self.requeue, d)

    def requeue(self, d: _Delivery) -> None:
        self.waiting_retry -= 1
        if self.owner.closed:
            return
        try:
            self.queue.put_nowait(d)
        except asyncio.QueueFull:
            self.owner.metrics.deliveries.labels(self.owner.hall, d.event, "dropped").inc()


class Notifier:
    """Delivers notifications to the hall's webhooks.

    Args:
        hall: the hall id (a label of the counters).
        sinks: the webhooks (:func:`load_sinks`).
        metrics: the server's webhook counters.
        post: how one POST is made (a function run on the thread pool).
        backoff_s, backoff_max_s, give_up_s, timeout_s, queue_size: as the
            module constants (tests shorten them).
        clock: monotonic seconds.
    """

    def __init__(self, hall: str, sinks: list[Sink], metrics: NotifyMetrics, *,
                 post: Callable[[str, bytes, dict[str, str], float], int] = post,
                 backoff_s: float = BACKOFF_S, backoff_max_s: float = BACKOFF_MAX_S,
                 give_up_s: float = GIVE_UP_S, timeout_s: float = TIMEOUT_S,
                 queue_size: int = QUEUE_SIZE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sinks = sinks
        self.post = post
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.give_up_s = give_up_s
        self.timeout_s = timeout_s
        self.queue_size = queue_size
        self.clock = clock
        self.hall = hall
        self.metrics = metrics
        metrics.notifiers.append(self)
        self.pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, len(sinks)), thread_name_prefix="qhall-notify")
        self.closed = False
        self._workers: list[_Worker] = []

    def wants(self, event: str) -> bool:
        """Whether any webhook subscribes to ``event`` (skip building payloads)."""
        return any(event in s.events for s in self.sinks)

    def start(self) -> None:
        """Start one worker per webhook (on the running loop; called from it)."""
        loop = asyncio.get_running_loop()
        self._workers = [_Worker(s, self) for s in self.sinks]
        for w in self._workers:
            w.task = loop.create_task(w.run())

    async def stop(self) -> None:
        """Stop the workers; what is still pending is dropped (and counted)."""
        self.closed = True
        for w in self._workers:
            if w.task is not None:
                w.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await w.task
            while not w.queue.empty():
                self.metrics.deliveries.labels(self.hall, w.queue.get_nowait().event,
                                               "dropped").inc()
        if self in self.metrics.notifiers:
            self.metrics.notifiers.remove(self)
        # A thread stuck on a hanging sink ends at its timeout; do not wait for it.
        self.pool.shutdown(wait=False, cancel_futures=True)

    def submit(self, event: str, payload: dict[str, Any]) -> int:
        """Queue ``payload`` for every webhook that wants ``event``; never blocks.

        Returns how many webhooks it was queued for.
        """
        if self.closed:
            return 0
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        queued = 0
        for w in self._workers:
            if event not in w.sink.events:
                continue
            d = _Delivery(event, body, uuid.uuid4().hex, self.clock())
            try:
                w.queue.put_nowait(d)
            except asyncio.QueueFull:
                self.metrics.deliveries.labels(self.hall, event, "dropped").inc()
                log.warning("webhook %s: queue full; %s dropped", w.sink.url, event)
                continue
            queued += 1
        return queued

    def pending(self) -> int:
        """Deliveries queued or waiting to retry, over all webhooks."""
        return sum(w.queue.qsize() + w.waiting_retry for w in self._workers)
