"""``qhall config``: move the hall configuration between a file and the database.

The database keeps the configuration as versions of its TOML text (the
newest is served; docs/CONFIG.md). ``export`` writes a version to a file (a
valid file for ``qhall check-config``), ``import`` validates a file by the
same rules and stores it as the newest version (a running server serves it
within seconds), ``history`` lists the versions.

The hall and database come from ``--config FILE`` (its ``[hall] id`` and
``database``), or ``--database URL --hall ID``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from server.config import ConfigError, load
from server.console.versions import import_text, read_text
from server.store import Store, StoreError

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``qhall config`` arguments."""
    parser.description = (
        "The database keeps each hall's configuration as versions of its TOML text; the "
        "newest is served (docs/CONFIG.md). export writes a version to a file (valid for "
        "qhall check-config), import validates a file by the same rules and stores it as "
        "the newest version (a running server serves it within seconds), history lists them.")
    sub = parser.add_subparsers(dest="action", required=True)
    for name, text in (("export", "write a stored version (default: the newest) to a file"),
                       ("import", "validate a file and store it as the newest version"),
                       ("history", "list the stored versions, newest first")):
        p = sub.add_parser(name, help=text, description=text)
        if name == "import":
            p.add_argument("file", help="the hall configuration (TOML) to store")
        else:
            p.add_argument("--config", metavar="FILE",
                           help="a configuration naming the hall and its database")
            p.add_argument("--hall", metavar="ID", help="the hall id (with --database)")
        p.add_argument("--database", metavar="URL",
                       help="database URL (default: the configuration's [hall] database)")
        if name == "export":
            p.add_argument("--version", type=int, metavar="N", help="this version, not the newest")
            p.add_argument("-o", "--out", metavar="FILE", help="write here (default: stdout)")


def _hall_and_db(args: argparse.Namespace) -> tuple[str, str]:
    if args.config:
        cfg = load(args.config)
        return cfg.id, args.database or cfg.database
    if not (args.hall and args.database):
        raise ConfigError(["give --config FILE, or --database URL and --hall ID"])
    return args.hall, args.database


def run(args: argparse.Namespace) -> int:
    """Run ``qhall config``."""
    try:
        if args.action == "import":
            text = read_text(args.file)
            database = args.database or load(args.file).database
            with Store(database) as store:
                print(import_text(store, text, args.file))
            return 0
        hall, database = _hall_and_db(args)
        with Store(database) as store:
            if args.action == "history":
                rows = store.configs.history(hall, 1000)
                for r in rows:
                    print(f"{r.version:>5}  {r.at:%Y-%m-%d %H:%M:%S}Z  {r.staff:<12} {r.note}")
                if not rows:
                    print(f"hall {hall}: no configuration version stored")
                return 0
            found = (store.configs.get(hall, args.version) if args.version
                     else store.configs.newest(hall))
    except ConfigError as exc:
        print(f"qhall config: {exc}", file=sys.stderr)
        return 1
    except (OSError, UnicodeDecodeError) as exc:
        print(f"qhall config: cannot read the file: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"qhall config: database: {exc}", file=sys.stderr)
        return 1
    if found is None:
        what = f"version {args.version}" if args.version else "no configuration version"
        print(f"qhall config: hall {hall}: {what} stored", file=sys.stderr)
        return 1
    if args.out:
        Path(args.out).write_text(found.text, encoding="utf-8")
        print(f"hall {hall}: version {found.version} written to {args.out}")
    else:
        sys.stdout.write(found.text)
    return 0
