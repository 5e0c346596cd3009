"""Opening a database: URLs, clean errors, in-memory SQLite, migrations."""

from __future__ import annotations

import sqlite3
import threading

import pytest
import sqlalchemy as sa

from server.store import (
    SCHEMA_REVISION,
    Store,
    StoreError,
)
from tests.store.samples import DAY, issued, new_ticket


@pytest.mark.parametrize("url, message", [
    ("", "^database URL is empty$"),
    ("   ", "^database URL is empty$"),
    ("not a url", "not a database URL"),
    ("mysql://u@localhost/x", "unsupported database 'mysql'"),
])
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        Store(url)


def test_unreachable_databases_give_clean_errors(tmp_path) -> None:
    with pytest.raises(StoreError, match="cannot open or migrate") as info:
        Store(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    # the driver's own reason, first line only, after the URL
    assert str(info.value).endswith("x.db: unable to open database file")
    assert "SELECT" not in str(info.value)
    with pytest.raises(StoreError, match="cannot open or migrate") as info:
        Store("postgresql://qhall:s3cret@127.0.0.1:1/qhall")
    assert "s3cret" not in str(info.value) and "***" in str(info.value)
    # a plain postgresql:// URL means psycopg 3, the driver installed (SQLAlchemy
    # 2.0 would pick psycopg2); the error names the URL as opened
    assert "database postgresql+psycopg://qhall:***@127.0.0.1:1/qhall: " in str(info.value)


def test_in_memory_sqlite_works(tmp_path) -> None:
    with Store("sqlite://") as store:
        store.commit("main", issued(new_ticket(1)))
        assert store.load("main", DAY).last_numbers == {("gjj", DAY): 1}


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:"])
def test_an_in_memory_store_is_one_database_for_every_thread(url: str) -> None:
    # The server commits off the event loop: another thread must see (and add
    # to) the same in-memory database, not a fresh empty one of its own.
    seen: list[object] = []

    def other_thread() -> None:
        try:
            seen.append(store.load("main", DAY).last_numbers)
            store.commit("main", issued(new_ticket(2)))
        except Exception as error:  # noqa: BLE001 - reported by the assert below
            seen.append(error)

    with Store(url) as store:
        store.commit("main", issued(new_ticket(1)))
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert seen == [{("gjj", DAY): 1}]
        assert store.load("main", DAY).last_numbers == {("gjj", DAY): 2}


def test_an_in_memory_store_lets_one_thread_at_a_time_into_its_one_connection() -> None:
    # Every thread shares the one connection: a second thread's transaction
    # waits for the first to end instead of beginning inside it.
    order: list[object] = []
    asking = threading.Event()

    def other_thread() -> None:
        asking.set()
        try:
            with store.transaction() as conn:
                conn.exec_driver_sql("SELECT 1")
                order.append("other")
        except Exception as error:  # noqa: BLE001 - reported by the assert below
            order.append(error)

    with Store("sqlite://") as store:
        with store.transaction() as conn:
            conn.exec_driver_sql("SELECT 1")
            thread = threading.Thread(target=other_thread)
            thread.start()
            asking.wait()
            thread.join(0.5)  # it waits for this transaction: give it the chance not to
            order.append("first")
        thread.join()
    assert order == ["first", "other"]


# --------------------------------------------------------------------------- migrations


def _tables(url: str) -> tuple[set[str], str | None]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            names = set(sa.inspect(conn).get_table_names())
            version = None
            if "alembic_version" in names:
                version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            return names, version
    finally:
        engine.dispose()


def test_migrations_create_the_schema_and_are_idempotent(db_url: str) -> None:
    assert _tables(db_url) == (set(), None)
    with Store(db_url) as store:
        store.commit("main", issued(new_ticket(1)))
    names, version = _tables(db_url)
    assert names == {"alembic_version", "halls", "tickets", "numbering", "events", "counters",
                     "replies", "bookings", "booking_slots", "followups", "hall_secrets",
                     "login_failures", "hall_leases", "instances", "ticket_phones",
                     "console_sessions", "console_audit", "console_acks",
                     "notify_outbox", "hall_configs", "counter_days", "resume_keys"}
    assert version == SCHEMA_REVISION
    # again, the fast path (already at head) and the full Alembic path
    with Store(db_url) as store:
        with store._engine.connect() as conn, conn.begin():
            store._run_alembic(conn)
        assert store.last_seq("main") == 2
        assert store.commit("main", issued(new_ticket(2))) == [3, 4]
    assert _tables(db_url) == (names, SCHEMA_REVISION)


def test_migration_head_matches_the_store_tables(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from server.store.engine import MIGRATIONS
    from server.store.schema import metadata

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [SCHEMA_REVISION]
    with store._engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert compare_metadata(context, metadata) == []


def test_a_busy_sqlite_file_is_waited_for_as_long_as_the_store_was_told(tmp_path) -> None:
    path = tmp_path / "busy.db"
    with Store(f"sqlite:///{path}", busy_timeout_s=0.05) as store:
        store.commit("main", issued(new_ticket(1)))
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            with pytest.raises(StoreError, match=r"^database is busy: another process held it "
                                                 r"for more than 0\.05 s$"):
                store.commit("main", issued(new_ticket(2)))
            other.execute("ROLLBACK")
        finally:
            other.close()
        assert store.load("main", DAY).last_numbers == {("gjj", DAY): 1}


def test_a_store_told_not_to_migrate_leaves_an_empty_database_as_it_is(db_url: str) -> None:
    with Store(db_url, migrate=False):
        pass
    assert _tables(db_url) == (set(), None)
