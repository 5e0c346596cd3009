"""The store: tickets, numbering, counters and the event log in a database.

This is the only module that imports SQLAlchemy (Core, not the ORM: the hot
path is a handful of precompiled statements per transaction). SQLite is the
default (a file, WAL journal, ``synchronous=NORMAL``, a busy timeout);
PostgreSQL is used by URL (``postgresql+psycopg://user@host/db``; a bare
``postgresql://`` gets the psycopg 3 driver). The schema is managed by the
Alembic migrations in ``server/store/migrations/`` and brought to head when a
``Store`` opens; several processes opening a fresh database at once is safe
(SQLite: the upgrade runs under ``BEGIN IMMEDIATE``; PostgreSQL: under a
transaction-scoped advisory lock).

API::

    store = Store("sqlite:///qhall.db", clock=None)      # clock() -> aware datetime
    seqs = store.commit(hall_id, events, reply=None)     # -> [seq, ...]
    store.events_since(hall_id, seq, limit=10000)        # -> [{"seq","name","data","at"}]
    store.oldest_seq(hall_id) -> int | None;  store.last_seq(hall_id) -> int
    store.load(hall_id, day) -> Loaded(tickets, counters, last_numbers, last_seq)
    store.events(hall_id, start, end)                    # iterator of event dicts, for reports
    store.remember_reply(hall_id, device, request_id, reply_json, expires_at) -> bool
    store.recall_reply(hall_id, device, request_id) -> str | None
    store.purge_replies(now=None) -> int
    store.close()

``commit`` is ONE transaction. For each event carrying a ticket: a new ticket
(``prev_version is None``) advances the numbering row of (hall, service, day)
by compare-and-set (``last_number = n - 1 -> n``; inserted for number 1) and
inserts the ticket row; a changed ticket is written with ``UPDATE ... WHERE
id = :id AND version = :prev``. ``counter.*`` events update the ``counters``
row. Then the event rows get seqs ``last_seq + 1 ...`` from the hall's row in
``halls``, which the same transaction advances, so seqs have no gaps and never
collide across processes. ``reply=(device, request_id, reply_json)`` stores
the idempotency reply in that same transaction. On success every event gets
``seq`` and ``at``; on any failure nothing is written and the exception
propagates: ``StaleState`` when another writer got there first (a version or
numbering mismatch, a duplicate key, a PostgreSQL deadlock or serialization
failure: reload the hall and retry), ``StoreError`` for anything else, with a
message fit for a log (no SQL, no password). Bad arguments raise
``ValueError``/``TypeError`` before anything is written.

Timestamps are stored as naive UTC on both databases and come back as aware
UTC datetimes. Ticket ``day`` is the hall-local date the core gives.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, overload

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, Connection, make_url

from server.core.model import Event, Ticket

__all__ = [
    "REPLY_TTL_S",
    "SCHEMA_REVISION",
    "CounterState",
    "Loaded",
    "StaleState",
    "Store",
    "StoreError",
    "bookings_t",
    "booking_slots_t",
    "followups_t",
    "hall_secrets_t",
    "login_failures_t",
]

#: The newest migration in server/store/migrations/versions (checked by the tests):
#: a database already there skips loading Alembic at all.
SCHEMA_REVISION = "0008"

#: How long ``commit(..., reply=...)`` keeps an idempotency reply (PROTOCOL:
#: at least 10 minutes).
REPLY_TTL_S = 600

_MIGRATIONS = Path(__file__).with_name("migrations")
# Arbitrary constant key of the PostgreSQL advisory lock serialising migrations.
_PG_MIGRATION_LOCK = 0x71_68_61_6C_6C  # "qhall"
# PostgreSQL SQLSTATEs that mean "another transaction won; retry".
_PG_RETRY_STATES = frozenset({"40001", "40P01", "55P03"})
_PG_UNIQUE_VIOLATION = "23505"
_PURGE_EVERY_S = 60.0
_MAX_KEY = 64

_COUNTER_STATES = {
    "counter.opened": "open",
    "counter.resumed": "open",
    "counter.paused": "paused",
    "counter.closed": "closed",
}


class StoreError(Exception):
    """A database failure other than a concurrency conflict."""


class StaleState(StoreError):
    """Another writer changed the same state first; reload and retry."""


@dataclasses.dataclass
class CounterState:
    """The persisted state of one counter, kept from ``counter.*`` events."""

    number: int
    state: str  # open | paused | closed
    staff_id: str | None = None
    staff_name: str | None = None
    reason: str | None = None  # pause reason
    since: dt.datetime | None = None  # when the state last changed (UTC)
    streak: int = 0  # the core's priority-interleaving count (Event.counter)


@dataclasses.dataclass
class Loaded:
    """What ``Hall.restore`` needs for one hall and day."""

    tickets: list[Ticket]
    counters: dict[int, CounterState]
    last_numbers: dict[tuple[str, dt.date], int]
    last_seq: int


# --------------------------------------------------------------------------
# Schema (the migrations create it; tests check the two agree)

_metadata = sa.MetaData()

halls = sa.Table(
    "halls",
    _metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
)

tickets = sa.Table(
    "tickets",
    _metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("hall", sa.String(64), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("number", sa.String(16), nullable=False),
    sa.Column("seqno", sa.Integer, nullable=False),
    sa.Column("service", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("issued_at", sa.DateTime, nullable=False),
    sa.Column("counter", sa.Integer),
    sa.Column("target_counter", sa.Integer),
    sa.Column("rank_group", sa.Integer, nullable=False),
    sa.Column("rank_key", sa.Double, nullable=False),
    sa.Column("called_at", sa.DateTime),
    sa.Column("started_at", sa.DateTime),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("calls", sa.Integer, nullable=False),
    sa.Column("check_code", sa.String(32), nullable=False),
    sa.Column("slot_start", sa.DateTime),
    sa.Column("staff", sa.String(64)),
    sa.Column("rating", sa.Integer),
    sa.Column("version", sa.Integer, nullable=False),
    # Remote tickets (migration 0008): called only once present.
    sa.Column("remote", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("present", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("deferrals", sa.Integer, nullable=False, server_default="0"),
    sa.UniqueConstraint("hall", "day", "number", name="uq_tickets_hall_day_number"),
)

numbering = sa.Table(
    "numbering",
    _metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("service", sa.String(64), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("last_number", sa.Integer, nullable=False),
)

events_t = sa.Table(
    "events",
    _metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("ticket", sa.String(64)),
    sa.Index("ix_events_hall_at", "hall", "at"),
)

counters_t = sa.Table(
    "counters",
    _metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("staff_id", sa.String(64)),
    sa.Column("staff_name", sa.String(64)),
    sa.Column("reason", sa.String(200)),
    sa.Column("since", sa.DateTime, nullable=False),
    sa.Column("streak", sa.Integer, nullable=False, server_default="0"),
)

replies = sa.Table(
    "replies",
    _metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("device", sa.String(128), primary_key=True),
    sa.Column("request_id", sa.String(128), primary_key=True),
    sa.Column("reply", sa.Text, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Index("ix_replies_expires_at", "expires_at"),
)

# Appointments and follow-ups (migration 0002). The queries live with their
# owners, ``server/features/booking.py`` and ``server/features/ratings.py``, which run them in
# ``Store.transaction()`` or in ``commit(..., extra=...)``.

bookings_t = sa.Table(
    "bookings",
    _metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("code", sa.String(16), primary_key=True),
    sa.Column("service", sa.String(64), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("slot_start", sa.DateTime, nullable=False),
    sa.Column("person", sa.String(64), nullable=False),
    sa.Column("name_hash", sa.String(64), nullable=False),
    sa.Column("phone_hash", sa.String(64), nullable=False),
    sa.Column("name_mask", sa.String(64), nullable=False),
    sa.Column("phone_mask", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("person_day", sa.String(80)),
    sa.Column("ticket", sa.String(64)),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    # "legacy": hashed with the salt in hall_secrets (before 0004); "pii":
    # with the key kept outside the database (server/pii.py).
    sa.Column("hash_scheme", sa.String(8), nullable=False, server_default="legacy"),
    sa.UniqueConstraint("hall", "person_day", name="uq_bookings_hall_person_day"),
    sa.Index("ix_bookings_hall_person", "hall", "person"),
    sa.Index("ix_bookings_hall_day", "hall", "day"),
)

booking_slots_t = sa.Table(
    "booking_slots",
    _metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("service", sa.String(64), primary_key=True),
    sa.Column("slot_start", sa.DateTime, primary_key=True),
    sa.Column("booked", sa.Integer, nullable=False),
)

followups_t = sa.Table(
    "followups",
    _metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("ticket", sa.String(64), nullable=False),
    sa.Column("number", sa.String(16), nullable=False),
    sa.Column("service", sa.String(64), nullable=False),
    sa.Column("counter", sa.Integer),
    sa.Column("staff_id", sa.String(64)),
    sa.Column("staff_name", sa.String(64)),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("served_at", sa.DateTime),
    sa.Column("opened_at", sa.DateTime, nullable=False),
    sa.Column("due", sa.Date, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("closed_at", sa.DateTime),
    sa.Column("closed_by", sa.String(128)),
    sa.Column("note", sa.Text),
    sa.Column("reason", sa.Text),
    sa.UniqueConstraint("hall", "ticket", name="uq_followups_hall_ticket"),
    sa.Index("ix_followups_hall_status", "hall", "status"),
)

hall_secrets_t = sa.Table(
    "hall_secrets",
    _metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.String(128), nullable=False),
)

#: One row per wrong PIN and per key it counts against (migration 0004).
login_failures_t = sa.Table(
    "login_failures",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("hall", sa.String(64), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Index("ix_login_failures_hall_at", "hall", "at"),
)

#: The phone of a remote ticket (migration 0008; ``server/store/phones.py``):
#: its keyed hash for as long as the ticket row lives, the number itself only
#: while the ticket is active (notification delivery), then NULL.
ticket_phones_t = sa.Table(
    "ticket_phones",
    _metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("ticket", sa.String(64), primary_key=True),
    sa.Column("phone_hash", sa.String(64), nullable=False),
    sa.Column("phone", sa.String(32)),
    sa.Column("service", sa.String(64), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Index("ix_ticket_phones_hall_hash", "hall", "phone_hash"),
)

#: Ticket dataclass field -> tickets column (``rank`` is two columns).
TICKET_COLUMNS = {
    "id": "id",
    "number": "number",
    "service": "service",
    "status": "status",
    "priority": "priority",
    "issued_at": "issued_at",
    "day": "day",
    "seqno": "seqno",
    "counter": "counter",
    "target_counter": "target_counter",
    "rank": ("rank_group", "rank_key"),
    "called_at": "called_at",
    "started_at": "started_at",
    "finished_at": "finished_at",
    "calls": "calls",
    "check": "check_code",
    "slot_start": "slot_start",
    "staff": "staff",
    "rating": "rating",
    "version": "version",
    "remote": "remote",
    "present": "present",
    "deferrals": "deferrals",
}

# --------------------------------------------------------------------------
# Statements, built once. bindparam names differ from column names where
# SQLAlchemy requires it (a bound name may not equal a SET column's name).

_b = sa.bindparam

_ADVANCE_SEQ = (
    sa.update(halls)
    .where(halls.c.id == _b("h"))
    .values(last_seq=halls.c.last_seq + _b("n"))
    .returning(halls.c.last_seq)
)
_TICKET_INSERT = tickets.insert()
_TICKET_UPDATE = (
    sa.update(tickets)
    .where(tickets.c.id == _b("t_id"), tickets.c.hall == _b("t_hall"),
           tickets.c.version == _b("t_prev"))
    .values({c.name: _b(c.name) for c in tickets.c if c.name not in ("id", "hall")})
)
_NUMBER_FIRST = numbering.insert()
_NUMBER_CAS = (
    sa.update(numbering)
    .where(numbering.c.hall == _b("n_hall"), numbering.c.service == _b("n_service"),
           numbering.c.day == _b("n_day"), numbering.c.last_number == _b("n_prev"))
    .values(last_number=_b("n_next"))
)
_EVENT_INSERT = events_t.insert()
_REPLY_INSERT = replies.insert()
_PURGE_REPLIES = sa.delete(replies).where(replies.c.expires_at < _b("now"))


class _Prepared:
    """A hot-path statement compiled once for one dialect, run on the raw DB-API cursor.

    SQLAlchemy's per-execute bookkeeping costs more than SQLite itself
    spends on these small statements, so ``commit`` runs them directly
    (the drivers then reuse their prepared statements: sqlite3's statement
    cache, psycopg's automatic prepare). The dialect's bind processors still
    convert the values, so the rows are exactly what ``conn.execute`` writes.
    """

    def __init__(self, stmt: Any, dialect: sa.Dialect) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql = compiled.string
        processors = compiled._bind_processors  # name -> converter, for this dialect
        if compiled.positional:
            order = list(compiled.positiontup or ())
            self.args: Callable[[dict[str, Any]], Any] = lambda params: tuple(
                processors[name](params[name]) if name in processors else params[name]
                for name in order)
        else:
            names = list(compiled.bind_names.values())
            self.args = lambda params: {
                name: processors[name](params[name]) if name in processors else params[name]
                for name in names}


class _Raw:
    """The raw cursor of one transaction; DB-API errors become SQLAlchemy's."""

    def __init__(self, conn: Connection) -> None:
        self.cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        self.dialect = conn.dialect

    def _wrap(self, error: Exception, sql: str) -> exc.StatementError:
        dbapi = self.dialect.loaded_dbapi
        return exc.DBAPIError.instance(sql, None, error, dbapi.Error, dialect=self.dialect)

    def execute(self, prep: _Prepared, params: dict[str, Any]) -> Any:
        try:
            self.cursor.execute(prep.sql, prep.args(params))
        except self.dialect.loaded_dbapi.Error as error:
            raise self._wrap(error, prep.sql) from error
        return self.cursor

    def executemany(self, prep: _Prepared, rows: list[dict[str, Any]]) -> None:
        try:
            self.cursor.executemany(prep.sql, [prep.args(row) for row in rows])
        except self.dialect.loaded_dbapi.Error as error:
            raise self._wrap(error, prep.sql) from error

    def close(self) -> None:
        self.cursor.close()


# --------------------------------------------------------------------------
# Conversions


@overload
def _utc(value: dt.datetime, what: str) -> dt.datetime: ...
@overload
def _utc(value: None, what: str) -> None: ...
def _utc(value: dt.datetime | None, what: str) -> dt.datetime | None:
    """Aware datetime -> naive UTC for the database (naive is refused)."""
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{what} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(dt.UTC).replace(tzinfo=None)


@overload
def _aware(value: dt.datetime) -> dt.datetime: ...
@overload
def _aware(value: None) -> None: ...
def _aware(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.replace(tzinfo=dt.UTC)


_DIGITS = re.compile(r"(\d+)$")


def _seqno(t: Ticket) -> int:
    if t.seqno:
        return int(t.seqno)
    m = _DIGITS.search(t.number or "")
    if not m:
        raise ValueError(f"ticket {t.id}: number {t.number!r} has no numeric part")
    return int(m.group(1))


def _ticket_params(hall: str, t: Ticket) -> dict[str, Any]:
    if not isinstance(t, Ticket):
        raise TypeError(f"event ticket must be a Ticket, not {type(t).__name__}")
    if not t.id or not isinstance(t.id, str) or len(t.id) > _MAX_KEY:
        raise ValueError(f"ticket id must be a non-empty string of at most {_MAX_KEY} chars")
    if not isinstance(t.day, dt.date) or isinstance(t.day, dt.datetime):
        raise TypeError(f"ticket {t.id}: day must be a date, not {type(t.day).__name__}")
    return {
        "id": t.id,
        "hall": hall,
        "day": t.day,
        "number": t.number,
        "seqno": _seqno(t),
        "service": t.service,
        "status": t.status,
        "priority": t.priority,
        "issued_at": _utc(t.issued_at, "issued_at"),
        "counter": t.counter,
        "target_counter": t.target_counter,
        "rank_group": int(t.rank[0]),
        "rank_key": float(t.rank[1]),
        "called_at": _utc(t.called_at, "called_at"),
        "started_at": _utc(t.started_at, "started_at"),
        "finished_at": _utc(t.finished_at, "finished_at"),
        "calls": t.calls,
        "check_code": t.check,
        "slot_start": _utc(t.slot_start, "slot_start"),
        "staff": t.staff,
        "rating": t.rating,
        "version": t.version,
        "remote": t.remote,
        "present": t.present,
        "deferrals": t.deferrals,
    }


def _ticket_from_row(row: Any) -> Ticket:
    return Ticket(
        id=row.id,
        number=row.number,
        service=row.service,
        status=row.status,
        priority=row.priority,
        issued_at=_aware(row.issued_at),
        day=row.day,
        seqno=row.seqno,
        counter=row.counter,
        target_counter=row.target_counter,
        rank=(row.rank_group, row.rank_key),
        called_at=_aware(row.called_at),
        started_at=_aware(row.started_at),
        finished_at=_aware(row.finished_at),
        calls=row.calls,
        check=row.check_code,
        slot_start=_aware(row.slot_start),
        staff=row.staff,
        rating=row.rating,
        version=row.version,
        remote=bool(row.remote),
        present=bool(row.present),
        deferrals=row.deferrals,
    )


def _counter_change(name: str, data: dict[str, Any], when: dt.datetime) -> dict[str, Any] | None:
    """The counters-row columns a ``counter.*`` event sets (None: not a state change)."""
    state = _COUNTER_STATES.get(name)
    if state is None:
        return None
    number = data.get("counter")
    if isinstance(number, dict):
        number = number.get("number")
    if not isinstance(number, int) or isinstance(number, bool):
        raise ValueError(f"{name} event data needs an integer 'counter', got {number!r}")
    change: dict[str, Any] = {"number": number, "state": state, "since": when}
    if name == "counter.opened":
        staff = data.get("staff")
        if isinstance(staff, dict):
            change["staff_id"], change["staff_name"] = staff.get("id"), staff.get("name")
        else:
            change["staff_id"] = staff if isinstance(staff, str) else data.get("staff_id")
            change["staff_name"] = data.get("staff_name")
        change["reason"] = None
    elif name == "counter.closed":
        change.update(staff_id=None, staff_name=None, reason=None)
    elif name == "counter.paused":
        change["reason"] = str(data.get("reason") or "")[:200]
    else:  # resumed
        change["reason"] = None
    return change


def _check_key(value: Any, what: str, limit: int = _MAX_KEY) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ValueError(f"{what} must be a non-empty string of at most {limit} chars")
    return value


def _event_dict(row: Any) -> dict[str, Any]:
    return {"seq": row.seq, "name": row.name, "data": json.loads(row.data),
            "at": _aware(row.at)}


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# --------------------------------------------------------------------------


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
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._url = self._parse_url(url)
        self.backend = self._url.get_backend_name()
        self._busy_timeout_s = busy_timeout_s
        self._memory = self.backend == "sqlite" and self._url.database in (None, "", ":memory:")
        # An in-memory SQLite database lives on one shared connection, so
        # calls from several threads must take turns.
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if self._memory else contextlib.nullcontext()
        )
        self._last_purge = float("-inf")
        self._engine = self._make_engine()
        dialect = self._engine.dialect
        self._sql = {name: _Prepared(stmt, dialect) for name, stmt in {
            "advance_seq": _ADVANCE_SEQ, "hall_first": self._dialect_insert(halls)
            .on_conflict_do_nothing(), "ticket_insert": _TICKET_INSERT,
            "ticket_update": _TICKET_UPDATE, "number_first": _NUMBER_FIRST,
            "number_cas": _NUMBER_CAS, "event_insert": _EVENT_INSERT,
        }.items()}
        try:
            if migrate:
                self._migrate()
        except BaseException:
            self._engine.dispose()
            raise

    # ---------------------------------------------------------- set-up

    @staticmethod
    def _parse_url(url: str) -> URL:
        if not isinstance(url, str) or not url.strip():
            raise StoreError("database URL is empty")
        try:
            parsed = make_url(url)
        except exc.ArgumentError:
            raise StoreError(f"not a database URL: {url!r}") from None
        backend = parsed.get_backend_name()
        if backend == "postgresql":
            if parsed.drivername == "postgresql":  # default to psycopg 3, the one installed
                parsed = parsed.set(drivername="postgresql+psycopg")
        elif backend != "sqlite":
            raise StoreError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")
        return parsed

    def _make_engine(self) -> sa.Engine:
        if self.backend == "sqlite":
            return self._sqlite_engine()
        return sa.create_engine(self._url, connect_args={"connect_timeout": 10})

    def _sqlite_engine(self) -> sa.Engine:
        timeout = self._busy_timeout_s
        if self._memory:
            engine = sa.create_engine(
                "sqlite://", poolclass=sa.StaticPool,
                connect_args={"check_same_thread": False, "timeout": timeout},
            )
        else:
            engine = sa.create_engine(
                self._url, connect_args={"check_same_thread": False, "timeout": timeout},
            )

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" hook below issue BEGIN itself: pysqlite's
            # own implicit BEGIN is DEFERRED, and a deferred transaction that
            # reads then writes fails with SQLITE_BUSY instead of waiting.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            # Switching a brand-new file to WAL needs it to itself; when
            # several processes open it at once (concurrent first start) the
            # loser gets "database is locked" at once, busy_timeout or not.
            deadline = time.monotonic() + timeout
            while True:
                try:
                    cursor.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError as error:
                    if "locked" not in str(error) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # Writers take the write lock up front (waiting up to busy_timeout);
            # readers get a plain snapshot and never block writers under WAL.
            write = conn.get_execution_options().get("qhall_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    def _migrate(self) -> None:
        # SQLite answers some first-start races (several processes creating
        # one new file) with an immediate "database is locked" that no busy
        # timeout covers: try again for a while before giving up.
        deadline = time.monotonic() + 30.0
        while True:
            try:
                return self._migrate_once()
            except StoreError as error:
                locked = "database is locked" in str(error)
                if not (self.backend == "sqlite" and locked) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _migrate_once(self) -> None:
        try:
            with self._lock, self._engine.connect() as conn:
                with conn.begin():
                    if self._revision(conn) == SCHEMA_REVISION:
                        return
                conn.execution_options(qhall_write=True)
                with conn.begin():
                    if self.backend == "postgresql":
                        # Concurrent first starts wait here; the winner creates
                        # the schema, the others then find it at head.
                        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
                    # Whoever waited for the lock usually finds the work done.
                    if self._revision(conn) != SCHEMA_REVISION:
                        self._run_alembic(conn)
        except exc.SQLAlchemyError as error:
            raise StoreError(
                f"cannot open or migrate the database "
                f"{self._url.render_as_string(hide_password=True)}: {_first_line(error)}"
            ) from error

    @staticmethod
    def _revision(conn: Connection) -> str | None:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()

    @staticmethod
    def _run_alembic(conn: Connection) -> None:
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, "head")

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self._url.render_as_string(hide_password=True)!r})"

    # ---------------------------------------------------------- transactions

    def transaction(self, write: bool = False) -> contextlib.AbstractContextManager[Connection]:
        """One transaction for a module's own queries (bookings, follow-ups, reports).

        Same locking and error mapping as the store's own transactions.
        """
        return self._transaction(write)

    @contextlib.contextmanager
    def _transaction(self, write: bool) -> Iterator[Connection]:
        """One transaction; database errors become StaleState/StoreError."""
        try:
            with self._lock, self._engine.connect() as conn:
                if write:
                    conn.execution_options(qhall_write=True)
                elif self.backend == "postgresql":
                    # One snapshot for every read of a load(), like SQLite's.
                    conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    yield conn
        except exc.IntegrityError as error:
            if self._is_unique_violation(error):
                raise StaleState(f"already written by another writer: {_first_line(error)}") \
                    from error
            raise StoreError(f"database refused the write: {_first_line(error)}") from error
        except exc.DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) in _PG_RETRY_STATES:
                raise StaleState(f"concurrent transaction conflict: {_first_line(error)}") \
                    from error
            if "database is locked" in _first_line(error):
                raise StoreError(
                    f"database is busy: another process held it for more than "
                    f"{self._busy_timeout_s:g} s"
                ) from error
            raise StoreError(f"database error: {_first_line(error)}") from error
        except exc.SQLAlchemyError as error:
            raise StoreError(f"database error: {_first_line(error)}") from error

    @staticmethod
    def _is_unique_violation(error: exc.IntegrityError) -> bool:
        sqlstate = getattr(error.orig, "sqlstate", None)
        if sqlstate is not None:
            return sqlstate == _PG_UNIQUE_VIOLATION
        text = str(error.orig)
        return "UNIQUE constraint failed" in text or "PRIMARY KEY" in text

    # ---------------------------------------------------------- writes

    def commit(
        self,
        hall_id: str,
        events: Iterable[Event],
        *,
        reply: tuple[str, str, str] | None = None,
        at: dt.datetime | None = None,
        extra: Callable[[Connection], None] | None = None,
    ) -> list[int]:
        """Write the events and their tickets in one transaction.

        Args:
            hall_id: the hall.
            events: the core's events, in order.
            reply: ``(device, request_id, reply_json)`` to remember for
                ``REPLY_TTL_S`` in the same transaction (a request already
                remembered raises StaleState: its first reply stands).
            at: the event time; defaults to the store's clock.
            extra: more writes (bookings, follow-ups) run on the same
                connection inside the transaction, after the events; raising
                (e.g. ``StaleState`` for a lost race) rolls everything back.

        Returns:
            The seq given to each event (also set on ``event.seq``/``event.at``).

        Raises:
            StaleState: another writer changed a ticket, took the number, or
                answered the request first. Nothing was written.
            StoreError: any other database failure. Nothing was written.
            ValueError, TypeError: malformed events (nothing was written).
        """
        _check_key(hall_id, "hall_id")
        events = list(events)
        when = _utc(at if at is not None else self._clock(), "at")
        assert when is not None
        if reply is not None:
            device, request_id, reply_json = reply
            reply_row = self._reply_row(hall_id, device, request_id, reply_json,
                                        _aware(when) + dt.timedelta(seconds=REPLY_TTL_S))
        if not events and reply is None and extra is None:
            return []

        # Everything that can fail on bad input is prepared before the
        # transaction, which then only executes statements.
        ticket_ops: list[tuple[bool, dict[str, Any], int | None]] = []
        written: set[tuple[str, int]] = set()
        counter_rows: list[dict[str, Any]] = []
        streaks: dict[int, int] = {}  # counter -> streak after these events
        event_rows: list[dict[str, Any]] = []
        for event in events:
            if not isinstance(event, Event):
                raise TypeError(f"commit() takes Event objects, not {type(event).__name__}")
            _check_key(event.name, "event name")
            if not isinstance(event.data, dict):
                raise TypeError(f"{event.name}: event data must be a dict")
            try:
                data = json.dumps(event.data, ensure_ascii=False, separators=(",", ":"))
            except (TypeError, ValueError) as error:
                raise ValueError(f"{event.name}: event data is not JSON: {error}") from None
            t = event.ticket
            if t is None:
                if event.prev_version is not None:
                    raise ValueError(f"{event.name}: prev_version given without a ticket")
            else:
                prev = event.prev_version
                if prev is not None and t.version <= prev:
                    raise ValueError(
                        f"{event.name}: ticket {t.id} version {t.version} must be above "
                        f"prev_version {prev}"
                    )
                # The same ticket state attached to two events is written once.
                if (t.id, t.version) not in written:
                    written.add((t.id, t.version))
                    ticket_ops.append((prev is None, _ticket_params(hall_id, t), prev))
            if event.name.startswith("counter."):
                change = _counter_change(event.name, event.data, when)
                if change is not None:
                    counter_rows.append(change)
            cs = getattr(event, "counter", None)
            if cs is not None:
                streaks[int(cs.number)] = int(cs.streak)
            event_rows.append({"hall": hall_id, "name": event.name, "data": data, "at": when,
                               "ticket": t.id if t is not None else None})

        now_mono = time.monotonic()
        purge = reply is not None and now_mono - self._last_purge > _PURGE_EVERY_S
        sql = self._sql
        with self._transaction(write=True) as conn:
            raw = _Raw(conn)
            try:
                if event_rows:
                    last = self._advance_seq(raw, hall_id, len(event_rows))
                    first = last - len(event_rows) + 1
                    for i, row in enumerate(event_rows):
                        row["seq"] = first + i
                for new, params, prev in ticket_ops:
                    if new:
                        self._take_number(raw, params)
                        raw.execute(sql["ticket_insert"], params)
                    else:
                        params = {**params, "t_id": params["id"], "t_hall": hall_id,
                                  "t_prev": prev}
                        if raw.execute(sql["ticket_update"], params).rowcount != 1:
                            raise StaleState(
                                f"ticket {params['number']} ({params['t_id']}) changed since "
                                f"version {prev}"
                            )
                if event_rows:
                    raw.executemany(sql["event_insert"], event_rows)
            finally:
                raw.close()
            for change in counter_rows:
                self._upsert_counter(conn, hall_id, change)
            for number, streak in streaks.items():
                conn.execute(sa.update(counters_t)
                             .where(counters_t.c.hall == hall_id,
                                    counters_t.c.number == number,
                                    counters_t.c.streak != streak)
                             .values(streak=streak))
            if reply is not None:
                if purge:
                    conn.execute(_PURGE_REPLIES, {"now": when})
                conn.execute(_REPLY_INSERT, reply_row)
            if extra is not None:
                extra(conn)
        if purge:
            self._last_purge = now_mono
        stamp = _aware(when)
        seqs = [row["seq"] for row in event_rows]
        for event, seq in zip(events, seqs, strict=True):
            event.seq, event.at = seq, stamp
        return seqs

    def _advance_seq(self, raw: _Raw, hall_id: str, n: int) -> int:
        # The UPDATE row-locks the hall (PostgreSQL) for the rest of the
        # transaction, so concurrent commits of one hall queue up here and
        # each gets the next block of seqs.
        params = {"h": hall_id, "n": n}
        row = raw.execute(self._sql["advance_seq"], params).fetchone()
        if row is None:  # the hall's first event ever
            raw.execute(self._sql["hall_first"], {"id": hall_id, "last_seq": 0})
            row = raw.execute(self._sql["advance_seq"], params).fetchone()
        return int(row[0])

    def _take_number(self, raw: _Raw, params: dict[str, Any]) -> None:
        number = params["seqno"]
        if number < 1:
            raise ValueError(f"ticket {params['id']}: number must start at 1, got {number}")
        if number == 1:
            # A concurrent first issue collides on the primary key -> StaleState.
            raw.execute(self._sql["number_first"], {
                "hall": params["hall"], "service": params["service"], "day": params["day"],
                "last_number": 1})
            return
        done = raw.execute(self._sql["number_cas"], {
            "n_hall": params["hall"], "n_service": params["service"], "n_day": params["day"],
            "n_prev": number - 1, "n_next": number,
        }).rowcount
        if done != 1:
            raise StaleState(
                f"number {params['number']} of {params['service']} on {params['day']} "
                f"is not the next one (another issue came first)"
            )

    def _dialect_insert(self, table: sa.Table) -> Any:
        dialect = pg_dialect if self.backend == "postgresql" else sqlite_dialect
        return dialect.insert(table)

    @staticmethod
    def _insert_ignore(conn: Connection, table: sa.Table) -> Any:
        dialect = pg_dialect if conn.dialect.name == "postgresql" else sqlite_dialect
        return dialect.insert(table).on_conflict_do_nothing()

    @staticmethod
    def _upsert_counter(conn: Connection, hall_id: str, change: dict[str, Any]) -> None:
        dialect = pg_dialect if conn.dialect.name == "postgresql" else sqlite_dialect
        values = {"hall": hall_id, "staff_id": None, "staff_name": None, "reason": None,
                  **change}
        stmt = dialect.insert(counters_t).values(values)
        # Only what this event decides changes (a pause keeps the staff).
        updates = {k: v for k, v in change.items() if k != "number"}
        conn.execute(stmt.on_conflict_do_update(index_elements=["hall", "number"],
                                                set_=updates))

    # ---------------------------------------------------------- idempotency

    @staticmethod
    def _reply_row(hall_id: str, device: str, request_id: str, reply_json: str,
                   expires_at: dt.datetime) -> dict[str, Any]:
        _check_key(device, "device", 128)
        _check_key(request_id, "request_id", 128)
        if not isinstance(reply_json, str):
            raise TypeError("reply_json must be a str (the encoded reply)")
        return {"hall": hall_id, "device": device, "request_id": request_id,
                "reply": reply_json, "expires_at": _utc(expires_at, "expires_at")}

    def remember_reply(self, hall_id: str, device: str, request_id: str, reply_json: str,
                       expires_at: dt.datetime) -> bool:
        """Keep the reply to a request (outside any commit, e.g. a refusal).

        Returns:
            True if stored, False if that request already had a reply (the
            first one stands).
        """
        _check_key(hall_id, "hall_id")
        row = self._reply_row(hall_id, device, request_id, reply_json, expires_at)
        with self._transaction(write=True) as conn:
            # INSERT row counts are only kept when asked for (SQLAlchemy 2).
            stmt = self._insert_ignore(conn, replies).execution_options(preserve_rowcount=True)
            return conn.execute(stmt, row).rowcount == 1

    def recall_reply(self, hall_id: str, device: str, request_id: str) -> str | None:
        """The remembered, unexpired reply to (device, request_id), or None."""
        now = _utc(self._clock(), "clock()")
        with self._transaction(write=False) as conn:
            return conn.execute(
                sa.select(replies.c.reply).where(
                    replies.c.hall == hall_id, replies.c.device == device,
                    replies.c.request_id == request_id, replies.c.expires_at > now)
            ).scalar()

    def live_replies(self, hall_id: str) -> list[tuple[str, str, str]]:
        """Every unexpired remembered reply of a hall: ``(device, request_id, reply)``.

        The server loads these once at start, so a request resent across a
        restart still gets its first reply without a database read per request.
        """
        now = _utc(self._clock(), "clock()")
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                sa.select(replies.c.device, replies.c.request_id, replies.c.reply)
                .where(replies.c.hall == hall_id, replies.c.expires_at > now)
            ).all()
        return [(r.device, r.request_id, r.reply) for r in rows]

    def add_login_failure(self, hall_id: str, keys: list[str], at: dt.datetime) -> None:
        """Record one wrong PIN against each key (``staff:<id>``, ``device:<id>``)."""
        _check_key(hall_id, "hall_id")
        when = _utc(at, "at")
        rows = [{"hall": hall_id, "key": _check_key(k, "key", 200), "at": when} for k in keys]
        with self._transaction(write=True) as conn:
            conn.execute(login_failures_t.insert(), rows)

    def login_failures(self, hall_id: str, since: dt.datetime) -> list[tuple[str, dt.datetime]]:
        """Wrong PINs of a hall at or after ``since``: ``(key, at)``, oldest first.

        Also deletes the older ones: nothing reads them again.
        """
        when = _utc(since, "since")
        table = login_failures_t
        with self._transaction(write=True) as conn:
            conn.execute(table.delete().where(table.c.hall == hall_id, table.c.at < when))
            rows = conn.execute(sa.select(table.c.key, table.c.at).where(
                table.c.hall == hall_id).order_by(table.c.at, table.c.id)).all()
        return [(r.key, _aware(r.at)) for r in rows]

    def clear_login_failures(self, hall_id: str, key: str) -> None:
        """Forget the wrong PINs counted against one key (its owner logged in)."""
        with self._transaction(write=True) as conn:
            conn.execute(login_failures_t.delete().where(
                login_failures_t.c.hall == hall_id, login_failures_t.c.key == key))

    def purge_replies(self, now: dt.datetime | None = None) -> int:
        """Delete expired replies (of every hall); returns how many."""
        when = _utc(now if now is not None else self._clock(), "now")
        with self._transaction(write=True) as conn:
            count = conn.execute(_PURGE_REPLIES, {"now": when}).rowcount
        self._last_purge = time.monotonic()
        return count

    # ---------------------------------------------------------- reads

    def events_since(self, hall_id: str, seq: int, limit: int = 10000) -> list[dict[str, Any]]:
        """Events with a seq above ``seq``, oldest first, at most ``limit``.

        Each is ``{"seq", "name", "data", "at"}`` (``at`` an aware UTC datetime).
        """
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise TypeError("seq must be an int")
        if not isinstance(limit, int) or limit < 1:
            raise ValueError("limit must be a positive int")
        query = (
            sa.select(events_t.c.seq, events_t.c.name, events_t.c.data, events_t.c.at)
            .where(events_t.c.hall == hall_id, events_t.c.seq > seq)
            .order_by(events_t.c.seq)
            .limit(limit)
        )
        with self._transaction(write=False) as conn:
            return [_event_dict(row) for row in conn.execute(query)]

    def oldest_seq(self, hall_id: str) -> int | None:
        """The smallest seq still held for the hall (None: no events)."""
        with self._transaction(write=False) as conn:
            return conn.execute(
                sa.select(sa.func.min(events_t.c.seq)).where(events_t.c.hall == hall_id)
            ).scalar()

    def last_seq(self, hall_id: str) -> int:
        """The hall's last committed seq (0 before its first event)."""
        with self._transaction(write=False) as conn:
            return self._last_seq(conn, hall_id)

    @staticmethod
    def _last_seq(conn: Connection, hall_id: str) -> int:
        value = conn.execute(sa.select(halls.c.last_seq).where(halls.c.id == hall_id)).scalar()
        return int(value or 0)

    def load(self, hall_id: str, day: dt.date) -> Loaded:
        """Everything ``Hall.restore`` needs for ``day``, from one snapshot."""
        _check_key(hall_id, "hall_id")
        if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
            raise TypeError("day must be a date")
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                sa.select(tickets).where(tickets.c.hall == hall_id, tickets.c.day == day)
                .order_by(tickets.c.issued_at, tickets.c.id)
            )
            ticket_list = [_ticket_from_row(row) for row in rows]
            counters = {
                row.number: CounterState(row.number, row.state, row.staff_id, row.staff_name,
                                         row.reason, _aware(row.since), row.streak)
                for row in conn.execute(
                    sa.select(counters_t).where(counters_t.c.hall == hall_id)
                    .order_by(counters_t.c.number))
            }
            last_numbers = {
                (row.service, row.day): row.last_number
                for row in conn.execute(
                    sa.select(numbering).where(numbering.c.hall == hall_id,
                                               numbering.c.day == day))
            }
            last = self._last_seq(conn, hall_id)
        return Loaded(ticket_list, counters, last_numbers, last)

    def events(self, hall_id: str, start: dt.datetime, end: dt.datetime,
               batch: int = 2000) -> Iterator[dict[str, Any]]:
        """Events with ``start <= at < end``, in seq order, for reports.

        Read in batches of short transactions, so a long report never holds
        a snapshot open against the writers.
        """
        lo, hi = _utc(start, "start"), _utc(end, "end")
        after = 0
        while True:
            query = (
                sa.select(events_t.c.seq, events_t.c.name, events_t.c.data, events_t.c.at)
                .where(events_t.c.hall == hall_id, events_t.c.at >= lo, events_t.c.at < hi,
                       events_t.c.seq > after)
                .order_by(events_t.c.seq)
                .limit(batch)
            )
            with self._transaction(write=False) as conn:
                chunk = [_event_dict(row) for row in conn.execute(query)]
            yield from chunk
            if len(chunk) < batch:
                return
            after = chunk[-1]["seq"]
