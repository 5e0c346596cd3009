"""The on-screen keypad for booking codes: letters, digits, delete, clear, check in.

A dumb widget: it emits what was pressed and never edits text itself (the
code lives in :class:`kiosk.state.KioskState`). Keys are plain
``QPushButton`` objects named ``key_<char>`` so tests can find and click them.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QPushButton, QSizePolicy, QWidget

from kiosk.state import CODE_ALPHABET

__all__ = ["Keypad"]

# Digits first: most booking codes are mostly digits.
_ORDER = "1234567890" + "".join(c for c in CODE_ALPHABET if c.isalpha())


class Keypad(QWidget):
    """A grid of large keys.

    Signals:
        key(str): a letter or digit.
        delete(): the delete key.
        clear(): the clear key.
        submit(): the check-in key.
    """

    key = Signal(str)
    delete = Signal()
    clear = Signal()
    submit = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("keypad")
        self.keys: dict[str, QPushButton] = {}
        for char in _ORDER:
            button = self._button(char, f"key_{char}")
            button.clicked.connect(lambda _=False, c=char: self.key.emit(c))
            self.keys[char] = button
        self.delete_button = self._button("⌫", "key_delete")
        self.delete_button.clicked.connect(self.delete)
        self.clear_button = self._button("", "key_clear")
        self.clear_button.clicked.connect(self.clear)
        self.submit_button = self._button("", "key_submit")
        self.submit_button.clicked.connect(self.submit)
        self._grid = QGridLayout(self)
        self._grid.setSpacing(10)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._columns = 0
        self.set_columns(6)

    def _button(self, text: str, name: str) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.setProperty("role", "key")
        button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        return button

    def set_columns(self, columns: int) -> None:
        """Lay the keys out ``columns`` wide (6 portrait, 9 landscape)."""
        if columns < 3:
            raise ValueError(f"the keypad needs at least 3 columns, got {columns}")
        if columns == self._columns:
            return
        self._columns = columns
        for button in (*self.keys.values(), self.delete_button, self.clear_button,
                       self.submit_button):
            self._grid.removeWidget(button)
        for i, char in enumerate(_ORDER):
            self._grid.addWidget(self.keys[char], i // columns, i % columns)
        row = (len(_ORDER) + columns - 1) // columns
        third = columns // 3
        self._grid.addWidget(self.delete_button, row, 0, 1, third)
        self._grid.addWidget(self.clear_button, row, third, 1, third)
        self._grid.addWidget(self.submit_button, row, 2 * third, 1, columns - 2 * third)
        for r in range(row + 1):
            self._grid.setRowStretch(r, 1)

    def set_labels(self, clear: str, submit: str, delete: str) -> None:
        self.clear_button.setText(clear)
        self.submit_button.setText(submit)
        self.delete_button.setText(f"⌫ {delete}")

    def set_busy(self, busy: bool) -> None:
        """Disable the check-in key while a request is in flight."""
        self.submit_button.setEnabled(not busy)
