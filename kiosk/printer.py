"""Ticket printers: printer specs, python-escpos back-ends, status, ``qhall print-test``.

A printer is named by a spec string (see :func:`parse_spec` and
docs/PRINTING.md)::

    usb:04b8:0202            USB, vendor and product id in hex
    network:10.0.0.50[:9100] raw TCP (JetDirect), port 9100 by default
    serial:/dev/ttyUSB0[:9600]
    file:/dev/usb/lp0        any writable file or device node
    preview:/tmp/tickets     no printer: each ticket becomes a PNG there

:func:`open_printer` gives a :class:`TicketPrinter`. Each ``print_ticket``
call opens the device, sends one job (ESC @ init, the ticket as a GS v 0
raster image, feed and cut), asks the printer for its status where the
connection can answer, and closes the device again: a printer that was
switched off and on, or a network printer that rebooted, works again on the
next ticket with no reconnect logic. Failures raise :class:`PrinterError`
with ``kind`` ``offline``, ``paper_out`` or ``io`` and the cause chained.

Timeouts are short (3 s connect and write, 1 s for a status answer) so a
dead printer costs the kiosk seconds, not minutes; the kiosk still calls
``print_ticket`` off the GUI thread (QImage may be used from any thread).
"""

from __future__ import annotations

import abc
import argparse
import copy
import datetime as dt
import ipaddress
import os
import re
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from escpos.constants import (
    RT_MASK_NOPAPER,
    RT_MASK_ONLINE,
    RT_STATUS_ONLINE,
    RT_STATUS_PAPER,
)
from escpos.escpos import Escpos
from escpos.exceptions import DeviceNotFoundError
from escpos.printer import Dummy, File, Network, Serial, Usb
from PIL import Image
from PySide6.QtGui import QImage

from kiosk.ticket import PAPER_58MM_PX, PAPER_80MM_PX, to_monochrome

__all__ = [
    "CONNECT_TIMEOUT_S",
    "ERROR_KINDS",
    "STATUSES",
    "STATUS_TIMEOUT_S",
    "EscposTicketPrinter",
    "PreviewPrinter",
    "PrinterError",
    "PrinterSpec",
    "TicketPrinter",
    "configure",
    "escpos_job",
    "open_printer",
    "parse_spec",
    "run",
    "sample_ticket",
]

#: Connect / write timeout for network, USB and serial printers, in seconds.
CONNECT_TIMEOUT_S = 3.0
#: How long to wait for a status answer before calling the status "unknown".
STATUS_TIMEOUT_S = 1.0
#: ``PrinterError.kind`` values.
ERROR_KINDS = ("offline", "paper_out", "io")
#: ``TicketPrinter.status()`` values.
STATUSES = ("ok", "offline", "paper_out", "unknown")

DEFAULT_NETWORK_PORT = 9100
DEFAULT_BAUDRATE = 9600

_FORMS = (
    "usb:VID:PID (hex ids, e.g. usb:04b8:0202), "
    "network:HOST[:PORT] (port 9100 by default; [v6addr]:PORT for IPv6), "
    "serial:DEV[:BAUD] (9600 baud by default), "
    "file:PATH (e.g. file:/dev/usb/lp0), "
    "preview:DIR (writes PNG files)"
)


class PrinterError(Exception):
    """A ticket could not be printed, or the printer reports a problem.

    Attributes:
        kind: ``"offline"`` (not reachable / not found), ``"paper_out"``, or
            ``"io"`` (opened but the transfer or the file failed).
        message: human-readable detail, naming the printer.
    """

    def __init__(self, kind: str, message: str) -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"PrinterError kind must be one of {ERROR_KINDS}, got {kind!r}")
        super().__init__(kind, message)
        self.kind = kind
        self.message = message

    def __str__(self) -> str:
        return f"printer {self.kind}: {self.message}"


# ---------------------------------------------------------------------------
# specs

