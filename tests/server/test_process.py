"""`qhall serve` as a real process: SIGKILL mid-load and restart, SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from server.config import dumps
from tests.helpers.server import PIN, WsClient, free_port, small_config
from tests.helpers.server import TOKEN as token

ROOT = Path(__file__).resolve().parents[2]
#: Acknowledged tickets the SIGKILL test waits for before it kills the server.
ACKED_BEFORE_KILL = 40


class Proc:
    def __init__(self, config_path: Path, port: int,
                 extra: tuple[str, ...] = ("--no-limits",)) -> None:
        self.port = port
        self.log = config_path.with_suffix(f".{port}.{time.monotonic_ns()}.log")
        self.url = f"ws://127.0.0.1:{port}/ws"
        out = self.log.open("w")
        self.p = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--config", str(config_path),
             "--port", str(port), "--quiet-requests", *extra],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        out.close()  # the child has its own copy
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), 0.2):
                    return
            except OSError:
                if self.p.poll() is not None:
                    raise RuntimeError(self.output()) from None
                time.sleep(0.05)
        raise RuntimeError("server did not listen")

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8")

    def client(self, device: str, **kw) -> WsClient:
        return WsClient(self.url, device, token(device), **kw)


@pytest.fixture
def config_file(tmp_path):
    cfg = small_config(f"sqlite:///{tmp_path / 'proc.db'}")
    path = tmp_path / "hall.toml"
    path.write_text(dumps(cfg), encoding="utf-8")
    return path


@pytest.mark.slow
def test_sigkill_mid_load_keeps_every_acknowledged_ticket(config_file):
    port = free_port()
    proc = Proc(config_file, port)
    acked: list[dict] = []
    stop = threading.Event()
    loaded = threading.Event()  # enough tickets acknowledged: kill it mid-load

    def load(device: str) -> None:
        try:
            with proc.client(device) as kiosk:
                while not stop.is_set():
                    reply = kiosk.request("issue", service="gjj", timeout=5)
                    if reply["type"] == "ok":
                        acked.append(reply["ticket"])
                        if len(acked) >= ACKED_BEFORE_KILL:
                            loaded.set()
        except (ConnectionClosed, OSError, TimeoutError):
            return

    threads = [threading.Thread(target=load, args=(d,)) for d in ("kiosk-1", "kiosk-2")]
    for t in threads:
        t.start()
    assert loaded.wait(60), f"only {len(acked)} tickets acknowledged in 60 s"
    proc.p.send_signal(signal.SIGKILL)  # the kiosks are still issuing
    proc.p.wait(10)
    stop.set()
    for t in threads:
        t.join(10)
    assert len(acked) >= ACKED_BEFORE_KILL
    proc2 = Proc(config_file, port)
    try:
        with proc2.client("counter-2") as c, proc2.client("kiosk-1") as kiosk:
            assert c.request("login", staff="s002", pin=PIN)["type"] == "ok"
            waiting = c.request("queue")["waiting"]
            have = {t["id"] for t in waiting}
            assert {t["id"] for t in acked} <= have
            numbers = [t["number"] for t in waiting]
            assert len(numbers) == len(set(numbers))
            fresh = kiosk.request("issue", service="gjj")["ticket"]
            assert fresh["number"] not in numbers
            assert int(fresh["number"][1:]) == max(int(n[1:]) for n in numbers) + 1
    finally:
        proc2.p.terminate()
        proc2.p.wait(10)


def test_sigterm_closes_clients_1001_and_exits_0(config_file):
    proc = Proc(config_file, free_port())
    board = proc.client("board-1")
    kiosk = proc.client("kiosk-1")
    assert kiosk.request("issue", service="tax")["type"] == "ok"
    proc.p.send_signal(signal.SIGTERM)
    with pytest.raises(ConnectionClosed) as info:
        while True:
            board.recv(10)
    assert info.value.rcvd.code == 1001
    assert proc.p.wait(15) == 0
    out = proc.output()
    assert "Traceback" not in out and "stopping" in out


def test_tls_serves_wss_and_https(tmp_path, config_file):
    """`--tls-cert/--tls-key`: the same port speaks wss:// and https://."""
    import json
    import ssl
    import urllib.request

    from websockets.sync.client import connect

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    port = free_port()
    out = tmp_path / "tls.log"
    with out.open("w") as log:
        p = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--config", str(config_file),
             "--port", str(port), "--tls-cert", str(cert), "--tls-key", str(key)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), 0.2):
                    break
            except OSError:
                assert p.poll() is None and time.monotonic() < deadline, out.read_text()
                time.sleep(0.05)
        ctx = ssl.create_default_context(cafile=str(cert))
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=ctx,
                                    timeout=5) as resp:
            assert resp.read() == b"ok\n"
        with connect(f"wss://127.0.0.1:{port}/ws", ssl=ctx, open_timeout=10) as ws:
            ws.send(json.dumps({"type": "hello", "id": "h", "protocol": 1,
                                "device": "board-1", "token": token("board-1")}))
            assert json.loads(ws.recv(10))["type"] == "welcome"
        assert "listening on wss://" in out.read_text()
    finally:
        p.terminate()
        assert p.wait(15) == 0
