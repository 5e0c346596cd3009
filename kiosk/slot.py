"""A message box with a slot of its own, as tall as the longest message it can show.

The check-in and 过号重排 screens put their messages here instead of the
window's bottom bar: showing, changing or hiding a message never moves the
keypad, and the page's height never depends on what the message says (so it
fits the window at every size, tests/kiosk/test_fit.py).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from kiosk.state import KioskState

__all__ = ["MessageSlot", "restyle"]

#: The frame's vertical padding (top + bottom), in pixels.
_PAD = 8


def restyle(widget: QWidget, prop: str, value: Any) -> None:
    """Set a dynamic property and re-apply the style sheet rules that use it."""
    if widget.property(prop) == value:
        return
    widget.setProperty(prop, value)
    widget.style().unpolish(widget)
    widget.style().polish(widget)
    for child in widget.findChildren(QWidget):
        child.style().unpolish(child)
        child.style().polish(child)


class MessageSlot(QWidget):
    """``frame`` (object name ``notice``, dynamic property ``level``) holding
    ``text`` (current language) and ``alt`` (the other one). Widgets given to
    :meth:`add` share the slot (e.g. a result shown when there is no message)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._box = QVBoxLayout(self)
        self._box.setContentsMargins(0, 0, 0, 0)
        self.frame = QFrame(self)
        self.frame.setObjectName("notice")
        self.frame.setProperty("level", "info")
        inner = QVBoxLayout(self.frame)
        inner.setContentsMargins(16, _PAD, 16, _PAD)
        self.text = QLabel(self.frame)
        self.alt = QLabel(self.frame)
        for label, name in ((self.text, "noticeText"), (self.alt, "noticeAlt")):
            label.setObjectName(name)
            label.setWordWrap(True)
            inner.addWidget(label)
        self._box.addWidget(self.frame)
        self._box.addStretch(1)
        self.frame.hide()
        self._key: tuple = ()

    def add(self, widget: QWidget) -> None:
        """Put ``widget`` in the slot, above the stretch."""
        self._box.insertWidget(self._box.count() - 1, widget)

    def reserve(self, state: KioskState, width: int, scale: float,
                messages: tuple[tuple[str, dict[str, Any]], ...], floor: int = 0) -> None:
        """Fix the slot's height for the tallest of ``messages`` (text key,
        arguments), both languages, at ``width``; at least ``floor``. Once per
        width, scale and language."""
        key = (width, scale, state.lang, floor)
        if key == self._key:
            return
        self._key = key
        inner = max(1, width - 32)
        other = "en" if state.lang == "zh" else "zh"
        tallest = 0
        for text_key, args in messages:
            self.text.setText(state.text(text_key, **args))
            self.alt.setText(state.text(text_key, other, **args))
            self.text.ensurePolished()
            self.alt.ensurePolished()
            tallest = max(tallest, self.text.heightForWidth(inner)
                          + self.alt.heightForWidth(inner))
        layout = self.frame.layout()
        spacing = layout.spacing() if layout is not None else 0
        self.setFixedHeight(max(floor, tallest + 2 * _PAD + max(0, spacing)))

    def show_notice(self, state: KioskState) -> bool:
        """Show ``state.notice`` (hide the frame when none); True if shown."""
        shown = state.notice is not None
        self.frame.setVisible(shown)
        if state.notice is not None:
            other = "en" if state.lang == "zh" else "zh"
            self.text.setText(state.notice_text())
            self.alt.setText(state.notice_text(other))
            restyle(self.frame, "level", state.notice.level)
        return shown
