"""Resume tickets checked by the hall service: what makes one good, and the
per-hall key every instance shares (server/service/resume.py,
server/store/resumekeys.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading

import sqlalchemy as sa

from server.auth import hash_secret
from server.service import HallService, Session
from server.service.resume import RESUME_TTL_S, SKEW_S
from server.store import Store
from tests.helpers.fakes import FakeClock
from tests.helpers.server import TOKEN, small_config


def _service(url: str, clock: FakeClock, **changes: object) -> tuple[HallService, Store]:
    store = Store(url, clock=clock)
    cfg = dataclasses.replace(small_config(url), **changes)
    return HallService(cfg, store, clock=clock, monotonic=clock.monotonic), store


def _ticket(svc: HallService, device: str = "kiosk-1") -> str:
    welcome = svc.welcome(Session(svc.config.device(device)), "w1", TOKEN(device))
    assert isinstance(welcome["resume"], str)
    return welcome["resume"]


def test_a_ticket_is_good_only_for_its_device_token_and_time(tmp_path):
    clock = FakeClock()
    svc, store = _service(f"sqlite:///{tmp_path / 'h.db'}", clock)
    with store:
        ticket = _ticket(svc)
        kiosk = svc.config.device("kiosk-1")
        assert svc.resume_device("kiosk-1", TOKEN("kiosk-1"), ticket) == kiosk
        # bound to the token (a ticket alone is worth nothing) and the device
        assert svc.resume_device("kiosk-1", "wrong", ticket) is None
        assert svc.resume_device("kiosk-2", TOKEN("kiosk-1"), ticket) is None
        assert svc.resume_device("kiosk-2", TOKEN("kiosk-2"), ticket) is None
        assert svc.resume_device("nobody", TOKEN("kiosk-1"), ticket) is None
        # any change to the text spoils it
        for i in range(len(ticket)):
            spoiled = ticket[:i] + ("B" if ticket[i] != "B" else "C") + ticket[i + 1:]
            assert svc.resume_device("kiosk-1", TOKEN("kiosk-1"), spoiled) is None, i
        for other in (ticket + "=", ticket[:-1], "x" + ticket, ticket.replace("r1.", "r2."),
                      None, 7, [ticket], {"resume": ticket}, "", "r1..", "r1.x.y", "." * 3):
            assert svc.resume_device("kiosk-1", TOKEN("kiosk-1"), other) is None, other
        # good until it expires (12 h), not a second longer
        clock.advance(RESUME_TTL_S - 1)
        assert svc.resume_device("kiosk-1", TOKEN("kiosk-1"), ticket) == kiosk
        clock.advance(1)
        assert svc.resume_device("kiosk-1", TOKEN("kiosk-1"), ticket) is None
        # and every welcome gives a fresh one
        assert svc.resume_device("kiosk-1", TOKEN("kiosk-1"), _ticket(svc)) == kiosk


def test_a_ticket_claiming_to_live_longer_than_a_ticket_may_is_not_believed(tmp_path):
    # Made with the hall's own key: only its lifetime is wrong.
    clock = FakeClock()
    svc, store = _service(f"sqlite:///{tmp_path / 'h.db'}", clock)
    with store:
        kiosk = svc.config.device("kiosk-1")
        clock.advance(SKEW_S + 60)
        far = _ticket(svc)  # expires TTL + SKEW + 60 s after the clock below
        clock.advance(-(SKEW_S + 60))
        assert svc.resume_device("kiosk-1", TOKEN("kiosk-1"), far) is None
        clock.advance(60)  # now the same ticket is within a lifetime plus the skew
        assert svc.resume_device("kiosk-1", TOKEN("kiosk-1"), far) == kiosk


def test_a_new_token_a_removed_device_or_another_hall_ends_the_ticket(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    clock = FakeClock()
    svc, store = _service(url, clock)
    with store:
        ticket = _ticket(svc)
        devices = svc.config.devices
        rotated = tuple(dataclasses.replace(d, token_hash=hash_secret(TOKEN(d.id), n=2**8))
                        if d.id == "kiosk-1" else d for d in devices)
        cases = {
            # the same token under a new hash: a rotation (or revocation) happened
            "rotated": {"devices": rotated},
            "removed": {"devices": tuple(d for d in devices if d.id != "kiosk-1")},
            "other hall": {"id": "other"},
        }
        for name, changes in cases.items():
            other, other_store = _service(url, clock, **changes)
            with other_store:
                assert other.resume_device("kiosk-1", TOKEN("kiosk-1"), ticket) is None, name
        same, same_store = _service(url, clock)  # unchanged: a second instance accepts it
        with same_store:
            assert same.resume_device("kiosk-1", TOKEN("kiosk-1"), ticket) is not None


def test_the_hall_key_is_made_once_however_many_instances_race(db_url):
    stores = [Store(db_url) for _ in range(2)]
    try:
        now = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
        start = threading.Barrier(8)
        keys: list[bytes] = []
        errors: list[BaseException] = []

        def take(store: Store) -> None:
            try:
                start.wait(10)
                keys.append(store.resume_keys.key("main", now))
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=take, args=(stores[i % 2],)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == [] and len(keys) == 8
        assert len(set(keys)) == 1 and len(keys[0]) == 32
        with stores[0].transaction() as conn:
            rows = conn.execute(sa.text("SELECT hall, key FROM resume_keys")).all()
        assert rows == [("main", keys[0].hex())]
        # each hall has its own
        assert stores[1].resume_keys.key("other", now) != keys[0]
    finally:
        for store in stores:
            store.close()
