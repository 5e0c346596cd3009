"""The supervisor console's rows (migration 0007): sessions, audit, alert acks.

The rules live in server/console/; this module only reads and writes. A
session row is keyed by the SHA-256 digest of its cookie, so a copy of the
database opens no console. Audit rows come two ways: :meth:`ConsoleRows.audit`
is a :data:`~server.store.commit.Write` that commits in the same transaction
as the hall events an action caused; :meth:`ConsoleRows.add_audit` writes one
on its own (a login, an acknowledgement).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from server.store.commit import Write
from server.store.convert import check_key
from server.store.engine import Database
from server.store.schema import console_acks_t, console_audit_t, console_sessions_t
from server.wire.clock import aware_utc, naive_utc

__all__ = ["AuditRow", "ConsoleRows", "ConsoleSessionRow"]


@dataclasses.dataclass(frozen=True)
class ConsoleSessionRow:
    """One console session (the cookie itself is never stored)."""

    hall: str
    digest: str
    staff: str
    csrf: str
    created_at: dt.datetime
    seen_at: dt.datetime
    ended_at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class AuditRow:
    """Who did what to what, when (``detail``: the action's arguments)."""

    id: int
    at: dt.datetime
    staff: str
    action: str
    target: str
    detail: dict[str, Any]


class ConsoleRows:
    """The console's rows of every hall on one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # ------------------------------------------------------------ sessions
    def open_session(self, row: ConsoleSessionRow) -> None:
        check_key(row.hall, "hall_id")
        values = dataclasses.asdict(row)
        for name in ("created_at", "seen_at", "ended_at"):
            values[name] = naive_utc(values[name], name)
        with self._db.transaction(write=True) as conn:
            conn.execute(console_sessions_t.insert(), values)

    def session(self, hall: str, digest: str) -> ConsoleSessionRow | None:
        t = console_sessions_t
        with self._db.transaction() as conn:
            row = conn.execute(sa.select(t).where(t.c.hall == hall, t.c.digest == digest)).first()
        if row is None:
            return None
        values = dict(row._mapping)
        for name in ("created_at", "seen_at", "ended_at"):
            values[name] = aware_utc(values[name])
        return ConsoleSessionRow(**values)

    def touch(self, hall: str, digest: str, at: dt.datetime) -> None:
        """The session was used at ``at`` (its idle time starts again)."""
        self._set_live(hall, digest, seen_at=naive_utc(at, "at"))

    def end_session(self, hall: str, digest: str, at: dt.datetime) -> None:
        self._set_live(hall, digest, ended_at=naive_utc(at, "at"))

    def _set_live(self, hall: str, digest: str, **values: dt.datetime) -> None:
        """Set ``values`` on the session if it has not ended."""
        t = console_sessions_t
        with self._db.transaction(write=True) as conn:
            conn.execute(sa.update(t).where(t.c.hall == hall, t.c.digest == digest,
                                            t.c.ended_at.is_(None)).values(**values))

    def purge_sessions(self, hall: str, idle_before: dt.datetime) -> int:
        """Delete the hall's ended sessions and those last used before
        ``idle_before`` (timed out); returns how many went."""
        t = console_sessions_t
        with self._db.transaction(write=True) as conn:
            gone = conn.execute(sa.delete(t).where(
                t.c.hall == hall,
                sa.or_(t.c.ended_at.is_not(None), t.c.seen_at < naive_utc(idle_before, "at"))))
        return int(gone.rowcount or 0)

    # --------------------------------------------------------------- audit
    @staticmethod
    def _audit_values(hall: str, at: dt.datetime, staff: str, action: str, target: str,
                      detail: dict[str, Any]) -> dict[str, Any]:
        return {"hall": check_key(hall, "hall_id"), "at": naive_utc(at, "at"),
                "staff": check_key(staff, "staff", 64), "action": check_key(action, "action", 64),
                "target": str(target)[:200],
                "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True)}

    def audit(self, hall: str, at: dt.datetime, staff: str, action: str, target: str,
              detail: dict[str, Any]) -> Write:
        """An audit row to commit with the action's events (``extra=``)."""
        values = self._audit_values(hall, at, staff, action, target, detail)

        def write(conn: Connection) -> None:
            conn.execute(console_audit_t.insert(), values)

        return write

    def add_audit(self, hall: str, at: dt.datetime, staff: str, action: str, target: str,
                  detail: dict[str, Any]) -> None:
        """Write one audit row now, in its own transaction."""
        values = self._audit_values(hall, at, staff, action, target, detail)
        with self._db.transaction(write=True) as conn:
            conn.execute(console_audit_t.insert(), values)

    def audit_log(self, hall: str, limit: int = 200) -> list[AuditRow]:
        """The newest ``limit`` audit rows, newest first."""
        t = console_audit_t
        with self._db.transaction() as conn:
            rows = conn.execute(sa.select(t).where(t.c.hall == hall)
                                .order_by(t.c.id.desc()).limit(limit)).all()
        return [AuditRow(r.id, aware_utc(r.at), r.staff, r.action, r.target, json.loads(r.detail))
                for r in rows]

    def audit_entry(self, hall: str, entry: int) -> AuditRow | None:
        """One audit row by its id (None: not this hall's, or none)."""
        t = console_audit_t
        with self._db.transaction() as conn:
            r = conn.execute(sa.select(t).where(t.c.hall == hall, t.c.id == entry)).first()
        if r is None:
            return None
        return AuditRow(r.id, aware_utc(r.at), r.staff, r.action, r.target, json.loads(r.detail))

    # ---------------------------------------------------------------- acks
    def ack(self, hall: str, alert: str, staff: str, at: dt.datetime) -> bool:
        """Acknowledge an alert; False when it was acknowledged already."""
        t = console_acks_t
        with self._db.transaction(write=True) as conn:
            if conn.execute(sa.select(t.c.alert).where(t.c.hall == hall,
                                                       t.c.alert == alert)).first():
                return False
            conn.execute(t.insert(), {"hall": check_key(hall, "hall_id"),
                                      "alert": check_key(alert, "alert", 200),
                                      "staff": staff, "at": naive_utc(at, "at")})
        return True

    def acks(self, hall: str) -> dict[str, tuple[str, dt.datetime]]:
        """Acknowledged alert keys -> (who, when)."""
        t = console_acks_t
        with self._db.transaction() as conn:
            rows = conn.execute(sa.select(t).where(t.c.hall == hall)).all()
        return {r.alert: (r.staff, aware_utc(r.at)) for r in rows}
