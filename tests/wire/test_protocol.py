"""The pure protocol module: decoding, hello, request validation."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.wire import protocol
from server.wire.protocol import ProtocolError


def _err(fn, *args):
    with pytest.raises(ProtocolError) as info:
        fn(*args)
    return info.value


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"\xff\xfe", "frame is not valid UTF-8"),
        ("{not json", "frame is not valid JSON"),
        ("[1, 2]", "a message must be a JSON object"),
        ('"hello"', "a message must be a JSON object"),
        ("x" * (64 * 1024 + 1), "frame larger than 64 KiB"),
        ("[" * 100000, "frame larger than 64 KiB"),
        ("[" * 60000, "frame is not valid JSON"),
    ],
)
def test_decode_rejects(frame, message):
    exc = _err(protocol.decode, frame)
    assert (exc.code, exc.message, exc.re) == ("bad_request", message, None)


def test_decode_accepts_utf8_bytes():
    assert protocol.decode('{"type":"ping","id":"1","x":"窗口"}'.encode()) == {
        "type": "ping", "id": "1", "x": "窗口"}


@pytest.mark.parametrize(
    ("hello", "code", "message"),
    [
        ({"type": "issue", "id": "h"}, "bad_request", "the first message must be 'hello'"),
        ({"type": "hello"}, "bad_request", "hello needs an 'id' string (1-128 chars)"),
        ({"type": "hello", "id": "h", "device": "k", "token": "t"}, "bad_request",
         "hello needs an integer 'protocol'"),
        ({"type": "hello", "id": "h", "protocol": 2, "device": "k", "token": "t"},
         "unsupported_protocol", "protocol 2 is not supported; this server speaks 1"),
        ({"type": "hello", "id": "h", "protocol": 1, "token": "t"}, "bad_request",
         "hello needs a non-empty string 'device'"),
        ({"type": "hello", "id": "h", "protocol": 1, "device": "k", "token": ""},
         "bad_request", "hello needs a non-empty string 'token'"),
        ({"type": "hello", "id": "h", "protocol": 1, "device": "k", "token": "t",
          "since": -1}, "bad_request", "'since' must be null or a seq number >= 0"),
        ({"type": "hello", "id": "h", "protocol": True, "device": "k", "token": "t"},
         "bad_request", "hello needs an integer 'protocol'"),
    ],
)
def test_hello_errors(hello, code, message):
    exc = _err(protocol.parse_hello, hello)
    assert (exc.code, exc.message) == (code, message)


def test_hello_ok():
    hello = protocol.parse_hello(
        {"type": "hello", "id": "h1", "protocol": 1, "device": "kiosk-1", "token": "s"})
    assert hello["since"] is None
    assert hello["resume"] is None


@pytest.mark.parametrize("resume", [None, 7, True, 2.5, [], {"a": "r1.1.x"}, "", "r" * 501])
def test_hello_resume_of_any_other_shape_counts_as_none_and_is_no_error(resume):
    hello = protocol.parse_hello({"type": "hello", "id": "h1", "protocol": 1,
                                  "device": "kiosk-1", "token": "s", "resume": resume})
    assert hello["resume"] is None and hello["token"] == "s"


def test_hello_resume_of_the_longest_length_is_kept():
    # MAX_TEXT characters are a resume; one more is none (above).
    resume = "r" * protocol.MAX_TEXT
    hello = protocol.parse_hello({"type": "hello", "id": "h1", "protocol": 1,
                                  "device": "kiosk-1", "token": "s", "resume": resume})
    assert hello["resume"] == resume


def test_hello_resume_string_is_kept_as_sent():
    ticket = "r1.1764489600." + "A" * 43
    hello = protocol.parse_hello({"type": "hello", "id": "h1", "protocol": 1,
                                  "device": "kiosk-1", "token": "s", "resume": ticket})
    assert hello["resume"] == ticket


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"id": "1"}, "a message needs a string 'type'"),
        ({"type": "issue"}, "a request needs an 'id' string (1-128 chars)"),
        ({"type": "issue", "id": ""}, "a request needs an 'id' string (1-128 chars)"),
        ({"type": "issue", "id": "x" * 129}, "a request needs an 'id' string (1-128 chars)"),
        ({"type": "fly", "id": "1"}, "unknown message type 'fly'"),
        ({"type": "issue", "id": "1"}, "missing field 'service'"),
        ({"type": "issue", "id": "1", "service": 7}, "field 'service' must be a string"),
        ({"type": "issue", "id": "1", "service": " "}, "field 'service' must not be empty"),
        ({"type": "issue", "id": "1", "service": "gjj", "priority": "vip"},
         "field 'priority' must be one of: normal, priority"),
        ({"type": "rate", "id": "1", "ticket": "t", "score": 6}, "field 'score' must be at most 5"),
        ({"type": "rate", "id": "1", "ticket": "t", "score": True},
         "field 'score' must be an integer"),
        ({"type": "rate", "id": "1", "ticket": "t", "score": 2.5},
         "field 'score' must be an integer"),
        ({"type": "transfer", "id": "1", "counter": 0}, "field 'counter' must be at least 1"),
        ({"type": "login", "id": "1", "staff": "s", "pin": "p" * 129},
         "field 'pin' is longer than 128 characters"),
    ],
)
def test_request_errors(message, error):
    exc = _err(protocol.parse_request, message)
    assert exc.code == "bad_request"
    assert exc.message == error
    rid = message.get("id")
    expected_re = rid if isinstance(rid, str) and 0 < len(rid) <= 128 else None
    assert exc.re == expected_re


def test_request_ok_ignores_unknown_fields():
    kind, rid, spec = protocol.parse_request(
        {"type": "issue", "id": "r1", "service": "gjj", "extra": {"a": 1}})
    assert (kind, rid, spec.roles, spec.mutating) == ("issue", "r1", ("kiosk",), True)


def test_roles_cover_the_contract():
    r = protocol.REQUESTS
    assert r["issue"].roles == ("kiosk",)
    assert r["check_in"].roles == ("kiosk",)
    for kind in ("call_next", "call", "recall", "start", "complete", "no_show", "transfer",
                 "pause", "resume", "queue", "logout"):
        assert r[kind].roles == ("counter",) and r[kind].needs_staff, kind
    assert r["login"].roles == ("counter",) and not r["login"].needs_staff
    assert r["rate"].roles == ("evaluator",)
    # a display only listens (and may report its own faults)
    allowed = {"ping", "report_fault", "clear_fault"}
    assert not any("display" in spec.roles for k, spec in r.items() if k not in allowed)


def test_encode_is_compact_utf8():
    text = protocol.encode(protocol.event(3, "ticket.called", "t", {"counter_name": "3号窗口"}))
    assert "3号窗口" in text and ", " not in text
    assert json.loads(text)["seq"] == 3


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c,
                                                                          max_size=4),
                    max_leaves=20))
def test_any_json_is_refused_cleanly_or_accepted(value):
    """Whatever JSON arrives, parsing gives a request or a bad_request, never a crash."""
    frame = json.dumps(value)
    try:
        message = protocol.decode(frame)
        protocol.parse_request(message)
    except ProtocolError as exc:
        assert exc.code == "bad_request"


@pytest.mark.parametrize(
    ("frame", "message", "re"),
    [
        ('{"type":"report_fault","id":"x","kind":"other","message":"\\ud800"}',
         "field 'message' is not valid text (a lone surrogate U+D800)", "x"),
        ('{"type":"ping","id":"\\udfff"}',
         "field 'id' is not valid text (a lone surrogate U+DFFF)", None),
        ('{"type":"issue","id":"1","service":"gjj\\u0000"}',
         "field 'service' holds a control character (U+0000)", "1"),
        ('{"type":"issue","id":"1","service":"a","x":{"y":["\\u0085"]}}',
         "field 'x' holds a control character (U+0085)", "1"),
        ('{"type":"issue","id":"1","k\\ud800":1}',
         "a key in 'the message' is not valid text (a lone surrogate U+D800)", "1"),
        ('{"type":"ping","id":"1","pad":"' + "x" * 4097 + '"}',
         "field 'pad' is longer than 4096 characters", "1"),
        ('{"type":"ping","id":"1","n":1e999}',
         "a number must be between -9007199254740991 and 9007199254740991", None),
        ('{"type":"ping","id":"1","n":123456789012345678901234567890}',
         "a number must be between -9007199254740991 and 9007199254740991", None),
        ('{"type":"ping","id":"1","n":NaN}', "NaN is not a JSON number", None),
        ('{"type":"ping","id":"1","id":"2"}', "an object has a key twice", None),
        ('{"type":"ping","id":"1","d":' + "[" * 8 + "]" * 8 + "}",
         "nesting deeper than 8 levels", "1"),
    ],
)
def test_decode_validates_every_value_to_the_end(frame, message, re):
    exc = _err(protocol.decode, frame)
    assert (exc.code, exc.message, exc.re) == ("bad_request", message, re)


def test_line_breaks_only_in_multiline_fields():
    ok = {"type": "report_fault", "id": "1", "kind": "other", "message": "一\n二\tthree"}
    assert protocol.parse_request(ok)[0] == "report_fault"
    exc = _err(protocol.parse_request, {"type": "issue", "id": "1", "service": "gjj\n"})
    assert exc.message == "field 'service' must be one line (no tab or line break)"
    exc = _err(protocol.parse_hello, {"type": "hello", "id": "h", "protocol": 1,
                                      "device": "k\n", "token": "t"})
    assert exc.message == "hello needs a non-empty string 'device'"


def test_encode_never_returns_text_that_cannot_be_sent():
    message = {"type": "event", "data": {"name": "窗口\ud800"}}
    text = protocol.encode(message)
    text.encode("utf-8")  # does not raise
    assert json.loads(text)["data"]["name"] == "窗口\ud800"
    assert protocol.encode_bytes(message) == text.encode("ascii")
    assert protocol.encode_bytes({"a": "窗口"}) == '{"a":"窗口"}'.encode()
