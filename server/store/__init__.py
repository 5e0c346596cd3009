"""The store: tickets, numbering, counters, the event log, bookings and
follow-ups in a database; the only package that imports SQLAlchemy (Core, not
the ORM: the hot path is a handful of precompiled statements per transaction).

Modules, by what they hold:

* ``store.py``: :class:`Store`, the API (its docstring lists it);
* ``schema.py``: the tables; ``migrations/``: Alembic, brought to head on open;
* ``engine.py``: URL, engine (SQLite pragmas), migrating, transactions and
  their error mapping (``StaleState`` / ``StoreError``, ``errors.py``);
* ``commit.py``: the commit's steps; ``prepared.py``: its precompiled statements;
* ``load.py``: ``load`` for a restart, event reads; ``replies.py``:
  idempotency replies; ``logins.py``: wrong PINs;
* ``bookings.py``, ``followups.py``: appointment and follow-up rows with their
  guarded writes (``Write``, run inside ``commit(..., extra=...)``);
* ``console.py``: the supervisor console's sessions, audit log and alert acks;
* ``configs.py``: the hall configuration's versions (TOML text);
* ``convert.py``: values <-> rows (naive UTC in the database, aware outside).
"""

from __future__ import annotations

from server.store.bookings import BookingRow, PersonDay
from server.store.commit import Write
from server.store.configs import ConfigVersion
from server.store.console import AuditRow, ConsoleSessionRow
from server.store.errors import StaleState, StoreError
from server.store.followups import FollowUpRow
from server.store.load import Loaded
from server.store.replies import REPLY_TTL_S
from server.store.schema import SCHEMA_REVISION, TICKET_COLUMNS
from server.store.store import Store

__all__ = [
    "REPLY_TTL_S",
    "SCHEMA_REVISION",
    "TICKET_COLUMNS",
    "AuditRow",
    "BookingRow",
    "ConfigVersion",
    "ConsoleSessionRow",
    "FollowUpRow",
    "Loaded",
    "PersonDay",
    "StaleState",
    "Store",
    "StoreError",
    "Write",
]
