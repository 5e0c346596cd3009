"""Upgrading a database that holds a day of data, from every earlier revision.

For each revision N before head: a fresh database is migrated to N with
Alembic (the schema as it was then), filled with a day of hall data (a real
day driven through HallService - tickets in every state, counters, numbers,
events, remembered replies, bookings, a follow-up - restricted to the tables
and columns revision N had), then opened with ``Store(url)``, which upgrades
it to head the way a new release does. Nothing may be lost: every row and
column that existed at N reads back the same, and a HallService on the
upgraded database sees the same hall (snapshot, next numbers).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from server.features import default_features
from server.service import HallService, Session
from server.store import SCHEMA_REVISION, Store
from tests.helpers.booking import booking_config
from tests.helpers.fakes import FakeClock
from tests.helpers.server import PIN

MIGRATIONS = Path(__file__).resolve().parents[2] / "server" / "store" / "migrations"
REVISIONS = sorted(p.name[:4] for p in (MIGRATIONS / "versions").glob("[0-9]*.py"))
EARLIER = [r for r in REVISIONS if r != SCHEMA_REVISION]
NOW = dt.datetime(2026, 11, 26, 3, 0, tzinfo=dt.UTC)  # Thursday 11:00 in Shanghai


def test_the_revision_list_ends_at_the_store_head():
    assert REVISIONS[-1] == SCHEMA_REVISION and len(EARLIER) >= 2


def _upgrade_to(url: str, revision: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def _a_day(url: str) -> tuple[HallService, Store]:
    """A morning of a hall on the current schema: every kind of row there is."""
    cfg = booking_config(url)
    clock = FakeClock(NOW - dt.timedelta(hours=2))   # 09:00 local
    store = Store(url, clock=clock)
    svc = HallService(cfg, store, clock=clock, monotonic=clock.monotonic,
                      features=default_features())
    n = iter(range(1, 1000))

    def send(device: str, request: str, **fields) -> dict:
        reply = svc.handle(Session(cfg.device(device)), {"type": request, "id": f"r{next(n)}",
                                                         **fields})
        assert reply.message["type"] == "ok", reply.message
        clock.advance(37)
        return reply.message

    for c in (1, 2, 3):
        send(f"counter-{c}", "login", staff=f"s00{c}", pin=PIN)
    tickets = [send("kiosk-1", "issue", service=s)["ticket"]
               for s in ("gjj", "gjj", "tax", "gjj", "bdc", "tax", "gjj")]
    send("kiosk-1", "issue", service="gjj", priority="priority")
    served = send("counter-2", "call_next")["ticket"]
    send("counter-2", "start")
    send("counter-2", "complete")
    send("evaluator-2", "rate", ticket=served["id"], score=1)   # opens a follow-up
    send("counter-1", "call_next")
    send("counter-1", "no_show")
    send("counter-3", "call_next")
    send("counter-3", "transfer", service="bdc")
    send("counter-2", "call_next")                                  # left called
    send("counter-3", "pause", reason="午休")
    send("admin-1", "cancel", ticket=tickets[6]["id"])
    send("booking-1", "book", service="gjj", slot="2026-11-27T10:00", name="王芳",
         phone="13812345678")
    send("kiosk-1", "report_fault", kind="paper_out", message="缺纸")
    return svc, store


def _rows(conn: sa.Connection, table: sa.Table, columns: list[str]) -> list[tuple]:
    result = conn.execute(sa.select(*(table.c[c] for c in columns)))
    return sorted((tuple(r) for r in result), key=repr)


@pytest.mark.parametrize("revision", EARLIER)
def test_upgrade_from_an_earlier_revision_keeps_a_day_of_data(db_url, tmp_path, revision):
    source_url = f"sqlite:///{tmp_path / 'today.db'}"
    source_svc, source_store = _a_day(source_url)
    _upgrade_to(db_url, revision)

    # Fill the old schema with the day's rows, column by column as it had them.
    old = sa.MetaData()
    target = sa.create_engine(db_url)
    old.reflect(target)
    src_meta = sa.MetaData()
    src_meta.reflect(source_store._engine)
    kept: dict[str, list[str]] = {}
    with source_store._engine.connect() as src, target.begin() as dst:
        for name, table in old.tables.items():
            if name == "alembic_version":
                continue
            columns = [c.name for c in table.columns]
            kept[name] = columns
            rows = [dict(zip(columns, r, strict=True))
                    for r in src.execute(sa.select(*(src_meta.tables[name].c[c]
                                                     for c in columns)))]
            if rows:
                dst.execute(table.insert(), rows)
    with target.connect() as conn:
        before = {name: _rows(conn, old.tables[name], cols) for name, cols in kept.items()}
    assert sum(len(v) for v in before.values()) > 40, "the day is not a day"
    assert before["tickets"] and before["events"] and before["counters"]

    with Store(db_url, clock=source_svc.clock) as upgraded:   # the release's first start
        with target.connect() as conn:
            assert conn.exec_driver_sql(
                "SELECT version_num FROM alembic_version").scalar() == SCHEMA_REVISION
            new = sa.MetaData()
            new.reflect(conn)
            after = {name: _rows(conn, new.tables[name], cols) for name, cols in kept.items()}
        assert after == before
        cfg = booking_config(db_url)
        again = HallService(cfg, upgraded, clock=source_svc.clock,
                            monotonic=source_svc.monotonic, features=default_features())
        assert again.snapshot()["queues"] == source_svc.snapshot()["queues"]
        assert again.snapshot()["counters"] == source_svc.snapshot()["counters"]
        assert again.last_seq == source_svc.last_seq
        issue = {"type": "issue", "id": "after-upgrade", "service": "gjj"}
        kiosk = Session(cfg.device("kiosk-1"))
        assert again.handle(kiosk, issue).message["ticket"]["number"] == \
            source_svc.handle(kiosk, issue).message["ticket"]["number"]
    target.dispose()
    source_store.close()