@dataclass(frozen=True)
class PrinterSpec:
    """A parsed printer spec. Only the fields of its ``kind`` are set.

    Attributes:
        kind: ``usb``, ``network``, ``serial``, ``file`` or ``preview``.
        vendor_id, product_id: USB ids (usb).
        host, port: network.
        path: serial device, file path or preview directory.
        baudrate: serial.
    """

    kind: str
    vendor_id: int | None = None
    product_id: int | None = None
    host: str | None = None
    port: int | None = None
    path: str | None = None
    baudrate: int | None = None

    def __str__(self) -> str:
        if self.kind == "usb":
            return f"usb:{self.vendor_id:04x}:{self.product_id:04x}"
        if self.kind == "network":
            host = f"[{self.host}]" if self.host and ":" in self.host else self.host
            return f"network:{host}:{self.port}"
        if self.kind == "serial":
            return f"serial:{self.path}:{self.baudrate}"
        return f"{self.kind}:{self.path}"


def _bad(spec: str, reason: str) -> ValueError:
    return ValueError(f"bad printer spec {spec!r}: {reason}; accepted forms: {_FORMS}")


_HEX_ID = re.compile(r"(?:0x)?([0-9a-fA-F]{1,4})")


def _usb_id(spec: str, text: str, what: str) -> int:
    match = _HEX_ID.fullmatch(text.strip())
    if not match or int(match.group(1), 16) == 0:
        raise _bad(spec, f"USB {what} id {text!r} is not a hex number 0001..ffff")
    return int(match.group(1), 16)


