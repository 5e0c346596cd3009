"""The apps' connection options, in one place.

``qhall kiosk``, ``counter``, ``display`` and ``evaluator`` all take::

    --server URL[,URL...]   the hall's server(s); several = failover, tried in turn
    --device ID             this device's id in the hall configuration
    --token-file FILE       the device's secret (first line of FILE)
    --demo                  use the demo hall's public token demo-<ID> instead

:func:`add_server_options` adds them to a parser and
:func:`resolve_server_options` turns them into a :class:`ServerOptions`.
A device never falls back to a demo token on its own: without
``--token-file`` it needs an explicit ``--demo``, so a real hall's device that
lost its token file says so instead of knocking with a public secret.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from server.client.session import parse_urls
from server.client.tokens import demo_token, read_token

__all__ = ["DEFAULT_SERVER", "ServerOptions", "add_server_options", "resolve_server_options"]

DEFAULT_SERVER = "ws://127.0.0.1:8765/ws"


@dataclass(frozen=True)
class ServerOptions:
    """Where and as whom a client connects."""

    urls: tuple[str, ...]
    device: str
    token: str


def add_server_options(parser: argparse.ArgumentParser, *, device_default: str | None,
                       device_help: str) -> None:
    """Add ``--server``, ``--device``, ``--token-file`` and ``--demo`` to ``parser``."""
    parser.add_argument("--server", default=DEFAULT_SERVER, metavar="URL[,URL...]",
                        help="dispatch server websocket URL; several, comma-separated, for "
                             "failover (tried in turn) (default " f"{DEFAULT_SERVER})")
    parser.add_argument("--device", default=device_default, metavar="ID", help=device_help)
    token = parser.add_mutually_exclusive_group()
    token.add_argument("--token-file", default=None, metavar="FILE",
                       help="file holding the device token (its first line)")
    token.add_argument("--demo", action="store_true",
                       help="use the demo hall's public token demo-ID (qhall serve --demo)")


def resolve_server_options(args: argparse.Namespace, device: str | None = None) -> ServerOptions:
    """The URLs, device and token that ``args`` ask for.

    Args:
        args: parsed options of :func:`add_server_options`.
        device: the device id when the app derives it (``evaluator-N``);
            default ``args.device``.

    Raises:
        ValueError: a bad URL, an unreadable or empty token file, or neither
            ``--token-file`` nor ``--demo`` (the message says what to give).
    """
    urls = parse_urls(args.server)
    device = device or args.device
    if not device:
        raise ValueError("缺少设备编号 no device id: give --device ID")
    if args.token_file:
        token = read_token(args.token_file)
    elif args.demo:
        token = demo_token(device)
    else:
        raise ValueError(
            f"缺少设备令牌：请用 --token-file 指定设备 {device} 的令牌文件，演示大厅可用 --demo。"
            f" No device token: give --token-file FILE (the token of device {device}), "
            f"or --demo to use the demo hall's public token.")
    return ServerOptions(urls, device, token)
