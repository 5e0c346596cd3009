"""Values <-> rows (server/store/convert.py), pure: what a row holds and what is refused."""

from __future__ import annotations

import dataclasses
import datetime as dt
from types import SimpleNamespace

import pytest

from server.core.model import CounterState
from server.store.convert import (
    MAX_KEY,
    check_key,
    counter_from_row,
    counter_row,
    event_dict,
    first_line,
    ticket_from_row,
    ticket_params,
)
from tests.store.samples import T0, new_ticket

UTC_NAIVE = T0.astimezone(dt.UTC).replace(tzinfo=None)


def test_ticket_params_and_back() -> None:
    t = dataclasses.replace(new_ticket(7), counter=3, target_counter=2, called_at=T0,
                            started_at=T0 + dt.timedelta(seconds=5), calls=2, staff="s1",
                            finished_at=T0 + dt.timedelta(seconds=9), rating=4, version=5,
                            slot_start=T0, rank=(1, 2.5))
    row = ticket_params("main", t)
    assert row["hall"] == "main" and row["seqno"] == 7
    assert (row["rank_group"], row["rank_key"]) == (1, 2.5)
    assert isinstance(row["rank_group"], int) and isinstance(row["rank_key"], float)
    assert row["issued_at"] == t.issued_at.astimezone(dt.UTC).replace(tzinfo=None)
    assert row["called_at"] == row["slot_start"] == UTC_NAIVE
    assert row["check_code"] == t.check
    back = ticket_from_row(SimpleNamespace(**row))
    assert back == t
    assert back.issued_at.tzinfo is dt.UTC


def test_the_seqno_comes_from_the_number_when_missing() -> None:
    t = dataclasses.replace(new_ticket(12), seqno=0, number="B012")
    assert ticket_params("main", t)["seqno"] == 12
    with pytest.raises(ValueError, match="no numeric part"):
        ticket_params("main", dataclasses.replace(t, number="B"))


@pytest.mark.parametrize(("change", "error", "needle"), [
    ({"id": ""}, ValueError, "ticket id"),
    ({"id": "x" * (MAX_KEY + 1)}, ValueError, "ticket id"),
    ({"day": T0}, TypeError, "day must be a date"),
    ({"day": "2026-11-26"}, TypeError, "day must be a date"),
    ({"called_at": T0.replace(tzinfo=None)}, ValueError, "called_at must be timezone-aware"),
    ({"finished_at": "09:00"}, TypeError, "finished_at must be a datetime"),
])
def test_bad_tickets_are_refused(change, error, needle) -> None:
    with pytest.raises(error, match=needle):
        ticket_params("main", dataclasses.replace(new_ticket(1), **change))


def test_a_ticket_id_of_max_key_characters_is_kept() -> None:
    assert ticket_params("main", new_ticket(1, tid="x" * MAX_KEY))["id"] == "x" * MAX_KEY
    with pytest.raises(TypeError, match="Ticket"):
        ticket_params("main", {"id": "x"})  # type: ignore[arg-type]


def test_check_key_bounds() -> None:
    assert check_key("k" * MAX_KEY, "hall_id") == "k" * MAX_KEY
    assert check_key("abc", "key", 3) == "abc"
    for bad in ("", "k" * (MAX_KEY + 1), None, 3):
        with pytest.raises(ValueError, match="hall_id must be a non-empty string of at most 64"):
            check_key(bad, "hall_id")
    with pytest.raises(ValueError, match="at most 3 chars"):
        check_key("abcd", "key", 3)


def test_counter_rows() -> None:
    cs = CounterState(4, "paused", "s1", "王芳", reason="x" * 300, since=T0, streak=2)
    row = counter_row("main", cs, dt.datetime(2000, 1, 1))
    assert row == {"hall": "main", "number": 4, "state": "paused", "staff_id": "s1",
                   "staff_name": "王芳", "reason": "x" * 200, "since": UTC_NAIVE, "streak": 2}
    fresh = counter_row("main", CounterState(5), dt.datetime(2000, 1, 1))
    assert fresh["since"] == dt.datetime(2000, 1, 1) and fresh["reason"] is None
    back = counter_from_row(SimpleNamespace(**{**row, "reason": None}))
    assert back == dataclasses.replace(cs, reason="", since=T0.astimezone(dt.UTC))


def test_event_dicts_and_error_lines() -> None:
    ev = event_dict(SimpleNamespace(seq=3, name="ticket.issued", data='{"a": [1]}',
                                    at=UTC_NAIVE))
    assert ev == {"seq": 3, "name": "ticket.issued", "data": {"a": [1]},
                  "at": T0.astimezone(dt.UTC)}
    assert first_line(ValueError("  one\ntwo  ")) == "one"
    assert first_line(ValueError("")) == "ValueError"
    wrapped = RuntimeError("outer")
    wrapped.orig = KeyError("inner")  # type: ignore[attr-defined]
    assert first_line(wrapped) == "'inner'"


def test_a_remote_absent_deferred_ticket_comes_back_as_it_was_stored() -> None:
    # The flags a remote ticket carries (taken over HTTP, not yet present at
    # the kiosk, moved back twice): a restart must not turn it into a walk-in
    # ticket that is present and never deferred (the defaults).
    t = dataclasses.replace(new_ticket(3), remote=True, present=False, deferrals=2)
    back = ticket_from_row(SimpleNamespace(**ticket_params("main", t)))
    assert (back.remote, back.present, back.deferrals) == (True, False, 2)
    assert back == t
