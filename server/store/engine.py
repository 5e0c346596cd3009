"""The database connection: URL, engine (SQLite pragmas), migrations, transactions.

SQLite is the default (a file, WAL journal, ``synchronous=FULL`` unless
``QHALL_SQLITE_SYNC=normal``: :func:`sqlite_sync`, a busy timeout); PostgreSQL is used by URL (``postgresql+psycopg://user@host/db``;
a bare ``postgresql://`` gets the psycopg 3 driver). The schema is managed by
the Alembic migrations in ``server/store/migrations/`` and brought to head
when a database opens; several processes opening a fresh database at once is
safe (SQLite: the upgrade runs under ``BEGIN IMMEDIATE``; PostgreSQL: under a
transaction-scoped advisory lock).

``Store.commit`` runs on :meth:`Database.writer`: one connection held for the
commits (no pool checkout and no SQLAlchemy transaction per commit), replaced
when it breaks.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import URL, Connection, make_url

from server.store.convert import first_line
from server.store.errors import StaleState, StoreError
from server.store.schema import SCHEMA_REVISION

__all__ = ["MIGRATIONS", "SYNC_ENV", "Database", "sqlite_sync"]

MIGRATIONS = Path(__file__).with_name("migrations")
# Arbitrary constant key of the PostgreSQL advisory lock serialising migrations.
_PG_MIGRATION_LOCK = 0x71_68_61_6C_6C  # "qhall"
# PostgreSQL SQLSTATEs that mean "another transaction won; retry".
_PG_RETRY_STATES = frozenset({"40001", "40P01", "55P03"})
_PG_UNIQUE_VIOLATION = "23505"

#: The environment variable choosing SQLite's ``synchronous`` (see :func:`sqlite_sync`).
SYNC_ENV = "QHALL_SQLITE_SYNC"
_SYNC_SETTINGS = {"full": "FULL", "normal": "NORMAL"}


def sqlite_sync() -> str:
    """SQLite's ``synchronous`` setting for the store's connections: ``"FULL"``
    (the default) or ``"NORMAL"``, from ``QHALL_SQLITE_SYNC`` (case-insensitive).

    In WAL mode FULL syncs the log at every commit, so an acknowledged commit
    survives a power loss; NORMAL syncs only at checkpoints (faster, and still
    safe against a crash of the process, but a power loss or an OS crash can
    lose the last commits: acknowledged tickets).

    Raises:
        StoreError: the variable holds anything else.
    """
    raw = os.environ.get(SYNC_ENV, "").strip()
    if not raw:
        return "FULL"
    setting = _SYNC_SETTINGS.get(raw.lower())
    if setting is None:
        raise StoreError(f"{SYNC_ENV}={raw!r} is not allowed: use {SYNC_ENV}=full "
                         f"(the default) or {SYNC_ENV}=normal")
    return setting


class Database:
    """One database: its engine and transactions with the store's error mapping.

    Raises:
        StoreError: bad URL, unsupported database, cannot connect or migrate.
    """

    def __init__(self, url: str, busy_timeout_s: float = 30.0, migrate: bool = True) -> None:
        self.url = self._parse_url(url)
        self.backend = self.url.get_backend_name()
        self.url = self.url
        self._busy_timeout_s = busy_timeout_s
        self._memory = self.backend == "sqlite" and self.url.database in (None, "", ":memory:")
        # An in-memory SQLite database lives on one shared connection, so
        # calls from several threads must take turns.
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if self._memory else contextlib.nullcontext()
        )
        #: SQLite's ``synchronous`` on every connection (None on PostgreSQL).
        self.synchronous = sqlite_sync() if self.backend == "sqlite" else None
        # The writer's held connection (see writer()): taken by one commit at a
        # time; a commit that finds it taken uses a pooled connection instead.
        self._writer: Connection | None = None
        self._writer_guard = threading.Lock()
        self._writer_generation = 0  # the engine's dispose() count when it was opened
        self._generation = 0
        self.engine = self._make_engine()
        sa.event.listen(self.engine, "engine_disposed", self._on_dispose)
        try:
            if migrate:
                self._migrate()
        except BaseException:
            self.engine.dispose()
            raise

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
        return sa.create_engine(self.url, connect_args={"connect_timeout": 10})

    def _sqlite_engine(self) -> sa.Engine:
        timeout = self._busy_timeout_s
        synchronous = self.synchronous
        if self._memory:
            engine = sa.create_engine(
                "sqlite://", poolclass=sa.StaticPool,
                connect_args={"check_same_thread": False, "timeout": timeout},
            )
        else:
            engine = sa.create_engine(
                self.url, connect_args={"check_same_thread": False, "timeout": timeout},
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
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # Writers take the write lock up front (waiting up to busy_timeout);
            # readers get a plain snapshot and never block writers under WAL.
            if getattr(conn.connection.dbapi_connection, "in_transaction", False):
                return  # writer() began it on the DB-API connection already
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
            with self._lock, self.engine.connect() as conn:
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
                        self.run_alembic(conn)
        except exc.SQLAlchemyError as error:
            raise StoreError(
                f"cannot open or migrate the database "
                f"{self.url.render_as_string(hide_password=True)}: {first_line(error)}"
            ) from error

    @staticmethod
    def _revision(conn: Connection) -> str | None:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()

    @staticmethod
    def run_alembic(conn: Connection) -> None:
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, "head")

    def close(self) -> None:
        """Close every pooled connection (and the writer's)."""
        self._drop_writer()
        self.engine.dispose()

    def _on_dispose(self, _engine: sa.Engine) -> None:
        # Connections opened before a dispose() miss what was set up for the
        # new ones (the lease book's session settings): the writer reopens.
        self._generation += 1

    def __repr__(self) -> str:
        return self.url.render_as_string(hide_password=True)

    @contextlib.contextmanager
    def transaction(self, write: bool = False) -> Iterator[Connection]:
        """One transaction; database errors become StaleState/StoreError."""
        try:
            with self._lock, self.engine.connect() as conn:
                if write:
                    conn.execution_options(qhall_write=True)
                elif self.backend == "postgresql":
                    # One snapshot for every read of a load(), like SQLite's.
                    conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    yield conn
        except Exception as error:
            mapped = self._mapped(error)
            if mapped is None:
                raise
            raise mapped[0] from mapped[1]

    @contextlib.contextmanager
    def writer(self) -> Iterator[Connection]:
        """One write transaction on the writer's held connection (``Store.commit``).

        Like ``transaction(write=True)`` (same locking, errors, rollback) but
        without a pool checkout and a SQLAlchemy transaction per commit: the
        connection stays checked out between commits and the transaction is
        the DB-API connection's own (SQLite: ``BEGIN IMMEDIATE`` issued on it;
        psycopg: its implicit BEGIN before the first statement), committed or
        rolled back on it. Statements run through SQLAlchemy inside (the
        fence, ``extra`` writes) join that transaction. After a failure the
        connection is rolled back, or closed and replaced at the next commit
        when it broke (a PostgreSQL backend terminated by a takeover). A
        second thread committing meanwhile gets a pooled connection, as does
        an in-memory SQLite database (one shared connection).
        """
        if self._memory or not self._writer_guard.acquire(blocking=False):
            with self.transaction(write=True) as conn:
                yield conn
            return
        try:
            try:
                conn = self._writer_connection()
                dbapi: Any = conn.connection.dbapi_connection
                try:
                    if self.backend == "sqlite":
                        dbapi.execute("BEGIN IMMEDIATE")  # waits up to busy_timeout
                    yield conn
                    if conn.in_transaction():  # SQLAlchemy autobegan on it: end it there
                        conn.commit()
                    else:
                        dbapi.commit()
                except BaseException:
                    self._abandon(conn, dbapi)
                    raise
            except Exception as error:
                mapped = self._mapped(error)
                if mapped is None:
                    raise
                raise mapped[0] from mapped[1]
        finally:
            self._writer_guard.release()

    def _writer_connection(self) -> Connection:
        """The held connection, opened now if there is none or it is unusable."""
        conn = self._writer
        if conn is not None and (
                self._writer_generation != self._generation or conn.closed or conn.invalidated
                or getattr(conn.connection.dbapi_connection, "closed", False)):
            self._drop_writer()
            conn = None
        if conn is None:
            conn = self.engine.connect()
            self._writer, self._writer_generation = conn, self._generation
        return conn

    def _abandon(self, conn: Connection, dbapi: Any) -> None:
        """Roll a failed commit back; close the connection if that fails or it broke."""
        try:
            if conn.in_transaction():
                conn.rollback()
            else:
                dbapi.rollback()
            broken = conn.invalidated or bool(getattr(dbapi, "closed", False))
        except Exception:  # noqa: BLE001 - the commit's own error is the one raised
            broken = True
        if broken:
            self._drop_writer()

    def _drop_writer(self) -> None:
        conn, self._writer = self._writer, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            if not conn.invalidated:
                conn.invalidate()  # closes the DB-API connection, not back to the pool
        with contextlib.suppress(Exception):
            conn.close()

    def _mapped(self, error: Exception) -> tuple[StoreError, BaseException] | None:
        """The store's error for a database error (and its cause), else None.

        A DB-API error raised on the raw cursor (the prepared path, writer's
        BEGIN and COMMIT) is first wrapped as SQLAlchemy would.
        """
        if isinstance(error, self.engine.dialect.loaded_dbapi.Error):
            error = exc.DBAPIError.instance(
                None, None, error, self.engine.dialect.loaded_dbapi.Error,
                dialect=self.engine.dialect)
        if isinstance(error, exc.IntegrityError):
            if self._is_unique_violation(error):
                return StaleState(f"already written by another writer: {first_line(error)}"), \
                    error
            return StoreError(f"database refused the write: {first_line(error)}"), error
        if isinstance(error, exc.DBAPIError):
            if getattr(error.orig, "sqlstate", None) in _PG_RETRY_STATES:
                return StaleState(f"concurrent transaction conflict: {first_line(error)}"), error
            if "database is locked" in first_line(error):
                return StoreError(
                    f"database is busy: another process held it for more than "
                    f"{self._busy_timeout_s:g} s"
                ), error
            return StoreError(f"database error: {first_line(error)}"), error
        if isinstance(error, exc.SQLAlchemyError):
            return StoreError(f"database error: {first_line(error)}"), error
        return None

    @staticmethod
    def _is_unique_violation(error: exc.IntegrityError) -> bool:
        sqlstate = getattr(error.orig, "sqlstate", None)
        if sqlstate is not None:
            return sqlstate == _PG_UNIQUE_VIOLATION
        text = str(error.orig)
        return "UNIQUE constraint failed" in text or "PRIMARY KEY" in text
