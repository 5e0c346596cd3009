"""Counter login rules in-process (HallService, SQLite and PostgreSQL): a reset
PIN is set by the login that follows only where something can store it, and
must be long enough; a disabled member is refused; a login that moves a
member closes the counters it replaces, in the reply's events."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from server.authpool import SecretCheck
from server.features import default_features
from server.service import MIN_NEW_PIN, HallService, Session
from server.store import Store
from tests.helpers.fakes import FakeClock
from tests.helpers.server import PIN, small_config
from tests.service.test_service_rules import utc


class Hall:
    def __init__(self, db_url: str) -> None:
        cfg = small_config(db_url)
        staff = list(cfg.staff)
        staff[2] = dataclasses.replace(staff[2], reset=("pin",))        # s003: PIN reset
        staff[3] = dataclasses.replace(staff[3], disabled=True)         # s004: disabled
        self.config = dataclasses.replace(cfg, staff=tuple(staff))
        self.clock = FakeClock(utc(1, 0))
        self.store = Store(db_url, clock=self.clock)
        self.svc = HallService(self.config, self.store, clock=self.clock,
                               monotonic=self.clock.monotonic, features=default_features())
        self.set: list[tuple[str, str, str]] = []

    def login(self, counter: int, staff: str, pin: str, rid: str):
        return self.svc.handle(Session(self.config.device(f"counter-{counter}")),
                               {"type": "login", "id": rid, "staff": staff, "pin": pin})


@pytest.fixture
def hall(db_url: str) -> Iterator[Hall]:
    h = Hall(db_url)
    yield h
    h.store.close()


def test_a_reset_pin_cannot_be_set_where_nothing_stores_it(hall: Hall) -> None:
    assert hall.svc.secret_set is None
    refused = hall.login(3, "s003", PIN, "l1").message
    assert (refused["type"], refused["code"]) == ("error", "unauthorized")
    assert hall.svc.hall.snapshot_counter(3)["state"] == "closed"


def test_the_login_after_a_reset_sets_a_long_enough_pin(hall: Hall) -> None:
    hall.svc.secret_set = lambda staff, what, plain: hall.set.append((staff, what, plain))
    short = "1" * (MIN_NEW_PIN - 1)
    refused = hall.login(3, "s003", f" {short} ", "l1").message
    assert (refused["type"], refused["code"]) == ("error", "bad_request")
    assert f"{MIN_NEW_PIN}+" in refused["message"]
    assert hall.set == [] and hall.svc.hall.snapshot_counter(3)["state"] == "closed"
    new_pin = "9" * MIN_NEW_PIN  # any PIN of that length: it becomes the PIN
    done = hall.login(3, "s003", new_pin, "l2")
    assert done.message["type"] == "ok" and done.message["staff"]["id"] == "s003"
    assert hall.set == [("s003", "pin", new_pin)]
    assert hall.svc.hall.snapshot_counter(3)["staff"]["id"] == "s003"
    # A member without a reset still needs the PIN they have.
    wrong = hall.login(1, "s001", new_pin, "l3").message
    assert wrong["code"] == "unauthorized" and hall.set == [("s003", "pin", new_pin)]


def test_a_disabled_member_is_refused_with_the_right_pin(hall: Hall) -> None:
    refused = hall.login(4, "s004", PIN, "l1").message
    assert (refused["type"], refused["code"]) == ("error", "unauthorized")


def test_a_login_reports_every_counter_it_closes_and_the_one_it_opens(hall: Hall) -> None:
    assert hall.login(1, "s001", PIN, "a").message["type"] == "ok"
    assert hall.login(2, "s002", PIN, "b").message["type"] == "ok"
    # s001 moves to counter 2: their counter 1 closes, s002's counter 2 closes, 2 opens.
    moved = hall.login(2, "s001", PIN, "c")
    changes = [(e["name"], e["data"]["counter"]) for e in moved.events
               if e["name"].startswith("counter.")]
    assert sorted(changes) == [("counter.closed", 1), ("counter.closed", 2),
                               ("counter.opened", 2)]
    assert changes[-1] == ("counter.opened", 2)
    assert hall.svc.hall.snapshot_counter(1)["state"] == "closed"
    assert hall.svc.hall.snapshot_counter(2)["staff"]["id"] == "s001"


def test_a_plain_login_stores_no_pin_and_opens_under_the_members_name(hall: Hall) -> None:
    # Only a reset PIN is stored by a login; the counter shows the member's
    # configured name (the display and the console print it).
    hall.svc.secret_set = lambda staff, what, plain: hall.set.append((staff, what, plain))
    done = hall.login(2, "s002", PIN, "l1")
    assert done.message["type"] == "ok" and hall.set == []
    name = next(s.name for s in hall.config.staff if s.id == "s002")
    assert done.message["staff"] == {"id": "s002", "name": name}
    assert hall.svc.hall.snapshot_counter(2)["staff"] == {"id": "s002", "name": name}
    opened = [e for e in done.events if e["name"] == "counter.opened"]
    assert len(opened) == 1 and opened[0]["data"]["staff"]["name"] == name


def test_a_login_resent_while_its_pin_is_checked_counts_one_wrong_pin(hall: Hall) -> None:
    # The server checks a PIN off the event loop; the same request may arrive
    # again meanwhile. The check that ends second gets the first one's reply:
    # one wrong PIN counted, so one short of the limit the right PIN still works.
    limit = hall.config.limits.pin_failures
    for n in range(limit - 2):
        assert hall.login(1, "s001", "0000", f"w{n}").message["code"] == "unauthorized"
    session = Session(hall.config.device("counter-1"))
    message = {"type": "login", "id": "again", "staff": "s001", "pin": "0000"}
    first, resent = hall.svc.begin(session, message), hall.svc.begin(session, dict(message))
    assert isinstance(first, SecretCheck) and isinstance(resent, SecretCheck)
    answer = first.run_inline().message
    assert answer["code"] == "unauthorized"
    assert resent.run_inline().message == answer
    right = hall.login(1, "s001", PIN, "right").message
    assert right["type"] == "ok", right
