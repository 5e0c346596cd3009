"""Who writes a hall: the owner's lease on PostgreSQL, a file lock on SQLite.

Why a lease row and not a session advisory lock: an advisory lock is held as
long as the owner's database connection lives, and a frozen owner (SIGSTOP,
a VM paused, a long GC) keeps its connection open, so it would never lose the
hall. A lease row expires by the database's clock whether or not the owner
is alive; the owner renews it, a standby takes a row whose ``expires_at`` is
past. Taking it adds one to ``epoch`` in the same UPDATE, and every commit of
the hall first reads the row ``FOR SHARE`` and refuses when the epoch is no
longer this process's (:meth:`LeaseBook.fence`, installed as
``Store.fence``). The share lock makes the check and the commit atomic
against a takeover: the taker's UPDATE waits for commits in flight, and a
commit that starts after it sees the new epoch. So an old owner that wakes up
writes nothing, however long it slept.

A lease alone makes a dead owner's halls wait for its lease to run out,
and half of chaos's kills are SIGKILL. So each process also holds a session
advisory lock (its *presence*, a random key it records in every lease row it
writes, column ``presence``) on a connection of its own, open as long as the
process lives (:meth:`LeaseBook.keep_present` reopens it if it broke). The
kernel closes a killed process's sockets, PostgreSQL ends the session and
its lock goes; a frozen process keeps its sockets and so its lock. A
standby takes a hall whose lease still runs when no session holds the
owner's presence lock, decided by the database in the takeover's UPDATE
itself (two standbys still cannot both take it), and :meth:`LeaseBook.owner`
reads such an owner as not live. A frozen owner still loses its halls only
by expiry; if the judgement is ever wrong (the presence connection of a live
owner broke), the epoch fences the old owner as after any takeover. A row
with no presence key (NULL: written before migration 0013, or a test's fake
owner) follows the lease alone.

One catch: an owner frozen in the middle of a commit can hold the row
where no PostgreSQL timeout ends it (``idle_in_transaction_session_timeout``
only covers a backend idle between statements; one frozen mid-pipeline or
mid-result is "active" and waits for its client forever). So every
connection is named after its instance (``application_name``), and a taker
whose UPDATE finds the row of an expired owner locked ends that owner's
transactions older than half a lease (:meth:`LeaseBook.acquire`), then
takes the hall: its lease is over, whatever it was doing is fenced anyway.
No consensus of our own: PostgreSQL's row locks and one clock (the
database's) decide.

Several processes sharing many halls register in ``instances`` (a heartbeat
row each, with the process's presence key since migration 0014: one whose
presence lock is gone no longer counts as live, however recent its last
heartbeat); a process takes a free hall only while it holds fewer than its
even share (``ceil(halls / live instances)``), and gives one back (releases
the lease after closing its clients) when it holds more than that, so the
halls of a dead process spread over the others and a process that joins
gets some (server/halls.py decides, and takes a hall left with no owner
for two polls whatever its share).

SQLite has no second server to fail over to: a second ``qhall serve`` on
the same file is refused at start by an exclusive ``flock`` on a lock file
next to the database (:func:`lock_sqlite`).

    book = LeaseBook(store, instance="host-a:8765:1234", lease_s=10)
    epoch = book.acquire("hall-1", url="ws://a:8765/ws/hall-1")  # None: it is taken
    book.renew("hall-1")        # False: lost (fenced)
    book.owner("hall-1")        # Holder(owner, url, epoch, live, expires_in, gone)
    book.keep_present()         # at each heartbeat: reopen the presence lock if it broke
    book.release("hall-1")
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import math
import os
import secrets
import threading
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from server.store import StaleState, Store, StoreError

__all__ = ["AlreadyServed", "Fenced", "Holder", "LeaseBook", "application_name", "lock_sqlite"]

log = logging.getLogger("qhall.lease")


class Fenced(StoreError):
    """A commit from an instance that no longer owns the hall (nothing written)."""


class AlreadyServed(StoreError):
    """Another ``qhall serve`` process already has this SQLite database."""


@dataclasses.dataclass(frozen=True)
class Holder:
    """The lease row of one hall as read now."""

    owner: str | None
    url: str | None
    epoch: int
    live: bool
    #: seconds until the lease runs out by the database's clock (None: not held)
    expires_in: float | None = None
    #: the lease still runs but its owner's presence lock is gone (its
    #: process died): not live, a standby may take the hall now
    gone: bool = False


_NOW = "clock_timestamp()"

_ENSURE = sa.text(
    "INSERT INTO hall_leases (hall, epoch) VALUES (:hall, 0) ON CONFLICT (hall) DO NOTHING")
# Taking a hall: only when nobody holds it (expired or never held) or we held
# it ourselves; the epoch moves on either way, so our own earlier epoch (an
# incarnation that may still have a commit in flight) is fenced too.
#: The first key of every presence lock (``pg_advisory_lock(int, int)``):
#: "qhal" in ASCII, so qhall's advisory locks stay apart from anyone else's.
PRESENCE_SPACE = 0x7168616C


def _gone(presence: str) -> str:
    """SQL: the row's owner has a presence key (column ``presence``) but no
    session holds that lock: its process is gone (the database ended its
    sessions when their sockets closed)."""
    return (f"({presence} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_locks p "
            "WHERE p.locktype = 'advisory' AND p.granted AND p.objsubid = 2 "
            "AND p.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            f"AND p.classid = CAST({PRESENCE_SPACE} AS oid) "
            f"AND p.objid = CAST({presence} AS oid)))")


# Taking a hall: only when nobody holds it (expired, never held, or its owner
# gone) or we held it ourselves; the epoch moves on either way, so our own
# earlier epoch (an incarnation that may still have a commit in flight) is
# fenced too. Returned beside the epoch: the old owner and how long its
# lease still ran (the log says a dead owner's hall was taken before its
# lease ran out).
_ACQUIRE = sa.text(
    "UPDATE hall_leases h SET epoch = h.epoch + 1, owner = :me, url = :url, "
    f"presence = :presence, expires_at = {_NOW} + make_interval(secs => :lease) "
    "FROM (SELECT hall, owner, expires_at FROM hall_leases WHERE hall = :hall) o "
    "WHERE h.hall = o.hall AND (h.expires_at IS NULL OR h.expires_at < "
    f"{_NOW} OR h.owner = :me OR {_gone('h.presence')}) "
    f"RETURNING h.epoch, o.owner, extract(epoch FROM o.expires_at - {_NOW})")
_RENEW = sa.text(
    f"UPDATE hall_leases SET expires_at = {_NOW} + make_interval(secs => :lease), "
    "presence = :presence "
    "WHERE hall = :hall AND epoch = :epoch AND owner = :me")
_RELEASE = sa.text(
    "UPDATE hall_leases SET expires_at = NULL, owner = NULL, presence = NULL "
    "WHERE hall = :hall AND epoch = :epoch AND owner = :me")
_READ = sa.text(
    f"SELECT owner, url, epoch, (expires_at IS NOT NULL AND expires_at >= {_NOW}), "
    f"extract(epoch FROM expires_at - {_NOW}), {_gone('presence')} "
    "FROM hall_leases WHERE hall = :hall")
_PRESENT_SQL = f"SELECT pg_try_advisory_lock({PRESENCE_SPACE}, %s)"  # DBAPI (psycopg)
# DBAPI (psycopg), on the commit's own connection: no SQLAlchemy statement per commit.
_FENCE_SQL = "SELECT epoch FROM hall_leases WHERE hall = %s FOR SHARE"
_HEARTBEAT = sa.text(
    "INSERT INTO instances (id, url, seen_at, presence) "
    f"VALUES (:me, :url, {_NOW}, :presence) "
    f"ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url, seen_at = {_NOW}, "
    "presence = EXCLUDED.presence")
# Live: a heartbeat within a lease, and, when the row names a presence key
# (migration 0014), that lock still held: a killed process drops out of the
# even-share count at once, not a lease after its last heartbeat. A frozen
# one keeps its lock and ages out by its heartbeat; a row with no key (an
# instance of an older release, or one without its lock at that heartbeat)
# follows the heartbeat alone.
_LIVE_INSTANCES = sa.text(
    "SELECT i.id, count(l.hall) FROM instances i LEFT JOIN hall_leases l "
    f"ON l.owner = i.id AND l.expires_at >= {_NOW} "
    f"WHERE i.seen_at >= {_NOW} - make_interval(secs => :lease) "
    f"AND NOT {_gone('i.presence')} GROUP BY i.id")
_FORGET_INSTANCE = sa.text("DELETE FROM instances WHERE id = :me")
# The transactions of an instance whose lease ran out, stuck past half a lease;
# waits (up to :wait ms) until each has ended and released its row locks, so
# the takeover that follows does not find the row still locked.
_END_STUCK = sa.text(
    "SELECT pg_terminate_backend(pid, CAST(:wait AS bigint)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND application_name = :app "
    f"AND pid <> pg_backend_pid() AND xact_start < {_NOW} - make_interval(secs => :age)")
_STUCK = sa.text(
    "SELECT application_name, state, wait_event_type, wait_event, "
    f"round(extract(epoch FROM {_NOW} - xact_start)), left(query, 60) "
    "FROM pg_stat_activity WHERE datname = current_database() "
    f"AND xact_start < {_NOW} - make_interval(secs => :age)")
#: How long a lease operation waits for a row lock before it counts as failed:
#: commits hold the row (FOR SHARE) for milliseconds. The lease pass runs
#: these in a thread of its own (server/halls.py ``LeasePass``), so a wait
#: never stalls the event loop; bounded still, as one hall's wait delays
#: the pass's later halls (an owner renews its own halls first).
LOCK_WAIT_S = 1.0


def application_name(instance: str) -> str:
    """The ``application_name`` of an instance's database connections."""
    return f"qhall {instance}"[:63]  # PostgreSQL keeps 63 bytes (ids are ASCII)


