"""The ``Store`` class: the one object the rest of the server talks to.

API::

    store = Store("sqlite:///qhall.db", clock=None)      # clock() -> aware datetime
    seqs = store.commit(hall_id, events, reply=None)     # -> [seq, ...]
    store.events_since(hall_id, seq, limit=10000)        # -> [{"seq","name","data","at"}]
    store.oldest_seq(hall_id) -> int | None;  store.last_seq(hall_id) -> int
    store.hall_of_check(check, among) -> hall_id | None
    store.load(hall_id, day) -> Loaded(tickets, counters, last_numbers, last_seq)
    store.events(hall_id, start, end, names=None)        # iterator of event dicts, for reports
    store.remember_reply(hall_id, device, request_id, reply_json, expires_at) -> bool
    store.recall_reply(hall_id, device, request_id) -> str | None
    store.purge_replies(now=None) -> int
    store.bookings, store.followups, store.phones        # typed rows and guarded writes
    store.outbox, store.stagers[hall_id] = stage         # webhook deliveries (server/notify)
    store.console                                        # console sessions, audit, acks
    store.configs                                        # configuration versions
    store.resume_keys.key(hall_id, now) -> bytes         # the hall's resume-ticket key
    store.close()

``commit`` is ONE transaction (its steps: server/store/commit.py): tickets
by optimistic concurrency, numbering by compare-and-set, counters from the
core's ``Event.counter``, events with gap-free seqs, the idempotency reply
and the caller's ``extra`` writes. On success every event gets ``seq`` and
``at``; on any failure nothing is written and the exception propagates:
``StaleState`` when another writer got there first (a version or numbering
mismatch, a duplicate key, a PostgreSQL deadlock or serialization failure:
reload the hall and retry), ``StoreError`` for anything else, with a message
fit for a log (no SQL, no password). Bad arguments raise
``ValueError``/``TypeError`` before anything is written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy.engine import Connection

from server.core.model import Event
from server.store import commit as commit_steps
from server.store import load as reads
from server.store import logins, replies
from server.store.bookings import BookingRows
from server.store.configs import ConfigRows
from server.store.console import ConsoleRows
from server.store.convert import check_key
from server.store.engine import Database
from server.store.followups import FollowUpRows
from server.store.outbox import OutboxRows, Staged
from server.store.phones import PhoneRows
from server.store.prepared import compile_all
from server.store.resumekeys import ResumeKeys
from server.wire.clock import aware_utc, naive_utc, utcnow

__all__ = ["Store"]

_PURGE_EVERY_S = 60.0


class Store:
    """A hall's persistent state. Thread-safe; one per process is enough.

    Args:
        url: SQLAlchemy URL: ``sqlite:///path.db`` (``sqlite://`` for an
            in-memory database) or ``postgresql+psycopg://...``.
        clock: returns the aware "now" stamped on events (``at``) and used
            for reply expiry; defaults to the real UTC clock. The simulator
            passes its virtual clock so reports see virtual times.
        busy_timeout_s: how long a SQLite writer waits for the file lock.
        migrate: bring the schema to head (leave True outside tests).

    Raises:
        StoreError: bad URL, unsupported database, cannot connect or migrate.
    """

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        busy_timeout_s: float = 30.0,
        migrate: bool = True,
    ) -> None:
        self._clock = clock or utcnow
        self._db = Database(url, busy_timeout_s, migrate)
        self.backend = self._db.backend
        self._engine = self._db.engine
        self._last_purge = float("-inf")
        #: Called inside every commit's transaction (server/store/lease.py sets
        #: it on PostgreSQL): raises when this process no longer owns the hall.
        self.fence: Callable[[Connection, str], None] | None = None
        self._sql = compile_all(self._engine.dialect)
        #: Appointments and follow-ups: their rows and guarded writes.
        self.bookings = BookingRows(self._db)
        self.followups = FollowUpRows(self._db)
        self.phones = PhoneRows(self._db)  # notified tickets' phones (server/store/phones.py)
        self.outbox = OutboxRows(self._db)  # webhook deliveries still to make
        #: Per hall: ``stage(events, at)`` -> what those events add to their own
        #: commit's transaction (the webhook deliveries they call for,
        #: server/notify/watch.py), or None.
        self.stagers: dict[str, Callable[[list[Event], dt.datetime], Staged | None]] = {}
        #: The supervisor console's sessions, audit log and alert acks.
        self.console = ConsoleRows(self._db)
        #: The hall configuration's stored versions (server/store/configs.py).
        self.configs = ConfigRows(self._db)
        #: The per-hall keys of the hellos' resume tickets (server/store/resumekeys.py).
        self.resume_keys = ResumeKeys(self._db)

    def close(self) -> None:
        """Close every pooled connection."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self._db!r})"

    @staticmethod
    def _run_alembic(conn: Connection) -> None:
        Database.run_alembic(conn)

    def transaction(self, write: bool = False) -> contextlib.AbstractContextManager[Connection]:
        """One transaction with the store's locking and error mapping (for tests
        and tools that inspect the database; the server's own queries live in
        this package)."""
        return self._db.transaction(write)

    # ---------------------------------------------------------- writes

    def commit(
        self,
        hall_id: str,
        events: Iterable[Event],
        *,
        reply: tuple[str, str, str] | None = None,
        at: dt.datetime | None = None,
        extra: commit_steps.Write | None = None,
        more_replies: Iterable[tuple[str, str, str]] = (),
    ) -> list[int]:
        """Write the events and their tickets in one transaction.

        Args:
            hall_id: the hall.
            events: the core's events, in order.
            reply: ``(device, request_id, reply_json)`` to remember for
                ``REPLY_TTL_S`` in the same transaction (a request already
                remembered raises StaleState: its first reply stands).
            at: the event time; defaults to the store's clock.
            extra: more writes (from ``store.bookings`` / ``store.followups``)
                run on the same connection inside the transaction, after the
                events; raising (``StaleState`` for a lost race) rolls
                everything back. The hall's stager (``stagers``) adds its
                write after these.
            more_replies: more ``(device, request_id, reply_json)`` to
                remember with ``reply`` (a group commit answers many requests).

        Returns:
            The seq given to each event (also set on ``event.seq``/``event.at``,
            and the data's stored JSON text on ``event.data_text``).

        Raises:
            StaleState: another writer changed a ticket, took the number, or
                answered the request first. Nothing was written.
            StoreError: any other database failure. Nothing was written.
            ValueError, TypeError: malformed events (nothing was written).
        """
        check_key(hall_id, "hall_id")
        events = list(events)
        when = naive_utc(at if at is not None else self._clock(), "at")
        expires = aware_utc(when) + dt.timedelta(seconds=replies.REPLY_TTL_S)
        reply_rows = [replies.row(hall_id, device, request_id, reply_json, expires)
                      for device, request_id, reply_json in
                      ([reply] if reply is not None else []) + list(more_replies)]
        stage = self.stagers.get(hall_id)
        staged = stage(events, aware_utc(when)) if stage is not None and events else None
        if staged is not None:
            extra = _then(extra, staged.write)
        batch = commit_steps.prepare(hall_id, events, when, reply_rows, extra)
        if batch.empty:
            return []
        # By the hall's clock, like the replies' expiry: a request id whose reply
        # expired is free again, even when that clock runs ahead of this process.
        now_mono = aware_utc(when).timestamp()
        purge = bool(reply_rows) and abs(now_mono - self._last_purge) > _PURGE_EVERY_S
        with self._db.writer() as conn:  # the held connection: no pool checkout per commit
            if self.fence is not None:
                self.fence(conn, hall_id)  # an older owner's epoch writes nothing
            commit_steps.write(conn, self._sql, batch, purge)
        if purge:
            self._last_purge = now_mono
        if staged is not None:
            staged.done()
        stamp = aware_utc(when)
        seqs = [row["seq"] for row in batch.events]
        for event, row in zip(events, batch.events, strict=True):
            event.seq, event.at, event.data_text = row["seq"], stamp, row["data"]
        return seqs

    # ---------------------------------------------------------- idempotency

    def remember_reply(self, hall_id: str, device: str, request_id: str, reply_json: str,
                       expires_at: dt.datetime) -> bool:
        """Keep the reply to a request (outside any commit, e.g. a refusal).

        Returns:
            True if stored, False if that request already had a reply (the
            first one stands).
        """
        check_key(hall_id, "hall_id")
        return replies.remember(
            self._db, replies.row(hall_id, device, request_id, reply_json, expires_at))

    def recall_reply(self, hall_id: str, device: str, request_id: str) -> str | None:
        """The remembered, unexpired reply to (device, request_id), or None."""
        return replies.recall(self._db, hall_id, device, request_id, self._clock())

    def live_replies(self, hall_id: str) -> list[tuple[str, str, str]]:
        """Every unexpired remembered reply of a hall: ``(device, request_id, reply)``.

        The server loads these once at start, so a request resent across a
        restart still gets its first reply without a database read per request.
        """
        return replies.live(self._db, hall_id, self._clock())

    def purge_replies(self, now: dt.datetime | None = None) -> int:
        """Delete expired replies (of every hall); returns how many."""
        moment = now if now is not None else self._clock()
        count = replies.purge(self._db, moment)
        self._last_purge = moment.timestamp()
        return count

    # ---------------------------------------------------------- wrong PINs

    def add_login_failure(self, hall_id: str, keys: list[str], at: dt.datetime) -> None:
        """Record one wrong PIN against each key (``staff:<id>``, ``device:<id>``)."""
        logins.add(self._db, hall_id, keys, at)

    def login_failures(self, hall_id: str, since: dt.datetime) -> list[tuple[str, dt.datetime]]:
        """Wrong PINs of a hall at or after ``since``: ``(key, at)``, oldest first.

        Also deletes the older ones: nothing reads them again.
        """
        return logins.since(self._db, hall_id, since)

    def clear_login_failures(self, hall_id: str, key: str) -> None:
        """Forget the wrong PINs counted against one key (its owner logged in)."""
        logins.clear(self._db, hall_id, key)

    # ---------------------------------------------------------- reads

    def events_since(self, hall_id: str, seq: int, limit: int = 10000) -> list[dict[str, Any]]:
        """Events with a seq above ``seq``, oldest first, at most ``limit``.

        Each is ``{"seq", "name", "data", "at"}`` (``at`` an aware UTC datetime).
        """
        return reads.since(self._db, hall_id, seq, limit)

    def oldest_seq(self, hall_id: str) -> int | None:
        """The smallest seq still held for the hall (None: no events)."""
        return reads.oldest_seq(self._db, hall_id)

    def last_seq(self, hall_id: str) -> int:
        """The hall's last committed seq (0 before its first event)."""
        with self._db.transaction(write=False) as conn:
            return reads.last_seq(conn, hall_id)

    def hall_of_check(self, check: str, among: Iterable[str]) -> str | None:
        """Which of the halls ``among`` holds a ticket with check code ``check``
        (None: none, or not a possible code). For a ticket's status page asked
        of a process that does not own its hall (a read, no index: rare)."""
        if not isinstance(check, str) or not check or len(check) > 32:
            return None
        return reads.hall_of_check(self._db, check, tuple(among))

    def load(self, hall_id: str, day: dt.date) -> reads.Loaded:
        """Everything ``Hall.restore`` needs for ``day``, from one snapshot."""
        return reads.load(self._db, hall_id, day)

    def events(self, hall_id: str, start: dt.datetime, end: dt.datetime,
               batch: int = 2000, names: tuple[str, ...] | None = None,
               ) -> Iterator[dict[str, Any]]:
        """Events with ``start <= at < end`` (only ``names`` when given), in seq
        order, for reports.

        Read in batches of short transactions, so a long report never holds
        a snapshot open against the writers.
        """
        return reads.between(self._db, hall_id, start, end, batch, names)


def _then(first: commit_steps.Write | None, second: commit_steps.Write) -> commit_steps.Write:
    """``first`` then ``second`` on one connection."""
    if first is None:
        return second

    def run(conn: Connection) -> None:
        first(conn)
        second(conn)
    return run
