"""The announcement queue: order, no overlap, recall dedupe, backlog policy, repeats."""

from __future__ import annotations

from pathlib import Path

import pytest

from display.announcer import Announcer
from tests.helpers.fakes import FakeClock


class FakePlayer:
    """Records plays; finishes only when the test says so. Fails on overlap."""

    def __init__(self) -> None:
        self.plays: list[Path] = []
        self.current = None
        self.stops = 0
        self.max_concurrent = 0

    def play(self, path, on_finished) -> None:
        assert self.current is None, f"overlap: {path} started while {self.current[0]} plays"
        self.current = (path, on_finished)
        self.plays.append(path)

    def stop(self) -> None:
        self.stops += 1
        self.current = None

    def finish(self) -> Path:
        assert self.current is not None, "nothing is playing"
        path, callback = self.current
        self.current = None
        callback()
        return path


class Renderer:
    """Counts renders; a 'slow' render advances the fake clock."""

    def __init__(self, clock: FakeClock, cost_s: float = 0.0) -> None:
        self.calls: list[tuple[str, int, str]] = []
        self.clock, self.cost_s = clock, cost_s

    def __call__(self, number: str, counter: int, name: str) -> Path:
        self.calls.append((number, counter, name))
        self.clock.advance(self.cost_s)
        return Path(f"/audio/{number}-{counter}-{name or 'x'}.wav")


def make(repeat=2, max_backlog=20, cost_s=0.0):
    clock = FakeClock()
    player = FakePlayer()
    render = Renderer(clock, cost_s)
    announcer = Announcer(player, render, clock, repeat=repeat, max_backlog=max_backlog)
    return announcer, player, render, clock


def drain(announcer: Announcer, player: FakePlayer, clock: FakeClock, seconds: float = 3.0):
    while player.current is not None:
        clock.advance(seconds)
        player.finish()


def heard(announcer: Announcer) -> list[tuple[str, int]]:
    return [(p.item.number, p.item.index) for p in announcer.played]


def test_first_call_starts_at_once_and_repeats_follow_in_order():
    a, player, render, clock = make(repeat=2)
    assert a.announce("A001", 3, "3号窗口") is True
    assert player.plays == [Path("/audio/A001-3-3号窗口.wav")]
    a.announce("B002", 5)
    assert [(q.number, q.index) for q in a.pending()] == [("A001", 1), ("B002", 0), ("B002", 1)]
    drain(a, player, clock)
    assert heard(a) == [("A001", 0), ("A001", 1), ("B002", 0), ("B002", 1)]
    assert a.idle and a.playing is None


def test_never_overlaps_and_waits_for_finish():
    a, player, _, clock = make(repeat=1)
    for n in ("A001", "A002", "A003"):
        a.announce(n, 1)
    # FakePlayer.play asserts no overlap; nothing else started without a finish.
    assert len(player.plays) == 1 and a.playing.number == "A001"
    clock.advance(4)
    player.finish()
    assert len(player.plays) == 2 and a.playing.number == "A002"
    drain(a, player, clock)
    played = a.played
    for earlier, later in zip(played, played[1:], strict=False):
        assert earlier.finished_at <= later.started_at
    assert [p.item.number for p in played] == ["A001", "A002", "A003"]


def test_played_log_uses_the_injected_clock():
    a, player, _, clock = make(repeat=1)
    t0 = clock()
    a.announce("A001", 1)
    clock.advance(5)
    player.finish()
    (p,) = a.played
    assert p.item.received_at == t0 and p.started_at == t0
    assert (p.finished_at - p.started_at).total_seconds() == 5


def test_recall_of_a_waiting_ticket_is_not_doubled():
    a, player, _, clock = make(repeat=2)
    a.announce("A001", 1)
    a.announce("B002", 2)
    assert a.announce("B002", 2, recall=True) is False
    assert a.merged == 1
    assert [(q.number, q.index) for q in a.pending()] == [("A001", 1), ("B002", 0), ("B002", 1)]
    assert all(q.recall for q in a.pending() if q.number == "B002")
    drain(a, player, clock)
    assert [n for n, _ in heard(a)].count("B002") == 2


def test_merge_takes_the_newest_counter():
    a, player, render, clock = make(repeat=1)
    a.announce("A001", 1)
    a.announce("B002", 2)
    a.announce("B002", 7, "7号窗口")  # transferred and called elsewhere before it was heard
    drain(a, player, clock)
    assert [(p.item.number, p.item.counter_number) for p in a.played] == [("A001", 1), ("B002", 7)]
    assert player.plays[-1] == Path("/audio/B002-7-7号窗口.wav")


def test_recall_while_its_first_play_runs_promotes_the_waiting_repeat():
    a, player, _, clock = make(repeat=2, max_backlog=2)
    a.announce("A001", 1)  # playing; its repeat waits
    assert a.announce("A001", 1, recall=True) is False
    (q,) = a.pending()
    assert q.first and q.recall  # now protected like a first play
    a.announce("B002", 2)
    a.announce("C003", 3)  # backlog 5 > 2: repeats of B, C dropped, not the recall
    assert {(d.number, d.index) for d in a.dropped} == {("B002", 1), ("C003", 1)}
    drain(a, player, clock)
    assert heard(a) == [("A001", 0), ("A001", 0), ("B002", 0), ("C003", 0)]


def test_recall_after_the_call_was_heard_is_played_again_in_full():
    a, player, _, clock = make(repeat=2)
    a.announce("A001", 1)
    drain(a, player, clock)
    assert a.announce("A001", 1, recall=True) is True
    drain(a, player, clock)
    assert heard(a) == [("A001", 0), ("A001", 1), ("A001", 0), ("A001", 1)]
    assert [p.item.recall for p in a.played] == [False, False, True, True]


