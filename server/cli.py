"""The one entry point, ``qhall``.

Each subcommand lives in its own module, which exposes ``configure(parser)``
(adds its arguments) and ``run(args) -> int``. Modules are imported only
when their command is used, so ``qhall --help`` and light commands start
fast and do not load Qt or SQLAlchemy.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["COMMANDS", "main"]

#: name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("server.serve", "run the dispatch server"),
    "kiosk": ("kiosk.app", "run the touchscreen ticket kiosk"),
    "counter": ("counter.app", "run the staff counter client"),
    "display": ("display.app", "run the lobby board or a counter display"),
    "evaluator": ("display.rating.cli", "run the rating pad next to a counter"),
    "demo": ("server.tools.demo", "run a whole demo hall: server, apps, simulated citizens"),
    "simulate": ("server.tools.simulate", "simulate a hall day in virtual time (what-ifs)"),
    "loadtest": ("server.tools.loadtest", "replay a compressed day against a real server"),
    "chaos": ("server.tools.chaos", "kill serve instances sharing halls; check failover"),
    "report": ("server.features.report", "daily/period reports from the event log"),
    "book": ("server.features.booking", "book, list and cancel appointments (staff)"),
    "announce": ("display.speech.cli", "render one announcement to a WAV file"),
    "print-test": ("kiosk.printer", "print a sample ticket on a printer"),
    "hash-secret": ("server.auth", "hash a PIN or device token for the hall config"),
    "check-config": ("server.config", "validate a hall configuration file"),
    "config": ("server.console.configcli",
               "export/import the hall configuration kept in the database"),
    "make-key": ("server.pii", "make the key that hashes personal data (phone numbers)"),
}


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qhall",
        description="qhall: queue ticketing and window dispatch for service halls.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n"
        + "\n".join(f"  {name:<14}{text}" for name, (_, text) in COMMANDS.items())
        + "\n\nRun 'qhall COMMAND --help' for a command's options.",
    )
    parser.add_argument("command", nargs="?", help="one of the commands below")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        top.error(f"unknown command {name!r}; choose from: {', '.join(COMMANDS)}")
    module_name, text = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        print(f"qhall {name}: not yet available in this build", file=sys.stderr)
        return 3
    parser = argparse.ArgumentParser(prog=f"qhall {name}", description=text)
    module.configure(parser)
    args = parser.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