class LeaseBook:
    """This process's leases on one PostgreSQL store.

    Args:
        store: an open PostgreSQL :class:`~server.store.Store`; its ``fence``
            is set to :meth:`fence`.
        instance: this process's id (unique among the processes sharing halls).
        lease_s: how long a lease lives without renewal (the owner renews at
            a third of it; a standby takes over at most ``lease_s`` plus its
            poll interval after the owner stopped renewing).
        present: hold a presence lock (see the module's docstring); False:
            this book's rows follow the lease alone (a reader; a test's
            stand-in for an owner whose death the database cannot see).

    Raises:
        StoreError: the store is not PostgreSQL.
    """

    def __init__(self, store: Store, instance: str, lease_s: float,
                 present: bool = True) -> None:
        if store.backend != "postgresql":
            raise StoreError("leases need PostgreSQL (SQLite is one process: see lock_sqlite)")
        self.store = store
        self.instance = instance
        self.lease_s = float(lease_s)
        #: hall -> the epoch this process owns it at
        self.epochs: dict[str, int] = {}
        #: halls whose commit was refused since the caller last looked
        self.fenced: set[str] = set()
        store.fence = self.fence
        # A frozen owner may be stopped inside a commit, holding the lease
        # row (FOR SHARE) and the hall's seq row: PostgreSQL ends such an
        # idle transaction (rolled back, nothing written) so a standby's
        # takeover and its commits do not wait for the thaw. Half a lease:
        # the lease itself runs out at least two thirds of one after the
        # freeze, so this costs the takeover nothing, and leaves a live
        # owner's transactions (a load on a busy machine) plenty of time.
        idle_ms = int(max(1.0, self.lease_s / 2) * 1000)
        self._lock_ms = int(min(LOCK_WAIT_S, self.lease_s / 4) * 1000)
        name = application_name(instance)

        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET idle_in_transaction_session_timeout = {idle_ms}")
                cursor.execute("SELECT set_config('application_name', %s, false)", (name,))
            dbapi_connection.commit()

        sa.event.listen(store._engine, "connect", _on_connect)
        store._engine.dispose()  # connections opened before (the migration) get it too
        #: this process's presence lock key (recorded in the rows it writes)
        self.presence = secrets.randbelow(2**31 - 1) + 1
        self._present: Any = None  # the DBAPI connection holding the lock
        self._present_guard = threading.Lock()
        self._wants_presence = present
        self.keep_present()
        # Closing the store (its engine disposed) ends the presence too.
        sa.event.listen(store._engine, "engine_disposed", lambda _engine: self.absent())

    def keep_present(self) -> bool:
        """Hold this process's presence lock on a connection of its own,
        reopened (the lock taken again) if it broke; False when the database
        cannot be reached now (the lease loop calls again at its next
        heartbeat; meanwhile a standby may judge this process gone and take
        its halls, fenced as after any takeover)."""
        if not self._wants_presence:
            return False
        with self._present_guard:
            if self._present is not None:
                try:
                    _ask(self._present, "SELECT 1")
                    return True
                except Exception as exc:  # noqa: BLE001 - any DBAPI failure: reopen
                    log.warning("presence connection broke (%s); reopening it", exc)
                    self._drop_present()
            try:
                connection = self.store._engine.raw_connection()
                connection.detach()  # closed for real when dropped, never back in the pool
                # Idle between statements, never in a transaction (nothing
                # for _END_STUCK or idle_in_transaction_session_timeout to end).
                connection.dbapi_connection.autocommit = True  # type: ignore[union-attr]
                while True:
                    got = _ask(connection, _PRESENT_SQL, (self.presence,))
                    if got is not None and got[0]:
                        break
                    # Another session holds this key (one chance in 2**31): a new one.
                    self.presence = secrets.randbelow(2**31 - 1) + 1
            except Exception as exc:  # noqa: BLE001 - any DBAPI failure: try again later
                log.warning("cannot hold the presence lock: %s", exc)
                return False
            self._present = connection
            return True

    def _key(self) -> int | None:
        """The presence key for the rows written now; None (the lease alone
        decides) while the lock is not held, so no standby judges this
        process gone for a connection it could not open."""
        return self.presence if self._present is not None else None

    def absent(self) -> None:
        """Let the presence lock go (a clean stop; the store closing)."""
        with self._present_guard:
            self._drop_present()

    def _drop_present(self) -> None:
        connection, self._present = self._present, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    def acquire(self, hall: str, url: str | None) -> int | None:
        """Take the hall if nobody live holds it; its new epoch, or None.

        Raises:
            StaleState: the row stayed locked (a commit in flight); tried
                again at the next poll. When its holder's lease has run out,
                that holder's stuck transactions are ended first
                (:meth:`end_stuck`) and the hall taken at once.
        """
        try:
            return self._acquire(hall, url)
        except StaleState:
            ended = self.end_stuck(hall)
            if not ended:
                raise
            log.warning("hall %s: ended %d stuck transaction(s) of its expired owner", hall, ended)
        return self._acquire(hall, url)

    def end_stuck(self, hall: str) -> int:
        """End the transactions of the hall's expired owner older than half a
        lease (a frozen process's, holding the lease row); how many."""
        holder = self.owner(hall)
        if holder is None or holder.live or holder.owner in (None, self.instance):
            return 0
        with self.store.transaction(write=True) as conn:
            ended = conn.execute(_END_STUCK, {"app": application_name(holder.owner),
                                              "age": self.lease_s / 2,
                                              "wait": int(LOCK_WAIT_S * 1000)}).fetchall()
        return sum(1 for row in ended if row[0])

    def _acquire(self, hall: str, url: str | None) -> int | None:
        with self.store.transaction(write=True) as conn:
            self._bounded(conn)
            conn.execute(_ENSURE, {"hall": hall})
            row = conn.execute(_ACQUIRE, {"hall": hall, "me": self.instance, "url": url,
                                          "lease": self.lease_s,
                                          "presence": self._key()}).fetchone()
        if row is None:
            return None
        epoch, was, left = int(row[0]), row[1], row[2]
        if was not in (None, self.instance) and left is not None and float(left) > 0:
            # Its lease still ran: the database found its presence lock gone.
            log.warning("hall %s: taken from %s, whose process is gone (no presence lock); "
                        "its lease still had %.1f s", hall, was, float(left))
        self.epochs[hall] = epoch
        self.fenced.discard(hall)
        return epoch

    def renew(self, hall: str, wait: bool = True) -> bool:
        """Extend our lease; False when the hall is no longer ours (fenced).

        Raises:
            StaleState: the row stayed locked (``wait=False``: it was locked
                at all) and nothing was renewed.
        """
        epoch = self.epochs.get(hall)
        if epoch is None:
            return False
        with self.store.transaction(write=True) as conn:
            self._bounded(conn, None if wait else 1)
            done = conn.execute(_RENEW, {"hall": hall, "epoch": epoch, "me": self.instance,
                                         "lease": self.lease_s,
                                         "presence": self._key()}).rowcount
        if done != 1:
            self.epochs.pop(hall, None)
            return False
        return True

    def _bounded(self, conn: Connection, lock_ms: int | None = None) -> None:
        # Waiting for a row lock longer than this is a failed try (StaleState):
        # the lease loop tries again.
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {lock_ms or self._lock_ms}")

    def release(self, hall: str) -> None:
        """Give the hall up now (a standby may take it at its next poll)."""
        epoch = self.epochs.pop(hall, None)
        if epoch is None:
            return
        with self.store.transaction(write=True) as conn:
            self._bounded(conn)
            conn.execute(_RELEASE, {"hall": hall, "epoch": epoch, "me": self.instance})

    def owner(self, hall: str) -> Holder | None:
        """The hall's lease row, or None when it was never held."""
        with self.store.transaction() as conn:
            row = conn.execute(_READ, {"hall": hall}).fetchone()
        if row is None:
            return None
        gone = bool(row[3]) and bool(row[5])
        return Holder(row[0], row[1], int(row[2]), bool(row[3]) and not gone,
                      None if row[4] is None else float(row[4]), gone)

    def heartbeat(self, url: str | None) -> dict[str, int]:
        """Say this process is alive; every live process (itself included)
        with how many halls it owns now. Its presence lock is reopened here
        if it broke (:meth:`keep_present`) and its key written on its row: a
        process counts as live while its heartbeat is younger than a lease
        and, when its row names a presence key, that lock is still held
        (a killed process drops out at once)."""
        self.keep_present()
        with self.store.transaction(write=True) as conn:
            conn.execute(_HEARTBEAT, {"me": self.instance, "url": url,
                                      "presence": self._key()})
            rows = conn.execute(_LIVE_INSTANCES, {"lease": self.lease_s}).fetchall()
        live = {str(row[0]): int(row[1]) for row in rows}
        live.setdefault(self.instance, len(self.epochs))
        return live

    def leave(self) -> None:
        """Release every hall and unregister (a clean stop)."""
        for hall in list(self.epochs):
            self.release(hall)
        with self.store.transaction(write=True) as conn:
            conn.execute(_FORGET_INSTANCE, {"me": self.instance})
        self.absent()

    def stuck_sessions(self, age_s: float) -> list[str]:
        """Database sessions in a transaction for over ``age_s`` (diagnostics:
        who holds what a takeover waits for): name, state, wait, age, query."""
        with self.store.transaction() as conn:
            rows = conn.execute(_STUCK, {"age": age_s}).fetchall()
        return [" ".join(str(x) for x in row) for row in rows]

    @staticmethod
    def share(halls: int, instances: int) -> int:
        """The most halls one of ``instances`` processes should own."""
        return math.ceil(halls / max(1, instances))

    def fence(self, conn: Connection, hall: str) -> None:
        """Inside a commit's transaction: refuse unless we own the hall's current epoch."""
        mine = self.epochs.get(hall)
        row = _ask(conn.connection.dbapi_connection, _FENCE_SQL, (hall,))
        current = row[0] if row is not None else None
        if mine is None or current is None or int(current) != mine:
            self.fenced.add(hall)
            self.epochs.pop(hall, None)
            raise Fenced(f"hall {hall}: this instance no longer owns it (epoch {mine}, "
                         f"now {current}); nothing written")


def _ask(connection: Any, sql: str, args: tuple[Any, ...] = ()) -> Any:
    """One statement on a raw DBAPI connection: its first row."""
    cursor = connection.cursor()
    try:
        cursor.execute(sql, args)
        return cursor.fetchone()
    finally:
        cursor.close()


def lock_sqlite(store: Store) -> IO[str] | None:
    """Hold the SQLite database for this process (None for PostgreSQL or memory).

    Keep the returned file open as long as the process serves; the lock goes
    with the process, however it ends.

    Raises:
        AlreadyServed: another process holds it (the message says which).
    """
    if store.backend != "sqlite":
        return None
    database = store._db.url.database  # same package: the store keeps its URL private
    if not database or database == ":memory:":
        return None
    path = Path(database).resolve().with_name(Path(database).name + ".qhall-lock")
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the process's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise AlreadyServed(
            f"数据库 {database} 已由另一个 qhall serve 进程使用（pid {holder}）；"
            f"SQLite 只能由一个进程服务，要热备请用 PostgreSQL。 "
            f"The database {database} is already served by another qhall serve process "
            f"(pid {holder}); SQLite is served by one process only: use PostgreSQL for "
            "a standby.") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
