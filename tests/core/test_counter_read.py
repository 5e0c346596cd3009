"""CounterState.read (restore's reader of counter rows), by its docstring:
a mapping, or any object with ``number`` *and* ``state``; the staff from
``staff_id``/``staff_name`` or a ``staff`` {id, name}; the reason kept; a
row without a number is counter 0, which no hall has."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from server.core import Hall
from server.core.model import CounterState
from tests.core.builders import at, config
from tests.helpers.fakes import FakeClock


def test_an_object_row_may_carry_its_staff_as_a_staff_mapping() -> None:
    row = SimpleNamespace(number=2, state="open", staff={"id": "s2", "name": "李强"})
    cs = CounterState.read(row)
    assert (cs.number, cs.state, cs.staff_id, cs.staff_name) == (2, "open", "s2", "李强")


def test_an_object_needs_both_a_number_and_a_state() -> None:
    with pytest.raises(ValueError, match="cannot read"):
        CounterState.read(SimpleNamespace(number=2))
    with pytest.raises(ValueError, match="cannot read"):
        CounterState.read(SimpleNamespace(state="open"))


def test_a_paused_counters_reason_is_read() -> None:
    cs = CounterState.read({"number": 1, "state": "paused", "reason": "午休"})
    assert (cs.state, cs.reason) == ("paused", "午休")


def test_a_counter_row_without_a_number_is_refused_by_restore() -> None:
    assert CounterState.read({"state": "open", "staff_id": "s1"}).number == 0
    with pytest.raises(ValueError, match="unknown counter 0"):
        Hall.restore(config(), FakeClock(at(9)), [], [{"state": "open", "staff_id": "s1"}])
