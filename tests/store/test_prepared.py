"""The prepared raw path's binds: the same values SQLAlchemy's own processors make."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from server.store.prepared import Prepared, compile_all
from server.store.schema import counters_t, tickets

WHEN = [
    dt.datetime(2026, 11, 26, 9, 0, 1, 123456),
    dt.datetime(2026, 11, 26, 9, 0, 1),  # no microseconds: still six digits
    dt.datetime(999, 1, 2, 3, 4, 5, 6),  # a short year: still four digits
    dt.datetime(2026, 11, 26, 9, 0, 1, 5, tzinfo=dt.UTC),  # aware: SQLAlchemy's own way
    dt.date(2026, 11, 26),  # a date in a datetime column: SQLAlchemy's own way
    None,
]


def _sqlalchemy_args(stmt: sa.Insert, dialect: sa.Dialect,
                     params: dict[str, object]) -> tuple[object, ...]:
    compiled = stmt.compile(dialect=dialect)
    processors: dict[str, Any] = dict(compiled._bind_processors)
    return tuple(processors[name](params[name]) if name in processors else params[name]
                 for name in compiled.positiontup or ())


@pytest.mark.parametrize("when", WHEN)
def test_sqlite_datetimes_and_dates_bind_as_sqlalchemy_binds_them(when: object) -> None:
    dialect = sqlite.dialect()
    params = {c.name: None for c in counters_t.c} | {
        "hall": "main", "number": 1, "state": "open", "since": when, "streak": 0}
    stmt = counters_t.insert()
    assert Prepared(stmt, dialect).args(params) == _sqlalchemy_args(stmt, dialect, params)


def test_a_ticket_row_binds_as_sqlalchemy_binds_it() -> None:
    dialect = sqlite.dialect()
    params: dict[str, object] = {c.name: None for c in tickets.c} | {
        "id": "t1", "hall": "main", "day": dt.date(2026, 11, 26), "number": "A001",
        "issued_at": dt.datetime(2026, 11, 26, 1, 0), "remote": True, "present": False,
        "called_at": dt.datetime(2026, 11, 26, 1, 2, 3, 4)}
    stmt = tickets.insert()
    args = Prepared(stmt, dialect).args(params)
    assert args == _sqlalchemy_args(stmt, dialect, params)
    assert "2026-11-26" in args and "2026-11-26 01:00:00.000000" in args
    assert "2026-11-26 01:02:03.000004" in args


def test_every_hot_statement_compiles_for_both_dialects() -> None:
    for dialect in (sqlite.dialect(), postgresql.psycopg.dialect()):
        assert len(compile_all(dialect)) == 9
