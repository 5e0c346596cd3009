"""The hall's configuration versions and today's counter assignments
(server/store/configs.py) on SQLite and PostgreSQL (the ``store`` fixture):
numbering per hall, newest first, the compare-and-set of ``based_on``, the
audit row in the same transaction, assignments per hall, day and counter."""

from __future__ import annotations

import datetime as dt

import pytest

from server.store import StaleState
from server.store.configs import ConfigVersion

T0 = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)
DAY = dt.date(2026, 11, 30)


def _audit(store, hall: str, action: str):
    return store.console.audit(hall, T0, "s005", action, "config", {})


def test_versions_are_numbered_per_hall_and_read_back_newest_first(store):
    rows = store.configs
    assert rows.newest("h") is None and rows.newest_number("h") == 0 and rows.history("h") == []
    assert rows.add("h", "a = 1\n", T0, "s005", "first") == 1
    assert rows.add("other", "b = 1\n", T0, "s001", "elsewhere") == 1  # its own numbers
    later = T0 + dt.timedelta(minutes=5)
    assert rows.add("h", "a = 2\n", later, "s004", "n" * 500) == 2
    assert rows.add("h", "a = 3\n", later, "s005", "third") == 3
    newest = rows.newest("h")
    assert newest == ConfigVersion("h", 3, "a = 3\n", later, "s005", "third")
    assert newest.at.utcoffset() == dt.timedelta(0)
    assert rows.newest_number("h") == 3 and rows.newest_number("other") == 1
    second = rows.get("h", 2)
    assert second is not None and (second.text, second.staff, second.note) == (
        "a = 2\n", "s004", "n" * 400)  # the note is cut to its column
    assert rows.get("h", 4) is None and rows.get("other", 2) is None
    assert rows.get("other", 1) == ConfigVersion("other", 1, "b = 1\n", T0, "s001", "elsewhere")
    assert [v.version for v in rows.history("h")] == [3, 2, 1]
    assert [v.version for v in rows.history("h", limit=2)] == [3, 2]
    assert [(v.hall, v.text) for v in rows.history("other")] == [("other", "b = 1\n")]


def test_a_change_made_on_an_older_version_is_refused_and_writes_nothing(store):
    rows = store.configs
    # based_on=0: made on the running configuration of a hall with no version.
    assert rows.add("h", "a = 1\n", T0, "s005", "", based_on=0,
                    extra=_audit(store, "h", "config")) == 1
    with pytest.raises(StaleState, match="changed meanwhile .version 1, the change was made on 0"):
        rows.add("h", "a = 2\n", T0, "s005", "", based_on=0,
                 extra=_audit(store, "h", "config_undo"))
    assert rows.newest_number("h") == 1
    assert [r.action for r in store.console.audit_log("h")] == ["config"]
    assert rows.add("h", "a = 2\n", T0, "s005", "", based_on=1) == 2
    with pytest.raises(StaleState):
        rows.add("other", "b\n", T0, "s005", "", based_on=1)  # another hall's number
    assert rows.newest("other") is None


def test_the_audit_row_goes_with_the_version_or_neither(store):
    rows = store.configs

    def broken(conn):
        raise ValueError("the audit row could not be made")

    with pytest.raises(ValueError):
        rows.add("h", "a = 1\n", T0, "s005", "", extra=broken)
    assert rows.newest("h") is None
    # Each refusal names its field (what the console shows an admin).
    with pytest.raises(ValueError, match="hall_id must"):
        rows.add("", "a = 1\n", T0, "s005", "")  # no hall
    with pytest.raises(ValueError, match="staff must be a non-empty string of at most 64"):
        rows.add("h", "a = 1\n", T0, "s" * 65, "")  # a staff id past its column
    with pytest.raises(ValueError, match="at must be timezone-aware"):
        rows.add("h", "a = 1\n", T0.replace(tzinfo=None), "s005", "")
    rows.add("h", "a = 1\n", T0, "s005", "", extra=_audit(store, "h", "config"))
    assert [(r.action, r.at) for r in store.console.audit_log("h")] == [("config", T0)]


def test_assignments_per_hall_day_and_counter(store):
    rows = store.configs
    assert rows.assignments("h", DAY) == {}
    rows.assign("h", DAY, 4, ("gjj", "bdc"), T0, "s005", extra=_audit(store, "h", "assign"))
    rows.assign("h", DAY, 2, ("tax",), T0, "s005")
    rows.assign("h", DAY + dt.timedelta(days=1), 4, ("tax",), T0, "s005")
    rows.assign("other", DAY, 4, ("x",), T0, "s001")
    assert rows.assignments("h", DAY) == {4: ("gjj", "bdc"), 2: ("tax",)}
    assert rows.assignments("h", DAY + dt.timedelta(days=1)) == {4: ("tax",)}
    assert rows.assignments("other", DAY) == {4: ("x",)}
    rows.assign("h", DAY, 4, ("bdc",), T0, "s005")  # replaces that counter's only
    assert rows.assignments("h", DAY) == {4: ("bdc",), 2: ("tax",)}
    rows.assign("h", DAY, 2, (), T0, "s005")  # back to the configured services
    assert rows.assignments("h", DAY) == {4: ("bdc",)}
    assert rows.assignments("other", DAY) == {4: ("x",)}
    assert [r.action for r in store.console.audit_log("h")] == ["assign"]


def test_an_assignment_and_its_audit_row_go_together(store):
    rows = store.configs

    def broken(conn):
        raise ValueError("no audit row")

    rows.assign("h", DAY, 4, ("gjj",), T0, "s005")
    with pytest.raises(ValueError):
        rows.assign("h", DAY, 4, ("tax",), T0, "s005", extra=broken)
    with pytest.raises(ValueError):
        rows.assign("h", DAY, 4, (), T0, "s005", extra=broken)
    assert rows.assignments("h", DAY) == {4: ("gjj",)}  # the old one stays
    with pytest.raises(ValueError, match="staff must"):
        rows.assign("h", DAY, 3, ("tax",), T0, "")  # no staff
    with pytest.raises(ValueError, match="staff must be a non-empty string of at most 64"):
        rows.assign("h", DAY, 3, ("tax",), T0, "s" * 65)  # a staff id past its column
    rows.assign("h", DAY, 3, ("tax",), T0, "s" * 64)  # the column's length is allowed
    assert rows.assignments("h", DAY) == {3: ("tax",), 4: ("gjj",)}
    rows.assign("h", DAY, 3, (), T0, "s005")
    with pytest.raises(ValueError, match="hall_id must"):
        rows.assign("", DAY, 3, ("tax",), T0, "s005")
    with pytest.raises(ValueError, match="at must be timezone-aware"):
        rows.assign("h", DAY, 3, ("tax",), T0.replace(tzinfo=None), "s005")
    assert rows.assignments("h", DAY) == {4: ("gjj",)}
