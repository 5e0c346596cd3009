"""The test fakes stand in for the real thing: same public names, same kinds,
same signal signatures, same method parameters."""

from __future__ import annotations

import inspect
from typing import Any

from PySide6.QtCore import QMetaMethod, QObject, Signal

from server.client.qtlink import Link, Reply
from tests.helpers.fakes import FakeLink, FakeReply


def api(cls: type, extra: frozenset[str] = frozenset()) -> dict[str, str]:
    """Public name -> kind (signal, property, method, attribute) of a QObject class."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass in QObject.__mro__:
            continue  # Qt's own API is shared by both
        for name, value in vars(klass).items():
            if name.startswith("_") or name in extra:
                continue
            out[name] = kind(value)
    return out


def kind(value: Any) -> str:
    if isinstance(value, Signal):
        return "signal"
    if isinstance(value, property):
        return "property"
    return "method" if callable(value) else "attribute"


def instance_attributes(obj: QObject) -> set[str]:
    """Public attributes set on the instance (bound signals Qt caches there aside)."""
    return {name for name in vars(obj) if not name.startswith("_")
            and not hasattr(type(obj), name)}


def signals(cls: type) -> list[str]:
    """The Qt signatures of the signals ``cls`` itself declares, in order."""
    meta = cls.staticMetaObject  # type: ignore[attr-defined]
    methods = (meta.method(i) for i in range(meta.methodOffset(), meta.methodCount()))
    return [bytes(m.methodSignature().data()).decode() for m in methods
            if m.methodType() == QMetaMethod.MethodType.Signal]


def parameters(cls: type, names: set[str]) -> dict[str, list[tuple[str, Any, Any]]]:
    """Method name -> its parameters (name, kind, default), annotations aside
    (the fake returns FakeReply where the link returns Reply)."""
    return {name: [(p.name, p.kind, p.default)
                   for p in inspect.signature(getattr(cls, name)).parameters.values()]
            for name in sorted(names)}


def test_fake_link_has_exactly_the_link_api(qtbot):
    real = api(Link)
    assert {"welcomed", "event", "status", "refused", "request", "retry"} <= set(real)
    assert api(FakeLink, FakeLink.CONTROLS) == real
    assert signals(FakeLink) == signals(Link)  # same arguments, same order
    methods = {n for n, k in real.items() if k == "method"}
    assert {"open", "close", "request", "retry"} <= methods
    assert parameters(FakeLink, methods) == parameters(Link, methods)
    # No public instance attribute hides behind the class check either.
    link = Link("ws://127.0.0.1:1/ws", "kiosk-1", "t")
    assert instance_attributes(link) == set()
    assert instance_attributes(FakeLink()) <= FakeLink.CONTROLS
    link.deleteLater()


def test_fake_reply_has_exactly_the_reply_api(qtbot):
    message = {"type": "ping", "id": "r1"}
    real, fake = Reply(message), FakeReply(message)
    assert {n: k for n, k in api(FakeReply).items() if n != "finish"} == api(Reply)
    assert signals(FakeReply) == signals(Reply)
    assert instance_attributes(fake) == instance_attributes(real) == {"id", "message", "result"}