def _port(spec: str, text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise _bad(spec, f"port {text!r} is not a number 1..65535")
    return int(text)


def parse_spec(spec: str) -> PrinterSpec:
    """Parse a printer spec string.

    Raises:
        ValueError: the spec is malformed; the message names the accepted forms.
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise _bad(str(spec), "expected KIND:TARGET")
    kind, _, rest = spec.strip().partition(":")
    kind = kind.lower()
    if not rest:
        raise _bad(spec, f"nothing after {kind!r}")
    if kind == "usb":
        parts = rest.split(":")
        if len(parts) != 2:
            raise _bad(spec, "a USB printer needs VID:PID")
        return PrinterSpec("usb", vendor_id=_usb_id(spec, parts[0], "vendor"),
                           product_id=_usb_id(spec, parts[1], "product"))
    if kind == "network":
        port = DEFAULT_NETWORK_PORT
        if rest.startswith("["):  # [IPv6]:PORT
            host, sep, tail = rest[1:].partition("]")
            if not sep:
                raise _bad(spec, "unclosed '[' in IPv6 address")
            if tail:
                if not tail.startswith(":"):
                    raise _bad(spec, f"unexpected {tail!r} after the address")
                port = _port(spec, tail[1:])
        elif rest.count(":") > 1:
            raise _bad(spec, "write IPv6 addresses in brackets: network:[::1]:9100")
        else:
            host, sep, tail = rest.partition(":")
            if sep:
                port = _port(spec, tail)
        host = host.strip()
        if not host or not _valid_host(host):
            raise _bad(spec, f"host {host!r} is not a host name or IP address")
        return PrinterSpec("network", host=host, port=port)
    if kind == "serial":
        device, baud = rest, DEFAULT_BAUDRATE
        head, sep, tail = rest.rpartition(":")
        if sep and tail.isdigit():
            device, baud = head, int(tail)
            if baud <= 0:
                raise _bad(spec, f"baud rate {tail!r} must be positive")
        if not device:
            raise _bad(spec, "no serial device given")
        return PrinterSpec("serial", path=device, baudrate=baud)
    if kind in ("file", "preview"):
        return PrinterSpec(kind, path=rest)
    raise _bad(spec, f"unknown printer kind {kind!r}")


_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(_HOSTNAME.fullmatch(host)) and len(host) <= 253


# ---------------------------------------------------------------------------
# the ESC/POS job

def _set_paper_width(printer: Escpos, paper_px: int) -> None:
    # escpos checks images against the profile's media width (and prints a
    # nag to stdout when the default profile has none): give this instance
    # its own copy of the profile data with the real width.
    data = copy.deepcopy(printer.profile.profile_data)
    data.setdefault("media", {}).setdefault("width", {})["pixels"] = paper_px
    printer.profile.profile_data = data


def escpos_job(image: QImage | Image.Image, paper_px: int = PAPER_80MM_PX) -> bytes:
    """Return the exact ESC/POS bytes that print ``image`` as one ticket.

    ESC @ (init), the image as GS v 0 raster blocks (escpos splits images
    taller than 960 dots into several), then feed and a full cut (GS V 0).

    Raises:
        ValueError: the image is wider than the paper.
    """
    mono = image if isinstance(image, Image.Image) else to_monochrome(image)
    if mono.width > paper_px:
        raise ValueError(f"ticket image is {mono.width} dots wide but the paper takes "
                         f"{paper_px}; render it with width_px={paper_px}")
    job = Dummy()
    _set_paper_width(job, paper_px)
    job.hw("INIT")
    job.image(mono.convert("1"), impl="bitImageRaster", center=False)
    job.cut()
    return job.output


# ---------------------------------------------------------------------------
# printers

class _Network(Network):
    """escpos's Network with a connect that closes its socket when it fails
    (escpos leaks it) and that resolves host names and IPv6 addresses
    (escpos only makes AF_INET sockets)."""

    def open(self, raise_not_found: bool = True) -> None:
        self.close()  # a no-op unless a connection is open
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise DeviceNotFoundError(
                f"could not connect to {self.host}:{self.port}: {exc}") from exc
        self.device = sock


class TicketPrinter(abc.ABC):
    """What the kiosk prints on. Safe to use from a worker thread."""

    spec: PrinterSpec

    @abc.abstractmethod
    def print_ticket(self, image: QImage) -> None:
        """Print one ticket image.

        Raises:
            PrinterError: the ticket did not (or may not) come out.
            ValueError: the image is wider than the paper.
        """

    @abc.abstractmethod
    def status(self) -> str:
        """Return ``ok``, ``offline``, ``paper_out`` or ``unknown``. Never raises."""


class EscposTicketPrinter(TicketPrinter):
    """A real printer reached through a python-escpos back-end.

    Args:
        spec: the parsed spec (for messages).
        factory: makes a fresh, unopened escpos printer object per job.
        paper_px: print-head width in dots.
        queries_status: whether the connection can read the printer's
            answers (network, USB, serial; not a plain file).
    """

    def __init__(self, spec: PrinterSpec, factory: Callable[[], Escpos],
                 paper_px: int = PAPER_80MM_PX, queries_status: bool = True) -> None:
        self.spec = spec
        self.paper_px = paper_px
        self.queries_status = queries_status
        self._factory = factory
        # One job at a time: two tickets' bytes must never interleave.
        self._lock = threading.Lock()

    # -- connection -------------------------------------------------------
    def _open(self) -> Escpos:
        device = self._factory()
        try:
            device.open()
        except DeviceNotFoundError as exc:
            kind = "io" if self.spec.kind == "file" else "offline"
            raise PrinterError(kind, f"cannot open {self.spec}: {_one_line(exc)}") from exc
        except Exception as exc:  # pyusb/pyserial raise a zoo of types; keep the cause
            raise PrinterError("offline", f"cannot open {self.spec}: {_one_line(exc)}"
                               + _usb_hint(exc)) from exc
        raw = getattr(device, "device", None)
        if self.spec.kind == "serial" and raw is not None:
            # pyserial blocks forever on write by default (hardware flow
            # control with the printer off): bound it.
            raw.write_timeout = CONNECT_TIMEOUT_S
        return device

    @staticmethod
    def _close(device: Escpos) -> None:
        try:
            device.close()
        except Exception:  # closing a dead connection: the job's own error matters
            pass

    def _query(self, device: Escpos) -> str:
        """Ask the printer (DLE EOT 1, DLE EOT 4) and decode the answer.

        escpos's ``is_online()`` takes "no answer" for "offline", which would
        fail every ticket on printers that do not implement the real-time
        status commands; here no answer is "unknown" and printing goes on.
        """
        raw = getattr(device, "device", None)
        if self.spec.kind == "network" and raw is not None:
            raw.settimeout(STATUS_TIMEOUT_S)
        try:
            online = device.query_status(RT_STATUS_ONLINE)
            if not online:
                return "unknown"
            if online[0] & RT_MASK_ONLINE:
                return "offline"
            paper = device.query_status(RT_STATUS_PAPER)
        except Exception:  # timeouts, unsupported reads: the printer did not say
            return "unknown"
        if not paper:
            return "unknown"
        if paper[0] & RT_MASK_NOPAPER == RT_MASK_NOPAPER:
            return "paper_out"
        # "Paper near end" still prints: that is "ok" here.
        return "ok"

    # -- API --------------------------------------------------------------
    def print_ticket(self, image: QImage) -> None:
        job = escpos_job(image, self.paper_px)
        with self._lock:
            device = self._open()
            try:
                try:
                    device._raw(job)  # one write: the job was built up front
                except Exception as exc:
                    raise PrinterError("io", f"sending the ticket to {self.spec} failed: "
                                       f"{_one_line(exc)}" + _usb_hint(exc)) from exc
                if self.queries_status:
                    state = self._query(device)
                    if state == "paper_out":
                        raise PrinterError("paper_out", f"{self.spec} is out of paper")
                    if state == "offline":
                        raise PrinterError("offline", f"{self.spec} reports it is offline "
                                           "(cover open or error)")
            finally:
                self._close(device)

    def status(self) -> str:
        if not self.queries_status:
            return "unknown"
        with self._lock:
            try:
                device = self._open()
            except PrinterError:
                return "offline"
            try:
                return self._query(device)
            finally:
                self._close(device)


class PreviewPrinter(TicketPrinter):
    """No printer: each ticket becomes a 1-bit PNG (what the paper would show).

    Files are named ``ticket-YYYYmmdd-HHMMSS-NNNN.png`` in the spec's
    directory, which is created when missing. ``last_path`` is the newest.
    """

    def __init__(self, spec: PrinterSpec, paper_px: int = PAPER_80MM_PX) -> None:
        self.spec = spec
        self.paper_px = paper_px
        self.directory = Path(spec.path or ".")
        self.last_path: Path | None = None
        self._count = 0
        self._lock = threading.Lock()

    def print_ticket(self, image: QImage) -> None:
        mono = to_monochrome(image)
        if mono.width > self.paper_px:
            raise ValueError(f"ticket image is {mono.width} dots wide but the paper takes "
                             f"{self.paper_px}; render it with width_px={self.paper_px}")
        with self._lock:
            self._count += 1
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            path = self.directory / f"ticket-{stamp}-{self._count:04d}.png"
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                mono.save(path, format="PNG")
            except OSError as exc:
                raise PrinterError("io", f"cannot write {path}: {exc}") from exc
            self.last_path = path

    def status(self) -> str:
        probe = self.directory
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent  # a missing directory is fine if we can create it
        ok = probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)
        return "ok" if ok else "offline"


def _one_line(exc: BaseException) -> str:
    # escpos errors wrap the real cause in .msg ("Device not found (...)").
    text = " ".join(str(getattr(exc, "msg", None) or exc).split())
    return text or type(exc).__name__


def _usb_hint(exc: BaseException) -> str:
    text = str(exc)
    if getattr(exc, "errno", None) == 13 or "Access denied" in text or "ermission" in text:
        return " (no permission: add the udev rule in docs/PRINTING.md)"
    if "No backend" in text:
        return " (libusb is missing: apt-get install libusb-1.0-0)"
    return ""


def open_printer(spec: str | PrinterSpec, paper_px: int = PAPER_80MM_PX) -> TicketPrinter:
    """Return the printer a spec names. Nothing is opened until a job or ``status()``.

    Args:
        spec: a spec string (see :func:`parse_spec`) or a parsed spec.
        paper_px: print-head width in dots (576 for 80 mm paper, 384 for 58 mm).

    Raises:
        ValueError: bad spec or paper width.
    """
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    if not isinstance(paper_px, int) or paper_px < 8:
        raise ValueError(f"paper_px must be a positive number of dots, got {paper_px!r}")
    if parsed.kind == "preview":
        return PreviewPrinter(parsed, paper_px)
    factory: Callable[[], Escpos]
    if parsed.kind == "network":
        def factory() -> Escpos:
            return _Network(parsed.host, parsed.port, timeout=CONNECT_TIMEOUT_S)
    elif parsed.kind == "usb":
        def factory() -> Escpos:
            return Usb(parsed.vendor_id, parsed.product_id,
                       timeout=int(CONNECT_TIMEOUT_S * 1000))  # pyusb wants ms
    elif parsed.kind == "serial":
        def factory() -> Escpos:
            return Serial(parsed.path, baudrate=parsed.baudrate, timeout=STATUS_TIMEOUT_S)
    elif parsed.kind == "file":
        def factory() -> Escpos:
            return File(parsed.path)
    else:
        raise ValueError(f"unknown printer kind {parsed.kind!r}")
    return EscposTicketPrinter(parsed, factory, paper_px,
                               queries_status=parsed.kind != "file")


# ---------------------------------------------------------------------------
# qhall print-test

def sample_ticket(priority: str = "normal") -> dict[str, Any]:
    """A PROTOCOL ticket object for test prints (A001 at the demo hall)."""
    return {
        "id": "print-test", "number": "A001", "service": "gjj", "status": "waiting",
        "priority": priority, "issued_at": dt.datetime.now().astimezone().isoformat(),
        "counter": None, "ahead": 4, "eta_s": 600, "check": "TEST0001",
    }


_app_ref: Any = None  # keeps the QGuiApplication made by print-test alive


def _ensure_app() -> None:
    global _app_ref
    from PySide6.QtGui import QGuiApplication

    if QGuiApplication.instance() is None:
        # print-test never shows a window: offscreen works with no display.
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        _app_ref = QGuiApplication(["qhall print-test"])


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``qhall print-test`` arguments."""
    parser.add_argument("--printer", required=True, metavar="SPEC",
                        help=f"the printer: {_FORMS}")
    parser.add_argument("--lang", choices=("zh", "en"), default="zh",
                        help="ticket language (default zh)")
    parser.add_argument("--width", type=int, choices=(PAPER_80MM_PX, PAPER_58MM_PX),
                        default=PAPER_80MM_PX,
                        help="paper width in dots: 576 for 80 mm, 384 for 58 mm (default 576)")
    parser.add_argument("--priority", choices=("normal", "priority", "appointment"),
                        default="normal", help="print the priority/appointment mark")
    parser.add_argument("--url", default="http://127.0.0.1:8765/t/TEST0001",
                        help="what the QR code points to")


def run(args: argparse.Namespace) -> int:
    """Print a sample ticket; 0 when it printed, 1 on a printer error, 2 on a bad spec."""
    try:
        printer = open_printer(args.printer, paper_px=args.width)
    except ValueError as exc:
        print(f"qhall print-test: {exc}", file=sys.stderr)
        return 2
    _ensure_app()
    from kiosk.ticket import render_ticket

    print(f"printer {printer.spec}: status before printing: {printer.status()}")
    image = render_ticket(sample_ticket(args.priority), "滁州市政务服务中心", "公积金",
                          "Housing provident fund", args.url, lang=args.lang,
                          width_px=args.width)
    try:
        printer.print_ticket(image)
    except PrinterError as exc:
        print(f"qhall print-test: {exc}", file=sys.stderr)
        return 1
    where = ""
    if isinstance(printer, PreviewPrinter) and printer.last_path is not None:
        where = f" -> {printer.last_path}"
    print(f"printed sample ticket A001 ({image.width()}x{image.height()} dots){where}")
    print(f"printer {printer.spec}: status after printing: {printer.status()}")
    return 0
