"""The outbox's delivering side in one process: a real store, the POST
replaced at the edge by a recorder (the sink tests use a real HTTP sink)."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry

from server.notify import Notifier, NotifyMetrics, Sink, verify
from server.store import Store
from server.wire.clock import utcnow

SINK = Sink("http://127.0.0.1:9/hook", b"k", frozenset({"ticket.called"}))


class Recorder:
    """Answers each POST with the next status of ``answers`` (the last one repeats)."""

    def __init__(self, *answers: int) -> None:
        self.answers = list(answers)
        self.posts: list[tuple[bytes, dict[str, str]]] = []
        self.lock = threading.Lock()

    def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        with self.lock:
            self.posts.append((body, headers))
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def queue(store: Store, *bodies: bytes, sink: str = SINK.id,
          stamp: dt.datetime | None = None) -> None:
    with store.transaction(write=True) as conn:
        store.outbox.insert(conn, "main", [(sink, "ticket.called", f"d{i}", body)
                                           for i, body in enumerate(bodies)],
                            stamp or utcnow())


class Steps:
    """A clock that moves ``step`` seconds each time it is read, however slow the
    machine: how far a delivery has got in its give-up window does not depend
    on how soon a busy CI host first schedules the worker."""

    def __init__(self, step: float) -> None:
        self.now = utcnow()
        self.step = dt.timedelta(seconds=step)

    def __call__(self) -> dt.datetime:
        self.now += self.step
        return self.now


def left(store: Store) -> int:
    return store.outbox.waiting("main", SINK.id)[0]


async def until(what: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)


def notifier(store: Store, post: Recorder, metrics: NotifyMetrics, **kw: object) -> Notifier:
    return Notifier("main", [SINK], metrics, store.outbox, post=post, backoff_s=0.01,
                    backoff_max_s=0.02, poll_s=0.05, **kw)  # type: ignore[arg-type]


def deliver_all(store: Store, post: Recorder, metrics: NotifyMetrics, **kw: object) -> None:
    """Run a notifier until the outbox of SINK is empty."""
    async def main() -> None:
        n = notifier(store, post, metrics, **kw)
        n.start()
        await until(lambda: left(store) == 0)
        await n.stop()

    asyncio.run(main())


def count(metrics: NotifyMetrics, outcome: str) -> float:
    return metrics.deliveries.labels("main", "ticket.called", outcome)._value.get()


def test_delivered_in_order_signed_retried_then_deleted(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'hall.db'}")
    post, metrics = Recorder(500, 200), NotifyMetrics(CollectorRegistry())
    queue(store, b'{"n":1}', b'{"n":2}')
    deliver_all(store, post, metrics)
    # In order; the first failed, did not hold the second, and came again (same id).
    assert [(b, h["X-Qhall-Delivery"]) for b, h in post.posts] == [
        (b'{"n":1}', "d0"), (b'{"n":2}', "d1"), (b'{"n":1}', "d0")]
    assert all(verify(b"k", b, h["X-Qhall-Signature"]) for b, h in post.posts)
    assert (count(metrics, "sent"), count(metrics, "retried")) == (2, 1)
    store.close()


def test_a_process_that_no_longer_owns_the_hall_delivers_nothing(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'hall.db'}")
    post, metrics = Recorder(200), NotifyMetrics(CollectorRegistry())
    owner = threading.Event()
    queue(store, b"{}")

    async def main() -> None:
        n = notifier(store, post, metrics, owns=owner.is_set)
        n.start()
        for _ in range(5):  # several rounds while fenced: nothing is sent
            await asyncio.sleep(0.06)
        assert post.posts == [] and left(store) == 1
        owner.set()
        await until(lambda: left(store) == 0)
        await n.stop()

    asyncio.run(main())
    assert len(post.posts) == 1
    store.close()


def test_given_up_after_the_window_and_removed_webhooks_dropped(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'hall.db'}")
    post, metrics, clock = Recorder(500), NotifyMetrics(CollectorRegistry()), Steps(0.005)
    queue(store, b'{"old":1}', sink="a-webhook-no-longer-configured", stamp=clock.now)
    queue(store, b"{}", stamp=clock.now)
    deliver_all(store, post, metrics, give_up_s=0.1, clock=clock)
    assert store.outbox.waiting("main", "a-webhook-no-longer-configured")[0] == 0
    assert count(metrics, "gave_up") == 1 and count(metrics, "dropped") == 1
    # Retried while inside the window (0.1 s of clock reads), then given up.
    assert count(metrics, "sent") == 0 and len(post.posts) >= 2
    assert count(metrics, "retried") == len(post.posts) - 1
    store.close()


def test_a_delivery_queued_long_ago_is_given_up_at_once(tmp_path: Path) -> None:
    """After a long outage the server does not send stale news."""
    store = Store(f"sqlite:///{tmp_path / 'hall.db'}")
    post, metrics = Recorder(500), NotifyMetrics(CollectorRegistry())
    with store.transaction(write=True) as conn:
        store.outbox.insert(conn, "main", [(SINK.id, "ticket.called", "d", b"{}")],
                            utcnow() - dt.timedelta(minutes=11))
    deliver_all(store, post, metrics)
    assert len(post.posts) == 1 and count(metrics, "gave_up") == 1
    store.close()
