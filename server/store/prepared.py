"""The commit's hot-path statements, compiled once per dialect and run on the
raw DB-API cursor (see :class:`Prepared` for why)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection

from server.store.schema import counters_t, events_t, halls, numbering, replies, tickets

__all__ = ["PURGE_REPLIES", "Prepared", "Raw", "compile_all", "dialect_of"]

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
PURGE_REPLIES = sa.delete(replies).where(replies.c.expires_at < _b("now"))


class Prepared:
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
        processors = dict(compiled._bind_processors)  # name -> converter, for this dialect
        for name, process in processors.items():
            faster = _iso_processor(compiled.binds[name].type, dialect, process)
            if faster is not None:
                processors[name] = faster
        # (name, converter or None) resolved once: args() runs for every row
        # of every commit (a list comprehension, not a generator per row).
        if compiled.positional:
            order = [(name, processors.get(name)) for name in compiled.positiontup or ()]
            self.args: Callable[[dict[str, Any]], Any] = lambda params: tuple([
                params[name] if process is None else process(params[name])
                for name, process in order])
        else:
            named = [(name, processors.get(name)) for name in compiled.bind_names.values()]
            self.args = lambda params: {
                name: params[name] if process is None else process(params[name])
                for name, process in named}


# SQLite's default storage formats of DateTime and Date (SQLAlchemy's own):
# a naive datetime's ``isoformat(" ", "microseconds")`` and a date's
# ``isoformat()`` are exactly these strings, made in C instead of a ``%``
# of a seven-key dict per value (a ticket row has up to six).
_SQLITE_DATETIME = ("%(year)04d-%(month)02d-%(day)02d "
                    "%(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d")
_SQLITE_DATE = "%(year)04d-%(month)02d-%(day)02d"


def _iso_processor(type_: Any, dialect: sa.Dialect,
                   process: Callable[[Any], Any]) -> Callable[[Any], Any] | None:
    """A faster equal of SQLite's DateTime/Date bind processor ``process``, or None.

    Only the exact types take the fast path (a naive ``datetime`` for
    DateTime, a ``date`` for Date); None and anything else go to ``process``.
    """
    if dialect.name != "sqlite":
        return None
    impl = type_.dialect_impl(dialect)
    fmt = getattr(impl, "_storage_format", None)
    datetime_cls, date_cls = dt.datetime, dt.date
    if isinstance(impl, sa.DateTime) and fmt == _SQLITE_DATETIME:
        def datetime_value(value: Any) -> Any:
            if value.__class__ is datetime_cls and value.tzinfo is None:
                return value.isoformat(" ", "microseconds")
            return process(value)
        return datetime_value
    if isinstance(impl, sa.Date) and fmt == _SQLITE_DATE:
        def date_value(value: Any) -> Any:
            if value.__class__ is date_cls:
                return value.isoformat()
            return process(value)
        return date_value
    return None


class Raw:
    """The raw cursor of one transaction; DB-API errors become SQLAlchemy's."""

    def __init__(self, conn: Connection) -> None:
        self.cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        self.dialect = conn.dialect

    def _wrap(self, error: Exception, sql: str) -> exc.StatementError:
        dbapi = self.dialect.loaded_dbapi
        return exc.DBAPIError.instance(sql, None, error, dbapi.Error, dialect=self.dialect)

    def execute(self, prep: Prepared, params: dict[str, Any]) -> Any:
        try:
            self.cursor.execute(prep.sql, prep.args(params))
        except self.dialect.loaded_dbapi.Error as error:
            raise self._wrap(error, prep.sql) from error
        return self.cursor

    def executemany(self, prep: Prepared, rows: list[dict[str, Any]]) -> None:
        try:
            self.cursor.executemany(prep.sql, [prep.args(row) for row in rows])
        except self.dialect.loaded_dbapi.Error as error:
            raise self._wrap(error, prep.sql) from error

    def close(self) -> None:
        self.cursor.close()


def dialect_of(conn_or_backend: Connection | str) -> Any:
    """The SQLAlchemy dialect module (for ``insert ... on conflict``) of a connection."""
    name = conn_or_backend if isinstance(conn_or_backend, str) else conn_or_backend.dialect.name
    return pg_dialect if name == "postgresql" else sqlite_dialect


def _counter_upsert(dialect_name: str) -> Any:
    """Insert a counter row, or overwrite every column but its key (the last state wins)."""
    insert = dialect_of(dialect_name).insert(counters_t)
    return insert.on_conflict_do_update(
        index_elements=["hall", "number"],
        set_={c.name: insert.excluded[c.name] for c in counters_t.c
              if c.name not in ("hall", "number")})


def compile_all(dialect: sa.Dialect) -> dict[str, Prepared]:
    """Every hot-path statement, compiled for ``dialect``."""
    hall_first = dialect_of(dialect.name).insert(halls).on_conflict_do_nothing()
    return {name: Prepared(stmt, dialect) for name, stmt in {
        "advance_seq": _ADVANCE_SEQ, "hall_first": hall_first, "ticket_insert": _TICKET_INSERT,
        "ticket_update": _TICKET_UPDATE, "number_first": _NUMBER_FIRST,
        "number_cas": _NUMBER_CAS, "event_insert": _EVENT_INSERT,
        "counter_upsert": _counter_upsert(dialect.name), "reply_insert": _REPLY_INSERT,
    }.items()}
