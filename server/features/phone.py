"""Remote tickets: a number taken by phone (``/take/<hall>``, the integration API).

Guardrails: the service's hours and daily quota as at the kiosk (the core's
``issue``), one active ticket per phone per service (``conflict``), a
budget per source address (``[limits] remote_issues_per_hour``, kept by the
API layer). The ticket keeps its place in line and is called once its
citizen is present (``server/core/remote.py``): 我已到达 on its page
(``arrived``) or its QR read at a kiosk (the kiosk's ``requeue``, which the
core takes as the arrival of an absent remote ticket).

Personal data: the phone is kept as its keyed hash (``server/pii.py``, the
key outside the database) for the one-per-phone rule, and as the number
itself only when a webhook sends to it and while the ticket may still be
told something, for notification delivery (``ticket_phones``,
``server/store/phones.py``; erased by ``server/notify/watch.py``). It is
never shown and never on the wire.
"""

from __future__ import annotations

from typing import Any

from server import pii
from server.core import BadRequest, Conflict, Event, NotFound
from server.service.api import Context, Decision

__all__ = ["RemoteTickets"]


class RemoteTickets:
    """Remote tickets of one hall.

    Not a request feature (phones reach it over HTTP, server/web/api.py): it
    works on the hall through the service API like one.

    Args:
        ctx: the serving hall (its core, store, clock and commit loop).
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.rows = ctx.store.phones
        self._key: bytes | None = None

    # -- requests ------------------------------------------------------------
    def key(self) -> bytes:
        if self._key is None:
            self._key = pii.key_for(self.config)
        return self._key

    def check(self, service_id: str, phone: str) -> str:
        """The phone's digits, once the request is well-formed (nothing is read
        or written: the API checks this before spending the address's budget).

        Raises:
            BadRequest: a malformed phone. NotFound: an unknown service.
        """
        try:
            digits = pii.normalize_phone(phone)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        if self.config.service(service_id) is None:
            raise NotFound(f"unknown service {service_id!r}")
        return digits

    def issue(self, service_id: str, phone: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Issue a remote ticket; the wire ticket and the committed wire events.

        Raises:
            BadRequest: a malformed phone. Conflict: the phone already holds an
            active ticket of this service. NotFound/Closed/QuotaReached: as
            the kiosk's ``issue``. Unavailable, StoreError: the hall cannot serve.
        """
        digits = self.check(service_id, phone)
        phone_hash = pii.digest(self.key(), "phone", digits)
        if self.rows.active_tickets(self.config.id, phone_hash, service_id):
            raise Conflict("这个手机号已有该业务的有效号票 this phone already holds an active "
                           "ticket for this service")
        issued: list[Event] = []

        def decide() -> Decision:
            events = self.ctx.hall.issue(service_id, remote=True)
            issued[:] = events
            t = events[0].ticket
            assert t is not None
            # The number itself only when a webhook will send to it.
            kept = digits if pii.keeps_phones(self.config) else None
            return Decision(events, writes=self.rows.add(
                self.config.id, t.id, phone_hash, kept, t.service, t.day))

        reply = self.ctx.commit(decide)
        return dict(issued[0].data["ticket"]), reply.events

    def arrived(self, check: str) -> list[dict[str, Any]]:
        """The citizen of this remote ticket is here; the committed wire events.

        Requests from phones have no device, so nothing is remembered for
        idempotency: a repeated ``arrived`` changes nothing anyway.

        Raises:
            NotFound: no such ticket. IllegalMove: not a waiting remote ticket.
        """
        t = self.ctx.hall.by_check(check)
        if t is None:
            raise NotFound("no such ticket")
        ticket_id = t.id
        return self.ctx.commit(lambda: Decision(self.ctx.hall.arrived(ticket_id))).events
