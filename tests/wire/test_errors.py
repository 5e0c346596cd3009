"""The error tree: one root, every wire code declared by exactly one class."""

from __future__ import annotations

import pytest

import server.core as core
from server.core.machine import IllegalMove
from server.wire import errors, protocol


def test_every_protocol_code_has_exactly_one_class() -> None:
    declared = [code for code, _cls in errors.declared()]
    assert sorted(declared) == sorted(protocol.ERROR_CODES)
    assert len(declared) == len(set(declared))


def test_every_class_derives_from_the_root() -> None:
    for _code, cls in errors.declared():
        assert issubclass(cls, errors.QhallError)
    assert issubclass(protocol.ProtocolError, errors.QhallError)
    assert issubclass(IllegalMove, errors.Conflict)
    assert IllegalMove("A001", "start", "waiting").code == "conflict"


def test_every_class_is_in_the_docstring_tree() -> None:
    tree = errors.__doc__ or ""
    for code, cls in errors.declared():
        line = next(ln for ln in tree.splitlines() if f" {cls.__name__} " in ln)
        assert line.rstrip().endswith(code), line


def test_the_core_exports_the_wire_classes() -> None:
    # One definition: `from server.core import Conflict` is the wire's class.
    for name in ("CoreError", "BadRequest", "NotFound", "Closed", "QuotaReached",
                 "QueueEmpty", "Conflict", "Forbidden", "Expired"):
        assert getattr(core, name) is getattr(errors, name)
    assert protocol.ProtocolError is errors.ProtocolError


@pytest.mark.parametrize("cls", [errors.Unauthorized, errors.RateLimited,
                                 errors.UnsupportedProtocol, errors.Standby])
def test_fixed_code_protocol_errors(cls: type[errors.ProtocolError]) -> None:
    exc = cls("no", re="r1")
    assert (exc.code, exc.message, exc.re, str(exc)) == (cls.code, "no", "r1", "no")
    assert errors.by_code(cls.code) is cls


def test_instance_code_and_lookup() -> None:
    exc = protocol.ProtocolError("bad_request", "frame is not JSON")
    assert exc.code == "bad_request" and isinstance(exc, errors.QhallError)
    assert errors.by_code("conflict") is errors.Conflict
    assert errors.by_code("internal") is errors.QhallError
    assert errors.by_code("no_such_code") is errors.QhallError
    assert core.CoreError("x").code == "internal"
    assert core.CoreError("x", code="expired").code == "expired"


def test_details_ride_beside_the_message() -> None:
    exc = core.Closed("check-in opens at 09:45", details={"opens_at": "2026-11-26T09:45:00+08:00"})
    assert exc.details == {"opens_at": "2026-11-26T09:45:00+08:00"}
    assert protocol.ProtocolError("bad_request", "x").details == {}
