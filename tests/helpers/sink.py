"""A webhook receiver for tests: ``examples/notify_sink.py`` (the receiver
integrators start from) with a switch to answer 500 or to hang, and a log of
every attempt (headers and raw body)."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["SECRET", "ScriptedSink", "notify_sink", "sink_factory"]

ROOT = Path(__file__).resolve().parents[2]
SECRET = b"s3cret-for-the-sink"


def _example() -> Any:
    spec = importlib.util.spec_from_file_location("notify_sink", ROOT / "examples/notify_sink.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


notify_sink = _example()


class ScriptedSink(notify_sink.Sink):  # type: ignore[misc,name-defined]
    """The example sink, plus: fail the first ``fail`` attempts with 500, hang
    while ``hang`` is set, and log every attempt (headers and raw body)."""

    def __init__(self, fail: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), SECRET)
        self.fail = fail
        self.hang = threading.Event()
        self.release = threading.Event()
        self.attempts: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Condition(self.lock)
        self.RequestHandlerClass = _make_handler(self)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/qhall"

    def act(self, body: dict[str, Any]) -> None:
        with self.arrived:
            self.arrived.notify_all()

    def wait_for(self, done: Callable[[], bool], timeout: float = 20) -> None:
        with self.arrived:
            assert self.arrived.wait_for(done, timeout), (
                f"sink got {[b['event'] for b in self.received]}")


def _make_handler(sink: ScriptedSink) -> type:
    base = notify_sink._Handler

    class Handler(base):  # type: ignore[misc,valid-type]
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            with sink.arrived:
                sink.attempts.append((dict(self.headers), raw))
                failing = sink.fail > 0
                sink.fail -= 1 if failing else 0
                sink.arrived.notify_all()
            if sink.hang.is_set():
                sink.release.wait(30)
            if failing:
                self._answer(500)
                return
            if not notify_sink.valid(sink.secret, raw, self.headers.get("X-Qhall-Signature")):
                self._answer(401)
                return
            sink.accept(self.headers.get("X-Qhall-Delivery") or "", json.loads(raw))
            self._answer(200)

    return Handler


@pytest.fixture
def sink_factory() -> Iterator[Callable[..., ScriptedSink]]:
    made: list[ScriptedSink] = []

    def make(fail: int = 0) -> ScriptedSink:
        sink = ScriptedSink(fail)
        threading.Thread(target=sink.serve_forever, daemon=True).start()
        made.append(sink)
        return sink

    yield make
    for sink in made:
        sink.release.set()
        sink.shutdown()
        sink.server_close()
