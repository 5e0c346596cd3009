"""BoardState: welcome + events -> what the board and counter displays show."""

from __future__ import annotations

import pytest

from display.state import (
    DEFAULT_NOTICE,
    HIGHLIGHT_S,
    RECENT_KEEP,
    BoardState,
    StateError,
    call_sentence,
)
from tests.display.sample import called, event, welcome
from tests.helpers.fakes import FakeClock


def board(clock: FakeClock | None = None, **kwargs) -> BoardState:
    state = BoardState(clock or FakeClock(), **kwargs)
    state.apply_welcome(welcome([("A011", 5), ("B003", 12)]))
    return state


def test_welcome_sets_hall_recent_and_waiting():
    state = board()
    assert state.hall_name == "滁州市政务服务中心"
    assert [(c.number, c.counter) for c in state.recent] == [("A011", 5), ("B003", 12)]
    assert state.newest.number == "A011"
    assert state.waiting["tax"] == 35
    assert state.counters[3].state == "open" and state.counters[3].staff == "王芳"
    # Calls from the snapshot are old news: not highlighted.
    assert not state.highlighted()


def test_calls_are_listed_newest_first_and_capped():
    state = board()
    for i in range(RECENT_KEEP + 9):
        state.apply_event(called(f"A{100 + i:03d}", 1 + i % 9, seq=101 + i))
    assert len(state.recent) == RECENT_KEEP
    last = 100 + RECENT_KEEP + 8
    assert state.newest.number == f"A{last:03d}"
    assert [c.number for c in state.previous] == [
        f"A{n:03d}" for n in range(last - 1, last - RECENT_KEEP, -1)]


def test_recall_moves_the_call_to_the_top_without_duplicating():
    state = board()
    state.apply_event(called("A012", 3, seq=101))
    state.apply_event(called("A013", 4, seq=102))
    call = state.apply_event(called("A012", 3, seq=103, recall=True))
    assert call is not None and call.recall
    assert [c.number for c in state.recent] == ["A012", "A013", "A011", "B003"]


def test_highlight_lasts_about_five_seconds_and_flashes():
    clock = FakeClock()
    state = board(clock)
    state.apply_event(called("A012", 3, seq=101))
    assert state.highlighted()
    phases = set()
    for _ in range(9):
        clock.advance(0.5)
        phases.add(state.flash_on())
    assert phases == {True, False}  # it alternates while highlighted
    clock.advance(HIGHLIGHT_S - 4.5 + 0.01)
    assert not state.highlighted() and not state.flash_on()
    # A new call highlights again, from its own arrival.
    state.apply_event(called("A013", 4, seq=102))
    assert state.highlighted()
    clock.advance(HIGHLIGHT_S - 0.1)
    assert state.highlighted()


def test_waiting_per_service_when_few_and_per_category_when_many():
    state = board()
    rows = state.waiting_rows()
    assert [(r.key, r.waiting) for r in rows] == [
        ("gjj", 12), ("tax", 35), ("bdc", 4), ("gs", 7), ("zj", 2)]
    state.apply_event(event("queue.changed", 101, service="gjj", waiting=13, eta_s=600))
    assert state.waiting_rows()[0].waiting == 13
    assert state.total_waiting() == 13 + 35 + 4 + 7 + 2

    many = BoardState(FakeClock())
    message = welcome()
    message["hall"]["services"] += [
        {"id": f"x{i}", "name": f"业务{i}", "category": "approval"} for i in range(3)]
    message["snapshot"]["queues"]["x0"] = {"waiting": 10}
    many.apply_welcome(message)
    assert [(r.name, r.name_en, r.waiting) for r in many.waiting_rows()] == [
        ("行政审批", "Approval", 4 + 7 + 10),
        ("公共服务", "Public services", 12 + 35),
        ("中介服务", "Intermediary", 2),
    ]


def test_queue_changed_rejects_bad_data():
    state = board()
    with pytest.raises(StateError, match="queue.changed"):
        state.apply_event(event("queue.changed", 101, service="gjj", waiting=-1))
    with pytest.raises(StateError, match="missing field 'data'"):
        state.apply_event({"type": "event", "seq": 102, "name": "ticket.called"})
    with pytest.raises(StateError, match="ticket.called"):
        state.apply_event(event("ticket.called", 103, counter=3))


def test_unknown_events_and_duplicates_are_ignored():
    state = board()
    assert state.apply_event(event("something.new", 101, x=1)) is None
    assert state.apply_event(called("A012", 3, seq=102)) is not None
    assert state.apply_event(called("A012", 3, seq=102)) is None  # same seq again
    assert [c.number for c in state.recent].count("A012") == 1


