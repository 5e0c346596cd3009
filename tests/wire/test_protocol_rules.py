"""Protocol rules pinned at their edges (issue #20, mutation testing).

Each test tells the rule from a plausible wrong one: a bound written ``>=``
instead of ``>``, a check that stops at the first harmless value, an error
that loses the request id, a limit counted one level off. Through the public
API only (``decode``, ``check_value``, ``parse_hello``, ``parse_request``,
``Field``, the reply builders).
"""

from __future__ import annotations

import json
import math

import pytest

from server.wire import protocol
from server.wire.protocol import MAX_FRAME, MAX_INT, Field, ProtocolError

HELLO = {"type": "hello", "id": "h", "protocol": 1, "device": "kiosk-1", "token": "t"}
NUMBER_RANGE = f"a number must be between -{MAX_INT} and {MAX_INT}"


def _refused(fn, *args) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        fn(*args)
    return info.value


def _ping(**extra) -> str:
    return json.dumps({"type": "ping", "id": "1", **extra}, separators=(",", ":"))


# ------------------------------------------------------------- frame size
def test_a_frame_of_exactly_max_frame_is_accepted_as_text_and_as_bytes():
    base = _ping()
    frame = base[:-1] + " " * (MAX_FRAME - len(base)) + "}"
    assert len(frame) == MAX_FRAME
    assert protocol.decode(frame) == {"type": "ping", "id": "1"}
    assert protocol.decode(frame.encode()) == {"type": "ping", "id": "1"}


def test_a_byte_frame_one_past_max_frame_is_refused_before_decoding():
    exc = _refused(protocol.decode, b" " * (MAX_FRAME + 1))
    assert (exc.code, exc.message, exc.re, str(exc)) == (
        "bad_request", "frame larger than 64 KiB", None, "frame larger than 64 KiB")


# --------------------------------------------------------------- numbers
@pytest.mark.parametrize("number", [MAX_INT, -MAX_INT, 10**15, 0])
def test_integers_up_to_max_int_are_accepted(number):
    assert protocol.decode(_ping(n=number))["n"] == number


@pytest.mark.parametrize("text", [str(MAX_INT + 1), "9999999999999999", "-9999999999999999"])
def test_integers_past_max_int_with_as_many_digits_are_refused(text):
    exc = _refused(protocol.decode, '{"type":"ping","id":"1","n":' + text + "}")
    assert (exc.code, exc.message) == ("bad_request", NUMBER_RANGE)


@pytest.mark.parametrize("text", ["2.5", "-0.5", "9007199254740991.0", "1e15"])
def test_finite_fractions_within_range_are_accepted(text):
    assert protocol.decode('{"type":"ping","id":"1","n":' + text + "}")["n"] == float(text)


@pytest.mark.parametrize("text", ["1e300", "-1e300", "9007199254740993.0"])
def test_finite_fractions_past_max_int_are_refused(text):
    exc = _refused(protocol.decode, '{"type":"ping","id":"1","n":' + text + "}")
    assert (exc.code, exc.message) == ("bad_request", NUMBER_RANGE)


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 2**60, -(2**60), MAX_INT + 1])
def test_numbers_handed_in_process_are_checked_like_decoded_ones(value):
    """The simulator and tests pass dicts, not frames: the same number rules."""
    exc = _refused(protocol.parse_request, {"type": "ping", "id": "1", "n": value})
    assert (exc.code, exc.message, exc.re) == ("bad_request", f"field 'n': {NUMBER_RANGE}", "1")


def test_check_value_names_the_bare_value_and_keeps_max_int():
    protocol.check_value(MAX_INT)
    protocol.check_value(-float(MAX_INT))
    with pytest.raises(ValueError) as info:
        protocol.check_value(math.inf)
    assert str(info.value) == f"field 'value': {NUMBER_RANGE}"


# ---------------------------------------------------------------- strings
def test_a_string_of_exactly_max_string_is_accepted():
    pad = "x" * protocol.MAX_STRING
    assert protocol.decode(_ping(pad=pad))["pad"] == pad


def test_a_bare_bad_string_is_named_value():
    with pytest.raises(ValueError) as info:
        protocol.check_value("a\x00")
    assert str(info.value) == "field 'value' holds a control character (U+0000)"


