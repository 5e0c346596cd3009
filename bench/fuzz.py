"""Frame fuzzer: raw JSON text against a real server, for every request of every role.

Run: ``python -m bench.fuzz [--frames 100000] [--console-frames 10000] [--batch 50]
[--seed N]``

Starts the real ``qhall serve`` (the demo hall, every service open all day,
SQLite in a temp dir, no kiosk rate) and sends generated frames: every
request type of :data:`server.wire.protocol.REQUESTS` from a device of each role,
plus ``hello`` frames on fresh connections. Frames are written as JSON
*text* by :class:`FrameMaker`, so what ``json.dumps`` never writes appears:
lone surrogates (``\\ud800``, ``\\udfff``), ``\\u0000`` and raw control
characters, overlong strings, deep nesting, ``1e999``, 30-digit integers,
``NaN``, duplicate keys, wrong types, truncated text.

Batches alternate between *hostile* ones (every frame carries a defect and
must be refused; the hall's snapshot digest must not change) and *mixed*
ones (valid frames among hostile ones: the hall may change). After every
batch a fresh kiosk connects and issues a ticket. Any other outcome (an
``internal`` error, a 1011 close, a changed digest, a refused probe) is a
failure. Prints frames/s and every failure; exit status 1 when any.

Remote tickets (taken over HTTP after every batch) put their check codes and
numbers among the frames' values, so a kiosk's ``requeue`` reaches the
arrival path (``{ticket, arrived: true}``) in mixed batches and hostile ones
carrying those codes must leave the citizen not present.

:class:`ConsoleFuzzer` does the same on ``/console/ws`` for the console's
``config``, ``config_edit``, ``config_undo`` and ``assign`` requests, sent
with an admin's session cookie and CSRF token: a hostile frame gets an
``error`` reply (never a dropped connection) and leaves the configuration
version, the audit log and the hall's snapshot as they were.

``tests/server/test_fuzz.py`` runs 10,000 frames of the same machinery.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import http.client
import itertools
import json
import random
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from server.wire import protocol

__all__ = ["ConsoleFuzzer", "ConsoleSession", "FrameMaker", "Fuzzer", "Hall", "Outcome",
           "console_session", "main", "remote_taker"]

#: Escapes and characters no request may carry (each makes a frame refused).
BAD_ESCAPES = ("\\ud800", "\\udfff", "\\ud83d", "\\ude00x", "\\u0000", "\\u0007", "\\u001f",
               "\\u007f", "\\u0085", "\\u009f")
#: Bad numbers, as text.
BAD_NUMBERS = ("1e999", "-1e999", "123456789012345678901234567890", "9007199254740993",
               "NaN", "Infinity", "-Infinity", "1" * 5000)
#: Whole frames that are not a JSON object, or not JSON.
BAD_FRAMES = ("", "null", "[]", "1", '"hello"', "{", '{"type":"ping","id":"x"', "{'a':1}",
              '{"type":"ping","id":"x",}', "[" * 5000, '{"a":' * 3000 + "1" + "}" * 3000,
              '{"type":"ping","id":"\\x"}', '{"type":"ping","id":"\x01"}')
NICE_TEXT = ("gjj", "A001", "窗口三", "公积金 业务", "ok", "🙂", "x" * 60, "O'Brien", "a\"b",
             "back\\slash", "1 OR 1=1", "<script>", "ticket-1")


def jstr(text: str, ascii_only: bool = False) -> str:
    """A JSON string literal for valid ``text`` (hostile strings are written
    by hand in :meth:`FrameMaker._bad_string`)."""
    return json.dumps(text, ensure_ascii=ascii_only)


def jobj(pairs: list[tuple[str, str]]) -> str:
    """A JSON object from (key, value text) pairs, keys written as given."""
    return "{" + ",".join(f"{jstr(k)}:{v}" for k, v in pairs) + "}"


@dataclasses.dataclass
class Hall:
    """What the fuzzer needs to know of the hall under test."""

    url: str
    token: Callable[[str], str]
    pin: str
    services: tuple[str, ...]
    staff: tuple[str, ...]
    devices: dict[str, str]  # role -> device used for that role's frames
    probe: str  # a kiosk that issues after every batch
    probe_service: str
    watcher: str  # a display whose welcome gives the snapshot digest
    #: Takes one remote ticket (the citizen's phone, over HTTP); None: no remote tickets.
    remote: Callable[[], dict[str, Any]] | None = None


#: Phone numbers of the remote tickets (one process's takers share them).
_PHONES = itertools.count(13800000000)


def remote_taker(http: str, hall_id: str, service: str) -> Callable[[], dict[str, Any]]:
    """A function that takes a remote ticket of ``service`` at ``http`` (the
    server's ``http://host:port``) as a citizen's phone does; returns the ticket."""
    def take() -> dict[str, Any]:
        # A new phone each time: one phone holds one active ticket of a service.
        body = json.dumps({"service": service, "phone": str(next(_PHONES))}).encode()
        req = urllib.request.Request(f"{http}/api/v1/halls/{hall_id}/tickets", body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return dict(json.loads(r.read()))
    return take


class FrameMaker:
    """Request frames as JSON text, valid or with one defect each.

    Args:
        rng: the source of every choice (a hypothesis ``randoms()`` in the
            test, a seeded :class:`random.Random` in the soak).
        hall: services and staff to make valid values from.
    """

    def __init__(self, rng: random.Random, hall: Hall) -> None:
        self.rng = rng
        self.hall = hall
        self.ids = 0
        self.tickets: list[str] = ["0" * 32]
        # Remote tickets' check codes and numbers join these (kiosk requeue = arrival).
        self.checks: list[str] = ["NOSUCH00"]
        self.numbers: list[str] = ["A001", "Z999"]
        # The last welcome's resume ticket of each device, sent back whole or spoiled.
        self.resumes: dict[str, str] = {}

    def _id(self) -> str:
        self.ids += 1
        return f"f{self.ids}-{self.rng.randrange(10**9)}"

    def _good_value(self, name: str, rule: protocol.Field) -> str:
        r = self.rng
        if rule.choices:
            return jstr(r.choice(rule.choices))
        if int in rule.types:
            lo, hi = rule.min or 0, min(rule.max or 10, 10)
            return str(r.randint(lo, hi))
        if dict in rule.types:
            return jobj([("speed", str(r.randint(1, 5))), ("note", jstr(r.choice(NICE_TEXT)))])
        values = {
            "service": self.hall.services, "staff": self.hall.staff,
            "pin": (self.hall.pin, "0000", "12345"), "ticket": self.tickets,
            "date": ("2026-12-01", "2026-13-40"), "slot": ("2026-12-01T09:00",),
            "phone": ("13812345678", "12"), "name": ("王芳", "李 强"),
            "check": self.checks, "number": self.numbers,
        }.get(name, NICE_TEXT)
        text = r.choice(values)
        if rule.multiline and r.random() < 0.3:
            text += "\n第二行 second line"
        return jstr(text, ascii_only=r.random() < 0.3)

    def _bad_string(self) -> str:
        r = self.rng
        kind = r.randrange(4)
        if kind == 0:
            return jstr(r.choice(NICE_TEXT)[:5])[:-1] + r.choice(BAD_ESCAPES) + '"'
        if kind == 1:
            return '"' + r.choice(["\x00", "\x07", "\x1f", "\n"]) + 'raw"'  # invalid JSON
        if kind == 2:
            return jstr("y" * r.choice([4097, 20000]))
        return '"' + "\\ud800" * r.randint(1, 50) + '"'

    def _bad_value(self, rule: protocol.Field | None) -> str:
        r = self.rng
        choice = r.randrange(5)
        if choice == 0:
            return self._bad_string()
        if choice == 1:
            return r.choice(BAD_NUMBERS)
        if choice == 2:
            depth = r.randint(protocol.MAX_DEPTH, 60)
            return "[" * depth + "1" + "]" * depth
        if choice == 3 and rule is not None:
            # A value of the wrong type (or out of its range / choices).
            if str in rule.types:
                wrong = ["7", "true", "[]", '{"$ne":null}', "2.5"]
                if rule.choices:
                    wrong.append(jstr("vip"))
                if not rule.multiline:
                    wrong.append(jstr("two\nlines"))
                return r.choice(wrong)
            if int in rule.types:
                return r.choice(['"5"', "2.5", "true", str((rule.max or 10) + 1), "[1]"])
            return r.choice(['"x"', "3", "[]"])
        return '{"k":' + self._bad_string() + "}"

    def request(self, kind: str, hostile: bool) -> str:
        """One request frame of type ``kind``; with ``hostile``, one defect."""
        r = self.rng
        spec = protocol.REQUESTS[kind]
        pairs: list[tuple[str, str]] = [("type", jstr(kind)), ("id", jstr(self._id()))]
        for name, rule in spec.fields.items():
            if rule.required or r.random() < 0.5:
                pairs.append((name, self._good_value(name, rule)))
        if r.random() < 0.2:
            pairs.append(("extra", jobj([("x", jstr("y"))])))
        r.shuffle(pairs)
        if not hostile:
            return jobj(pairs)
        defect = r.randrange(8)
        if defect == 0 and spec.fields:  # a declared field gets a bad value
            name = r.choice(list(spec.fields))
            pairs = [p for p in pairs if p[0] != name] + [
                (name, self._bad_value(spec.fields[name]))]
        elif defect == 1:  # the request id itself
            bad_id = r.choice(['"\\ud800"', '""', "7", "null", jstr("i" * 129),
                               '"\\u0000"', '"a\\nb"', '"\\udfff"'])
            pairs = [p for p in pairs if p[0] != "id"] + [("id", bad_id)]
        elif defect == 2:  # an undeclared field
            pairs.append((r.choice(["x", "batch", "meta"]), self._bad_value(None)))
        elif defect == 3:  # a duplicate key
            key, value = r.choice(pairs)
            pairs.append((key, value))
        elif defect == 4:  # a bad key
            return jobj(pairs)[:-1] + ',"k' + r.choice(BAD_ESCAPES) + '":1}'
        elif defect == 5:  # a missing required field, or the id missing
            required = [n for n, rule in spec.fields.items() if rule.required]
            drop = r.choice(required) if required and r.random() < 0.7 else "id"
            pairs = [p for p in pairs if p[0] != drop]
        elif defect == 6:
            return r.choice(BAD_FRAMES)
        else:  # an unknown or hostile type
            pairs = [p for p in pairs if p[0] != "type"] + [
                ("type", r.choice(['"fly"', '"\\ud800"', "1", '"hello"', '"issue\\u0000"']))]
        return jobj(pairs)

    def resume(self, device: str) -> str:
        """A hello's ``resume`` of any JSON shape: the device's own ticket, one
        spoiled or another device's, or no ticket at all. Whatever it is, the
        hello is then as good as its token (never an error)."""
        r = self.rng
        choices = ["7", "null", "true", "[]", '{"r1":1}', "2.5", '""', jstr("r1.1.x"),
                   jstr("r1.99999999999." + "A" * 43), jstr("r" * 600),
                   jstr(r.choice(NICE_TEXT))]
        mine = self.resumes.get(device)
        if mine is not None:
            choices += [jstr(mine)] * 4 + [jstr(mine[:-1] + ("B" if mine[-1] == "A" else "A")),
                                           jstr(mine + "."), jstr(mine.replace("r1.", "r1.1"))]
        others = [t for d, t in self.resumes.items() if d != device]
        if others:
            choices.append(jstr(r.choice(others)))
        return r.choice(choices)

    def hello(self, device: str, hostile: bool) -> str:
        """A hello frame for ``device``; with ``hostile``, one defect."""
        r = self.rng
        pairs = [("type", '"hello"'), ("id", jstr(self._id())), ("protocol", "1"),
                 ("device", jstr(device)), ("token", jstr(self.hall.token(device))),
                 # No replay: a client that stops reading mid-replay is another test.
                 ("since", r.choice(["null", "999999999"]))]
        if r.random() < 0.5:
            pairs.append(("resume", self.resume(device)))
        if not hostile:
            return jobj(pairs)
        field = r.choice(["id", "device", "token", "since", "protocol", "extra", "resume"])
        bad = {
            "token": [self._bad_string(), jstr("wrong-token"), '""', "1"],
            "since": ["-1", "1e999", '"0"', "true", "123456789012345678901234567890"],
            "protocol": ['"1"', "2", "1e999", "null"],
        }.get(field, [self._bad_string(), "7", '""'])
        value = r.choice(bad)
        pairs = [p for p in pairs if p[0] != field] + [(field, value)]
        return jobj(pairs)


@dataclasses.dataclass
class Outcome:
    frames: int = 0
    refused: int = 0
    accepted: int = 0
    arrivals: int = 0  # replies {ticket, arrived: true} (a remote ticket's kiosk requeue)
    reconnects: int = 0
    failures: list[str] = dataclasses.field(default_factory=list)


class Fuzzer:
    """Sends batches of frames and checks the rules above after each."""

    REFUSALS = {"bad_request", "rate_limited"}
    #: Frames pipelined on one connection: below the server's error budget.
    CHUNK = 20

    def __init__(self, hall: Hall, rng: random.Random) -> None:
        self.hall = hall
        self.maker = FrameMaker(rng, hall)
        self.rng = rng
        self.conns: dict[str, ClientConnection] = {}
        self.outcome = Outcome()
        self.last_state: dict[str, Any] = {}
        self.in_hostile_batch = False
        self.previous_state: dict[str, Any] = {}

    # -- connections -------------------------------------------------------
    def _dial(self, hello: str) -> tuple[ClientConnection, dict[str, Any]]:
        # max_queue=None: the receiving thread always reads, so a close is
        # never stuck behind unread broadcasts.
        ws = connect(self.hall.url, open_timeout=10, max_size=2**22,
                     max_queue=None).__enter__()
        ws.send(hello)
        first = json.loads(ws.recv(10))
        if first.get("type") == "welcome" and isinstance(first.get("resume"), str):
            self.maker.resumes[str(first.get("device"))] = first["resume"]
        return ws, first

    def _conn(self, role: str) -> ClientConnection:
        ws = self.conns.get(role)
        if ws is None:
            device = self.hall.devices[role]
            ws, first = self._dial(self.maker.hello(device, hostile=False))
            if first.get("type") != "welcome":
                raise RuntimeError(f"{device}: no welcome: {first}")
            self.conns[role] = ws
            # Logging in changes the hall: never inside a hostile batch.
            if role == "counter" and not self.in_hostile_batch:
                self._ask(ws, jobj([("type", '"login"'), ("id", jstr(self.maker._id())),
                                    ("staff", jstr(self.hall.staff[0])),
                                    ("pin", jstr(self.hall.pin))]))
        return ws

    def _ask(self, ws: ClientConnection, frame: str) -> dict[str, Any]:
        """Send one frame; its reply (one frame at a time)."""
        ws.send(frame)
        while True:
            msg = json.loads(ws.recv(10))
            if msg.get("type") in ("ok", "error"):
                return msg  # one frame at a time: the next reply is this one's

    def close(self) -> None:
        for ws in self.conns.values():
            ws.close()
        self.conns.clear()

    # -- checks ------------------------------------------------------------
    def digest(self) -> str:
        """A digest of the hall as a fresh display sees it (snapshot and seq);
        the state itself is kept in :attr:`last_state` to explain a difference."""
        ws, welcome = self._dial(self.maker.hello(self.hall.watcher, hostile=False))
        ws.close()
        if welcome.get("type") != "welcome":
            raise RuntimeError(f"watcher refused: {welcome}")
        state = {"seq": welcome["seq"], "snapshot": welcome["snapshot"]}
        self.previous_state, self.last_state = self.last_state, state
        return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()

    def probe(self) -> None:
        """A fresh kiosk connects and issues: the hall still serves."""
        ws, welcome = self._dial(self.maker.hello(self.hall.probe, hostile=False))
        try:
            if welcome.get("type") != "welcome":
                self.outcome.failures.append(f"probe hello refused: {welcome}")
                return
            reply = self._ask(ws, jobj([("type", '"issue"'), ("id", jstr(self.maker._id())),
                                        ("service", jstr(self.hall.probe_service))]))
            if reply.get("type") != "ok":
                self.outcome.failures.append(f"probe issue refused: {reply}")
            else:
                self.maker.tickets.append(reply["ticket"]["id"])
        finally:
            ws.close()
        if self.hall.remote is not None:
            remote = self.hall.remote()
            self.maker.checks.append(remote["check"])
            self.maker.numbers.append(remote["number"])

    def _send(self, role: str, chunk: list[tuple[str, bool]]) -> None:
        """Send frames to ``role``'s device pipelined, then read one reply each.

        Each chunk goes out on a fresh connection: a burst of refused frames
        is what the server's error budget closes a connection for (1008).
        """
        out = self.outcome
        out.frames += len(chunk)
        old = self.conns.pop(role, None)
        if old is not None:
            old.close()
            out.reconnects += 1
        ws = self._conn(role)
        for frame, _ in chunk:
            ws.send(frame)
        for frame, hostile in chunk:
            try:
                while True:
                    reply = json.loads(ws.recv(10))
                    if reply.get("type") in ("ok", "error"):
                        break
            except ConnectionClosed as exc:
                self.conns.pop(role, None)
                code = exc.rcvd.code if exc.rcvd else None
                if code in (1011, None):
                    out.failures.append(f"{role}: connection lost ({code}) after "
                                        f"{frame[:120]!r}")
                return
            if reply["type"] == "error" and reply["code"] == "internal":
                out.failures.append(f"{role}: internal error for {frame[:120]!r}")
            if hostile and (reply["type"] != "error" or reply["code"] not in self.REFUSALS):
                out.failures.append(f"{role}: hostile frame not refused ({reply}): "
                                    f"{frame[:120]!r}")
            if reply["type"] == "ok":
                out.accepted += 1
                out.arrivals += reply.get("arrived") is True
                ticket = reply.get("ticket")
                if isinstance(ticket, dict) and "id" in ticket:
                    self.maker.tickets.append(ticket["id"])
            else:
                out.refused += 1

    def _hello_frame(self, hostile: bool) -> None:
        out = self.outcome
        out.frames += 1
        device = self.rng.choice(list(self.hall.devices.values()))
        frame = self.maker.hello(device, hostile)
        try:
            ws, first = self._dial(frame)
        except ConnectionClosed as exc:
            out.failures.append(f"hello closed without a reply ({exc}): {frame[:120]!r}")
            return
        try:
            if first.get("type") == "welcome":
                out.accepted += 1
                # A hostile hello may still be welcome when its defect lies
                # in a field the server ignores, never when it is a bad string.
                if hostile and any(e in frame for e in BAD_ESCAPES):
                    out.failures.append(f"hostile hello welcomed: {frame[:120]!r}")
            else:
                out.refused += 1
                if first.get("code") == "internal":
                    out.failures.append(f"hello got internal: {frame[:120]!r}")
                elif not hostile and first.get("code") != "rate_limited":
                    # Its resume (any shape) may only cost the token check.
                    out.failures.append(f"good hello refused: {first}: {frame[:160]!r}")
                try:
                    ws.recv(5)
                except ConnectionClosed as exc:
                    if exc.rcvd is None or exc.rcvd.code == 1011:
                        out.failures.append(f"hello closed 1011/abruptly: {frame[:120]!r}")
        finally:
            ws.close()

    def batch(self, size: int, hostile: bool) -> None:
        """One batch; for a hostile one the hall's digest must not move."""
        self.in_hostile_batch = hostile
        before = self.digest() if hostile else None
        roles = list(self.hall.devices)
        chunks: dict[str, list[tuple[str, bool]]] = {}
        for _ in range(size):
            if self.rng.random() < 0.02:
                self._hello_frame(hostile=hostile or self.rng.random() < 0.5)
                continue
            role = self.rng.choice(roles)
            kinds = [k for k, spec in protocol.REQUESTS.items()
                     if role in spec.roles or self.rng.random() < 0.1]
            kind = self.rng.choice(kinds)
            bad = hostile or self.rng.random() < 0.4
            chunk = chunks.setdefault(role, [])
            chunk.append((self.maker.request(kind, bad), bad))
            if len(chunk) >= self.CHUNK:
                self._send(role, chunks.pop(role))
        for role, chunk in chunks.items():
            self._send(role, chunk)
        if before is not None:
            after = self.digest()
            if after != before:
                old, new = self.previous_state, self.last_state
                changed = sorted(k for k in new["snapshot"]
                                 if new["snapshot"][k] != old["snapshot"].get(k))
                self.outcome.failures.append(
                    f"a hostile batch changed the hall: seq {old['seq']} -> {new['seq']}, "
                    f"snapshot parts {changed}")
        self.probe()

    def run(self, frames: int, batch: int = 100) -> Outcome:
        n = 0
        while self.outcome.frames < frames:
            self.batch(min(batch, frames - self.outcome.frames), hostile=n % 2 == 0)
            n += 1
        self.close()
        return self.outcome


# ------------------------------------------------------------- console


@dataclasses.dataclass
class ConsoleSession:
    """A logged-in console of the hall under test (an admin's)."""

    port: int
    cookie: str  # the session cookie, ``name=value``
    csrf: str    # the page's CSRF token
    services: tuple[str, ...]
    counters: tuple[int, ...]


def _get(port: int, path: str, cookie: str = "") -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode()
    finally:
        conn.close()


def _console_socket(port: int, cookie: str = "") -> ClientConnection:
    # Same origin only: the console refuses a socket from another page.
    headers = {"Cookie": cookie} if cookie else None
    return connect(f"ws://127.0.0.1:{port}/console/ws", origin=Origin(f"http://127.0.0.1:{port}"),
                   additional_headers=headers, open_timeout=10, max_size=2**22,
                   max_queue=None).__enter__()


def console_session(port: int, staff: str, password: str, services: tuple[str, ...],
                    counters: tuple[int, ...]) -> ConsoleSession:
    """Log in as a browser does: login on the socket, the grant traded for the
    cookie, the CSRF token read from the page."""
    with _console_socket(port) as ws:
        ws.send(json.dumps({"type": "login", "staff": staff, "password": password}))
        reply = json.loads(ws.recv(30))
    if reply.get("type") != "ok":
        raise RuntimeError(f"console login refused: {reply}")
    _status, headers, _ = _get(port, f"/console/session?grant={reply['grant']}")
    cookie = headers["set-cookie"].split(";")[0]
    _status, _, page = _get(port, "/console", cookie)
    csrf = page.split('name="qhall-csrf" content="', 1)[1].split('"', 1)[0]
    return ConsoleSession(port, cookie, csrf, services, counters)


class ConsoleFuzzer:
    """Raw JSON text at the console's configuration and assignment requests.

    Hostile batches: every frame has one defect (bad text, numbers, nesting,
    keys, wrong types or values, a missing or wrong CSRF token, a frame that
    is no JSON object or too large); each must be answered ``error`` with a
    refusal code, and the configuration version, the newest audit entry and
    the hall's snapshot (``digest``) must not move. Mixed batches add valid
    requests (they may change the hall). Any dropped connection or
    ``internal`` error is a failure.
    """

    KINDS = ("config", "config_edit", "config_undo", "assign")
    REFUSALS = {"bad_request", "forbidden", "not_found"}
    CHUNK = 20

    def __init__(self, session: ConsoleSession, rng: random.Random,
                 digest: Callable[[], str]) -> None:
        self.session = session
        self.rng = rng
        self.digest = digest
        self.maker = FrameMaker(rng, Hall(url="", token=str, pin="", services=(), staff=(),
                                          devices={}, probe="", probe_service="", watcher=""))
        self.audits: list[int] = []
        self.outcome = Outcome()
        self.ws: ClientConnection | None = None

    # -- frames ------------------------------------------------------------
    def _valid(self, do: str) -> list[tuple[str, str]]:
        r, s = self.rng, self.session
        if do == "assign":
            services = r.sample(s.services, r.randint(0, 2))
            return [("counter", str(r.choice(s.counters))), ("services", json.dumps(services))]
        if do == "config_undo":
            return [("audit", str(r.choice(self.audits or [1])))]
        if do == "config_edit":
            if r.random() < 0.5:
                return [("op", '"service"'), ("service", jstr(r.choice(s.services))),
                        ("zone", jstr(r.choice(["", "二楼 2F", "A区"])))]
            return [("op", '"counter"'), ("number", str(r.choice(s.counters))),
                    ("services", json.dumps(r.sample(s.services, r.randint(1, 2))))]
        return []

    def _wrong(self, do: str) -> tuple[str, str]:
        """A field of ``do`` with a value of the wrong type, or naming nothing."""
        r = self.rng
        table = {
            "assign": [("counter", v) for v in ('"4"', "true", "2.5", "[4]", "999", "0",
                                                 "9007199254740991", "null")]
            + [("services", v) for v in ('"gjj"', "[1]", '[""]', '["nope"]', '[["gjj"]]',
                                         '{"gjj":1}', "null", json.dumps(["gjj"] * 51))],
            "config_undo": [("audit", v) for v in ('"1"', "true", "0", "-1", "2.5",
                                                    "2147483648", "9007199254740991",
                                                    "999999", "null", "[1]")],
            "config_edit": [("op", v) for v in ("7", '"nope"', '"staff_secret"', "null",
                                                 '"service_rename"')]
            + [("service", v) for v in ('"nope"', "7", "null")]
            + [("daily_quota", v) for v in ('"5"', "true", "2.5")]
            + [("appointments", v) for v in ('"yes"', "1")]
            + [("hours", v) for v in ('"9-17"', "[1]", '["25:00-26:00"]')]
            + [("zone", v) for v in ("7", json.dumps("z" * 201))],
            "config": [("csrf", v) for v in ('"wrong"', '""', "null", "7")],
        }
        return r.choice(table[do])

    def request(self, do: str, hostile: bool) -> str:
        r = self.rng
        pairs = [("id", jstr(self.maker._id())), ("csrf", jstr(self.session.csrf)),
                 ("do", jstr(do)), *self._valid(do)]
        if not hostile:
            return jobj(pairs)
        defect = r.randrange(7)
        if defect == 0:  # bad text, numbers or nesting in a field or the id
            name = r.choice([p[0] for p in pairs])
            pairs = [p for p in pairs if p[0] != name] + [(name, self.maker._bad_value(None))]
        elif defect == 1:  # wrong type or value (an edit the rules refuse)
            name, value = self._wrong(do)
            if do == "config_edit" and name != "op":
                # A service edit (a counter edit would ignore a service's fields).
                pairs = [p for p in pairs if p[0] not in ("op", "service", "zone", "number",
                                                          "services")]
                pairs += [("op", '"service"'), ("service", jstr(self.session.services[0]))]
            pairs = [p for p in pairs if p[0] != name] + [(name, value)]
        elif defect == 2:  # the CSRF token missing or wrong
            pairs = [p for p in pairs if p[0] != "csrf"]
            if r.random() < 0.7:
                pairs.append(("csrf", r.choice(['"x"', jstr(self.session.csrf[:-1]), "1",
                                                '"\\ud800"'])))
        elif defect == 3:  # a key twice
            pairs.append(r.choice(pairs))
        elif defect == 4:  # a bad key
            return jobj(pairs)[:-1] + ',"k' + r.choice(BAD_ESCAPES) + '":1}'
        elif defect == 5:  # no JSON object, or too large
            return r.choice(BAD_FRAMES + ('{"do":"config","pad":"' + "x" * 17000 + '"}',))
        else:  # a hostile do
            pairs = [p for p in pairs if p[0] != "do"] + [
                ("do", r.choice(['"\\ud800"', "7", '"config\\u0000"', "null", '"CONFIG"']))]
        r.shuffle(pairs)
        return jobj(pairs)

    # -- checks ------------------------------------------------------------
    def _socket(self) -> ClientConnection:
        if self.ws is None:
            self.ws = _console_socket(self.session.port, self.session.cookie)
        return self.ws

    def _reply(self, ws: ClientConnection) -> dict[str, Any]:
        while True:
            msg = json.loads(ws.recv(30))
            if msg.get("type") != "floor":  # the floor is pushed between replies
                return dict(msg)

    def state(self) -> tuple[Any, ...]:
        """The configuration version, the newest audit entry and the hall's digest."""
        ws = self._socket()
        ws.send(jobj([("id", '"state"'), ("csrf", jstr(self.session.csrf)),
                      ("do", '"config"')]))
        config = self._reply(ws)
        ws.send(jobj([("id", '"audit"'), ("csrf", jstr(self.session.csrf)),
                      ("do", '"audit"')]))
        audit = self._reply(ws)
        if config.get("type") != "ok" or audit.get("type") != "ok":
            raise RuntimeError(f"the console cannot read its state: {config} {audit}")
        entries = [a["id"] for a in audit["audit"] if a["action"] in ("config", "config_undo")]
        self.audits = entries[:5] or self.audits
        newest = audit["audit"][0]["id"] if audit["audit"] else 0
        return config["version"], newest, self.digest()

    def batch(self, size: int, hostile: bool) -> None:
        out = self.outcome
        before = self.state() if hostile else None
        frames = [(self.request(self.rng.choice(self.KINDS), hostile), hostile)
                  for _ in range(size)]
        for start in range(0, len(frames), self.CHUNK):
            chunk = frames[start:start + self.CHUNK]
            ws = self._socket()
            out.frames += len(chunk)
            for frame, _ in chunk:
                ws.send(frame)
            for frame, bad in chunk:
                try:
                    reply = self._reply(ws)
                except ConnectionClosed as exc:
                    self.ws = None
                    out.failures.append(f"console: connection lost ({exc.rcvd}) after "
                                        f"{frame[:120]!r}")
                    break
                if reply.get("type") == "ok":
                    out.accepted += 1
                    if bad:
                        out.failures.append(f"console: hostile frame accepted: {frame[:120]!r}")
                    continue
                out.refused += 1
                if reply.get("code") == "internal" or (bad and reply.get("code")
                                                        not in self.REFUSALS):
                    out.failures.append(f"console: {reply.get('code')} "
                                        f"({reply.get('message')}) for {frame[:120]!r}")
        if before is not None:
            after = self.state()
            if after != before:
                out.failures.append(f"console: a hostile batch changed the hall: "
                                    f"(version, audit, digest) {before[:2]} -> {after[:2]}, "
                                    f"digest {'same' if before[2] == after[2] else 'changed'}")

    def run(self, frames: int, batch: int = 100) -> Outcome:
        n = 0
        while self.outcome.frames < frames:
            self.batch(min(batch, frames - self.outcome.frames), hostile=n % 2 == 0)
            n += 1
        if self.ws is not None:
            self.ws.close()
        return self.outcome


# ---------------------------------------------------------------- CLI


#: The console password of the demo hall's first staff member (made an admin here).
CONSOLE_PASSWORD = "fuzz console 20"


def _demo_hall(url: str) -> tuple[Any, Hall]:
    from server.auth import hash_secret
    from server.reference import DEMO_PIN, demo_config, demo_token

    cfg = demo_config("sqlite://")
    open_all_day = tuple(dataclasses.replace(s, hours=(), daily_quota=None)
                         for s in cfg.services)
    admin = dataclasses.replace(cfg.staff[0], roles=("counter", "supervisor", "admin"),
                                password_hash=hash_secret(CONSOLE_PASSWORD))
    # Remote tickets without the per-address hourly bound (0 = none).
    cfg = dataclasses.replace(cfg, services=open_all_day, staff=(admin, *cfg.staff[1:]),
                              limits=dataclasses.replace(cfg.limits, remote_issues_per_hour=0))
    roles: dict[str, str] = {}
    for d in cfg.devices:
        roles.setdefault(d.role, d.id)
    kiosks = [d.id for d in cfg.devices if d.role == "kiosk"]
    displays = [d.id for d in cfg.devices if d.role == "display"]
    hall = Hall(url=url, token=demo_token, pin=DEMO_PIN,
                services=tuple(s.id for s in cfg.services)[:4] + ("nope",),
                staff=tuple(s.id for s in cfg.staff)[:3] + ("s999",),
                devices=roles, probe=kiosks[-1], probe_service=cfg.services[0].id,
                watcher=displays[-1],
                remote=remote_taker(url.replace("ws://", "http://").removesuffix("/ws"),
                                    cfg.id, cfg.services[-1].id))
    return cfg, hall


def main(argv: list[str] | None = None) -> int:
    import os
    import socket
    import subprocess
    import tempfile
    from pathlib import Path

    from server.config import dumps

    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--console-frames", type=int, default=10_000,
                        help="frames at the console's config/config_edit/config_undo/assign")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        cfg, hall = _demo_hall(f"ws://127.0.0.1:{port}/ws")
        cfg = dataclasses.replace(cfg, database=f"sqlite:///{tmp}/fuzz.db")
        path = Path(tmp) / "hall.toml"
        path.write_text(dumps(cfg), encoding="utf-8")
        log = (Path(tmp) / "server.log").open("w")
        server = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--config", str(path), "--port",
             str(port), "--quiet-requests", "--kiosk-rate", "0"],
            cwd=root, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        print("server did not start", file=sys.stderr)
                        return 2
                    time.sleep(0.05)
            print(f"fuzzing {args.frames} frames (seed {seed}, batches of {args.batch})")
            started = time.perf_counter()
            fuzzer = Fuzzer(hall, random.Random(seed))
            outcome = fuzzer.run(args.frames, args.batch)
            elapsed = time.perf_counter() - started
            console = ConsoleFuzzer(
                console_session(port, cfg.staff[0].id, CONSOLE_PASSWORD,
                                tuple(s.id for s in cfg.services),
                                tuple(c.number for c in cfg.counters)),
                random.Random(seed), fuzzer.digest).run(args.console_frames, args.batch)
        finally:
            server.terminate()
            server.wait(15)
            log.close()
        server_log = (Path(tmp) / "server.log").read_text(encoding="utf-8")
    tracebacks = server_log.count("Traceback")
    print(f"frames:     {outcome.frames}  ({outcome.frames / elapsed:,.0f} frames/s, "
          f"{elapsed:.1f} s)")
    print(f"refused:    {outcome.refused}   accepted: {outcome.accepted}   "
          f"reconnects: {outcome.reconnects}   arrivals: {outcome.arrivals}")
    print(f"console:    {console.frames} frames, refused {console.refused}, "
          f"accepted {console.accepted}")
    print(f"tracebacks in the server log: {tracebacks}")
    failures = outcome.failures + console.failures
    for failure in failures[:50]:
        print(f"FAILURE: {failure}")
    print(f"failures:   {len(failures)}")
    return 1 if failures or tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
