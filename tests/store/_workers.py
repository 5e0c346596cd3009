"""Worker processes for test_concurrency (a module of its own so that the
spawned children import only this, the store and the model).

The workers run in a pool of spawned processes whose initializer hands each
one the shared start barrier, so every task of a round starts at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from server.core.model import Event, Ticket
from server.store import StaleState, Store

__all__ = ["claim_worker", "init", "issue_worker", "make_ticket"]

_barrier: Any = None


def init(barrier: Any) -> None:
    """Pool initializer: keep the barrier (it can only be inherited)."""
    global _barrier
    _barrier = barrier


def make_ticket(tid: str, n: int, service: str, day: dt.date) -> Ticket:
    return Ticket(id=tid, number=f"A{n:03d}", service=service, seqno=n, day=day,
                  issued_at=dt.datetime.now(dt.UTC), check=tid)


def _issued(t: Ticket) -> list[Event]:
    return [Event("ticket.issued", {"ticket": {"id": t.id, "number": t.number}}, t.copy(), None),
            Event("queue.changed", {"service": t.service})]


def claim_worker(url: str, hall: str, day: dt.date, counter: int) -> tuple[int, list[str], int]:
    """Claim the oldest waiting ticket over and over, as call_next would.

    Returns (counter, ids claimed, conflicts retried).
    """
    with Store(url) as store:
        _barrier.wait(timeout=60)
        claimed: list[str] = []
        conflicts = 0
        while True:
            waiting = [t for t in store.load(hall, day).tickets if t.status == "waiting"]
            if not waiting:
                return counter, claimed, conflicts
            t = min(waiting, key=lambda x: x.seqno)
            after = dataclasses.replace(t, status="called", counter=counter, calls=t.calls + 1,
                                        called_at=dt.datetime.now(dt.UTC), version=t.version + 1)
            events = [Event("ticket.called", {"ticket": {"id": t.id}, "counter": counter},
                            after, t.version),
                      Event("queue.changed", {"service": t.service, "waiting": len(waiting) - 1})]
            try:
                store.commit(hall, events)
            except StaleState:
                conflicts += 1
                continue
            claimed.append(t.id)


def issue_worker(url: str, hall: str, day: dt.date, service: str, count: int,
                 wid: int) -> tuple[int, list[tuple[str, int]], int]:
    """Open the (fresh) store with the others at once, then issue ``count`` tickets.

    Returns (worker id, [(ticket id, number)], conflicts retried).
    """
    _barrier.wait(timeout=60)
    with Store(url) as store:  # concurrent first start: all migrate one new database
        issued: list[tuple[str, int]] = []
        conflicts = 0
        while len(issued) < count:
            n = store.load(hall, day).last_numbers.get((service, day), 0) + 1
            t = make_ticket(f"w{wid}-{len(issued)}", n, service, day)
            try:
                store.commit(hall, _issued(t))
            except StaleState:
                conflicts += 1
                continue
            issued.append((t.id, n))
        return wid, issued, conflicts