def test_counter_screen_called_serving_paused_idle_closed():
    state = BoardState(FakeClock(), counter=3)
    state.apply_welcome(welcome())
    assert state.counter_screen().mode == "idle"
    state.apply_event(called("A012", 3, seq=101))
    screen = state.counter_screen()
    assert (screen.mode, screen.number, screen.serving) == ("ticket", "A012", False)
    state.apply_event(event("ticket.started", 102, ticket={"id": "id-A012", "number": "A012"},
                            counter=3))
    assert state.counter_screen().serving
    # Another counter's events do not touch ours.
    state.apply_event(called("B001", 4, seq=103))
    state.apply_event(event("ticket.completed", 104, ticket={"id": "id-B001", "number": "B001"},
                            counter=4))
    assert state.counter_screen().number == "A012"
    state.apply_event(event("counter.paused", 105, counter=3, reason="午休"))
    assert state.counter_screen().mode == "paused"
    state.apply_event(event("counter.resumed", 106, counter=3))
    assert state.counter_screen().mode == "ticket"
    state.apply_event(event("ticket.completed", 107, ticket={"id": "id-A012", "number": "A012"},
                            counter=3))
    assert state.counter_screen().mode == "idle"
    state.apply_event(event("counter.closed", 108, counter=3))
    assert state.counter_screen().mode == "closed"
    with pytest.raises(StateError, match="not bound"):
        BoardState(FakeClock()).counter_screen()


def test_transfer_and_no_show_clear_the_counter_that_had_the_ticket():
    state = BoardState(FakeClock(), counter=3)
    state.apply_welcome(welcome())
    state.apply_event(called("A012", 3, seq=101))
    # The transfer event's counter is the target; our counter still loses it.
    state.apply_event(event("ticket.transferred", 102,
                            ticket={"id": "id-A012", "number": "A012"}, counter=7))
    assert state.counter_screen().mode == "idle"
    state.apply_event(called("A013", 3, seq=103))
    state.apply_event(event("ticket.no_show", 104, ticket={"id": "id-A013", "number": "A013"}))
    assert state.counter_screen().mode == "idle"


def test_counter_display_bound_by_the_welcome():
    state = BoardState(FakeClock())
    state.apply_welcome(welcome(counter=5))
    state.apply_event(called("C001", 5, seq=101))
    assert state.counter_screen().number == "C001"


def test_reconnect_replay_shows_and_returns_missed_calls_in_order():
    clock = FakeClock()
    state = board(clock)
    state.apply_event(called("A012", 3, seq=101))
    assert state.last_seq == 101
    # Offline; meanwhile A013 (seq 102) and B004 (seq 103) were called. The new
    # welcome's snapshot already lists them; the replay follows.
    clock.advance(60)
    state.apply_welcome(welcome([("B004", 6), ("A013", 4), ("A012", 3), ("A011", 5)], seq=103))
    announced = [state.apply_event(called("A013", 4, seq=102)),
                 state.apply_event(called("B004", 6, seq=103))]
    assert [(c.number, c.counter) for c in announced] == [("A013", 4), ("B004", 6)]
    assert [c.number for c in state.recent] == ["B004", "A013", "A012", "A011"]
    assert state.highlighted()
    # Live events continue after the replay; a re-sent one is dropped.
    assert state.apply_event(called("B004", 6, seq=103)) is None
    assert state.apply_event(called("A014", 2, seq=104)).number == "A014"


def test_welcome_from_a_new_event_history_resets_seq():
    state = board()
    state.apply_event(called("A012", 3, seq=500))
    state.apply_welcome(welcome(seq=7))  # server database replaced
    assert state.apply_event(called("A001", 1, seq=8)) is not None


def test_bad_welcome_is_a_clear_error():
    with pytest.raises(StateError, match="missing field 'snapshot'"):
        BoardState(FakeClock()).apply_welcome({"type": "welcome", "hall": {}})
    with pytest.raises(StateError, match="expected a JSON object"):
        BoardState(FakeClock()).apply_welcome([])  # type: ignore[arg-type]


def test_notice_precedence():
    assert board().notice == DEFAULT_NOTICE
    state = BoardState(FakeClock())
    state.apply_welcome(welcome(notice="本中心12月12日起调整作息时间"))
    assert state.notice == "本中心12月12日起调整作息时间"
    state = BoardState(FakeClock(), notice="今日系统维护")
    state.apply_welcome(welcome(notice="hall notice"))
    assert state.notice == "今日系统维护"


def test_clock_text_in_hall_timezone():
    state = board()  # FakeClock starts at 01:00 UTC = 09:00 Shanghai, a Thursday
    assert state.clock_text() == "2026-11-26 周四 09:00:00"


def test_call_sentence():
    assert call_sentence("A012", 3, "3号窗口") == "请 A012 号到 3 号窗口办理"
    assert call_sentence("C004", 20, "综合受理窗口") == "请 C004 号到 综合受理窗口 办理"


def test_hall_clock_shows_the_time_ui_clock_runs_the_flash():
    # The demo's board: hall time runs 60x faster than the flashing.
    ui, hall = FakeClock(), FakeClock()
    state = board(ui, hall_clock=hall)
    hall.advance(3600)
    assert state.clock_text() == "2026-11-26 周四 10:00:00"
    state.apply_event(called("A012", 3, seq=101))
    hall.advance(HIGHLIGHT_S * 60)
    assert state.highlighted()  # UI time has not moved
    ui.advance(HIGHLIGHT_S)
    assert not state.highlighted()
