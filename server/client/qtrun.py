"""Run one app window over a link until Qt quits: the shared tail of the apps' CLIs.

Shows the view (full screen or not), opens the link, runs the event loop,
then stops the controller and closes the link. A device the server refused
(unauthorized, unsupported) exits 1 with the server's reason on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["run_window"]


class _Window(Protocol):
    def show(self) -> None: ...
    def showFullScreen(self) -> None: ...  # noqa: N802 (Qt's name)


class _Opens(Protocol):
    def open(self) -> None: ...
    def close(self) -> None: ...


def run_window(command: str, app: Any, view: _Window, link: _Opens, *, fullscreen: bool,
               stop: Callable[[], None],
               refusal: Callable[[], dict[str, Any] | None]) -> int:
    """Show ``view``, serve ``link`` until ``app`` quits; the exit code.

    Args:
        command: the CLI's name for messages (``"qhall display"``).
        app: the QApplication.
        stop: stops the controller (and whatever else ends with the window).
        refusal: the server's refusal of this device, if any.
    """
    if fullscreen:
        view.showFullScreen()
    else:
        view.show()
    link.open()
    code = app.exec()
    stop()
    link.close()
    refused = refusal()
    if refused is not None:
        print(f"{command}: refused by the server: {refused.get('code')} "
              f"{refused.get('message', '')}", file=sys.stderr)
        return 1
    return int(code)
