"""A configuration or a counter assignment applied live (HallService
``prepare_config`` / ``prepare_assignment`` / ``adopt_config``), in-process on
SQLite and PostgreSQL: nothing changes before the adopt, the core is rebuilt
from the store with the hall's day's assignments laid over (the hall's local
day on a UTC clock, not the clock's date), the base configuration stays the
configured one, features follow."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import pytest

from server.config import Counter
from server.core import CoreError, NotFound
from tests.helpers.server import PIN
from tests.service.test_service_rules import Desk, utc

# 00:30 on the 27th in Shanghai; the clock's (UTC) date is still the 26th.
START = utc(16, 30)
LOCAL_DAY, UTC_DAY = dt.date(2026, 11, 27), dt.date(2026, 11, 26)


@pytest.fixture
def desk(db_url: str) -> Iterator[Desk]:
    d = Desk(db_url, START)
    yield d
    d.store.close()


def _store_assignment(desk: Desk, day: dt.date, counter: int, services: tuple[str, ...]):
    desk.store.configs.assign(desk.config.id, day, counter, services, START, "s005")


def test_an_assignment_is_prepared_then_adopted(desk: Desk) -> None:
    svc = desk.svc
    ticket = desk.send("kiosk-1", "issue", "i1", service="gjj").message["ticket"]
    before_hall, before_config = svc.hall, svc.config
    hall = svc.prepare_assignment(4, ("gjj", "bdc"))
    assert hall.config.counter(4).services == ("gjj", "bdc")
    # Nothing changed yet: the caller stores the assignment first.
    assert (svc.hall, svc.config) == (before_hall, before_config)
    assert svc.config.counter(4).services == ("bdc",)
    assert hall.ticket(ticket["id"]).status == "waiting"  # built from the store
    _store_assignment(desk, LOCAL_DAY, 4, ("gjj", "bdc"))
    svc.adopt_config(svc.base_config, hall)
    assert svc.hall is hall and svc.config is hall.config
    assert svc.base_config.counter(4).services == ("bdc",)  # the configured layout stays
    for feature in svc.features:  # features that keep the configuration follow it
        if hasattr(feature, "config"):
            assert feature.config is svc.config
    assert desk.send("counter-4", "login", "l4", staff="s004", pin=PIN).message["type"] == "ok"
    called = desk.send("counter-4", "call_next", "c4").message
    assert called["type"] == "ok" and called["ticket"]["id"] == ticket["id"]


def test_an_assignment_keeps_the_days_others_and_reads_the_halls_day(desk: Desk) -> None:
    svc = desk.svc
    _store_assignment(desk, LOCAL_DAY, 2, ("tax",))
    _store_assignment(desk, UTC_DAY, 1, ("bdc",))  # the clock's date: not the hall's day
    hall = svc.prepare_assignment(4, ("gjj",))
    assert [(c.number, c.services) for c in hall.config.counters] == [
        (1, ("gjj", "tax")), (2, ("tax",)), (3, ("tax", "gjj")), (4, ("gjj",))]
    # Empty: that counter's configured services again; the other assignment stays.
    back = svc.prepare_assignment(2, ())
    assert back.config.counter(2).services == ("gjj",)
    assert back.config.counter(1).services == ("gjj", "tax")
    both = svc.prepare_assignment(3, ())
    assert both.config.counter(2).services == ("tax",)


def test_a_bad_assignment_is_refused_before_anything_is_built(desk: Desk) -> None:
    svc = desk.svc
    with pytest.raises(NotFound):
        svc.prepare_assignment(9, ())
    with pytest.raises(NotFound):
        svc.prepare_assignment(9, ("gjj",))
    with pytest.raises(CoreError, match="no service 'nope'"):
        svc.prepare_assignment(4, ("nope",))
    assert svc.config.counter(4).services == ("bdc",)


def test_a_new_configuration_is_prepared_with_the_days_assignments(desk: Desk) -> None:
    svc = desk.svc
    ticket = desk.send("kiosk-1", "issue", "i1", service="tax").message["ticket"]
    _store_assignment(desk, LOCAL_DAY, 4, ("tax",))
    _store_assignment(desk, UTC_DAY, 2, ("bdc",))
    renamed = dataclasses.replace(
        svc.base_config, counters=(*svc.base_config.counters[:3],
                                   Counter(4, "四号窗口", ("bdc",))))
    hall = svc.prepare_config(renamed)
    assert hall.config.counter(4).name == "四号窗口"
    assert hall.config.counter(4).services == ("tax",)       # today's assignment on top
    assert hall.config.counter(2).services == ("gjj",)       # not the UTC date's
    assert hall.ticket(ticket["id"]).status == "waiting"
    assert svc.config.counter(4).name == "4号窗口"            # not adopted yet
    svc.adopt_config(renamed, hall)
    assert svc.base_config is renamed and svc.config is hall.config
    assert svc.config.counter(4).services == ("tax",)
    other = dataclasses.replace(renamed, id="elsewhere")
    with pytest.raises(ValueError, match="hall id cannot change"):
        svc.prepare_config(other)


def test_a_hall_rebuilt_for_a_configuration_keeps_its_numbers_and_open_counters(
        desk: Desk) -> None:
    # The live change rebuilds the core from the store: the day's numbering
    # goes on where it was and the counters stay open under their staff.
    svc = desk.svc
    numbers = [desk.send("kiosk-1", "issue", f"i{n}", service="gjj").message["ticket"]["number"]
               for n in range(2)]
    assert desk.send("counter-1", "login", "l1", staff="s001", pin=PIN).message["type"] == "ok"
    called = desk.send("counter-1", "call_next", "c1").message["ticket"]
    hall = svc.prepare_assignment(4, ("gjj", "bdc"))
    _store_assignment(desk, LOCAL_DAY, 4, ("gjj", "bdc"))
    svc.adopt_config(svc.base_config, hall)
    assert svc.hall.snapshot_counter(1)["state"] != "closed"
    assert svc.hall.snapshot_counter(1)["staff"]["id"] == "s001"
    assert svc.hall.snapshot_counter(1)["current"]["id"] == called["id"]
    after = desk.send("kiosk-1", "issue", "i9", service="gjj").message["ticket"]["number"]
    assert numbers == ["A001", "A002"] and after == "A003"


def test_the_day_rollover_serves_the_new_days_assignments(desk: Desk) -> None:
    # tick() at the hall's midnight: yesterday's extra counters end, the
    # assignments stored for the new (local) day apply.
    svc = desk.svc
    _store_assignment(desk, LOCAL_DAY, 4, ("gjj",))
    next_day = LOCAL_DAY + dt.timedelta(days=1)
    _store_assignment(desk, next_day, 2, ("tax",))
    hall = svc.prepare_assignment(4, ("gjj",))
    svc.adopt_config(svc.base_config, hall)
    assert svc.config.counter(4).services == ("gjj",)
    desk.clock.advance(24 * 3600)
    svc.tick()
    assert svc.config.counter(4).services == ("bdc",)   # yesterday's assignment ended
    assert svc.config.counter(2).services == ("tax",)   # today's applies
    assert svc.hall.config.counter(2).services == ("tax",)


def test_a_service_started_on_a_day_with_assignments_serves_them(desk: Desk) -> None:
    # A restart mid-day: the hall's local day's assignments apply from the
    # start (not the clock's UTC date's); the configured layout stays the base.
    _store_assignment(desk, LOCAL_DAY, 4, ("gjj",))
    _store_assignment(desk, UTC_DAY, 2, ("bdc",))
    ticket = desk.send("kiosk-1", "issue", "i1", service="gjj").message["ticket"]
    restarted = Desk(desk.config.database, START)
    try:
        svc = restarted.svc
        # The local day's tickets are loaded (the UTC date is the day before).
        assert svc.hall.ticket(ticket["id"]) is not None
        assert restarted.send("kiosk-1", "issue", "i2", service="gjj").message["ticket"][
            "number"] == "A002"
        assert svc.config.counter(4).services == ("gjj",)
        assert svc.hall.config.counter(4).services == ("gjj",)
        assert svc.config.counter(2).services == ("gjj",)
        assert svc.base_config.counter(4).services == ("bdc",)
        # No stored configuration version is served until the caller says so.
        assert svc.config_version == 0
    finally:
        restarted.store.close()
