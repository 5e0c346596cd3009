"""bench.displays' stream check: every event once, in order (it must be able to fail)."""

from bench.displays import Watch
from server.fanout import batches
from server.wire import protocol


def _frame(*seqs: int) -> bytes:
    """A batch frame as the server writes it (its encoder, its batching)."""
    messages = [protocol.encode_bytes(protocol.event(seq, "ticket.issued", "2026-12-01T02:00:00Z",
                                                     {"ticket": {"id": f"t{seq}", "n": "A 号"}}))
                for seq in seqs]
    (frame,) = batches(messages)
    return frame


def _watch(*frames: bytes, start: int = 10) -> Watch:
    watch = Watch("bench-board-0")
    watch.start = start
    for frame in frames:
        watch.on_events(frame, 0.0)
    return watch


def test_every_event_once_in_order_passes() -> None:
    watch = _watch(_frame(11), _frame(12, 13, 14), _frame(15, 16))
    assert watch.check(16) is None
    assert (watch.events, watch.frames) == (6, 3)


def test_nothing_after_the_welcome_passes_only_when_nothing_was_committed() -> None:
    assert _watch().check(10) is None
    assert _watch().check(11) == "bench-board-0: 0 events, expected 1"


def test_a_gap_between_frames_fails() -> None:
    assert _watch(_frame(11, 12), _frame(14)).check(14) == "bench-board-0: seq 14 after 12"


def test_a_repeat_fails() -> None:
    assert _watch(_frame(11, 12), _frame(12, 13)).check(13) == "bench-board-0: seq 12 after 12"


def test_a_gap_inside_a_frame_fails() -> None:
    assert _watch(_frame(11, 13)).check(13) == "bench-board-0: 2 events numbered 11..13"


def test_a_missing_tail_or_a_late_start_fails() -> None:
    assert _watch(_frame(11, 12)).check(13) == "bench-board-0: 2 events, expected 3"
    assert _watch(_frame(12, 13)).check(13) == "bench-board-0: 2 events, expected 3"
    assert _watch(_frame(12, 13), start=11).check(13) is None


def test_no_welcome_fails() -> None:
    watch = Watch("bench-board-0")
    assert watch.check(0) == "bench-board-0: no welcome"