def test_non_text_keys_are_refused_by_name():
    with pytest.raises(ValueError) as info:
        protocol.check_value({"type": "ping", 1: "one"})
    assert str(info.value) == "a key in 'the message' is not text"
    exc = _refused(protocol.parse_request, {"type": "ping", "id": "1", "x": {2: "two"}})
    assert (exc.message, exc.re) == ("a key in 'x' is not text", "1")


def test_values_that_are_not_json_are_refused_by_field():
    with pytest.raises(ValueError) as info:
        protocol.check_value(object())
    assert str(info.value) == "field 'value' is not a JSON value"
    exc = _refused(protocol.parse_request, {"type": "ping", "id": "1", "x": {1.5j}})
    assert (exc.message, exc.re) == ("field 'x' is not a JSON value", "1")


def test_null_and_booleans_are_json_values_anywhere():
    message = {"type": "ping", "id": "1", "x": [None, True, False, {"y": None}]}
    assert protocol.parse_request(message)[0] == "ping"
    assert protocol.decode(json.dumps(message)) == message


@pytest.mark.parametrize("harmless", [None, True, False, 7, "ok"])
def test_checking_goes_on_past_harmless_values(harmless):
    """A bad string after a null or a boolean in the same list is still found."""
    exc = _refused(protocol.parse_request,
                   {"type": "ping", "id": "1", "x": ["bad\x01", harmless]})
    assert exc.message == "field 'x' holds a control character (U+0001)"


# ---------------------------------------------------------------- nesting
def _nested(container: str, levels: int) -> object:
    """``levels`` lists (or objects) inside each other, the innermost empty."""
    value: object = [] if container == "list" else {}
    for _ in range(levels - 1):
        value = [value] if container == "list" else {"k": value}
    return value


@pytest.mark.parametrize("container", ["list", "dict"])
def test_nesting_of_exactly_max_depth_is_accepted(container):
    # the message object is level 1, so the field may hold MAX_DEPTH - 1 levels
    message = {"type": "ping", "id": "1", "d": _nested(container, protocol.MAX_DEPTH - 1)}
    assert protocol.parse_request(message)[0] == "ping"
    assert protocol.decode(json.dumps(message)) == message


@pytest.mark.parametrize("container", ["list", "dict"])
def test_nesting_one_level_deeper_is_refused(container):
    message = {"type": "ping", "id": "1", "d": _nested(container, protocol.MAX_DEPTH)}
    exc = _refused(protocol.parse_request, message)
    assert (exc.message, exc.re) == ("nesting deeper than 8 levels", "1")


# ------------------------------------------------------------------ hello
@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"type": "ping"}, "bad_request", "the first message must be 'hello'"),
        ({"protocol": "1"}, "bad_request", "hello needs an integer 'protocol'"),
        ({"protocol": 2}, "unsupported_protocol",
         "protocol 2 is not supported; this server speaks 1"),
        ({"device": ""}, "bad_request", "hello needs a non-empty string 'device'"),
        ({"token": "x" * 501}, "bad_request", "hello needs a non-empty string 'token'"),
        ({"since": -1}, "bad_request", "'since' must be null or a seq number >= 0"),
        ({"since": "5"}, "bad_request", "'since' must be null or a seq number >= 0"),
        ({"since": True}, "bad_request", "'since' must be null or a seq number >= 0"),
        ({"since": 1.5}, "bad_request", "'since' must be null or a seq number >= 0"),
        ({"extra": "a\x07"}, "bad_request", "field 'extra' holds a control character (U+0007)"),
    ],
)
def test_hello_errors_carry_the_hello_id(change, code, message):
    exc = _refused(protocol.parse_hello, {**HELLO, **change})
    assert (exc.code, exc.message, exc.re) == (code, message, "h")


@pytest.mark.parametrize("since", [0, 1, 5, MAX_INT])
def test_hello_accepts_any_seq_from_zero(since):
    assert protocol.parse_hello({**HELLO, "since": since})["since"] == since


def test_hello_device_and_token_up_to_500_characters():
    hello = protocol.parse_hello({**HELLO, "device": "d" * 500, "token": "t" * 500})
    assert (len(hello["device"]), len(hello["token"])) == (500, 500)


# --------------------------------------------------------------- requests
def test_a_request_id_of_exactly_128_characters_is_read():
    rid = "r" * 128
    assert protocol.parse_request({"type": "ping", "id": rid})[1] == rid
    exc = _refused(protocol.parse_request, {"type": "issue", "id": rid})
    assert exc.re == rid


