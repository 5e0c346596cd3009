"""The ticket scanner: a keyboard that types a ticket QR's text, then a suffix.

A USB (HID) scanner is a keyboard to the kiosk: it types the QR's text
(``https://.../t/CODE``) into whatever has focus, then its suffix: Enter
by default, or Tab, CR or LF as set on the scanner. All four end a scan
here, so no scanner setting is needed.

A scanner types a whole code in one burst (a few ms a key); a person
pauses between keys. So the keys typed into a watched widget are held back
while they come in a burst. Ended by a suffix, the burst is a scan
(``scanned(text)``); ended by a pause of :data:`BURST_GAP_MS`, it was typing:
in a text field (the search box) the keys then go in as pressed, elsewhere
they are dropped. A scan therefore never lands in the search text, and a
person's typing shows up a pause later, not lost. In a text field a burst
counts as a scan only when it reads as a ticket (``is_ticket``), so a fast
typist's word and Enter stay typing.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication, QWidget

__all__ = ["BURST_GAP_MS", "ScanReader", "is_suffix"]

#: Longest pause between two keys of one scanner burst (people type slower).
BURST_GAP_MS = 50

_SUFFIX_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Tab)
_SUFFIX_TEXT = ("\r", "\n", "\t")  # CR, LF (Ctrl+J), Tab as text
_HELD_MAX = 200  # longer than any ticket QR's text


def is_suffix(event: QKeyEvent) -> bool:
    """Whether this key ends a scan: Enter/Return, Tab, CR or LF."""
    return event.key() in _SUFFIX_KEYS or event.text() in _SUFFIX_TEXT


class ScanReader(QObject):
    """Watches widgets' key presses and tells scans from typing (see the module)."""

    scanned = Signal(str)

    def __init__(self, parent: QObject, is_ticket: Callable[[str], bool],
                 gap_ms: int = BURST_GAP_MS) -> None:
        super().__init__(parent)
        self._is_ticket = is_ticket
        self._fields: set[QWidget] = set()  # text fields: typing goes on into them
        self._held: list[tuple[int, Qt.KeyboardModifier, str]] = []
        self._target: QWidget | None = None
        self._replaying = False
        self._pause = QTimer(self)
        self._pause.setSingleShot(True)
        self._pause.setInterval(gap_ms)
        self._pause.timeout.connect(self.release)

    def watch(self, widget: QWidget, field: bool = False) -> None:
        """Read ``widget``'s keys (and those its children leave to it);
        ``field``: a text field the held keys go on into when they were typing."""
        widget.installEventFilter(self)
        if field:
            self._fields.add(widget)

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() != QEvent.Type.KeyPress or self._replaying \
                or not isinstance(event, QKeyEvent) or not isinstance(obj, QWidget):
            return False
        if is_suffix(event):
            return self.end()
        text = event.text()
        typed = bool(text) and text.isprintable() and not event.modifiers() & (
            Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)
        if obj is not self._target:
            self.release()  # focus moved mid-burst: what was held goes where it was typed
        if not typed:
            self.release()  # a Backspace or an arrow comes after the keys before it
            return False
        self._target = obj
        self._held.append((event.key(), event.modifiers(), text))
        del self._held[:-_HELD_MAX]
        self._pause.start()
        return True

    def end(self) -> bool:
        """A suffix: the held burst is a scan (returns True: the suffix is
        taken), unless it was typed into a text field and reads as no ticket
        (released there, False: the suffix goes on as usual)."""
        self._pause.stop()
        text = "".join(t for _, _, t in self._held)
        if not text.strip():
            self._held, self._target = [], None
            return False
        if self._target in self._fields and not self._is_ticket(text):
            self.release()
            return False
        self._held, self._target = [], None
        self.scanned.emit(text)
        return True

    def release(self) -> None:
        """A pause (or another key): the held keys were typing. Into a text
        field they go as pressed; elsewhere they are dropped."""
        self._pause.stop()
        held, target = self._held, self._target
        self._held, self._target = [], None
        if target is None or target not in self._fields or not held:
            return
        self._replaying = True
        try:
            for key, modifiers, text in held:
                QApplication.sendEvent(target, QKeyEvent(QEvent.Type.KeyPress, key,
                                                          modifiers, text))
        finally:
            self._replaying = False
