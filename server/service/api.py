"""What a feature is written against: the hall service's small typed API.

A feature (appointments, 好差评 follow-ups, admin stats; later the phone
channel and the console) is a class built from a :class:`Context` that
answers some request types::

    class Feature(Protocol):
        def handlers(self) -> Mapping[str, Handler]: ...   # request type -> handler
        def loaded(self, hall: Hall) -> None: ...          # each core built from the store

    Handler = Callable[[Session, dict], Reply]            # the request is already validated

``HallService(config, store, features=[Bookings.feature, ...])`` builds each
feature with itself as the context (``features``: factories taking the
context) and routes the feature's request types to it; the entry points
(``server/serve.py``, tools, tests) compose the list, usually
``server.features.default_features()``. This module never imports a feature.

The one commit-and-retry loop is :meth:`Context.commit`: ``decide()`` reads
the state and returns a :class:`Decision` (events, reply fields, the store
writes that go with them); the events, the writes and the request's reply
commit in ONE transaction. When another writer got there first
(``StaleState``) memory is rebuilt from the store and ``decide`` runs again
on the fresh state; any other failure rebuilds memory and propagates. Memory
therefore never runs ahead of the store.

Features import this module (and server.wire, server.config, server.core
types), never the service or the store modules: the store types they handle
are re-exported here.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from server.config import Device, HallConfig
from server.core import Event, Hall, NotFound
from server.store import BookingRow, FollowUpRow, PersonDay, StaleState, Store, StoreError, Write
from server.wire import protocol
from server.wire.clock import utcnow

__all__ = [
    "COMMIT_ATTEMPTS",
    "BookingRow",
    "Context",
    "Decision",
    "Feature",
    "FeatureFactory",
    "FollowUpRow",
    "Handler",
    "PersonDay",
    "Reply",
    "Session",
    "StaleState",
    "Store",
    "StoreError",
    "Unavailable",
    "Write",
    "utcnow",
]

log = logging.getLogger("qhall.service")

#: How many times a decision is taken again after losing a race.
COMMIT_ATTEMPTS = 3


class Unavailable(Exception):
    """The hall cannot serve now: its store is unreachable and memory may be
    ahead of it (see :attr:`Context.failed`)."""


@dataclass
class Session:
    """One authenticated device connection, as the service sees it."""

    device: Device

    @property
    def role(self) -> str:
        return self.device.role

    @property
    def counter(self) -> int | None:
        return self.device.counter

    def own_counter(self) -> int:
        """The counter this device is bound to, for counter-only requests.

        Raises:
            NotFound: the device has no counter (the config loader refuses
                such counter devices; this is the core's own refusal code).
        """
        if self.device.counter is None:
            raise NotFound(f"device {self.device.id!r} is not bound to a counter")
        return self.device.counter


@dataclass
class Reply:
    """What one request produced: the reply and the committed wire events."""

    message: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return "ok" if self.message.get("type") == "ok" else str(self.message.get("code"))


@dataclass
class Decision:
    """A decided change: the events, the reply's fields, the store's writes
    (``store.bookings`` / ``store.followups`` give them) to commit with them."""

    events: list[Event]
    reply: dict[str, Any] = field(default_factory=dict)
    writes: Write | None = None


#: Answers one validated request of its type.
Handler = Callable[[Session, dict[str, Any]], Reply]


class Feature(Protocol):
    """A set of requests plugged into the hall service."""

    def handlers(self) -> Mapping[str, Handler]:
        """Request type -> its handler (a type the service answers itself is refused)."""
        ...

    def loaded(self, hall: Hall) -> None:
        """Called with every core built from the store (start, reload) before it
        serves: a feature feeds it the committed state it owns."""
        ...


class Context:
    """A hall as its features see it: config, clock, store, core, commits.

    This base has no core in memory (``hall`` raises): the command-line tools
    (``qhall book``) commit through it. :class:`~server.service.HallService`
    is the serving one.
    """

    def __init__(self, config: HallConfig, store: Store,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        #: Why the hall cannot serve (None: it can); see HallService.
        self.failed: str | None = None
        self._hall: Hall | None = None

    @property
    def hall(self) -> Hall:
        """The core (the in-memory hall); only a serving context has one."""
        if self._hall is None:
            raise RuntimeError("this context holds no hall in memory")
        return self._hall

    @hall.setter
    def hall(self, hall: Hall) -> None:
        self._hall = hall

    def reload(self) -> None:
        """Rebuild memory from the store (nothing to rebuild here)."""

    def today(self) -> dt.date:
        """The hall-local date now."""
        return self.clock().astimezone(self.config.tz).date()

    def wire_event(self, ev: Event) -> dict[str, Any]:
        at = (ev.at or self.clock()).astimezone(self.config.tz).isoformat(timespec="seconds")
        return protocol.event(int(ev.seq or 0), ev.name, at, ev.data)

    def commit(self, decide: Callable[[], Decision],
               request: tuple[Session, str] | None = None) -> Reply:
        """Decide and commit in one transaction, deciding again after a lost race.

        Args:
            decide: reads the state (and may change the core) and returns the
                decision; it runs again on the rebuilt state after a lost race.
            request: ``(session, request id)``: the reply is ``ok`` with the
                decision's fields and is remembered with the commit (a resend
                gets it). Without it the reply message is the fields alone.

        Returns:
            The reply and the committed wire events.

        Raises:
            Unavailable: memory could not be rebuilt after a lost race.
            StoreError: the store failed (memory was rebuilt from it).
            and what ``decide`` raises (nothing was committed).
        """
        for attempt in range(COMMIT_ATTEMPTS):
            decision = decide()
            message = (protocol.ok(request[1], **decision.reply) if request is not None
                       else dict(decision.reply))
            if not decision.events and decision.writes is None:
                return Reply(message)  # nothing changed: nothing to remember either
            remember = None
            if request is not None:
                remember = (request[0].device.id, request[1], protocol.encode(message))
            try:
                self.store.commit(self.config.id, decision.events, at=self.clock(),
                                  reply=remember, extra=decision.writes)
            except StaleState:
                log.warning("stale state on %s (attempt %d); reloading",
                            request[1] if request else "a commit", attempt + 1)
                self.reload()
                if self.failed is not None:
                    raise Unavailable(self.failed) from None
                continue
            except Exception:
                self.reload()
                raise
            return Reply(message, [self.wire_event(e) for e in decision.events])
        raise RuntimeError(f"could not commit after {COMMIT_ATTEMPTS} attempts")

    def commit_upkeep(self, events: list[Event], what: str) -> list[dict[str, Any]]:
        """Commit events no request asked for (ticker, sweeps); on failure log,
        rebuild memory and send nothing."""
        if not events:
            return []
        try:
            self.store.commit(self.config.id, events, at=self.clock())
        except Exception:
            log.exception("%s failed; reloading", what)
            self.reload()
            return []
        return [self.wire_event(e) for e in events]


#: Builds a feature for a hall (a feature class taking the context fits).
FeatureFactory = Callable[[Context], Feature]
