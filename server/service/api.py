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

Group commit: while a :class:`Group` is open (``HallService.handle_group``:
the requests that arrived in one event-loop turn) ``commit`` applies each
decision to the core but writes nothing; :meth:`Context.commit_group` then
commits every decision of the group in ONE transaction. Replies get their
events, and memory that lives outside the core (remembered replies, faults:
:meth:`Context.after_commit`) changes, only once that transaction committed;
when it fails the core is rebuilt from the store and nothing else changed.

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
    "Group",
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
    #: ``message`` as JSON text once encoded (for the idempotency store, the
    #: memory of replies and the wire alike: one encode per reply). Whoever
    #: changes ``message`` after :meth:`encoded` sets it back to None.
    text: str | None = None

    def encoded(self) -> str:
        """The message as JSON text (``protocol.encode``), encoded once."""
        if self.text is None:
            self.text = protocol.encode(self.message)
        return self.text

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


@dataclass
class _Decided:
    """One decision of a group, waiting for the group's commit."""

    reply: Reply
    events: list[Event]
    remember: tuple[str, str, str] | None
    writes: Write | None


@dataclass
class Group:
    """Decisions taken on one state, to be committed in one transaction."""

    decided: list[_Decided] = field(default_factory=list)
    #: Memory changes outside the core, made once the group committed.
    after: list[Callable[[], None]] = field(default_factory=list)
    #: (device, request id) -> the reply a resend inside the group shares.
    answered: dict[tuple[str, str], Reply] = field(default_factory=dict)
    #: Memory was rebuilt inside the group: its decisions are lost, commit none.
    broken: bool = False
    #: Events of the whole group, committed after its decisions': the
    #: ``queue.changed`` the core estimated once at the group's end.
    trailing: list[Event] = field(default_factory=list)

    def coalesced(self) -> list[list[Event]]:
        """Each decision's events with ``queue.changed`` kept only where it is
        last for its service: the data is the queue's whole state, so the last
        one says all the earlier ones did (fewer rows, fewer frames)."""
        last: dict[str, tuple[int, int]] = {}
        for i, item in enumerate(self.decided):
            for j, ev in enumerate(item.events):
                if _queue_state(ev):
                    last[str(ev.data.get("service"))] = (i, j)
        return [[ev for j, ev in enumerate(item.events)
                 if not _queue_state(ev) or last[str(ev.data.get("service"))] == (i, j)]
                for i, item in enumerate(self.decided)]


def _queue_state(ev: Event) -> bool:
    """A ``queue.changed`` that carries nothing but the queue's state."""
    return (ev.name == "queue.changed" and ev.ticket is None and ev.counter is None
            and ev.prev_version is None)


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
        #: The open group (None: each commit is its own transaction).
        self.group: Group | None = None

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
        return protocol.event(int(ev.seq or 0), ev.name, at, ev.data, ev.data_text)

    def commit(self, decide: Callable[[], Decision],
               request: tuple[Session, str] | None = None) -> Reply:
        """Decide and commit in one transaction, deciding again after a lost race.

        Args:
            decide: reads the state (and may change the core) and returns the
                decision; it runs again on the rebuilt state after a lost race.
            request: ``(session, request id)``: the reply is ``ok`` with the
                decision's fields and is remembered with the commit (a resend
                gets it). Without it the reply message is the fields alone.

        While a :class:`Group` is open the decision is applied to the core and
        recorded, not written: the reply gets its events when
        :meth:`commit_group` has committed the whole group.

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
            reply = Reply(message)
            if request is not None:
                remember = (request[0].device.id, request[1], reply.encoded())
            if self.group is not None:
                # Committed with the whole group; the events join the reply then.
                self.group.decided.append(
                    _Decided(reply, decision.events, remember, decision.writes))
                return reply
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
            reply.events = [self.wire_event(e) for e in decision.events]
            return reply
        raise RuntimeError(f"could not commit after {COMMIT_ATTEMPTS} attempts")

    def after_commit(self, change: Callable[[], None]) -> None:
        """Make a memory change outside the core once the current commit stands:
        now, or when the open group has committed (never if it fails)."""
        if self.group is None:
            change()
        else:
            self.group.after.append(change)

    def commit_group(self, group: Group) -> list[dict[str, Any]]:
        """Commit every decision of ``group`` in one transaction, then give each
        reply its wire events and make the group's memory changes.

        Returns:
            The wire events of ``group.trailing`` (no reply holds them).

        Raises:
            StaleState: another writer came first (nothing was written).
            StoreError: the store failed (nothing was written).
            In both cases the caller rebuilds memory and answers for the group.
        """
        kept = group.coalesced()
        events = [ev for evs in kept for ev in evs] + group.trailing
        remember = [item.remember for item in group.decided if item.remember is not None]
        writes = [item.writes for item in group.decided if item.writes is not None]
        if events or remember or writes:
            self.store.commit(self.config.id, events, at=self.clock(),
                              more_replies=remember,
                              extra=_all_of(writes) if writes else None)
        for item, evs in zip(group.decided, kept, strict=True):
            item.reply.events = [self.wire_event(e) for e in evs]
        for change in group.after:
            change()
        return [self.wire_event(e) for e in group.trailing]

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


def _all_of(writes: list[Write]) -> Write:
    def run(conn: Any) -> None:
        for write in writes:
            write(conn)
    return run


#: Builds a feature for a hall (a feature class taking the context fits).
FeatureFactory = Callable[[Context], Feature]
