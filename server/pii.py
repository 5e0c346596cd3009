"""The key that hashes personal data (booking phone numbers and names), and ``qhall make-key``.

Bookings keep only HMAC-SHA256 digests of a person's phone and name, keyed by
a secret that lives outside the database: a stolen database (or backup) alone
does not let anyone test phone numbers against it. Where the key comes from,
first match wins:

1. the environment variable ``QHALL_PII_KEY`` (64+ hex digits);
2. ``[hall] pii_key_file``: a file holding the key (make one with
   ``qhall make-key FILE``; it must exist);
3. for a SQLite database file with neither set, ``<database file>.pii-key``
   beside it, created on first use (mode 0600), so a demo or a one-machine
   hall works with nothing set up by hand (``qhall demo`` thus keeps its key
   in its data directory). Keep it apart from backups of the database. An
   in-memory database gets a key that lives as long as the process.

A PostgreSQL hall that takes appointments must set 1 or 2: the server refuses
to start otherwise, saying so.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import re
import secrets
import sys
import unicodedata
from pathlib import Path

from server.config import HallConfig

__all__ = ["ENV", "KEY_BYTES", "PiiKeyError", "configure", "digest", "key_for", "make_key",
           "normalize_phone", "keeps_phones", "PHONE_EVENTS", "run"]

#: Webhook events sent for the ticket's own phone (``rating.bad`` is for the
#: supervisor and needs no number).
PHONE_EVENTS = ("ticket.soon", "ticket.called", "ticket.no_show")


def keeps_phones(config: HallConfig) -> bool:
    """Whether the hall keeps phone numbers at all (beyond their keyed hash):
    only when a webhook (``[[notify]]``) sends one of :data:`PHONE_EVENTS`."""
    return any(set(n.events) & set(PHONE_EVENTS) for n in config.notify)

_PHONE = re.compile(r"^\+?\d{7,15}$")


def normalize_phone(phone: str) -> str:
    """The digits of a phone number (spaces, dashes, brackets and +86 dropped).

    Raises:
        ValueError: not 7 to 15 digits.
    """
    text = re.sub(r"[\s\-()]", "", unicodedata.normalize("NFKC", phone))
    if text.startswith("+86"):
        text = text[3:]
    if not _PHONE.match(text):
        raise ValueError("phone must be 7 to 15 digits (e.g. 13812345678)")
    return text.lstrip("+")


def digest(key: bytes, kind: str, text: str) -> str:
    """The keyed hash of one piece of personal data (hex HMAC-SHA256 of ``kind``\\0``text``);
    a phone's equals the ``phone_hash`` bookings keep."""
    return hmac.new(key, f"{kind}\0{text}".encode(), hashlib.sha256).hexdigest()


ENV = "QHALL_PII_KEY"
KEY_BYTES = 32


_EPHEMERAL = secrets.token_bytes(KEY_BYTES)


class PiiKeyError(Exception):
    """No usable key: the message says where one was looked for and how to make one."""


def _parse(text: str, where: str) -> bytes:
    hex_text = text.strip()
    try:
        key = bytes.fromhex(hex_text)
    except ValueError:
        raise PiiKeyError(f"{where}: not a hex key; make one with `qhall make-key FILE`") from None
    if len(key) < KEY_BYTES:
        raise PiiKeyError(f"{where}: the key is {len(key)} bytes, at least {KEY_BYTES} needed; "
                          "make one with `qhall make-key FILE`")
    return key


_MEMORY = object()


def _sqlite_file(database: str) -> Path | object | None:
    """The database file of a SQLite URL, ``_MEMORY`` for an in-memory one, else None."""
    if database in ("sqlite://", "sqlite:///:memory:"):
        return _MEMORY
    prefix = "sqlite:///"
    if not database.startswith(prefix):
        return None
    path = database[len(prefix):].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else _MEMORY


def make_key(path: Path) -> None:
    """Write a fresh random key to ``path`` (mode 0600); never overwrites.

    Raises:
        FileExistsError: ``path`` exists (replacing a key orphans every hash made with it).
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(secrets.token_hex(KEY_BYTES) + "\n")


def key_for(config: HallConfig) -> bytes:
    """The hall's personal-data key (see the module doc for where it comes from).

    Raises:
        PiiKeyError: no key is set up, or the one found is malformed.
    """
    env = os.environ.get(ENV)
    if env:
        return _parse(env, ENV)
    if config.pii_key_file:
        path = Path(config.pii_key_file)
        try:
            return _parse(path.read_text(encoding="ascii"), str(path))
        except OSError as exc:
            raise PiiKeyError(f"[hall] pii_key_file {path}: {exc.strerror or exc}; make it with "
                              f"`qhall make-key {path}`") from None
    db_file = _sqlite_file(config.database)
    if db_file is _MEMORY:
        # The database dies with the process: so may its key.
        return _EPHEMERAL
    if not isinstance(db_file, Path):
        raise PiiKeyError(f"no key for personal data: set {ENV} or [hall] pii_key_file "
                          "(make one with `qhall make-key FILE`)")
    beside = db_file.with_name(db_file.name + ".pii-key")
    try:
        make_key(beside)
    except FileExistsError:
        pass
    except OSError as exc:
        raise PiiKeyError(f"cannot create {beside}: {exc.strerror or exc}") from None
    return _parse(beside.read_text(encoding="ascii"), str(beside))


# ---------------------------------------------------------------- CLI


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``qhall make-key``."""
    parser.description = (
        "生成用于个人信息（预约手机号）哈希的密钥文件。Make the key that hashes personal data "
        "(booking phone numbers): 32 random bytes as hex, mode 0600. Point [hall] pii_key_file "
        f"at it, or put its text in {ENV}. Keep it out of database backups."
    )
    parser.add_argument("file", type=Path, help="where to write the key (must not exist)")


def run(args: argparse.Namespace) -> int:
    """``qhall make-key FILE``: 0 when written, 1 when refused."""
    try:
        make_key(args.file)
    except FileExistsError:
        print(f"qhall make-key: {args.file} exists; a key is never overwritten (the hashes made "
              "with it would no longer match)", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"qhall make-key: {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"qhall make-key: wrote {args.file}; set [hall] pii_key_file = \"{args.file}\"")
    return 0
