"""The hall's configuration as versions of its whole TOML text (migration 0011),
and the services assigned to counters for one day (``counter_days``).

The newest version of a hall is its configuration; the rules that make a
text valid live in ``server.config.parse`` (the caller validates before it
stores), this module only reads and writes. A new version is numbered one
past the newest in the same transaction, so two writers racing on one hall
cannot both store "version n": the second gets :class:`StaleState`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import sqlalchemy as sa

from server.store.commit import Write
from server.store.convert import check_key
from server.store.engine import Database
from server.store.errors import StaleState
from server.store.schema import counter_days_t, hall_configs_t
from server.wire.clock import aware_utc, naive_utc

__all__ = ["ConfigRows", "ConfigVersion"]


@dataclasses.dataclass(frozen=True)
class ConfigVersion:
    """One stored version of a hall's configuration."""

    hall: str
    version: int
    text: str
    at: dt.datetime
    staff: str
    note: str


def _row(r: sa.Row) -> ConfigVersion:  # type: ignore[type-arg]
    return ConfigVersion(r.hall, r.version, r.text, aware_utc(r.at), r.staff, r.note)


class ConfigRows:
    """Configuration versions of every hall on one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def newest(self, hall: str) -> ConfigVersion | None:
        """The hall's configuration now (None: it has no stored version)."""
        t = hall_configs_t
        with self._db.transaction() as conn:
            row = conn.execute(sa.select(t).where(t.c.hall == hall)
                               .order_by(t.c.version.desc()).limit(1)).first()
        return None if row is None else _row(row)

    def newest_number(self, hall: str) -> int:
        """The newest version's number (0: none); a cheap poll."""
        t = hall_configs_t
        with self._db.transaction() as conn:
            found = conn.execute(sa.select(sa.func.max(t.c.version))
                                 .where(t.c.hall == hall)).scalar()
        return int(found or 0)

    def get(self, hall: str, version: int) -> ConfigVersion | None:
        t = hall_configs_t
        with self._db.transaction() as conn:
            row = conn.execute(sa.select(t).where(t.c.hall == hall,
                                                  t.c.version == version)).first()
        return None if row is None else _row(row)

    def history(self, hall: str, limit: int = 50) -> list[ConfigVersion]:
        """The newest ``limit`` versions, newest first (texts included)."""
        t = hall_configs_t
        with self._db.transaction() as conn:
            rows = conn.execute(sa.select(t).where(t.c.hall == hall)
                                .order_by(t.c.version.desc()).limit(limit)).all()
        return [_row(r) for r in rows]

    def add(self, hall: str, text: str, at: dt.datetime, staff: str, note: str, *,
            based_on: int | None = None, extra: Write | None = None) -> int:
        """Store ``text`` as the hall's newest version; returns its number.

        Args:
            based_on: the version the change was made from: when another
                version was stored since, nothing is written.
            extra: written in the same transaction (the change's audit row).

        Raises:
            StaleState: ``based_on`` is no longer the newest version, or
                another writer stored the same number first.
            StoreError: the database failed.
        """
        t = hall_configs_t
        with self._db.transaction(write=True) as conn:
            newest = int(conn.execute(sa.select(sa.func.max(t.c.version))
                                      .where(t.c.hall == hall)).scalar() or 0)
            if based_on is not None and newest != based_on:
                raise StaleState(f"the configuration changed meanwhile (version {newest}, "
                                 f"the change was made on {based_on}); reload and try again")
            conn.execute(t.insert(), {
                "hall": check_key(hall, "hall_id"), "version": newest + 1, "text": text,
                "at": naive_utc(at, "at"), "staff": check_key(staff, "staff", 64),
                "note": note[:400]})
            if extra is not None:
                extra(conn)
        return newest + 1

    # ------------------------------------------------- today's counter layout
    def assignments(self, hall: str, day: dt.date) -> dict[int, tuple[str, ...]]:
        """Counter -> the services assigned to it for ``day``."""
        t = counter_days_t
        with self._db.transaction() as conn:
            rows = conn.execute(sa.select(t.c.counter, t.c.services)
                                .where(t.c.hall == hall, t.c.day == day)).all()
        return {int(r.counter): tuple(r.services.split(",")) for r in rows}

    def assign(self, hall: str, day: dt.date, counter: int, services: tuple[str, ...],
               at: dt.datetime, staff: str, extra: Write | None = None) -> None:
        """Assign ``services`` to ``counter`` for ``day`` (replacing an earlier
        assignment; empty: the configured services again), with ``extra``
        (the audit row) in the same transaction."""
        t = counter_days_t
        with self._db.transaction(write=True) as conn:
            conn.execute(sa.delete(t).where(t.c.hall == hall, t.c.day == day,
                                            t.c.counter == counter))
            if services:
                conn.execute(t.insert(), {
                    "hall": check_key(hall, "hall_id"), "day": day, "counter": counter,
                    "services": ",".join(services), "at": naive_utc(at, "at"),
                    "staff": check_key(staff, "staff", 64)})
            if extra is not None:
                extra(conn)
