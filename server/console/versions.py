"""Where the hall's configuration lives: versions of its TOML text in the database.

The decision (docs/CONSOLE.md, docs/CONFIG.md): the newest stored version
(``store.configs``, migration 0011) is the hall's configuration. Every
version is validated by exactly :func:`server.config.parse` (the rules of
``qhall check-config``) before it is stored, so an exported version is a
valid file. ``qhall serve --config FILE`` stores the file as the first
version of a hall that has none, and says so when the file differs from the
newest; ``qhall config export|import`` moves versions between file and
database; the console's admin pages store edited versions.

A process keeps what only it can decide: its listening address and the
database it was started on (``[hall] host``, ``port``, ``database``), and
``--no-limits``. Those come from the running configuration, never from a
stored version.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from server.config import ConfigError, HallConfig, Limits, dumps, parse
from server.store import StaleState, Store
from server.wire.clock import utcnow

__all__ = ["PROCESS_FIELDS", "current", "current_version", "effective", "import_file",
           "import_text", "read_text", "validate"]

#: Fields a process takes from how it was started, not from a stored version.
PROCESS_FIELDS = ("database", "host", "port")


def effective(stored: HallConfig, running: HallConfig) -> HallConfig:
    """``stored`` as this process serves it (its own address and database)."""
    keep = {name: getattr(running, name) for name in PROCESS_FIELDS}
    if running.limits == Limits.off():
        keep["limits"] = running.limits  # started with --no-limits
    return dataclasses.replace(stored, **keep)


def validate(text: str, hall_id: str, source: str = "<version>") -> HallConfig:
    """Parse ``text`` by the rules of ``qhall check-config``, for this hall.

    Raises:
        ConfigError: invalid, or a configuration of another hall.
    """
    config = parse(text, source)
    if config.id != hall_id:
        raise ConfigError([f"[hall] id is {config.id!r}; this hall is {hall_id!r}"], source)
    return config


def current(store: Store, running: HallConfig) -> HallConfig:
    """The hall's configuration now: its newest stored version (as this
    process serves it), or ``running`` when none is stored.

    Raises:
        ConfigError: the newest stored version no longer parses (a newer
            qhall refusing an old key, say): fix it with ``qhall config import``.
    """
    return current_version(store, running)[0]


def current_version(store: Store, running: HallConfig) -> tuple[HallConfig, int]:
    """:func:`current` and its version number (0: none stored)."""
    newest = store.configs.newest(running.id)
    if newest is None:
        return running, 0
    stored = validate(newest.text, running.id, f"database version {newest.version}")
    return effective(stored, running), newest.version


def import_text(store: Store, text: str, source: str, *, staff: str = "import",
                only_if_none: bool = False, at: dt.datetime | None = None) -> str:
    """Store a configuration file's text as its hall's newest version.

    Args:
        only_if_none: store it only when the hall has no version yet
            (``qhall serve``); otherwise say how the file and the newest differ.

    Returns:
        What happened, one line for the operator.

    Raises:
        ConfigError: the text is not a valid configuration.
        StoreError: the database failed.
    """
    config = parse(text, source)
    newest = store.configs.newest(config.id)
    if newest is not None and (only_if_none or _same(newest.text, text, config)):
        if _same(newest.text, text, config):
            return f"hall {config.id}: {source} is version {newest.version} (unchanged)"
        return (f"hall {config.id}: {source} differs from the database's version "
                f"{newest.version}, which is served (qhall config import replaces it)")
    try:
        number = store.configs.add(config.id, text, at or utcnow(), staff,
                                   f"imported from {source}"[:400],
                                   based_on=newest.version if newest else 0)
    except StaleState:
        # Another process (a standby starting at the same time) stored one first.
        raced = store.configs.newest(config.id)
        return f"hall {config.id}: version {raced.version if raced else '?'} stored meanwhile"
    return f"hall {config.id}: {source} stored as version {number}"


def read_text(path: str | Path) -> str:
    """A configuration file's text (UTF-8, a byte-order mark tolerated)."""
    return Path(path).read_bytes().decode("utf-8-sig")


def import_file(store: Store, path: str | Path) -> str:
    """``qhall serve --config FILE``: the file becomes version 1 of a hall
    that has none; otherwise says whether it differs from the newest.

    Raises:
        OSError, UnicodeDecodeError: the file cannot be read.
        ConfigError, StoreError: as :func:`import_text`.
    """
    return import_text(store, read_text(path), str(path), staff="serve", only_if_none=True)


def _same(stored: str, text: str, config: HallConfig) -> bool:
    """The same text, or texts that parse to the same configuration."""
    if stored == text:
        return True
    try:
        return dumps(parse(stored)) == dumps(config)
    except ConfigError:
        return False
