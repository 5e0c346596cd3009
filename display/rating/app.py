"""The rating pad's controller: link → state → view, taps → ``rate`` requests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QTimer

from display.rating.state import RatingState
from display.rating.view import RatingView

__all__ = ["RatingPad"]

class RatingPad:
    """Wires a link (``server.client.qtlink.Link`` or a FakeLink), a state and a view."""

    TICK_MS = 250

    def __init__(self, link: Any, state: RatingState, view: RatingView) -> None:
        self.link, self.state, self.view = link, state, view
        self.refusal: dict[str, Any] | None = None
        self._replies: list[Any] = []  # keep reply objects alive until done
        link.welcomed.connect(self._welcome)
        link.event.connect(self._event)
        link.status.connect(self._status)
        link.refused.connect(self._refused)
        view.rated.connect(self.tap)
        view.reason_toggled.connect(lambda r: self._do(self.state.toggle_reason, r))
        view.free_text.connect(lambda t: self._do(self.state.set_free_text, t))
        view.reason_back.connect(lambda: self._do(self.state.back_to_levels))
        view.reason_submitted.connect(lambda: self._send(self.state.submit_reason()))
        self.timer = QTimer(view)
        self.timer.timeout.connect(self._tick)
        self.timer.start(self.TICK_MS)
        view.render(state)

    def tap(self, score: int) -> None:
        self._send(self.state.tap(score))

    def _do(self, action: Callable[..., None], *args: Any) -> None:
        action(*args)
        self.view.render(self.state)

    def _send(self, request: dict[str, Any] | None) -> None:
        if request is not None:
            fields = dict(request)
            kind = fields.pop("type")
            reply = self.link.request(kind, **fields)
            self._replies.append(reply)
            reply.done.connect(lambda message, r=reply, q=request: self._reply(r, q, message))
        self.view.render(self.state)

    def _reply(self, reply: Any, request: dict[str, Any], message: dict[str, Any]) -> None:
        if reply in self._replies:
            self._replies.remove(reply)
        self.state.apply_reply(request, message)
        self.view.render(self.state)

    def _welcome(self, msg: dict[str, Any]) -> None:
        self.state.apply_welcome(msg)
        self.view.render(self.state)

    def _event(self, msg: dict[str, Any]) -> None:
        self.state.apply_event(msg)
        self._send(self.state.take_outbox())

    def _status(self, status: str) -> None:
        self.state.set_status(status)
        self.view.render(self.state)

    def _refused(self, msg: dict[str, Any]) -> None:
        self.refusal = msg
        self.state.set_status("refused")
        self.view.render(self.state)

    def _tick(self) -> None:
        if self.state.tick():
            self._send(self.state.take_outbox())

    def stop(self) -> None:
        self.timer.stop()
