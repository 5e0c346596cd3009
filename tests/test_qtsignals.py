"""Guard against a PySide6 build that corrupts refcounts on signal emit.

PySide6 6.12.0 on CPython 3.11 drops a reference to ``True`` on each emit
and aborts the interpreter after about a thousand emits. The pin in
pyproject.toml avoids it; this test makes sure a bad pin cannot slip in.
"""

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    fired = Signal(bool)
    payload = Signal(dict)


def test_many_emits_keep_refcounts(qtbot):
    emitter = _Emitter()
    counts = {"fired": 0, "payload": 0}

    def on_fired(flag: bool) -> None:
        counts["fired"] += flag  # keeps no reference to True

    def on_payload(data: dict) -> None:
        counts["payload"] += 1

    emitter.fired.connect(on_fired)
    emitter.payload.connect(on_payload)
    before = sys.getrefcount(True)
    for i in range(5000):
        emitter.fired.emit(True)
        emitter.payload.emit({"n": i})
    after = sys.getrefcount(True)
    assert counts == {"fired": 5000, "payload": 5000}
    # True is immortal on 3.12+, but on 3.11 a leaky emit loses 5,000 refs.
    assert abs(after - before) < 100
