"""The lobby board laid out per orientation: the hero fits any number and
counter name, the history follows the screen, bold is bold, zone boards."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication, QLabel

from display import app as display_app
from display.state import BoardState
from display.view import BoardLabel, BoardView, _advance, board_font
from server.reference import demo_config
from server.tools.screens.kiosk import sample_welcome
from tests.display.sample import called
from tests.helpers.fakes import FakeClock

pytestmark = pytest.mark.gui

SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"
CFG = demo_config()
#: The demo hall's widest ticket number (a two-letter prefix and three digits)
#: and longest counter name.
LONGEST_NUMBER = max(CFG.services, key=lambda s: len(s.prefix)).prefix + "888"
LONGEST_COUNTER = max(CFG.counters, key=lambda c: (len(c.name), c.number))


def demo_board(zones=(), categories=()) -> BoardState:
    welcome = sample_welcome()
    welcome["role"] = "display"
    state = BoardState(FakeClock(), zones=zones, categories=categories)
    state.apply_welcome(welcome)
    state.set_status("online")
    return state


def call_longest(state: BoardState, seq: int = 2000) -> None:
    sid = max(CFG.services, key=lambda s: len(s.prefix)).id
    for i in range(40):  # a full history of long numbers at far counters
        message = called(f"{LONGEST_NUMBER[:-3]}{100 + i}", 60 + i % 8, seq=seq + i)
        message["data"]["ticket"]["service"] = sid
        state.apply_event(message)
    message = called(LONGEST_NUMBER, LONGEST_COUNTER.number, seq=seq + 50)
    message["data"]["ticket"]["service"] = sid
    message["data"]["counter_name"] = LONGEST_COUNTER.name
    state.apply_event(message)


def shown(view: BoardView, size: tuple[int, int], state: BoardState) -> BoardView:
    view.resize(*size)
    view.show()
    QApplication.processEvents()
    view.render(state)
    QApplication.processEvents()
    view.render(state)
    return view


def fits(label: QLabel) -> bool:
    return _advance(label.font(), label.text()) <= label.contentsRect().width()


@pytest.mark.parametrize("size", [(1920, 1080), (1080, 1920), (1366, 768), (768, 1366)])
def test_hero_and_history_fit_the_longest_number_and_counter(qtbot, tmp_path, size):
    state = demo_board()
    call_longest(state)
    view = BoardView()
    qtbot.addWidget(view)
    shown(view, size, state)
    assert (view.width(), view.height()) == size
    assert view.minimumSizeHint().width() <= size[0]
    assert view.minimumSizeHint().height() <= size[1]
    assert view.newest_number.text() == LONGEST_NUMBER
    assert view.newest_counter.text().endswith(LONGEST_COUNTER.name)
    frame = view.newest_frame.geometry()
    for label in (view.newest_number, view.newest_counter, view.newest_line):
        assert fits(label), (label.objectName(), label.font().pixelSize(), label.width())
        top_left = label.mapTo(view, label.rect().topLeft())
        assert frame.contains(top_left) and label.geometry().right() <= frame.width()
    # the hero stays big: it shrinks only as much as it must
    assert view.newest_number.font().pixelSize() >= 0.6 * 190 * view.scale
    cells = [(n, c) for n, c in view.recent_cells if n.isVisible() and n.text()]
    assert len(cells) >= 5
    for number, counter in cells:
        assert fits(number) and fits(counter), (number.text(), counter.text())
    name = f"board-{size[0]}x{size[1]}.png"
    target = SCREENS if os.environ.get("QHALL_SCREENSHOTS") == "1" and size in (
        (1920, 1080), (1080, 1920)) else None
    if target is not None:
        view.grab().save(str(target / ("board-demo.png" if size[0] > size[1] else
                                       "board-portrait.png")))
    assert view.grab().save(str(tmp_path / name))


def two_boards(qtbot, first: tuple[int, int], second: tuple[int, int]):
    """Boards of both sizes showing the demo hall after a run of long calls."""
    state = demo_board()
    call_longest(state)
    views = []
    for size in (first, second):
        view = BoardView()
        qtbot.addWidget(view)
        views.append(shown(view, size, state))
    return state, views[0], views[1]


def test_portrait_is_laid_out_for_itself(qtbot):
    _, portrait, landscape = two_boards(qtbot, (1080, 1920), (1920, 1080))
    assert portrait.portrait and not landscape.portrait
    assert portrait.scale == landscape.scale == 1.0  # not the landscape board at 56%
    number = portrait.recent_cells[0][0]
    assert number.font().pixelSize() >= 56  # readable from 5 m (was 36 px)
    # number above counter, waiting under the calls
    assert portrait.newest_number.geometry().bottom() < portrait.newest_counter.geometry().top()
    assert portrait.waiting_frame.geometry().top() > portrait.grid_frame.geometry().bottom()
    assert portrait.history_shape()[0] == 1 and landscape.history_shape() == (2, 5)


def test_history_length_follows_the_screen(qtbot):
    state, wide, tall = two_boards(qtbot, (1920, 1080), (1920, 1200))
    assert tall.history_shape()[1] > wide.history_shape()[1]
    visible = [n.text() for n, _ in tall.recent_cells if n.isVisible() and n.text()]
    assert len(visible) == tall.history_shape()[0] * tall.history_shape()[1]
    assert visible == [c.number for c in state.previous][:len(visible)]


def test_bold_labels_are_drawn_bold(qtbot):
    def ink(bold: bool) -> int:
        label = BoardLabel()
        qtbot.addWidget(label)
        label.setFont(board_font(100, bold))
        label.setText("39号窗口")
        label.setStyleSheet("color: black; background: white;")
        label.ink = QColor("black")
        label.resize(600, 150)
        image = label.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
        return sum(1 for y in range(0, 150, 2) for x in range(0, 600, 2)
                   if QColor(image.pixel(x, y)).lightness() < 128)

    assert ink(True) > 1.15 * ink(False)


def test_a_board_limited_to_zones_or_categories():
    zone_a = demo_board(zones=["A区"])
    assert zone_a.shows("qydj") and not zone_a.shows("gjj") and not zone_a.shows("nope")
    public = demo_board(categories=["public"])
    assert public.shows("gjj") and not public.shows("qydj")
    both = demo_board(zones=["B区 37-43号窗口"], categories=["public"])
    assert both.shows("gjj") and not both.shows("sb")
    call = called("P051", 39, seq=3000)
    call["data"]["ticket"]["service"] = "gjj"
    assert zone_a.apply_event(call) is None  # not shown, not announced
    assert zone_a.newest is None or zone_a.newest.number != "P051"
    assert public.apply_event(dict(call)) is not None and public.newest.number == "P051"
    rows = {r.key for r in public.waiting_rows()}
    assert rows == {"public"} and public.total_waiting() == sum(
        n for sid, n in public.waiting.items() if CFG.service(sid).category == "public")
    everything = demo_board()
    assert everything.total_waiting() > public.total_waiting()
    assert [c.number for c in zone_a.previous] == [
        c.number for c in everything.previous
        if c.service and CFG.service(c.service).zone.startswith("A区")][:len(zone_a.previous)]


def test_display_command_line_zone_and_category(capsys):
    parser = argparse.ArgumentParser()
    display_app.configure(parser)
    args = parser.parse_args(["--zone", "A区", "--zone", "B区,C区", "--category", "public"])
    assert display_app.split_list(args.zone) == ["A区", "B区", "C区"]
    assert display_app.split_list(args.category) == ["public"]
    bad = parser.parse_args(["--category", "misc", "--mute"])
    assert display_app.run(bad) == 2
    assert "unknown --category misc" in capsys.readouterr().err
