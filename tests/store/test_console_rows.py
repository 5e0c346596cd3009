"""The console's rows: sessions by digest, the audit log, alert acks (SQLite and
PostgreSQL: the ``store`` fixture of tests/store/conftest.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from server.store import ConsoleSessionRow

T0 = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)


def test_sessions_touch_and_end(store):
    rows = store.console
    rows.open_session(ConsoleSessionRow("h", "d" * 64, "s005", "csrf", T0, T0))
    later = T0 + dt.timedelta(minutes=3)
    rows.touch("h", "d" * 64, later)
    found = rows.session("h", "d" * 64)
    assert found is not None and found.seen_at == later and found.ended_at is None
    assert rows.session("other", "d" * 64) is None
    rows.end_session("h", "d" * 64, later)
    ended = rows.session("h", "d" * 64)
    assert ended is not None and ended.ended_at == later
    rows.touch("h", "d" * 64, later + dt.timedelta(minutes=1))  # an ended session stays ended
    again = rows.session("h", "d" * 64)
    assert again is not None and again.seen_at == later


def test_audit_rows_newest_first_in_and_outside_a_commit(store):
    rows = store.console
    rows.add_audit("h", T0, "s005", "login", "staff:s005", {"address": "127.0.0.1"})
    store.commit("h", [], at=T0, extra=rows.audit("h", T0, "s005", "pause", "counter:1",
                                                   {"reason": "午休"}))
    log = rows.audit_log("h")
    assert [(r.action, r.target, r.detail) for r in log] == [
        ("pause", "counter:1", {"reason": "午休"}),
        ("login", "staff:s005", {"address": "127.0.0.1"})]
    assert log[0].at == T0 and log[0].staff == "s005"
    with pytest.raises(ValueError):
        rows.add_audit("h", T0, "", "login", "x", {})


def test_an_alert_is_acknowledged_once(store):
    rows = store.console
    assert rows.ack("h", "paused:1:x", "s005", T0) is True
    assert rows.ack("h", "paused:1:x", "s006", T0) is False
    assert rows.acks("h") == {"paused:1:x": ("s005", T0)}
    assert rows.acks("other") == {}


def test_audit_rows_are_bounded_and_their_detail_is_canonical_json(store):
    rows = store.console
    rows.add_audit("h", T0, "s" * 64, "a" * 64, "t" * 250, {"z": 1, "reason": "午休"})
    got = rows.audit_log("h")[0]
    assert (got.staff, got.action, got.target) == ("s" * 64, "a" * 64, "t" * 200)
    with store.transaction() as conn:
        text = conn.exec_driver_sql("SELECT detail FROM console_audit").scalar()
    assert text == '{"reason": "午休", "z": 1}'     # readable in the table, keys in order
    for bad, named in (({"staff": "s" * 65}, "staff must"), ({"action": "a" * 65}, "action must"),
                       ({"hall": ""}, "hall_id must"), ({"action": ""}, "action must")):
        args = {"hall": "h", "staff": "s005", "action": "login"} | bad
        with pytest.raises(ValueError, match=named):   # the refusal names the field
            rows.audit(args["hall"], T0, args["staff"], args["action"], "x", {})
    with pytest.raises(ValueError, match="at must be timezone-aware"):
        rows.add_audit("h", T0.replace(tzinfo=None), "s005", "login", "x", {})
    assert len(rows.audit_log("h")) == 1


def test_sessions_are_kept_per_hall_and_digest(store):
    rows = store.console
    a, b = "a" * 64, "b" * 64
    for hall, digest, staff in (("h", a, "s001"), ("h", b, "s002"), ("other", a, "s009")):
        rows.open_session(ConsoleSessionRow(hall, digest, staff, "csrf", T0, T0))
    assert rows.session("h", b).staff == "s002" and rows.session("h", a).staff == "s001"
    later = T0 + dt.timedelta(minutes=5)
    rows.touch("h", a, later)
    rows.end_session("h", a, later)
    # the other digest of the hall and the same digest of another hall are untouched
    assert rows.session("h", b) == ConsoleSessionRow("h", b, "s002", "csrf", T0, T0)
    assert rows.session("other", a) == ConsoleSessionRow("other", a, "s009", "csrf", T0, T0)
    with pytest.raises(ValueError, match="hall_id must"):
        rows.open_session(ConsoleSessionRow("", "c" * 64, "s001", "csrf", T0, T0))
    with pytest.raises(ValueError, match="created_at must be timezone-aware"):
        rows.open_session(ConsoleSessionRow("h", "c" * 64, "s001", "csrf",
                                            T0.replace(tzinfo=None), T0))
    naive = later.replace(tzinfo=None)
    with pytest.raises(ValueError, match="at must be timezone-aware"):
        rows.touch("h", b, naive)
    with pytest.raises(ValueError, match="at must be timezone-aware"):
        rows.end_session("h", b, naive)


def test_the_audit_log_is_the_newest_rows_of_the_hall(store):
    rows = store.console
    for n in range(4):
        rows.add_audit("h", T0 + dt.timedelta(seconds=n), "s005", f"act{n}", "x", {})
    rows.add_audit("other", T0, "s005", "elsewhere", "x", {})
    log = rows.audit_log("h", limit=3)
    assert [r.action for r in log] == ["act3", "act2", "act1"]
    assert log[0].id > log[1].id > log[2].id
    assert [r.action for r in rows.audit_log("other")] == ["elsewhere"]


def test_an_alert_is_acknowledged_once_per_hall(store):
    rows = store.console
    assert rows.ack("h", "paused:1:x", "s005", T0) is True
    assert rows.ack("other", "paused:1:x", "s006", T0) is True   # another hall's alert
    assert rows.ack("h", "paused:2:x", "s006", T0) is True       # another alert
    assert rows.acks("h") == {"paused:1:x": ("s005", T0), "paused:2:x": ("s006", T0)}
    with pytest.raises(ValueError, match="hall_id must"):
        rows.ack("", "paused:1:x", "s005", T0)


def test_one_audit_entry_by_id_of_its_own_hall_only(store):
    rows = store.console
    rows.add_audit("h", T0, "s005", "config", "config", {"from": 1, "to": 2})
    rows.add_audit("other", T0, "s009", "config", "config", {"from": 7})
    mine, theirs = rows.audit_log("h")[0], rows.audit_log("other")[0]
    entry = rows.audit_entry("h", mine.id)
    assert entry == mine
    assert (entry.at, entry.staff, entry.action, entry.target, entry.detail) == (
        T0, "s005", "config", "config", {"from": 1, "to": 2})
    assert rows.audit_entry("h", theirs.id) is None       # another hall's entry
    assert rows.audit_entry("other", theirs.id).detail == {"from": 7}
    assert rows.audit_entry("h", max(mine.id, theirs.id) + 1) is None


def test_purge_drops_ended_and_idle_sessions_of_the_hall(store):
    rows = store.console
    idle_before = T0 + dt.timedelta(minutes=30)
    live, ended, idle, edge = "a" * 64, "b" * 64, "c" * 64, "d" * 64
    rows.open_session(ConsoleSessionRow("h", live, "s001", "x", T0, T0 + dt.timedelta(hours=1)))
    rows.open_session(ConsoleSessionRow("h", ended, "s002", "x", T0, T0 + dt.timedelta(hours=1)))
    rows.end_session("h", ended, T0 + dt.timedelta(hours=1))
    rows.open_session(ConsoleSessionRow("h", idle, "s003", "x", T0, T0))
    rows.open_session(ConsoleSessionRow("h", edge, "s004", "x", T0, idle_before))  # used at it
    rows.open_session(ConsoleSessionRow("other", idle, "s009", "x", T0, T0))
    assert rows.purge_sessions("h", idle_before) == 2
    assert rows.session("h", ended) is None and rows.session("h", idle) is None
    assert rows.session("h", live) is not None and rows.session("h", edge) is not None
    assert rows.session("other", idle) is not None  # another hall's: its own purge
    assert rows.purge_sessions("h", idle_before) == 0
    with pytest.raises(ValueError, match="at must be timezone-aware"):
        rows.purge_sessions("h", idle_before.replace(tzinfo=None))
