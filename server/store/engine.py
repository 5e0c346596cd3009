"""The database connection: URL, engine (SQLite pragmas), migrations, transactions.

SQLite is the default (a file, WAL journal, ``synchronous=NORMAL``, a busy
timeout); PostgreSQL is used by URL (``postgresql+psycopg://user@host/db``;
a bare ``postgresql://`` gets the psycopg 3 driver). The schema is managed by
the Alembic migrations in ``server/store/migrations/`` and brought to head
when a database opens; several processes opening a fresh database at once is
safe (SQLite: the upgrade runs under ``BEGIN IMMEDIATE``; PostgreSQL: under a
transaction-scoped advisory lock).
"""

from __future__ import annotations

import contextlib
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

__all__ = ["MIGRATIONS", "Database"]

MIGRATIONS = Path(__file__).with_name("migrations")
# Arbitrary constant key of the PostgreSQL advisory lock serialising migrations.
_PG_MIGRATION_LOCK = 0x71_68_61_6C_6C  # "qhall"
# PostgreSQL SQLSTATEs that mean "another transaction won; retry".
_PG_RETRY_STATES = frozenset({"40001", "40P01", "55P03"})
_PG_UNIQUE_VIOLATION = "23505"


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
        self.engine = self._make_engine()
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
        """Close every pooled connection."""
        self.engine.dispose()

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
        except exc.IntegrityError as error:
            if self._is_unique_violation(error):
                raise StaleState(f"already written by another writer: {first_line(error)}") \
                    from error
            raise StoreError(f"database refused the write: {first_line(error)}") from error
        except exc.DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) in _PG_RETRY_STATES:
                raise StaleState(f"concurrent transaction conflict: {first_line(error)}") \
                    from error
            if "database is locked" in first_line(error):
                raise StoreError(
                    f"database is busy: another process held it for more than "
                    f"{self._busy_timeout_s:g} s"
                ) from error
            raise StoreError(f"database error: {first_line(error)}") from error
        except exc.SQLAlchemyError as error:
            raise StoreError(f"database error: {first_line(error)}") from error

    @staticmethod
    def _is_unique_violation(error: exc.IntegrityError) -> bool:
        sqlstate = getattr(error.orig, "sqlstate", None)
        if sqlstate is not None:
            return sqlstate == _PG_UNIQUE_VIOLATION
        text = str(error.orig)
        return "UNIQUE constraint failed" in text or "PRIMARY KEY" in text
