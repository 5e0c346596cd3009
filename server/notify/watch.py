"""Which committed events become notifications, and for whom.

The server calls :meth:`Watcher.committed` with the wire events of every
committed transaction (after the commit, never before). Tickets that carry
a phone (remote tickets) get ``ticket.called`` and ``ticket.no_show`` as they
happen and ``ticket.soon`` once, the first time they have ``[hall]
soon_ahead`` or fewer people ahead (a ticket issued that close gets it at
once). ``rating.bad`` goes out for every rating of 1 or 2 (不满意), for the
supervisor, with the phone when the ticket has one.

Body: ``{"event", "hall", "at", "ticket", "phone"}`` plus ``counter`` and
``counter_name`` (called, no-show, bad rating) and ``score`` (bad rating).
``ticket.soon`` is told once per ticket per server process: after a restart a
ticket may be told again (delivery is at least once anyway).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from server.config import HallConfig
from server.core import Hall
from server.notify.sender import Notifier

__all__ = ["Watcher", "PhoneBook", "BAD_SCORE"]

#: Ratings at or below this are bad (1 非常不满意, 2 不满意), as for follow-ups.
BAD_SCORE = 2


class PhoneBook(Protocol):
    """Where a ticket's phone for delivery is kept (for its lifetime only)."""

    def phone(self, ticket_id: str) -> str | None: ...

    def ticket_ids(self) -> Iterable[str]: ...


class Watcher:
    """Turns committed wire events into webhook notifications.

    Args:
        config: the hall (``id``, ``soon_ahead``, counter names).
        notifier: where notifications go.
        hall: returns the live core (it is rebuilt after a failed commit).
        phones: the phones of tickets that carry one.
    """

    def __init__(self, config: HallConfig, notifier: Notifier, hall: Callable[[], Hall],
                 phones: PhoneBook) -> None:
        self.config = config
        self.notifier = notifier
        self.hall = hall
        self.phones = phones
        self._soon: set[str] = set()

    def committed(self, events: list[dict[str, Any]]) -> None:
        """Notify what these committed events call for (never blocks)."""
        if not self.notifier.sinks or not events:
            return
        moved = False
        for ev in events:
            name, data = ev["name"], ev.get("data") or {}
            if name in ("ticket.called", "ticket.no_show"):
                ticket = data.get("ticket") or {}
                phone = self.phones.phone(str(ticket.get("id")))
                if phone is not None:
                    self._send(name, ev["at"], ticket, phone, self._counter(data))
            elif name == "ticket.rated" and int(data.get("score") or 5) <= BAD_SCORE:
                ticket = data.get("ticket") or {}
                self._send("rating.bad", ev["at"], ticket,
                           self.phones.phone(str(ticket.get("id"))),
                           {**self._counter(data), "score": data.get("score")})
            moved = moved or name.startswith("ticket.") or name == "queue.changed"
        if moved:
            self._check_soon(str(events[-1]["at"]))

    def _counter(self, data: dict[str, Any]) -> dict[str, Any]:
        number = data.get("counter")
        if number is None:
            number = (data.get("ticket") or {}).get("counter")
        counter = self.config.counter(number) if isinstance(number, int) else None
        return {"counter": number, "counter_name": counter.name if counter else None}

    def _check_soon(self, at: str) -> None:
        if not self.notifier.wants("ticket.soon"):
            return
        hall = self.hall()
        live = set()
        for tid in self.phones.ticket_ids():
            live.add(tid)
            if tid in self._soon:
                continue
            t = hall.ticket(tid)
            if t is None or t.status != "waiting":
                continue
            if hall.ahead(t) <= self.config.soon_ahead:
                self._soon.add(tid)
                phone = self.phones.phone(tid)
                if phone is not None:
                    self._send("ticket.soon", at, hall.wire_ticket(t), phone, {})
        self._soon &= live  # tickets whose phone is erased are done with

    def _send(self, event: str, at: str, ticket: dict[str, Any], phone: str | None,
              extra: dict[str, Any]) -> None:
        if not self.notifier.wants(event):
            return
        self.notifier.submit(event, {"event": event, "hall": self.config.id, "at": at,
                                     "ticket": ticket, "phone": phone, **extra})
