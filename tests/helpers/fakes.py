"""Shared stubs for tests: FakeLink, FakeClock, FakePrinter.

FakeLink has exactly the public API of ``server.client.qtlink.Link`` (the same
signals, methods and properties; tests/helpers/test_fakes.py checks it) and
``request()`` returns a :class:`FakeReply` with Reply's API. Tests drive it
with the controls in ``FakeLink.CONTROLS``: push server messages in with
``push_welcome()``/``push_event()``, answer requests with ``answer()``, list
the open ones with ``unanswered()``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from PySide6.QtCore import QObject, Signal


class FakeReply(QObject):
    done = Signal(dict)

    def __init__(self, message: dict[str, Any]) -> None:
        super().__init__()
        self.id: str = message["id"]
        self.message = message
        self.result: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.result is not None

    @property
    def ok(self) -> bool:
        return self.result is not None and self.result.get("type") == "ok"

    def finish(self, reply: dict[str, Any]) -> None:
        self.result = reply
        self.done.emit(reply)


class FakeLink(QObject):
    #: Public names beyond Link's: how tests play the server.
    CONTROLS = frozenset({"CONTROLS", "sent", "opened", "set_status", "push_welcome",
                          "push_event", "answer", "unanswered"})

    welcomed = Signal(dict)
    event = Signal(dict)
    status = Signal(str)
    refused = Signal(dict)

    def __init__(self, url: str = "ws://127.0.0.1:8765/ws", device: str = "fake-1") -> None:
        super().__init__()
        self.sent: list[FakeReply] = []
        self.opened = False
        self._urls = (url,)
        self._device = device
        self._last_seq: int | None = None
        self._state = "offline"
        self._welcome: dict[str, Any] | None = None
        self._trail: list[str] = []

    # the Link API -----------------------------------------------------
    @property
    def trail(self) -> list[str]:
        """No connection steps: the fake never connects (tests read `sent`)."""
        return list(self._trail)

    @property
    def url(self) -> str:
        return self._urls[0]

    @property
    def urls(self) -> tuple[str, ...]:
        return self._urls

    @property
    def device(self) -> str:
        return self._device

    @property
    def last_seq(self) -> int | None:
        return self._last_seq

    @property
    def welcome(self) -> dict[str, Any] | None:
        return self._welcome

    @property
    def online(self) -> bool:
        return self._state == "online"

    @property
    def state(self) -> str:
        return self._state

    @property
    def role(self) -> str | None:
        return None if self._welcome is None else self._welcome.get("role")

    @property
    def counter(self) -> int | None:
        return None if self._welcome is None else self._welcome.get("counter")

    @property
    def pending(self) -> int:
        return len(self.unanswered())

    def open(self) -> None:
        self.opened = True
        self.set_status("connecting")

    def close(self) -> None:
        self.opened = False
        self.set_status("offline")

    def request(self, type: str, **fields: Any) -> FakeReply:
        reply = FakeReply({"type": type, "id": f"r{len(self.sent) + 1}", **fields})
        self.sent.append(reply)
        return reply

    def retry(self, reply: FakeReply) -> FakeReply:
        """A finished request sent again with the same id."""
        if not reply.finished:
            raise ValueError(f"request {reply.id} is still pending")
        again = FakeReply(dict(reply.message))
        self.sent.append(again)
        return again

    # test controls ----------------------------------------------------
    def set_status(self, state: str) -> None:
        self._state = state
        self.status.emit(state)

    def push_welcome(self, message: dict[str, Any]) -> None:
        self._last_seq = message.get("seq")
        self._welcome = message
        self.set_status("online")
        self.welcomed.emit(message)

    def push_event(self, name: str, data: dict[str, Any], seq: int | None = None) -> dict:
        self._last_seq = seq if seq is not None else (self._last_seq or 0) + 1
        message = {"type": "event", "seq": self._last_seq, "name": name,
                   "at": "2026-11-26T09:00:00+08:00", "data": data}
        self.event.emit(message)
        return message

    def answer(self, reply: FakeReply, ok: bool = True, **fields: Any) -> None:
        base = {"type": "ok" if ok else "error", "re": reply.message["id"]}
        reply.finish({**base, **fields})

    def unanswered(self, type: str | None = None) -> list[FakeReply]:
        return [r for r in self.sent if r.result is None
                and (type is None or r.message["type"] == type)]


class FakeClock:
    """A clock you move by hand: ``clock()`` returns an aware datetime."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime(2026, 11, 26, 1, 0, tzinfo=dt.UTC)  # 09:00 Shanghai

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> dt.datetime:
        self.now += dt.timedelta(seconds=seconds)
        return self.now

    def monotonic(self) -> float:
        return self.now.timestamp()


class FakePrinter:
    """Stands in for ``kiosk.printer.TicketPrinter``: records what it prints.

    ``printed`` holds a copy of every image printed. ``fail(kind)`` makes
    every following ``print_ticket`` raise ``PrinterError(kind, ...)`` (or
    only the next ``times`` ones) until ``recover()``; ``status()`` then
    reports the matching state ("offline", "paper_out"; "unknown" for "io").
    """

    def __init__(self, state: str = "ok") -> None:
        from kiosk.printer import STATUSES, PrinterSpec

        if state not in STATUSES:
            raise ValueError(f"state must be one of {STATUSES}, got {state!r}")
        self.spec = PrinterSpec("preview", path="<fake>")
        self.state = state
        self.printed: list[Any] = []
        self.attempts = 0
        self._fail_kind: str | None = None
        self._fail_message = ""
        self._fail_left: int | None = None

    def fail(self, kind: str = "offline", message: str = "", times: int | None = None) -> None:
        from kiosk.printer import ERROR_KINDS

        if kind not in ERROR_KINDS:
            raise ValueError(f"kind must be one of {ERROR_KINDS}, got {kind!r}")
        self._fail_kind = kind
        self._fail_message = message or f"fake printer {kind}"
        self._fail_left = times

    def recover(self) -> None:
        self._fail_kind = None
        self._fail_left = None

    def print_ticket(self, image: Any) -> None:
        from kiosk.printer import PrinterError

        self.attempts += 1
        if self._fail_kind is not None:
            kind = self._fail_kind
            if self._fail_left is not None:
                self._fail_left -= 1
                if self._fail_left <= 0:
                    self.recover()
            raise PrinterError(kind, self._fail_message)
        self.printed.append(image.copy() if hasattr(image, "copy") else image)

    def status(self) -> str:
        if self._fail_kind is not None:
            return "unknown" if self._fail_kind == "io" else self._fail_kind
        return self.state
