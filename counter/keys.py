"""Keyboard shortcuts of the counter client.

Every action has one key (default F1..F8) so USB keypad callers, which
emulate a keyboard, work out of the box. The mapping is configurable with
``qhall counter --keys FILE`` (a TOML file with a ``[keys]`` table) or
``--key ACTION=KEY`` (repeatable). Pure Python: the Qt side only turns the
strings into ``QKeySequence`` objects.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["ACTIONS", "DEFAULT_KEYS", "KeyConfigError", "merge_keys", "load_keys",
           "parse_key_args"]

#: The staff actions, in button order.
ACTIONS: tuple[str, ...] = (
    "call_next", "recall", "start", "complete", "no_show", "transfer", "pause", "call",
    "route_back", "route_end",
)

#: Default key of each action: F1..F8 in button order; the joint-approval
#: actions (联合审批) on Shift+F4 (退回补正, beside complete) and Shift+F5 (结束联办),
#: so key maps written for F1..F12 keep working.
DEFAULT_KEYS: dict[str, str] = {
    **{a: f"F{i}" for i, a in enumerate(ACTIONS[:8], start=1)},
    "route_back": "Shift+F4", "route_end": "Shift+F5",
}


class KeyConfigError(ValueError):
    """A shortcut configuration that cannot be used (unknown action, clash...)."""


def merge_keys(overrides: Mapping[str, str], base: Mapping[str, str] | None = None
               ) -> dict[str, str]:
    """Return ``base`` (default: :data:`DEFAULT_KEYS`) with ``overrides`` applied.

    Args:
        overrides: action name -> key text (Qt portable text, e.g. ``"F9"``,
            ``"Ctrl+1"``, ``"Num+1"``).
        base: the mapping to start from.

    Raises:
        KeyConfigError: an unknown action, an empty key, or two actions on
            the same key (a keypad press must never mean two things).
    """
    keys = dict(DEFAULT_KEYS if base is None else base)
    for action, key in overrides.items():
        if action not in ACTIONS:
            raise KeyConfigError(
                f"unknown action {action!r}; actions are: {', '.join(ACTIONS)}")
        if not isinstance(key, str) or not key.strip():
            raise KeyConfigError(f"action {action!r}: the key must be a non-empty string")
        keys[action] = key.strip()
    seen: dict[str, str] = {}
    for action in ACTIONS:
        norm = keys[action].replace(" ", "").lower()
        if norm in seen:
            raise KeyConfigError(
                f"key {keys[action]!r} is given to both {seen[norm]!r} and {action!r}")
        seen[norm] = action
    return keys


def parse_key_args(items: Iterable[str]) -> dict[str, str]:
    """Parse ``ACTION=KEY`` strings (from ``--key``) into a mapping.

    Raises:
        KeyConfigError: an item without ``=``.
    """
    result: dict[str, str] = {}
    for item in items:
        action, sep, key = item.partition("=")
        if not sep:
            raise KeyConfigError(f"{item!r}: expected ACTION=KEY, e.g. call_next=F9")
        result[action.strip()] = key
    return result


def load_keys(path: str | Path) -> dict[str, str]:
    """Read a TOML file with a ``[keys]`` table and merge it over the defaults.

    Raises:
        KeyConfigError: unreadable file, bad TOML, no ``[keys]`` table, or a
            bad mapping (see :func:`merge_keys`). The message names the file.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KeyConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise KeyConfigError(f"{path}: not valid TOML: {exc}") from exc
    table = data.get("keys")
    if not isinstance(table, dict):
        raise KeyConfigError(f"{path}: expected a [keys] table, e.g. call_next = \"F1\"")
    try:
        return merge_keys(table)
    except KeyConfigError as exc:
        raise KeyConfigError(f"{path}: {exc}") from exc
