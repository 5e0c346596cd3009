"""The garbage-collector tuning of ``qhall serve`` (server/gcwatch.py).

A real ``qhall serve`` process, read from outside on ``/metrics``: the
loaded hall's heap is frozen and the young threshold is the tuned one; and
in this process, what a hall dropped must undo (its cycles collectable
again). No timing is asserted: the pauses are benchmark figures
(``qhall loadtest --halls N --gc-report``).
"""

from __future__ import annotations

import gc
import urllib.request
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from server import gcwatch
from server.config import dumps
from server.tools import gcreport
from server.tools.loadserver import free_port, start_server, stop_server
from tests.helpers.server import small_config


def test_a_real_serve_freezes_its_loaded_hall_and_raises_the_young_threshold(
        tmp_path: Path) -> None:
    cfg = tmp_path / "hall.toml"
    cfg.write_text(dumps(small_config(f"sqlite:///{tmp_path / 'hall.db'}")), encoding="utf-8")
    port = free_port()
    proc = start_server(cfg, port, tmp_path / "server.log")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
    finally:
        stop_server(proc)
    snap = gcreport.parse(text)
    assert snap is not None, text[-2000:]
    assert snap.threshold == gcwatch.THRESHOLD
    # The modules, the store's metadata and the hall as loaded: tens of thousands.
    assert snap.frozen > 10_000
    assert set(snap.passes) == {"0", "1", "2"}  # every generation's pauses are exposed


@pytest.fixture
def tuned(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This test process tuned as ``qhall serve`` is, put back afterwards."""
    before = gc.get_threshold()
    monkeypatch.delenv(gcwatch.ENV, raising=False)
    monkeypatch.setattr(gcwatch, "_tuned", False)
    try:
        assert gcwatch.tune()
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def test_a_dropped_hall_unfreezes_so_its_cycles_are_collected(tuned: None) -> None:
    assert gc.get_threshold() == gcwatch.THRESHOLD
    node = _Node()
    alive = weakref.ref(node)
    gcwatch.hall_loaded()
    assert gc.get_freeze_count() > 0
    del node
    gc.collect()
    assert alive() is not None  # frozen: no pass looks at it
    gcwatch.hall_dropped()
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert alive() is None


def test_qhall_gc_default_leaves_the_collector_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    before = gc.get_threshold()
    monkeypatch.setenv(gcwatch.ENV, "default")
    monkeypatch.setattr(gcwatch, "_tuned", False)
    assert not gcwatch.tune()
    gcwatch.hall_loaded()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
