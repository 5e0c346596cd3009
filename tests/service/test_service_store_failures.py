"""The hall service when its store fails inside a request (SQLite and PostgreSQL).

The faults are real, made at the database: a trigger that refuses one row (the
database refuses the request's transaction), another writer that takes the
number first while a table the reload reads is renamed away (the lost race
cannot be decided again: the hall cannot be rebuilt). The rules: the request
gets an honest ``internal`` error with its own ``re``; nothing is remembered,
so a resend is new work once the store takes it; memory is rebuilt from the
store and holds nothing the store did not commit; no reply for something not
stored; a hall that cannot be rebuilt refuses every request until it can.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from server.authpool import SecretCheck
from server.service import Session
from server.store import Store
from tests.helpers.booking import booking_config
from tests.helpers.server import PIN, small_config
from tests.service.test_service_rules import Desk, utc

STORE_FAILED = "internal error; try again"
UNAVAILABLE = "the hall is unavailable (database); try again"


@pytest.fixture
def hall(db_url: str) -> Iterator[Desk]:
    h = Desk(db_url, utc(1, 0))  # 09:00 in Shanghai
    yield h
    h.store.close()


def refuse(store: Store, table: str, when: str) -> None:
    """The database refuses any transaction inserting a ``table`` row where ``when``."""
    with store.transaction(write=True) as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(sa.text(f"CREATE TRIGGER refuse BEFORE INSERT ON {table} "
                                 f"WHEN {when} BEGIN SELECT RAISE(ABORT, 'refused'); END"))
        else:
            conn.execute(sa.text(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused'; END $$"))
            conn.execute(sa.text(f"CREATE TRIGGER refuse BEFORE INSERT ON {table} "
                                 f"FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION refuse()"))


def allow(store: Store, table: str) -> None:
    with store.transaction(write=True) as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(sa.text("DROP TRIGGER refuse"))
        else:
            conn.execute(sa.text(f"DROP TRIGGER refuse ON {table}"))
            conn.execute(sa.text("DROP FUNCTION refuse()"))


def rename(store: Store, old: str, new: str) -> None:
    with store.transaction(write=True) as conn:
        conn.execute(sa.text(f"ALTER TABLE {old} RENAME TO {new}"))


# ------------------------------------------------------- a refused commit
def test_a_request_the_store_refuses_gets_an_honest_error_and_changes_nothing(
        hall: Desk, caplog) -> None:
    svc = hall.svc
    assert hall.send("kiosk-1", "issue", "warm", service="gjj").message["ticket"]["number"] \
        == "A001"
    seq, snapshot, core = svc.last_seq, svc.snapshot(), svc.hall
    refuse(hall.store, "tickets", "NEW.number = 'A002'")
    with caplog.at_level("ERROR", logger="qhall.service"):
        refused = hall.send("kiosk-1", "issue", "x", service="gjj")
    assert refused.message == {"type": "error", "re": "x", "code": "internal",
                               "message": STORE_FAILED}
    assert refused.events == []
    # Logged by request and device, without a traceback (a refusal, not a bug).
    assert "request issue from kiosk-1 not committed: database" in caplog.text
    assert all(r.exc_info is None for r in caplog.records)
    # Memory was rebuilt from the store, which holds nothing of the request.
    assert svc.hall is not core and svc.failed is None
    assert svc.last_seq == seq and svc.snapshot() == snapshot
    assert not svc.remembers("kiosk-1", "x")
    assert [rid for _, rid, _ in hall.store.live_replies(svc.config.id)] == ["warm"]
    # Still refused: the same honest error again, not a remembered one.
    assert hall.send("kiosk-1", "issue", "x", service="gjj").message == refused.message
    allow(hall.store, "tickets")
    again = hall.send("kiosk-1", "issue", "x", service="gjj")
    assert again.message["type"] == "ok" and again.message["ticket"]["number"] == "A002"
    assert svc.remembers("kiosk-1", "x")


def test_a_reset_pin_is_not_stored_when_the_login_is_not_committed(db_url: str) -> None:
    cfg = small_config(db_url)
    staff = list(cfg.staff)
    staff[2] = dataclasses.replace(staff[2], reset=("pin",))  # s003: PIN reset
    hall = Desk(db_url, utc(1, 0), dataclasses.replace(cfg, staff=tuple(staff)))
    with hall.store:
        stored: list[tuple[str, str, str]] = []
        hall.svc.secret_set = lambda who, what, plain: stored.append((who, what, plain))
        refuse(hall.store, "events", "NEW.name = 'counter.opened'")
        failed = hall.send("counter-3", "login", "l1", staff="s003", pin="2468")
        assert failed.message == {"type": "error", "re": "l1", "code": "internal",
                                  "message": STORE_FAILED}
        # No PIN for a login that did not happen; the counter stays closed.
        assert stored == [] and hall.svc.hall.snapshot_counter(3)["state"] == "closed"
        allow(hall.store, "events")
        done = hall.send("counter-3", "login", "l1", staff="s003", pin="2468")
        assert done.message["type"] == "ok"
        assert stored == [("s003", "pin", "2468")]


# ----------------------------------------- a lost race that cannot be redone
def test_a_lost_race_the_hall_cannot_be_rebuilt_after_refuses_until_it_can(
        hall: Desk) -> None:
    svc = hall.svc
    other = Desk(hall.config.database, hall.clock(), hall.config)  # another writer of the same hall
    with other.store:
        assert other.send("kiosk-2", "issue", "o1", service="gjj").message["ticket"][
            "number"] == "A001"
        # The store then cannot be read: the rebuild after the lost race fails.
        rename(other.store, "counters", "counters_away")
        lost = hall.send("kiosk-1", "issue", "x", service="gjj")
        assert lost.message == {"type": "error", "re": "x", "code": "internal",
                                "message": UNAVAILABLE}
        assert lost.events == []
        assert svc.failed is not None and svc.failed.startswith("the database cannot be read")
        assert not svc.remembers("kiosk-1", "x")
        # Nothing is answered from memory while the hall cannot be rebuilt.
        assert hall.send("kiosk-1", "issue", "y", service="gjj").message == {
            "type": "error", "re": "y", "code": "internal", "message": UNAVAILABLE}
        rename(other.store, "counters_away", "counters")
        # At most one rebuild a second: the store is back, but the last try was just now.
        assert hall.send("kiosk-1", "issue", "z", service="gjj").message["message"] == UNAVAILABLE
        hall.clock.advance(1)  # one second after the last try: the next one is due
        again = hall.send("kiosk-1", "issue", "x", service="gjj")
        assert svc.failed is None
        assert again.message["ticket"]["number"] == "A002"  # after the other writer's
        stored = [e["data"]["ticket"]["number"] for e in hall.store.events_since(
            svc.config.id, 0) if e["name"] == "ticket.issued"]
        assert stored == ["A001", "A002"]


def test_a_hall_that_fails_while_a_pin_is_checked_answers_the_login_unavailable(
        hall: Desk) -> None:
    # The PIN check runs off the event loop; the hall may fail meanwhile.
    session = Session(hall.config.device("counter-1"))
    check = hall.svc.begin(session, {"type": "login", "id": "l1", "staff": "s001", "pin": PIN})
    assert isinstance(check, SecretCheck)
    rename(hall.store, "counters", "counters_away")
    hall.svc.reload()  # the store cannot be read: the hall is failed
    assert hall.svc.failed is not None
    assert check.run_inline().message == {"type": "error", "re": "l1", "code": "internal",
                                          "message": UNAVAILABLE}
    rename(hall.store, "counters_away", "counters")
    assert not hall.svc.remembers("counter-1", "l1")


# ------------------------------------------- appointments through the service
def _booking_hall(db_url: str) -> Desk:
    base = booking_config(db_url)
    slow = dataclasses.replace(base.services[0], default_service_s=1800)
    # Thursday 2026-11-26 09:00 in Shanghai.
    return Desk(db_url, utc(1, 0), dataclasses.replace(base, services=(slow, *base.services[1:])))


def _book(hall: Desk, rid: str, name: str, phone: str) -> str:
    made = hall.send("booking-1", "book", rid, service="gjj", slot="2026-11-27T11:30",
                     name=name, phone=phone).message
    assert made["type"] == "ok", made
    return str(made["booking"]["code"])


def test_an_early_check_in_says_from_when_in_its_own_field(db_url: str) -> None:
    hall = _booking_hall(db_url)
    with hall.store:
        code = _book(hall, "b1", "王芳", "13812345678")
        early = hall.send("kiosk-1", "check_in", "c1", code=code).message
        assert (early["type"], early["code"]) == ("error", "closed")
        # The kiosk reads opens_at, not the text: 30 minutes before the slot.
        assert early["opens_at"] == "2026-11-27T11:00:00+08:00"


def test_a_live_configuration_change_feeds_the_new_core_the_days_bookings(
        db_url: str) -> None:
    hall = _booking_hall(db_url)
    with hall.store:
        _book(hall, "b1", "王芳", "13812345678")
        _book(hall, "b2", "李强", "13900001111")
    hall.clock.now = utc(1, 0, day=27)  # Friday 09:00: the bookings' day
    hall = Desk(db_url, hall.clock(), hall.config)
    with hall.store:
        for n in range(5):
            assert hall.send("kiosk-1", "issue", f"i{n}", service="gjj").message["type"] == "ok"
        # 6 calls x 1800 s reach past the 11:30 slot: its 2 bookings go first.
        assert hall.svc.hall.queue_wire("gjj")["eta_s"] == 8 * 1800
        svc = hall.svc
        svc.adopt_config(svc.base_config, svc.prepare_config(svc.base_config))
        assert svc.hall.queue_wire("gjj")["eta_s"] == 8 * 1800
