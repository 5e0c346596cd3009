"""One screenshot of an app window showing a state."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def shoot(app: Any, window: Any, state: Any, path: Path) -> Path:
    """Render ``state`` in ``window``, lay it out, save it to ``path``.

    Raises:
        OSError: the PNG could not be written.
    """
    window.render(state)
    window.show()
    app.processEvents()
    window.render(state)  # again, now that the layout has its real size
    app.processEvents()
    if not window.grab().save(str(path)):
        raise OSError(f"cannot write {path}")
    return path
