"""``qhall evaluator``: the command that runs the rating pad."""

from __future__ import annotations

import argparse
import logging
import sys

from display.rating.app import RatingPad
from display.rating.state import RatingState
from display.rating.view import RatingView
from server.client.bootstrap import add_server_options, resolve_server_options

__all__ = ["configure", "run"]

def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``qhall evaluator`` options."""
    parser.add_argument("--counter", type=int, default=None, metavar="N",
                        help="the pad of counter N: device evaluator-N (default 1)")
    add_server_options(parser, device_default=None,
                       device_help="device id (default evaluator-N); its counter comes from "
                                   "the hall configuration")
    parser.add_argument("--fullscreen", action="store_true", help="run full screen")


def run(args: argparse.Namespace) -> int:
    """Run the rating pad until its window is closed."""
    if args.counter is not None and args.counter < 1:
        print("qhall evaluator: --counter must be a positive counter number", file=sys.stderr)
        return 2
    device = args.device or f"evaluator-{args.counter or 1}"
    try:
        server = resolve_server_options(args, device)
    except ValueError as exc:
        print(f"qhall evaluator: {exc}", file=sys.stderr)
        return 2
    from PySide6.QtWidgets import QApplication

    from server.client.qtlink import Link
    from server.client.qtrun import run_window

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    view = RatingView()
    link = Link(server.urls, server.device, server.token)
    pad = RatingPad(link, RatingState(), view)
    return run_window("qhall evaluator", app, view, link, fullscreen=args.fullscreen,
                      stop=pad.stop, refusal=lambda: pad.refusal)