def test_unknown_types_are_quoted_to_40_characters():
    kind = "".join(chr(ord("a") + i % 26) for i in range(60))
    exc = _refused(protocol.parse_request, {"type": kind, "id": "1"})
    assert exc.message == f"unknown message type {kind[:40]!r}"


def test_bad_text_in_unknown_fields_is_refused_with_the_id():
    exc = _refused(protocol.parse_request, {"type": "ping", "id": "1", "extra": "\x1b[2J"})
    assert (exc.code, exc.message, exc.re) == (
        "bad_request", "field 'extra' holds a control character (U+001B)", "1")


@pytest.mark.parametrize(
    "message",
    [
        {"type": "rate", "id": "1", "ticket": "t", "score": 1},
        {"type": "rate", "id": "1", "ticket": "t", "score": 5},
        {"type": "transfer", "id": "1", "counter": 1},
        {"type": "transfer", "id": "1", "counter": 100000},
        {"type": "login", "id": "1", "staff": "s", "pin": "p" * 128},
        {"type": "issue", "id": "1", "service": "s" * 64},
    ],
)
def test_declared_bounds_include_their_ends(message):
    assert protocol.parse_request(message)[0] == message["type"]


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"type": "rate", "id": "1", "ticket": "t", "score": 0},
         "field 'score' must be at least 1"),
        ({"type": "transfer", "id": "1", "counter": 100001},
         "field 'counter' must be at most 100000"),
        ({"type": "issue", "id": "1", "service": "s" * 65},
         "field 'service' is longer than 64 characters"),
        ({"type": "rate", "id": "1", "ticket": "t", "score": 3, "items": []},
         "field 'items' must be an object"),
    ],
)
def test_declared_bounds_refuse_one_past_their_ends(message, error):
    exc = _refused(protocol.parse_request, message)
    assert (exc.code, exc.message, exc.re) == ("bad_request", error, "1")


@pytest.mark.parametrize(
    ("types", "value", "error"),
    [
        ((list, type(None)), 1, "field 'x' must be a list or null"),
        ((bool,), 1, "field 'x' must be true or false"),
        ((dict,), "s", "field 'x' must be an object"),
        ((float,), "s", "field 'x' must be float"),
    ],
)
def test_field_type_errors_name_every_type(types, value, error):
    with pytest.raises(ValueError) as info:
        Field(types).check("x", value)
    assert str(info.value) == error


def test_field_bounds_apply_to_integers_only():
    # true is an int to Python, not a number on the wire: no bound applies
    Field((int, bool), min=2, max=3).check("x", True)
    Field((str,), min=2, max=3).check("x", "abc")
    # a lower bound alone, an upper bound alone
    Field((int,), min=1).check("x", 10**9)
    Field((int,), max=5).check("x", -(10**9))
    with pytest.raises(ValueError, match="at most 5"):
        Field((int,), max=5).check("x", 6)


# ------------------------------------------------------- building replies
def test_reply_builders_give_the_contract_shapes():
    assert protocol.ok("r1", ticket={"id": "t"}) == {"type": "ok", "re": "r1",
                                                      "ticket": {"id": "t"}}
    assert protocol.ok(None) == {"type": "ok", "re": None}
    assert protocol.error("r2", "closed", "not open") == {
        "type": "error", "re": "r2", "code": "closed", "message": "not open"}
    assert protocol.event(7, "ticket.called", "2026-11-30T09:00:00+08:00", {"a": 1}) == {
        "type": "event", "seq": 7, "name": "ticket.called",
        "at": "2026-11-30T09:00:00+08:00", "data": {"a": 1}}


def test_error_refuses_a_code_outside_the_contract():
    with pytest.raises(AssertionError):
        protocol.error("r", "oops", "not a wire code")


def test_encode_bytes_is_compact_with_several_fields():
    message = {"type": "ok", "re": "1", "list": [1, 2], "name": "窗口"}
    assert protocol.encode_bytes(message) == (
        '{"type":"ok","re":"1","list":[1,2],"name":"窗口"}'.encode())
    assert protocol.encode(message) == '{"type":"ok","re":"1","list":[1,2],"name":"窗口"}'


def test_protocol_error_text_is_its_message():
    exc = ProtocolError("bad_request", "frame is not valid JSON", "r")
    assert (str(exc), exc.code, exc.message, exc.re) == (
        "frame is not valid JSON", "bad_request", "frame is not valid JSON", "r")
