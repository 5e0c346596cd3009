"""Opening a database: URLs, clean errors, in-memory SQLite, migrations; SQLite's
``synchronous`` setting; the writer's held connection."""

from __future__ import annotations

import sqlite3
import threading

import pytest
import sqlalchemy as sa

from server.store import (
    SCHEMA_REVISION,
    StaleState,
    Store,
    StoreError,
)
from server.store.engine import SYNC_ENV, sqlite_sync
from tests.store.samples import DAY, issued, new_ticket, snapshot


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


# --------------------------------------------------------------------------- synchronous


def _synchronous(store: Store) -> int:
    """PRAGMA synchronous as a real connection of the store has it (1 NORMAL, 2 FULL)."""
    with store.transaction() as conn:
        value = conn.exec_driver_sql("PRAGMA synchronous").scalar()
        assert isinstance(value, int)
        return value


def test_sqlite_is_synchronous_full_by_default(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(SYNC_ENV, raising=False)  # tests/conftest.py sets normal
    assert sqlite_sync() == "FULL"
    with Store(f"sqlite:///{tmp_path / 'full.db'}") as store:
        store.commit("main", issued(new_ticket(1)))
        assert _synchronous(store) == 2
        writer = store._db._writer  # the commits' own connection has it too
        assert writer is not None
        raw = writer.connection.dbapi_connection
        assert raw.execute("PRAGMA synchronous").fetchone() == (2,)  # type: ignore[union-attr]


@pytest.mark.parametrize("value, setting, pragma", [
    ("normal", "NORMAL", 1), ("NORMAL", "NORMAL", 1), (" Normal ", "NORMAL", 1),
    ("full", "FULL", 2), ("Full", "FULL", 2), ("", "FULL", 2),
])
def test_the_environment_chooses_normal_or_full(tmp_path, monkeypatch, value: str,
                                                setting: str, pragma: int) -> None:
    monkeypatch.setenv(SYNC_ENV, value)
    assert sqlite_sync() == setting
    with Store(f"sqlite:///{tmp_path / 'sync.db'}") as store:
        assert _synchronous(store) == pragma


@pytest.mark.parametrize("value", ["off", "extra", "1", "fulll"])
def test_a_bad_synchronous_setting_is_a_clear_error(tmp_path, monkeypatch, value: str) -> None:
    monkeypatch.setenv(SYNC_ENV, value)
    message = (rf"^QHALL_SQLITE_SYNC='{value}' is not allowed: use QHALL_SQLITE_SYNC=full "
               r"\(the default\) or QHALL_SQLITE_SYNC=normal$")
    with pytest.raises(StoreError, match=message):
        sqlite_sync()
    with pytest.raises(StoreError, match=message):
        Store(f"sqlite:///{tmp_path / 'bad.db'}")
    assert not (tmp_path / "bad.db").exists()  # refused before opening anything


# --------------------------------------------------------------------------- the writer


def _raw(store: Store) -> object:
    writer = store._db._writer
    assert writer is not None and not writer.invalidated
    return writer.connection.dbapi_connection


def test_the_commits_keep_one_connection(store: Store) -> None:
    store.commit("main", issued(new_ticket(1)))
    raw = _raw(store)
    for n in (2, 3, 4):
        store.commit("main", issued(new_ticket(n)))
        assert _raw(store) is raw
    assert not store._db._writer.in_transaction()  # type: ignore[union-attr]
    assert store.last_seq("main") == 8
    # only the writer is checked out; reads use the pool
    assert store._engine.pool.checkedout() == 1  # type: ignore[attr-defined]


def test_a_failed_commit_leaves_the_writer_rolled_back_and_usable(store: Store) -> None:
    store.commit("main", issued(new_ticket(1)))
    raw = _raw(store)
    before = snapshot(store)
    with pytest.raises(StaleState):  # number 1 again: the numbering refuses it
        store.commit("main", issued(new_ticket(1, tid="again")))
    assert snapshot(store) == before

    def boom(conn: sa.Connection) -> None:  # an ``extra`` write through SQLAlchemy, then a failure
        conn.execute(sa.text("INSERT INTO halls (id, last_seq) VALUES ('other', 5)"))
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        store.commit("main", issued(new_ticket(2)), extra=boom)
    assert snapshot(store) == before
    with store.transaction() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM halls").scalar() == 1
    assert _raw(store) is raw  # rolled back, kept
    assert store.commit("main", issued(new_ticket(2))) == [3, 4]

    def joins(conn: sa.Connection) -> None:
        conn.execute(sa.text("INSERT INTO halls (id, last_seq) VALUES ('other', 5)"))

    store.commit("main", issued(new_ticket(3)), extra=joins)  # committed with the events
    assert store.last_seq("other") == 5 and store.last_seq("main") == 6
    assert _raw(store) is raw


def test_a_second_thread_commits_on_a_pooled_connection(store: Store) -> None:
    # While one commit holds the writer, another thread's commit takes a pooled
    # connection: on PostgreSQL it need not wait (commits of other halls ran
    # side by side before), on SQLite it waits for the write lock as before.
    store.commit("main", issued(new_ticket(1)))
    done: list[object] = []

    def other() -> None:
        try:
            done.append(store.commit("other", issued(new_ticket(1, tid="other-1"))))
        except Exception as error:  # noqa: BLE001 - reported by the assert below
            done.append(error)

    thread = threading.Thread(target=other)
    with store._db.writer() as conn:
        assert store._db._writer is conn
        thread.start()
        if store.backend == "postgresql":
            thread.join(10)
            assert done == [[1, 2]]
        else:
            thread.join(0.3)  # waits for the SQLite write lock
            assert done == []
    thread.join(10)
    assert done == [[1, 2]]
    assert store.commit("main", issued(new_ticket(2))) == [3, 4]


@pytest.mark.postgres
def test_a_terminated_writer_backend_is_replaced(pg_url: str) -> None:
    # A takeover ends an expired owner's sessions (pg_terminate_backend): the
    # commit that finds its connection dead fails (the hall reloads) and the
    # next one runs on a new connection instead of failing forever.
    with Store(pg_url) as store:
        store.commit("main", issued(new_ticket(1)))
        raw = _raw(store)
        pid = raw.info.backend_pid  # type: ignore[attr-defined]
        with store.transaction() as conn:
            assert conn.exec_driver_sql(
                f"SELECT pg_terminate_backend({int(pid)}, 10000)").scalar() is True
        before = snapshot(store)
        with pytest.raises(StoreError) as info:
            store.commit("main", issued(new_ticket(2)))
        assert not isinstance(info.value, StaleState)
        assert "database error:" in str(info.value)
        assert snapshot(store) == before
        assert store._db._writer is None  # the dead connection is not held
        assert store.commit("main", issued(new_ticket(2))) == [3, 4]
        fresh = _raw(store)
        assert fresh is not raw and fresh.info.backend_pid != pid  # type: ignore[attr-defined]
        assert store.commit("main", issued(new_ticket(3))) == [5, 6]
        assert _raw(store) is fresh


def test_closing_the_store_closes_the_writer(store: Store) -> None:
    store.commit("main", issued(new_ticket(1)))
    writer = store._db._writer
    store.close()
    assert store._db._writer is None and writer is not None and writer.closed


def test_a_disposed_engine_gets_a_new_writer(store: Store) -> None:
    # The lease book sets its session up on new connections, then disposes
    # the engine so older ones go: the writer must not stay an older one.
    store.commit("main", issued(new_ticket(1)))
    raw = _raw(store)
    store._engine.dispose()
    store.commit("main", issued(new_ticket(2)))
    assert _raw(store) is not raw
    # The older writer is closed, not handed back to the pool.
    if store.backend == "sqlite":
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            raw.execute("SELECT 1")  # type: ignore[attr-defined]
    else:
        assert raw.closed  # type: ignore[attr-defined]


def test_a_writer_closed_under_the_store_is_let_go_at_its_failure(store: Store) -> None:
    # SQLite: a DB-API connection closed beneath the store says nothing until
    # used; the commit that finds it fails, and the store lets it go at once
    # (it is never held again), so the next commit runs on a new connection.
    # PostgreSQL: psycopg says ``closed``, so no commit fails at all.
    store.commit("main", issued(new_ticket(1)))
    raw = _raw(store)
    raw.close()  # type: ignore[attr-defined]
    if store.backend == "sqlite":
        with pytest.raises(StoreError, match="database error:"):
            store.commit("main", issued(new_ticket(2)))
        assert store._db._writer is None
    assert store.commit("main", issued(new_ticket(2))) == [3, 4]
    assert _raw(store) is not raw


def test_an_invalidated_writer_is_replaced_before_the_next_commit(store: Store) -> None:
    store.commit("main", issued(new_ticket(1)))
    raw = _raw(store)
    store._db._writer.invalidate()  # type: ignore[union-attr]
    assert store.commit("main", issued(new_ticket(2))) == [3, 4]
    assert _raw(store) is not raw

