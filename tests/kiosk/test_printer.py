"""Printer specs, the ESC/POS job (golden framing), back-ends, failures, ``qhall print-test``."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtGui import QColor, QImage

import kiosk.printer as kp
from kiosk.printer import (
    PrinterError,
    PrinterSpec,
    escpos_job,
    open_printer,
    parse_spec,
)
from kiosk.ticket import qr_matrix, render_ticket, ticket_regions, to_monochrome
from server.cli import main
from tests.helpers.fakes import FakePrinter

URL = "http://127.0.0.1:8765/t/K7Q2M9"
ESC_INIT = b"\x1b@"
RASTER = b"\x1dv0"
CUT = b"\x1dV\x00"
DLE_EOT_ONLINE = b"\x10\x04\x01"
DLE_EOT_PAPER = b"\x10\x04\x04"


@pytest.fixture
def ticket_image(qapp) -> QImage:
    ticket = {"id": "t1", "number": "A001", "service": "gjj", "status": "waiting",
              "priority": "normal", "issued_at": "2026-11-26T09:00:01+08:00",
              "counter": None, "ahead": 4, "eta_s": 600, "check": "K7Q2M9"}
    return render_ticket(ticket, "滁州市政务服务中心", "公积金", "Housing provident fund", URL)


# ---------------------------------------------------------------------------
# decoding ESC/POS

def parse_job(data: bytes) -> tuple[list[tuple[int, int, bytes]], bytes]:
    """Split a job into its GS v 0 raster blocks (width bytes, height, data) and the tail."""
    assert data.startswith(ESC_INIT)
    blocks, pos = [], len(ESC_INIT)
    while (start := data.find(RASTER, pos)) >= 0:
        assert start == pos, f"unexpected bytes before raster block: {data[pos:start]!r}"
        mode = data[start + 3]
        assert mode == 0  # normal density, 203 x 203 dpi
        x_lo, x_hi, y_lo, y_hi = data[start + 4:start + 8]
        width_bytes, height = x_lo + 256 * x_hi, y_lo + 256 * y_hi
        end = start + 8 + width_bytes * height
        assert end <= len(data), "raster data cut short"
        blocks.append((width_bytes, height, data[start + 8:end]))
        pos = end
    return blocks, data[pos:]


def decode_raster(blocks: list[tuple[int, int, bytes]]) -> Image.Image:
    """Stack raster blocks into one 1-bit image, black where the printer burns a dot."""
    width_bytes = blocks[0][0]
    assert all(b[0] == width_bytes for b in blocks)
    height = sum(b[1] for b in blocks)
    dots = Image.frombytes("1", (width_bytes * 8, height), b"".join(b[2] for b in blocks))
    # ESC/POS: bit 1 = black dot; PIL "1": bit 1 = white. Invert for a picture.
    return dots.point(lambda v: 255 - v)


def assert_job_matches(data: bytes, image: QImage) -> Image.Image:
    """The golden checks: init, raster of the image's exact size and content, cut."""
    blocks, tail = parse_job(data)
    assert blocks, "no GS v 0 raster block"
    assert {b[0] for b in blocks} == {(image.width() + 7) // 8}
    assert sum(b[1] for b in blocks) == image.height()
    assert tail.endswith(CUT)
    assert len(tail) <= 8  # feed + cut, nothing else after the picture
    printed = decode_raster(blocks).crop((0, 0, image.width(), image.height()))
    expected = to_monochrome(image)
    assert printed.size == expected.size
    assert printed.tobytes() == expected.tobytes()
    black = printed.histogram()[0] / (printed.width * printed.height)
    assert 0.05 < black < 0.5
    return printed


# ---------------------------------------------------------------------------
# specs

@pytest.mark.parametrize(("text", "spec"), [
    ("usb:04b8:0202", PrinterSpec("usb", vendor_id=0x04B8, product_id=0x0202)),
    ("USB:0x0416:0x5011", PrinterSpec("usb", vendor_id=0x0416, product_id=0x5011)),
    ("network:192.168.1.50", PrinterSpec("network", host="192.168.1.50", port=9100)),
    ("network:printer-1.hall.local:9101",
     PrinterSpec("network", host="printer-1.hall.local", port=9101)),
    ("network:[::1]:9100", PrinterSpec("network", host="::1", port=9100)),
    ("serial:/dev/ttyUSB0", PrinterSpec("serial", path="/dev/ttyUSB0", baudrate=9600)),
    ("serial:/dev/ttyS0:19200", PrinterSpec("serial", path="/dev/ttyS0", baudrate=19200)),
    ("serial:COM3:115200", PrinterSpec("serial", path="COM3", baudrate=115200)),
    ("file:/dev/usb/lp0", PrinterSpec("file", path="/dev/usb/lp0")),
    ("preview:/tmp/tickets", PrinterSpec("preview", path="/tmp/tickets")),
])
def test_parse_good_specs(text, spec):
    assert parse_spec(text) == spec
    assert parse_spec(str(spec)) == spec  # str() gives a spec that parses back


@pytest.mark.parametrize(("text", "reason"), [
    ("", "KIND:TARGET"),
    ("lp0", "KIND:TARGET"),
    ("usb:04b8", "VID:PID"),
    ("usb:xyz:0202", "vendor id 'xyz'"),
    ("usb:04b8:12345", "product id '12345'"),
    ("usb:0000:0202", "vendor id"),
    ("network:", "nothing after"),
    ("network:host:0", "port '0'"),
    ("network:host:99999", "port '99999'"),
    ("network:host:abc", "port 'abc'"),
    ("network:bad host", "host 'bad host'"),
    ("network:::1", "brackets"),
    ("network:[::1", "unclosed"),
    ("serial:", "nothing after"),
    ("serial::9600", "no serial device"),
    ("bogus:x", "unknown printer kind 'bogus'"),
])
def test_bad_specs_name_the_accepted_forms(text, reason):
    with pytest.raises(ValueError) as info:
        parse_spec(text)
    message = str(info.value)
    assert reason in message
    for form in ("usb:VID:PID", "network:HOST[:PORT]", "serial:DEV[:BAUD]", "file:PATH",
                 "preview:DIR"):
        assert form in message


def test_printer_error_kinds():
    err = PrinterError("paper_out", "no paper")
    assert (err.kind, err.message) == ("paper_out", "no paper")
    assert "paper_out" in str(err) and "no paper" in str(err)
    with pytest.raises(ValueError, match="kind"):
        PrinterError("jammed", "x")


# ---------------------------------------------------------------------------
# the job and the file back-end

def test_file_printer_golden_framing(ticket_image, tmp_path):
    out = tmp_path / "lp0"
    printer = open_printer(f"file:{out}")
    assert printer.status() == "unknown"  # a plain file cannot answer
    printer.print_ticket(ticket_image)
    data = out.read_bytes()
    assert data == escpos_job(ticket_image)
    printed = assert_job_matches(data, ticket_image)
    # The QR code came out on paper, module for module.
    rect = ticket_regions(ticket_image)["qr"]
    matrix = qr_matrix(URL)
    module = rect.width() // len(matrix)
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            dot = printed.getpixel((rect.left() + c * module + module // 2,
                                    rect.top() + r * module + module // 2))
            assert (dot == 0) == dark, (r, c)


def test_58mm_ticket_framing(qapp, tmp_path):
    image = render_ticket({"number": "B012", "ahead": 0, "eta_s": 0}, "滁州市政务服务中心",
                          "不动产", "Real estate", URL, width_px=384)
    out = tmp_path / "lp0"
    open_printer(f"file:{out}", paper_px=384).print_ticket(image)
    data = out.read_bytes()
    blocks, _ = parse_job(data)
    assert blocks[0][0] == 48  # 384 dots = 48 bytes a row
    assert_job_matches(data, image)


def test_tall_image_is_sent_in_several_raster_blocks(qapp, tmp_path):
    image = QImage(576, 2100, QImage.Format.Format_RGB32)
    image.fill(QColor(255, 255, 255))
    for y in range(0, 2100, 10):  # stripes all the way down
        for x in range(0, 576, 3):
            image.setPixelColor(x, y, QColor(0, 0, 0))
    out = tmp_path / "lp0"
    open_printer(f"file:{out}").print_ticket(image)
    blocks, _ = parse_job(out.read_bytes())
    assert len(blocks) == 3  # escpos sends at most 960 rows per block
    printed = decode_raster(blocks)
    assert printed.tobytes() == to_monochrome(image).tobytes()


def test_image_wider_than_paper_is_refused_before_any_io(ticket_image, tmp_path):
    out = tmp_path / "lp0"
    with pytest.raises(ValueError, match="576 dots wide but the paper takes 384"):
        open_printer(f"file:{out}", paper_px=384).print_ticket(ticket_image)
    assert not out.exists()


def test_file_in_missing_directory_is_an_io_error(ticket_image, tmp_path):
    printer = open_printer(f"file:{tmp_path}/no/such/dir/lp0")
    with pytest.raises(PrinterError) as info:
        printer.print_ticket(ticket_image)
    assert info.value.kind == "io"
    assert "no/such/dir/lp0" in info.value.message
    assert info.value.__cause__ is not None  # the original error is kept


# ---------------------------------------------------------------------------
# network back-end against a loopback "printer"

class LoopbackPrinter:
    """A TCP server on 127.0.0.1 that records each connection's bytes.

    After the cut (or on a connection that only asks) it answers real-time
    status requests (DLE EOT n) with
    ``online_byte`` / ``paper_byte``, or stays silent when they are None.
    """

    def __init__(self, online_byte: int | None = 0x12, paper_byte: int | None = 0x12) -> None:
        self.online_byte, self.paper_byte = online_byte, paper_byte
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.jobs: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                buf = bytearray()
                while True:
                    try:
                        chunk = conn.recv(65536)
                    except OSError:
                        break
                    if not chunk:
                        break
                    buf += chunk
                    # Status requests come after the cut, or alone (status()).
                    if CUT in buf or buf.startswith(b"\x10\x04"):
                        if buf.endswith(DLE_EOT_ONLINE) and self.online_byte is not None:
                            conn.sendall(bytes([self.online_byte]))
                        elif buf.endswith(DLE_EOT_PAPER) and self.paper_byte is not None:
                            conn.sendall(bytes([self.paper_byte]))
                self.jobs.append(bytes(buf))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.server.close()

    def wait_jobs(self, n: int) -> list[bytes]:
        deadline = time.monotonic() + 5
        while len(self.jobs) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.jobs


@pytest.fixture
def loopback():
    servers: list[LoopbackPrinter] = []

    def make(**kw) -> LoopbackPrinter:
        servers.append(LoopbackPrinter(**kw))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def short_status_timeout(monkeypatch):
    monkeypatch.setattr(kp, "STATUS_TIMEOUT_S", 0.2)


def test_network_printer_receives_the_same_job(ticket_image, loopback, tmp_path):
    server = loopback()
    printer = open_printer(f"network:127.0.0.1:{server.port}")
    printer.print_ticket(ticket_image)
    (data,) = server.wait_jobs(1)
    job = escpos_job(ticket_image)
    # The job, then the two status questions asked after the cut.
    assert data == job + DLE_EOT_ONLINE + DLE_EOT_PAPER
    assert_job_matches(job, ticket_image)


def test_network_paper_out_after_printing(ticket_image, loopback):
    server = loopback(paper_byte=0x72)  # paper-end sensor: no paper
    printer = open_printer(f"network:127.0.0.1:{server.port}")
    with pytest.raises(PrinterError) as info:
        printer.print_ticket(ticket_image)
    assert info.value.kind == "paper_out"
    assert printer.status() == "paper_out"


def test_network_printer_reporting_offline(ticket_image, loopback):
    server = loopback(online_byte=0x1A)  # bit 3 set: offline (cover open)
    printer = open_printer(f"network:127.0.0.1:{server.port}")
    with pytest.raises(PrinterError) as info:
        printer.print_ticket(ticket_image)
    assert info.value.kind == "offline"
    assert printer.status() == "offline"


def test_network_status_ok_and_silent_printer_unknown(ticket_image, loopback,
                                                      short_status_timeout):
    assert open_printer(f"network:127.0.0.1:{loopback().port}").status() == "ok"
    silent = loopback(online_byte=None, paper_byte=None)
    printer = open_printer(f"network:127.0.0.1:{silent.port}")
    assert printer.status() == "unknown"
    # A printer that never answers status requests still gets its ticket.
    printer.print_ticket(ticket_image)
    jobs = silent.wait_jobs(2)
    assert jobs[-1].startswith(escpos_job(ticket_image))


def test_network_refused_is_offline(ticket_image):
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now: connection refused
    printer = open_printer(f"network:127.0.0.1:{port}")
    with pytest.raises(PrinterError) as info:  # (how quickly: python -m bench.timings)
        printer.print_ticket(ticket_image)
    assert info.value.kind == "offline"
    assert str(port) in info.value.message
    assert isinstance(info.value.__cause__, Exception)
    assert printer.status() == "offline"


def test_connect_timeout_is_short():
    assert kp.CONNECT_TIMEOUT_S <= 5


# ---------------------------------------------------------------------------
# preview back-end

def test_preview_writes_png_per_ticket(ticket_image, tmp_path):
    folder = tmp_path / "previews"
    printer = open_printer(f"preview:{folder}")
    assert printer.status() == "ok"  # missing but creatable
    printer.print_ticket(ticket_image)
    printer.print_ticket(ticket_image)
    files = sorted(folder.glob("ticket-*.png"))
    assert len(files) == 2
    assert printer.last_path == files[-1]
    with Image.open(files[0]) as png:
        assert png.size == (ticket_image.width(), ticket_image.height())
        assert png.convert("1").tobytes() == to_monochrome(ticket_image).tobytes()


def test_preview_into_unwritable_place_is_io(ticket_image, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    printer = open_printer(f"preview:{blocker}/sub")
    assert printer.status() == "offline"
    with pytest.raises(PrinterError) as info:
        printer.print_ticket(ticket_image)
    assert info.value.kind == "io"


# ---------------------------------------------------------------------------
# qhall print-test

def test_print_test_to_file(qapp, tmp_path, capsys):
    out = tmp_path / "lp0"
    assert main(["print-test", "--printer", f"file:{out}"]) == 0
    data = out.read_bytes()
    blocks, tail = parse_job(data)
    assert blocks and blocks[0][0] == 72 and tail.endswith(CUT)
    stdout = capsys.readouterr().out
    assert "printed sample ticket A001" in stdout
    assert "status" in stdout


def test_print_test_preview_english_58mm(qapp, tmp_path, capsys):
    assert main(["print-test", "--printer", f"preview:{tmp_path}", "--lang", "en",
                 "--width", "384", "--priority", "appointment"]) == 0
    (png,) = tmp_path.glob("*.png")
    with Image.open(png) as image:
        assert image.width == 384
    assert str(png) in capsys.readouterr().out


def test_print_test_bad_spec_exits_2(qapp, capsys):
    assert main(["print-test", "--printer", "usb:nope"]) == 2
    err = capsys.readouterr().err
    assert "bad printer spec 'usb:nope'" in err and "accepted forms" in err


def test_print_test_offline_printer_exits_1(qapp, capsys):
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    assert main(["print-test", "--printer", f"network:127.0.0.1:{port}"]) == 1
    captured = capsys.readouterr()
    assert "status before printing: offline" in captured.out
    assert "printer offline" in captured.err


# ---------------------------------------------------------------------------
# the shared stub behaves like the real thing

def test_fake_printer_records_and_fails_on_demand(ticket_image):
    fake = FakePrinter()
    fake.print_ticket(ticket_image)
    assert len(fake.printed) == 1 and fake.status() == "ok"
    fake.fail("paper_out", times=1)
    assert fake.status() == "paper_out"
    with pytest.raises(PrinterError) as info:
        fake.print_ticket(ticket_image)
    assert info.value.kind == "paper_out"
    fake.print_ticket(ticket_image)  # failed only once
    assert len(fake.printed) == 2 and fake.attempts == 3
    fake.fail("io")
    assert fake.status() == "unknown"
    for _ in range(2):
        with pytest.raises(PrinterError):
            fake.print_ticket(ticket_image)
    fake.recover()
    fake.print_ticket(ticket_image)
    assert len(fake.printed) == 3
    with pytest.raises(ValueError):
        fake.fail("smoke")


def test_open_printer_kinds(tmp_path):
    assert isinstance(open_printer("usb:04b8:0202"), kp.EscposTicketPrinter)
    assert isinstance(open_printer("serial:/dev/ttyUSB0"), kp.EscposTicketPrinter)
    assert isinstance(open_printer(f"preview:{tmp_path}"), kp.PreviewPrinter)
    assert open_printer(parse_spec("network:127.0.0.1")).spec.port == 9100
    with pytest.raises(ValueError, match="paper_px"):
        open_printer(f"file:{tmp_path}/x", paper_px=0)


def test_missing_serial_device_is_offline(ticket_image, tmp_path):
    printer = open_printer(f"serial:{tmp_path}/ttyNONE:9600")
    with pytest.raises(PrinterError) as info:
        printer.print_ticket(ticket_image)
    assert info.value.kind == "offline"
    assert printer.status() == "offline"


def test_paths_are_reported(tmp_path: Path):
    # Spec text with a colon inside a file path keeps the whole path.
    assert parse_spec(f"file:{tmp_path}/a:b").path == f"{tmp_path}/a:b"