@pytest.mark.parametrize("repeat", [1, 2, 3])
def test_each_call_is_played_repeat_times(repeat):
    a, player, _, clock = make(repeat=repeat)
    a.announce("A001", 1)
    a.announce("A002", 1)
    drain(a, player, clock)
    assert heard(a) == [("A001", i) for i in range(repeat)] + [("A002", i) for i in range(repeat)]


def test_backlog_drops_oldest_repeats_first_never_a_first_play():
    a, player, _, clock = make(repeat=3, max_backlog=6)
    a.announce("A001", 1)  # A001#0 plays; A001#1, #2 wait
    a.announce("A002", 1)  # 5 waiting
    a.announce("A003", 1)  # 8 waiting -> drop A001#1, A001#2 (oldest repeats)
    assert [(d.number, d.index) for d in a.dropped] == [("A001", 1), ("A001", 2)]
    assert len(a.pending()) == 6
    for n in range(4, 12):  # a burst: 8 more calls
        a.announce(f"A{n:03d}", 1)
    pending = a.pending()
    # Only first plays are left, beyond max_backlog: none of them may be dropped.
    assert all(q.first for q in pending) and len(pending) == 10
    assert all(d.index > 0 for d in a.dropped)
    drain(a, player, clock)
    firsts = [p.item.number for p in a.played if p.item.first]
    assert firsts == [f"A{n:03d}" for n in range(1, 12)]


def test_repeats_come_back_when_the_backlog_is_gone():
    a, player, _, clock = make(repeat=2, max_backlog=2)
    for n in ("A001", "A002", "A003"):
        a.announce(n, 1)
    drain(a, player, clock)
    a.announce("B001", 2)
    drain(a, player, clock)
    assert heard(a)[-2:] == [("B001", 0), ("B001", 1)]


def test_render_once_per_call_repeats_hit_the_memo():
    a, player, render, clock = make(repeat=3)
    a.announce("A001", 1)
    drain(a, player, clock)
    assert render.calls == [("A001", 1, "")]
    assert len(set(player.plays)) == 1 and len(player.plays) == 3


def test_slow_render_delays_only_the_start_and_next_call_is_prerendered():
    a, player, render, clock = make(repeat=1, cost_s=0.8)
    t0 = clock()
    a.announce("A001", 1)
    assert a.playing.number == "A001" and render.calls == [("A001", 1, "")]
    a.announce("A002", 1)  # arrives while A001 plays: rendered now, ahead of its turn
    assert render.calls == [("A001", 1, ""), ("A002", 1, "")]
    clock.advance(3)
    player.finish()  # A002 starts at once: no render between the two plays
    assert len(render.calls) == 2
    drain(a, player, clock)
    first, second = a.played
    assert (first.started_at - t0).total_seconds() == pytest.approx(0.8)
    assert second.started_at == first.finished_at


def test_next_waiting_call_is_rendered_while_the_current_one_plays():
    a, player, render, clock = make(repeat=1)
    a.announce("A001", 1)
    a.announce("A002", 1)
    a.announce("A003", 1)
    player.finish()  # A002 starts; A003 is prefetched during it
    assert ("A003", 1, "") in render.calls
    count = len(render.calls)
    player.finish()  # A003 starts without a new render
    assert len(render.calls) == count


def test_failing_render_is_skipped_and_reported():
    clock = FakeClock()
    player = FakePlayer()

    def render(number, counter, name):
        if number == "BAD1":
            raise RuntimeError("espeak exploded")
        return Path(f"/audio/{number}.wav")

    a = Announcer(player, render, clock, repeat=1)
    a.announce("BAD1", 1)
    a.announce("A002", 1)
    assert a.playing.number == "A002"
    assert [(f.item.number, "espeak exploded" in f.error) for f in a.failed] == [("BAD1", True)]


def test_player_finishing_synchronously_does_not_recurse_or_overlap():
    clock = FakeClock()
    log = []

    class InstantPlayer:
        depth = 0

        def play(self, path, on_finished):
            self.depth += 1
            assert self.depth == 1, "play() re-entered"
            log.append(path.name)
            on_finished()
            self.depth -= 1

        def stop(self):
            pass

    a = Announcer(InstantPlayer(), lambda n, c, s: Path(f"{n}.wav"), clock, repeat=2)
    a.announce("A001", 1)
    a.announce("A002", 1)
    assert log == ["A001.wav", "A001.wav", "A002.wav", "A002.wav"] and a.idle


def test_late_or_double_finish_is_ignored():
    a, player, _, clock = make(repeat=1)
    a.announce("A001", 1)
    callback = player.current[1]
    player.finish()
    callback()  # the backend reports the end twice
    assert len(a.played) == 1 and a.idle


def test_clear_stops_and_forgets():
    a, player, _, clock = make(repeat=2)
    a.announce("A001", 1)
    old_callback = player.current[1]
    a.announce("A002", 1)
    a.clear()
    assert player.stops == 1 and a.idle and a.pending() == ()
    a.announce("B001", 2)
    old_callback()  # the stopped play reporting late must not end B001
    assert a.played == [] and a.playing.number == "B001"
    player.finish()
    assert [p.item.number for p in a.played] == ["B001"]


@pytest.mark.parametrize("kwargs", [{"repeat": 0}, {"max_backlog": 0}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        Announcer(FakePlayer(), lambda *a: Path("x"), FakeClock(), **kwargs)
