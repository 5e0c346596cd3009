"""Owner or standby of one hall: the lease's state machine, without I/O.

The I/O side (``server/halls.py``) asks :meth:`OwnerMachine.due` what to do
now (take the lease, renew it, step down), does it against the store
(``server/store/lease.py``) and feeds the outcome back with
:meth:`OwnerMachine.feed`. Every allowed move is one row of
:data:`TRANSITIONS`; anything else is a bug and raises.

States:

- ``standby``: another instance owns the hall (or nobody may yet); poll to
  take the lease every ``poll_s``.
- ``owning``: this instance writes the hall; renew every ``renew_s``. The
  lease is trusted for ``lease_s`` after the last renewal *started*: past
  that (the database unreachable, or this process frozen and woken up)
  another instance may own the hall, so this one steps down.
- ``fenced``: the hall is no longer ours (renewal refused, a commit fenced,
  the local lease ran out, or we give it back for balance); close the
  clients with 1012, then ``stepped_down`` makes it a standby again.
"""

from __future__ import annotations

import enum

__all__ = ["EXPIRY_MARGIN_S", "Action", "Input", "OwnerMachine", "State", "TRANSITIONS",
           "TransitionError"]


#: A standby tries to take a lease this long after it runs out.
EXPIRY_MARGIN_S = 0.05


class State(enum.StrEnum):
    STANDBY = "standby"
    OWNING = "owning"
    FENCED = "fenced"


class Input(enum.StrEnum):
    ACQUIRED = "acquired"  # the lease is ours (a new epoch)
    TAKEN = "taken"  # someone else holds it, or we may not take more halls
    RENEWED = "renewed"
    LOST = "lost"  # renewal refused: another epoch holds the hall
    FAILED = "failed"  # the store could not be asked
    FENCED_COMMIT = "fenced_commit"  # a commit was refused by the fence
    EXPIRED = "expired"  # no renewal for lease_s by our own clock
    YIELD = "yield"  # give the hall back (more than our share)
    STEPPED_DOWN = "stepped_down"  # clients closed, memory dropped


class Action(enum.StrEnum):
    ACQUIRE = "acquire"
    RENEW = "renew"
    STEP_DOWN = "step_down"


class TransitionError(RuntimeError):
    """An input the current state does not accept (a bug in the caller)."""


#: (state, input) -> next state; the only moves there are.
TRANSITIONS: dict[tuple[State, Input], State] = {
    (State.STANDBY, Input.ACQUIRED): State.OWNING,
    (State.STANDBY, Input.TAKEN): State.STANDBY,
    (State.STANDBY, Input.FAILED): State.STANDBY,
    (State.OWNING, Input.RENEWED): State.OWNING,
    (State.OWNING, Input.FAILED): State.OWNING,  # until EXPIRED
    (State.OWNING, Input.LOST): State.FENCED,
    (State.OWNING, Input.FENCED_COMMIT): State.FENCED,
    (State.OWNING, Input.EXPIRED): State.FENCED,
    (State.OWNING, Input.YIELD): State.FENCED,
    (State.FENCED, Input.FENCED_COMMIT): State.FENCED,
    (State.FENCED, Input.STEPPED_DOWN): State.STANDBY,
}


class OwnerMachine:
    """One hall's lease state for this instance.

    Args:
        lease_s: how long a lease lives without renewal.
        renew_s: how often the owner renews (default a third of ``lease_s``).
        poll_s: how often a standby tries to take over (default a fifth).
    """

    def __init__(self, lease_s: float, renew_s: float | None = None,
                 poll_s: float | None = None) -> None:
        if lease_s <= 0:
            raise ValueError("lease_s must be positive")
        self.lease_s = lease_s
        self.renew_s = renew_s if renew_s is not None else lease_s / 3
        self.poll_s = poll_s if poll_s is not None else lease_s / 5
        if not 0 < self.renew_s < lease_s:
            raise ValueError("renew_s must be between 0 and lease_s")
        self.state = State.STANDBY
        self.epoch: int | None = None
        self._trusted_until = float("-inf")
        self._next = float("-inf")

    def due(self, now: float) -> Action | None:
        """What to do at ``now`` (monotonic seconds), or None for nothing yet."""
        if self.state is State.FENCED:
            return Action.STEP_DOWN
        if self.state is State.OWNING and now >= self._trusted_until:
            self.feed(Input.EXPIRED, now)
            return Action.STEP_DOWN
        if now < self._next:
            return None
        return Action.ACQUIRE if self.state is State.STANDBY else Action.RENEW

    @property
    def next_renewal(self) -> float:
        """When the next renewal (or try) falls due (monotonic)."""
        return self._next

    def renewal_due_by(self, when: float) -> bool:
        """Whether an owner's next renewal falls due by ``when``: renewed
        early by a caller that will not look again before then."""
        return self.state is State.OWNING and when >= self._next

    def feed(self, event: Input, now: float, *, started: float | None = None,
             epoch: int | None = None, expires_in: float | None = None) -> State:
        """Apply an outcome; ``started`` is when the store call began (a
        renewal extends trust from then, not from its answer). With
        ``TAKEN``, ``expires_in`` is how long the holder's lease still runs:
        the next try comes right after it, if that is before the next poll
        (a takeover need not wait up to a poll past the expiry)."""
        try:
            after = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise TransitionError(f"{event} is not expected in state {self.state}") from None
        since = now if started is None else started
        if event is Input.ACQUIRED:
            self.epoch = epoch
            self._trusted_until = since + self.lease_s
            self._next = now + self.renew_s
        elif event is Input.RENEWED:
            self._trusted_until = since + self.lease_s
            # Renewals keep their period from when each began: one that took
            # long (a loaded database) does not push the next one towards
            # the end of the trust it bought.
            self._next = since + self.renew_s
        elif event is Input.FAILED:
            # Ask again soon; an owner keeps its trust only until it runs out.
            self._next = now + min(self.poll_s, self.renew_s)
        elif event is Input.TAKEN:
            wait = self.poll_s
            if expires_in is not None:
                wait = min(wait, max(EXPIRY_MARGIN_S, expires_in + EXPIRY_MARGIN_S))
            self._next = now + wait
        elif event is Input.STEPPED_DOWN:
            self.epoch = None
            self._trusted_until = float("-inf")
            # Do not take the hall straight back: let a standby have it.
            self._next = now + self.poll_s
        self.state = after
        return after

    def serving(self, now: float) -> bool:
        """Whether this instance may answer the hall's clients at ``now``."""
        return self.state is State.OWNING and now < self._trusted_until
