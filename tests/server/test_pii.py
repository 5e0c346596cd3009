"""The personal-data key lives outside the database; old bookings keep working.

The migration test builds a database at revision 0003 (the old scheme: a
salt in ``hall_secrets``, 7-of-11-digit masks) and opens it with today's
code: the masks are cut, the old person is still matched (one booking per
day, the block rule) and is re-keyed on their next booking.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from server import pii
from server.core import Conflict
from server.features.booking import Bookings
from server.service.api import Context
from server.store import Store
from server.store.engine import MIGRATIONS
from tests.features.test_booking import THU_0900, booking_config
from tests.helpers.fakes import FakeClock

ROOT = Path(__file__).resolve().parents[2]
KEY = "ab" * 32


def _hmac(key: bytes, kind: str, text: str) -> str:
    return hmac.new(key, f"{kind}\0{text}".encode(), hashlib.sha256).hexdigest()


def test_key_from_env_then_file_then_beside_the_sqlite_file(tmp_path, monkeypatch):
    monkeypatch.delenv(pii.ENV, raising=False)
    cfg = booking_config(f"sqlite:///{tmp_path / 'h.db'}")
    beside = pii.key_for(cfg)
    path = tmp_path / "h.db.pii-key"
    assert path.read_text().strip() == beside.hex()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert pii.key_for(cfg) == beside  # made once, then read
    keyfile = tmp_path / "pii.key"
    pii.make_key(keyfile)
    from_file = pii.key_for(dataclasses.replace(cfg, pii_key_file=str(keyfile)))
    assert from_file == bytes.fromhex(keyfile.read_text()) and from_file != beside
    monkeypatch.setenv(pii.ENV, KEY)
    assert pii.key_for(cfg) == bytes.fromhex(KEY)


@pytest.mark.parametrize(("env", "keyfile", "database", "says"), [
    (None, None, "postgresql+psycopg://q@db/q", "QHALL_PII_KEY or [hall] pii_key_file"),
    ("xyz", None, "sqlite:///x.db", "not a hex key"),
    ("abcd", None, "sqlite:///x.db", "at least 32"),
    (None, "missing.key", "sqlite:///x.db", "qhall make-key"),
])
def test_missing_or_bad_key_is_a_clear_error(tmp_path, monkeypatch, env, keyfile, database,
                                             says):
    monkeypatch.delenv(pii.ENV, raising=False)
    if env:
        monkeypatch.setenv(pii.ENV, env)
    cfg = dataclasses.replace(booking_config(database),
                              pii_key_file=str(tmp_path / keyfile) if keyfile else "")
    with pytest.raises(pii.PiiKeyError, match=says.replace("[", r"\[").replace("]", r"\]")):
        pii.key_for(cfg)


def test_make_key_command_writes_once(tmp_path):
    target = tmp_path / "pii.key"
    cmd = [sys.executable, "-m", "server", "make-key", str(target)]
    first = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0 and len(bytes.fromhex(target.read_text())) == 32
    before = target.read_text()
    second = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert second.returncode == 1 and "never overwritten" in second.stderr
    assert target.read_text() == before


def test_hashes_use_the_key_outside_the_database(tmp_path, monkeypatch):
    monkeypatch.setenv(pii.ENV, KEY)
    clock = FakeClock(THU_0900.astimezone(dt.UTC))
    cfg = booking_config(f"sqlite:///{tmp_path / 'h.db'}")
    with Store(cfg.database) as store:
        b = Bookings(Context(cfg, store, clock))
        made = b.apply(lambda: b.plan_book("gjj", "2026-11-27T10:00", "王芳", "13812345678",
                                           "test"))
        assert made["booking"]["phone"] == "*******5678"
        with store.transaction() as conn:
            row = conn.execute(sa.text("SELECT * FROM bookings")).mappings().one()
            secrets_rows = conn.execute(sa.text("SELECT * FROM hall_secrets")).all()
    key = bytes.fromhex(KEY)
    assert row["phone_hash"] == _hmac(key, "phone", "13812345678")
    assert row["person"] == _hmac(key, "person", "王芳\x0013812345678")
    assert row["hash_scheme"] == "pii" and row["phone_mask"] == "*******5678"
    assert secrets_rows == []  # nothing that keys the hashes is in the database


def _database_at_0003(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
    engine.dispose()


def _legacy_booking(url: str, salt: bytes, code: str, day: str, slot: str, status: str,
                    name: str = "王芳", phone: str = "13812345678") -> None:
    person = _hmac(salt, "person", f"{name}\0{phone}")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO bookings (hall, code, service, day, slot_start, person, name_hash, "
            "phone_hash, name_mask, phone_mask, status, person_day, ticket, created_at, "
            "created_by, updated_at) VALUES ('main', :code, 'gjj', :day, :slot, :person, "
            ":nh, :ph, '王*', '138****5678', :status, :pd, NULL, :slot, 'old', :slot)"),
            {"code": code, "day": day, "slot": slot, "person": person,
             "nh": _hmac(salt, "name", name), "ph": _hmac(salt, "phone", phone),
             "status": status, "pd": f"{person[:40]}:{day}" if status != "cancelled" else None})
    engine.dispose()


def test_bookings_made_before_the_key_keep_working_and_are_rekeyed(tmp_path, monkeypatch):
    monkeypatch.setenv(pii.ENV, KEY)
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _database_at_0003(url)
    salt = os.urandom(32)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO hall_secrets VALUES ('main', 'booking_salt', :v)"),
                     {"v": salt.hex()})
    engine.dispose()
    # booked for Friday 27th before the upgrade, by the old scheme
    _legacy_booking(url, salt, "OLDCODE1", "2026-11-27", "2026-11-27 02:00:00", "booked")
    clock = FakeClock(THU_0900.astimezone(dt.UTC))
    cfg = booking_config(url)
    with Store(url) as store:  # migrates to head
        b = Bookings(Context(cfg, store, clock))
        old = b.get("OLDCODE1")
        assert old["phone"] == "*******5678"  # the 7-of-11 mask was cut by the migration
        # still the same person: one booking per person per day holds
        with pytest.raises(Conflict):
            b.plan_book("gjj", "2026-11-27T10:00", "王芳", "138 1234 5678", "test")
        # another day: booked, and the old row is re-keyed with the outside key
        b.apply(lambda: b.plan_book("gjj", "2026-11-30T10:00", "王芳", "13812345678", "test"))
        with store.transaction() as conn:
            rows = conn.execute(sa.text(
                "SELECT code, person, hash_scheme, person_day FROM bookings ORDER BY code")
            ).mappings().all()
            salts = conn.execute(sa.text("SELECT * FROM hall_secrets")).all()
        person = _hmac(bytes.fromhex(KEY), "person", "王芳\x0013812345678")
        assert {r["hash_scheme"] for r in rows} == {"pii"}
        assert {r["person"] for r in rows} == {person}
        assert any(r["person_day"] == f"{person[:40]}:2026-11-27" for r in rows)
        assert salts == []  # no legacy row left: the database salt is gone
        with pytest.raises(Conflict):  # and the re-keyed row still holds its day
            b.plan_book("gjj", "2026-11-27T11:00", "王芳", "13812345678", "test")
