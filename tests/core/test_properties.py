"""Property-based tests: random days at a small hall keep the core's promises.

A hypothesis RuleBasedStateMachine issues, calls, serves, transfers, re-queues,
pauses and restores at random across four counters (ordered and oldest mode)
and checks after every step that no ticket is lost or served twice, numbers are
unique per service and day, ``call_next`` takes what ``queue`` promised, plain
tickets leave their priority group in FIFO order and normal tickets are never
passed over more than ``priority_per_normal`` times in a row at a counter, and
a board fed only by ``queue.changed`` events shows the same as a snapshot.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter as Tally

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from server.core import Conflict, CoreError, Hall, IllegalMove, QueueEmpty, machine
from tests.core.builders import at, config, counter
from tests.helpers.fakes import FakeClock

SERVICES = ("gjj", "tax", "bdc")
COUNTERS = (1, 2, 3, 4)


class HallMachine(RuleBasedStateMachine):
    @initialize(
        per_normal=st.integers(0, 3),
        placement=st.sampled_from(["head", "issue_time", "tail"]),
        places=st.integers(0, 4),
    )
    def setup(self, per_normal, placement, places):
        self.cfg = config(
            counters=[counter(1, ["gjj", "tax"]), counter(2, ["tax", "gjj"], mode="oldest"),
                      counter(3, ["bdc", "gjj"]), counter(4, ["gjj"])],
            priority_per_normal=per_normal, transfer_placement=placement,
            requeue_places=places, no_show_return_s=900,
        )
        self.clock = FakeClock(at(8, 0))
        self.ids = itertools.count(1)
        self.hall = Hall(self.cfg, self.clock, ids=lambda: f"t{next(self.ids)}",
                         codes=lambda: f"c{next(self.ids)}")
        self.status: dict[str, str] = {}   # what the events said, per ticket id
        self.completed: Tally[str] = Tally()
        self.plain: set[str] = set()       # never transferred nor re-queued
        self.run = {c: 0 for c in COUNTERS}  # specials called in a row past a normal
        # from the welcome snapshot, then from events only
        self.board = self.hall.snapshot()["queues"]
        for c in COUNTERS:  # most of a day the counters are open
            self._apply(self.hall.open_counter(c, f"s{c}", f"staff {c}"))

    # ------------------------------------------------------------ bookkeeping
    def _apply(self, events):
        for ev in events:
            assert ev.name.startswith(("ticket.", "counter.", "queue."))
            if ev.name == "queue.changed":
                self.board[ev.data["service"]] = {k: v for k, v in ev.data.items()
                                                  if k != "service"}
            if ev.ticket is None:
                continue
            tid = ev.ticket.id
            before = self.status.get(tid)
            if ev.name == "ticket.issued":
                assert before is None and ev.prev_version is None
                self.plain.add(tid)
            else:
                assert before is not None and ev.prev_version == ev.ticket.version - 1
            if ev.name == "ticket.called":
                assert before == "waiting", f"{tid} called from {before}"
            if ev.name in ("ticket.transferred", "ticket.requeued"):
                self.plain.discard(tid)
            if ev.name == "ticket.completed":
                self.completed[tid] += 1
            assert ev.data["ticket"]["status"] == ev.ticket.status
            self.status[tid] = ev.ticket.status

    def _waiting(self):
        return [t for t in self.hall.tickets() if t.status == "waiting"]

    def _ids_in(self, status):
        return sorted(tid for tid, s in self.status.items() if s == status)

    def _is_normal_group(self, t, now):
        return t.priority == "normal" or (
            t.priority == "appointment" and t.slot_start is not None and t.slot_start > now)

    # ------------------------------------------------------------------ rules
    @rule(sid=st.sampled_from(SERVICES),
          priority=st.sampled_from(["normal", "normal", "priority", "appointment"]),
          slot=st.none() | st.integers(-60, 60))
    def issue(self, sid, priority, slot):
        slot_start = (self.clock() + dt.timedelta(minutes=slot)
                      if priority == "appointment" and slot is not None else None)
        self._apply(self.hall.issue(sid, priority, slot_start=slot_start))

    @rule(batch=st.lists(st.tuples(st.sampled_from(SERVICES),
                                   st.sampled_from(["normal", "priority", "appointment"])),
                         min_size=2, max_size=8))
    def rush(self, batch):
        """A crowd arrives at once (same instant: numbers must still be FIFO)."""
        for sid, priority in batch:
            self._apply(self.hall.issue(sid, priority))

    @rule(c=st.sampled_from(COUNTERS), times=st.integers(1, 4))
    def serve_some(self, c, times):
        """Call and complete a few in a row: long runs exercise the interleaving."""
        for _ in range(times):
            self.call_next(c)
            if self.hall.counter_state(c).current is None:
                return
            self._apply(self.hall.complete(c))

    @rule(seconds=st.integers(0, 400))
    def wait(self, seconds):
        self.clock.advance(seconds)

    @rule(c=st.sampled_from(COUNTERS))
    def call_next(self, c):
        hall, now = self.hall, self.clock()
        state = hall.counter_state(c)
        promised = hall.queue(c)
        try:
            events = hall.call_next(c)
        except IllegalMove:
            assert state.current is not None
            return
        except QueueEmpty:
            assert state.state == "open" and state.current is None and promised == []
            return
        except Conflict:
            assert state.state != "open"
            return
        assert state.state == "open" and state.current is None
        picked = events[0].ticket
        assert picked.id == promised[0].id, "call_next must take what queue() promised"
        self._check_fifo(c, promised[0], now)
        self._check_interleaving(c, promised[0], now)
        self._apply(events)

    def _check_fifo(self, c, t, now):
        if t.id not in self.plain or t.target_counter is not None or t.priority == "appointment":
            return
        key = (t.issued_at, t.seqno)
        for other in self._waiting():
            if (other.id in self.plain and other.id != t.id and other.service == t.service
                    and other.priority == t.priority and other.target_counter is None):
                assert (other.issued_at, other.seqno) > key, (
                    f"{other.number} waited longer than {t.number} in the same group")

    def _check_interleaving(self, c, t, now):
        if t.target_counter is not None:
            return
        cfg = self.cfg.counter(c)
        scope = cfg.services if cfg.mode == "oldest" else (t.service,)
        normal_waiting = any(
            o.target_counter is None and o.service in scope and self._is_normal_group(o, now)
            for o in self._waiting())
        if self._is_normal_group(t, now) or not normal_waiting:
            self.run[c] = 0
        else:
            self.run[c] += 1
            limit = self.cfg.dispatch.priority_per_normal
            assert self.run[c] <= limit, f"counter {c} passed a normal ticket {self.run[c]}x"

    @rule(c=st.sampled_from(COUNTERS), pick=st.integers(0, 50))
    def call_specific(self, c, pick):
        waiting = self._waiting()
        if not waiting:
            return
        t = waiting[pick % len(waiting)]
        try:
            self._apply(self.hall.call(c, t.id))
        except CoreError as exc:
            assert exc.code in ("conflict", "forbidden")

    @rule(c=st.sampled_from(COUNTERS),
          command=st.sampled_from(["recall", "start", "complete", "no_show"]))
    def counter_command(self, c, command):
        current = self.hall.counter_state(c).current
        try:
            self._apply(getattr(self.hall, command)(c))
        except Conflict:
            status = self.status.get(current) if current else None
            assert current is None or not machine.legal(status, command)
        else:
            assert current is not None

    @rule(c=st.sampled_from(COUNTERS), sid=st.none() | st.sampled_from(SERVICES),
          to=st.none() | st.sampled_from(COUNTERS))
    def transfer(self, c, sid, to):
        try:
            self._apply(self.hall.transfer(c, service=sid, to_counter=to))
        except CoreError as exc:
            assert exc.code in ("conflict", "bad_request", "closed")
            if exc.code == "closed":
                assert to is not None and self.hall.counter_state(to).state != "open"

    @rule()
    def ticker(self):
        """The server's ticker: transfers stranded at a paused counter go back."""
        self._apply(self.hall.expire_transfers())
        limit = self.cfg.dispatch.transfer_timeout
        for t in self._waiting():
            if t.target_counter is not None:
                cs = self.hall.counter_state(t.target_counter)
                assert cs.state != "closed"
                assert cs.state == "open" or (
                    self.clock() - cs.since).total_seconds() < limit

    @rule(c=st.sampled_from(COUNTERS), pick=st.integers(0, 50))
    def undo_no_show(self, c, pick):
        gone = self._ids_in("no_show")
        if gone:
            try:
                self._apply(self.hall.unmiss(c, gone[pick % len(gone)]))
            except CoreError as exc:
                assert exc.code in ("expired", "forbidden", "conflict")

    @rule(pick=st.integers(0, 50))
    def requeue(self, pick):
        gone = self._ids_in("no_show")
        if gone:
            try:
                self._apply(self.hall.requeue(gone[pick % len(gone)]))
            except CoreError as exc:
                assert exc.code == "expired"

    @rule(pick=st.integers(0, 50))
    def cancel(self, pick):
        waiting = self._ids_in("waiting")
        if waiting:
            self._apply(self.hall.cancel(waiting[pick % len(waiting)]))

    @rule(c=st.sampled_from(COUNTERS),
          action=st.sampled_from(["open", "open", "close", "pause", "resume"]))
    def counter_state(self, c, action):
        try:
            if action == "open":
                events = self.hall.open_counter(c, f"s{c}", f"staff {c}")
            else:
                events = getattr(self.hall, f"{action}_counter" if action == "close"
                                 else action)(c)
        except Conflict:
            return
        self._apply(events)

    @rule()
    def restore(self):
        """Swap in a hall rebuilt from the persisted state: nothing may change."""
        hall = self.hall
        copy = Hall.restore(self.cfg, self.clock, tickets=hall.tickets(),
                            counters=hall.counter_states(), last_numbers=dict(hall.last_numbers),
                            ids=lambda: f"t{next(self.ids)}", codes=lambda: f"c{next(self.ids)}")
        for c in COUNTERS:
            assert [t.id for t in copy.queue(c)] == [t.id for t in hall.queue(c)]
        assert copy.snapshot() == hall.snapshot()
        self.hall = copy

    @rule()
    def close_day(self):
        self._apply(self.hall.close_day())
        assert not any(t.status in ("waiting", "called") for t in self.hall.tickets())

    # ------------------------------------------------------------- invariants
    @invariant()
    def nothing_lost_nothing_twice(self):
        if not hasattr(self, "hall"):
            return
        tickets = self.hall.tickets()
        assert Tally(t.id for t in tickets) == Tally(list(self.status))  # each exactly once
        assert {t.id: t.status for t in tickets} == self.status
        assert all(n == 1 for n in self.completed.values())
        currents = [self.hall.counter_state(c).current for c in COUNTERS]
        held = [x for x in currents if x is not None]
        assert len(held) == len(set(held)), "two counters hold one ticket"
        in_hand = {t.id for t in tickets if t.status in ("called", "serving")}
        assert set(held) == in_hand

    @invariant()
    def no_ticket_waits_for_a_closed_counter(self):
        if hasattr(self, "hall"):
            for t in self._waiting():
                if t.target_counter is not None:
                    assert self.hall.counter_state(t.target_counter).state != "closed"

    @invariant()
    def a_board_fed_only_by_events_is_right(self):
        if hasattr(self, "hall"):
            # The fields queue.changed carries (the snapshot adds e.g. `issued`).
            queues = self.hall.snapshot()["queues"]
            assert {sid: {k: q[k] for k in self.board[sid]} for sid, q in queues.items()} \
                == self.board

    @invariant()
    def numbers_unique_per_service_and_day(self):
        if not hasattr(self, "hall"):
            return
        seen = Tally((t.number, t.day) for t in self.hall.tickets())
        assert all(n == 1 for n in seen.values())

    @invariant()
    def waiting_counts_and_queues_agree(self):
        if not hasattr(self, "hall"):
            return
        waiting = self._waiting()
        for sid in SERVICES:
            assert self.hall.waiting(sid) == sum(t.service == sid for t in waiting)
        for c in COUNTERS:
            cfg = self.cfg.counter(c)
            visible = {t.id for t in waiting if t.target_counter == c or (
                t.target_counter is None and t.service in cfg.services)}
            queue = [t.id for t in self.hall.queue(c)]
            assert len(queue) == len(set(queue)) and set(queue) == visible


HallMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=50, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_hall_machine = HallMachine.TestCase
