"""The owner/standby state machine (server/owner.py): pure, driven by a fake clock."""

from __future__ import annotations

import pytest

from server.owner import (
    EXPIRY_MARGIN_S,
    TRANSITIONS,
    Action,
    Input,
    OwnerMachine,
    State,
    TransitionError,
)


def test_a_standby_polls_takes_the_hall_and_renews_on_time() -> None:
    m = OwnerMachine(lease_s=9.0)
    assert (m.renew_s, m.poll_s) == (3.0, 1.8)
    assert m.due(0.0) is Action.ACQUIRE
    m.feed(Input.TAKEN, 0.0)
    assert m.due(1.0) is None and m.due(1.8) is Action.ACQUIRE
    m.feed(Input.ACQUIRED, 2.0, started=1.9, epoch=4)
    assert (m.state, m.epoch) == (State.OWNING, 4)
    assert m.serving(2.0) and m.due(4.9) is None and m.due(5.0) is Action.RENEW
    m.feed(Input.RENEWED, 5.1, started=5.0)
    assert m.serving(13.9) and not m.serving(14.0)  # trust runs from when the renewal began


def test_a_standby_tries_again_right_after_the_holders_lease_runs_out() -> None:
    m = OwnerMachine(lease_s=9.0)
    m.feed(Input.TAKEN, 0.0, expires_in=0.5)  # the owner stopped renewing
    assert m.due(0.5) is None and m.due(0.5 + EXPIRY_MARGIN_S) is Action.ACQUIRE
    m.feed(Input.TAKEN, 1.0, expires_in=7.0)  # a live owner: the usual poll
    assert m.due(2.7) is None and m.due(2.8) is Action.ACQUIRE
    m.feed(Input.TAKEN, 3.0, expires_in=-1.0)  # already over (clock skew): at once, nearly
    assert m.due(3.0 + EXPIRY_MARGIN_S) is Action.ACQUIRE


def test_an_owner_that_cannot_renew_steps_down_when_its_lease_runs_out() -> None:
    m = OwnerMachine(lease_s=9.0)
    m.feed(Input.ACQUIRED, 0.0, epoch=1)
    assert m.due(3.0) is Action.RENEW
    m.feed(Input.FAILED, 3.0)
    assert m.state is State.OWNING and m.due(3.5) is None and m.due(4.8) is Action.RENEW
    # Frozen (SIGSTOP) past the lease, then woken: it steps down without asking.
    assert m.due(30.0) is Action.STEP_DOWN
    assert m.state is State.FENCED and not m.serving(30.0)
    m.feed(Input.STEPPED_DOWN, 30.0)
    assert m.state is State.STANDBY and m.epoch is None
    assert m.due(30.1) is None and m.due(31.8) is Action.ACQUIRE  # a standby gets a chance


@pytest.mark.parametrize("why", [Input.LOST, Input.FENCED_COMMIT, Input.YIELD])
def test_losing_the_hall_always_goes_through_fenced(why: Input) -> None:
    m = OwnerMachine(lease_s=9.0)
    m.feed(Input.ACQUIRED, 0.0, epoch=1)
    assert m.feed(why, 1.0) is State.FENCED
    assert m.due(1.0) is Action.STEP_DOWN and not m.serving(1.0)


def test_moves_that_are_not_in_the_table_are_refused() -> None:
    m = OwnerMachine(lease_s=9.0)
    with pytest.raises(TransitionError):
        m.feed(Input.RENEWED, 0.0)  # a standby has nothing to renew
    assert m.state is State.STANDBY
    every = {(s, i) for s in State for i in Input}
    assert set(TRANSITIONS) < every
    with pytest.raises(ValueError):
        OwnerMachine(lease_s=0)
    with pytest.raises(ValueError):
        OwnerMachine(lease_s=3.0, renew_s=3.0)


def test_an_owner_says_whether_its_renewal_falls_due_by_a_time() -> None:
    machine = OwnerMachine(lease_s=3.0)  # renew every 1 s
    assert not machine.renewal_due_by(100.0)  # a standby renews nothing
    machine.feed(Input.ACQUIRED, 0.0, epoch=1)
    assert machine.next_renewal == 1.0
    assert not machine.renewal_due_by(0.99) and machine.renewal_due_by(1.0)
