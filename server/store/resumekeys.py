"""The per-hall key of the resume tickets, made once and shared by every instance.

The first instance that needs a hall's key makes it (32 random bytes, kept
as hex) in a write transaction; a second instance doing the same at that
moment loses the race on the primary key (``StaleState``) and reads the
winner's. So however many instances serve a hall, it has one key, and a
ticket one of them gave is checked by all (``server/service/resume.py``).
"""

from __future__ import annotations

import datetime as dt
import os

import sqlalchemy as sa

from server.store.convert import check_key
from server.store.engine import Database
from server.store.errors import StaleState
from server.store.schema import resume_keys_t
from server.wire.clock import naive_utc

__all__ = ["KEY_BYTES", "ResumeKeys"]

KEY_BYTES = 32


class ResumeKeys:
    """The resume-ticket keys of every hall on one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def key(self, hall: str, now: dt.datetime) -> bytes:
        """The hall's key, made now (stamped ``now``) if it has none yet.

        Raises:
            StoreError: the database failed.
        """
        found = self._read(hall)
        if found is not None:
            return found
        t = resume_keys_t
        try:
            with self._db.transaction(write=True) as conn:
                found = self._read(hall, conn)
                if found is not None:
                    return found
                made = os.urandom(KEY_BYTES)
                conn.execute(t.insert(), {"hall": check_key(hall, "hall_id"), "key": made.hex(),
                                          "created_at": naive_utc(now, "now")})
                return made
        except StaleState:
            pass  # another instance made it first: its key is the hall's
        found = self._read(hall)
        if found is None:
            raise StaleState(f"hall {hall}: the resume key vanished while being made")
        return found

    def _read(self, hall: str, conn: sa.Connection | None = None) -> bytes | None:
        query = sa.select(resume_keys_t.c.key).where(resume_keys_t.c.hall == hall)
        if conn is not None:
            text = conn.execute(query).scalar()
        else:
            with self._db.transaction() as read:
                text = read.execute(query).scalar()
        return None if text is None else bytes.fromhex(text)
