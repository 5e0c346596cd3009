"""bench.board runs end to end: real server thread, real board wiring, paints timed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.board import HallThread, measure_board, open_hall

pytestmark = pytest.mark.gui


def test_board_bench_times_each_call(qapp: object, tmp_path: Path) -> None:
    config = open_hall(f"sqlite:///{tmp_path / 'board.db'}")
    with HallThread(config) as hall:
        to_paint, round_trip = measure_board(hall.url, config, 3)
    assert len(to_paint) == len(round_trip) == 3
    # The board's share is part of the whole path; both are real durations.
    for board_ms, total_ms in zip(to_paint, round_trip, strict=True):
        assert 0 < board_ms <= total_ms
