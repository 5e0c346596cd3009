"""Which counter a new ticket wakes in a load run: one idle counter per ticket.

A hall's clerk with nobody to serve looks up when the queue count on the
screen moves, and presses "next" only when it shows someone waiting; two
idle clerks do not both walk to the desk for one citizen. The load
generator's counters do the same: the harness counts the tickets waiting
per service (issued minus taken) and a counter asks for the next ticket
only after claiming one of those (:meth:`Wakeups.claim`); else it sleeps
until an issued ticket of one of its services wakes it, ONE sleeping
counter per ticket. Waking every idle counter per ticket, each asking,
cost ~10 requests per ticket where ~4 are needed (the rest
``queue_empty``): the harness, not the hall, was measured.

The count can run ahead of the server (a ticket another counter took,
its reply not read yet): a claim then hears ``queue_empty`` and is given
back (:meth:`Wakeups.unclaim`). It never runs behind for long: an issue is
counted when its reply is read, after the server holds the ticket.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Mapping

__all__ = ["Wakeups"]


class Wakeups:
    """The waiting tickets per service as the harness saw them, and the
    counters: busy or asleep, each with the event that wakes it.

    Args:
        served_by: service id -> the numbers of the counters serving it, in
            the order they are woken (the first sleeping one goes).
    """

    def __init__(self, served_by: Mapping[str, Iterable[int]]) -> None:
        self._served_by = {s: list(ns) for s, ns in served_by.items()}
        self._serves: dict[int, list[str]] = {}
        for service, numbers in self._served_by.items():
            for n in numbers:
                self._serves.setdefault(n, []).append(service)
        self.waiting: Counter[str] = Counter()
        self._asleep: set[int] = set()
        self._claims: dict[int, str] = {}
        self._wake: dict[int, asyncio.Event] = {}
        self.woken = 0  # wakes given, for the figures

    def join(self, number: int) -> asyncio.Event:
        """A counter starts (busy until it sleeps); the event it sleeps on."""
        event = self._wake[number] = asyncio.Event()
        return event

    def claim(self, number: int) -> bool:
        """Whether the counter (awake) should ask for a ticket: True when one
        of its services has a ticket nobody claimed (now claimed by it)."""
        self._asleep.discard(number)
        for service in self._serves.get(number, ()):
            if self.waiting[service] > 0:
                self.waiting[service] -= 1
                self._claims[number] = service
                return True
        return False

    def took(self, number: int, service: str) -> None:
        """The counter's ``call_next`` got a ticket of ``service`` (perhaps
        not the service it claimed: the server picks by its rules)."""
        claimed = self._claims.pop(number, None)
        if claimed is not None:
            self.waiting[claimed] += 1
        self.waiting[service] -= 1

    def unclaim(self, number: int) -> None:
        """The counter heard ``queue_empty``: its claim is given back."""
        claimed = self._claims.pop(number, None)
        if claimed is not None:
            self.waiting[claimed] += 1

    def sleep(self, number: int) -> asyncio.Event:
        """The counter sleeps until a ticket of its services wakes it."""
        event = self._wake[number]
        event.clear()
        self._asleep.add(number)
        return event

    def issued(self, service: str) -> int | None:
        """A ticket of ``service`` was issued: counted; the sleeping counter
        woken, or None (every counter of the service is busy: the first to
        finish claims it)."""
        self.waiting[service] += 1
        for number in self._served_by.get(service, ()):
            if number in self._asleep:
                self._asleep.discard(number)
                self._wake[number].set()
                self.woken += 1
                return number
        return None

    def wake_all(self) -> None:
        """The end of the run: every counter wakes to see it."""
        self._asleep.clear()
        for event in self._wake.values():
            event.set()
