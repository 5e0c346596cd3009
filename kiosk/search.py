"""Find a service by what a citizen types: Chinese, English or pinyin initials.

"gjj" finds 公积金提取 and 公积金贷款 (initials gjjtq, gjjdk), "公积金" and
"housing" find them too. Initials come from pypinyin (offline, its own
dictionary: phrases such as 银行 get the right reading, yhyw). Matches are
ranked: initials or a name that start with the query first, then anything
that contains it; ties keep the hall's order.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["initials", "normalise", "rank", "search", "warm_up"]


@functools.cache
def _first_letters() -> Callable[[str], list[str]]:
    # Imported on first use: loading pypinyin's dictionaries takes ~0.8 s,
    # which the kiosk spends after its first screen is up (warm_up), not before.
    from pypinyin import Style, lazy_pinyin

    # errors="default": runs that are not Chinese come back as they are.
    return lambda text: lazy_pinyin(text, style=Style.FIRST_LETTER, errors="default")


def warm_up() -> threading.Thread:
    """Load the pinyin dictionaries in the background; returns the thread."""
    thread = threading.Thread(target=_first_letters, name="pinyin-warm-up", daemon=True)
    thread.start()
    return thread


@functools.lru_cache(maxsize=1024)
def initials(text: str) -> str:
    """The pinyin initials of ``text``, lower case: 公积金提取 -> ``gjjtq``.

    Letters and digits among the characters are kept as they are (lower case);
    anything else (spaces, punctuation) is dropped.
    """
    letters = _first_letters()(text)
    return "".join(ch for part in letters for ch in part.lower() if ch.isalnum())


def normalise(query: str) -> str:
    """Lower case, no spaces at the ends, inner runs of spaces as one."""
    return " ".join(query.lower().split())


def rank(query: str, service: Mapping[str, Any]) -> int | None:
    """How well ``service`` matches ``query`` (0 best), or None for no match."""
    q = normalise(query)
    if not q:
        return None
    name = str(service.get("name", ""))
    name_en = str(service.get("name_en", "")).lower()
    abbr = initials(name)
    compact = q.replace(" ", "")
    if name.lower().startswith(q) or abbr.startswith(compact):
        return 0
    if any(word.startswith(q) for word in name_en.split()) or name_en.startswith(q):
        return 1
    if q in name.lower() or (compact.isascii() and compact in abbr):
        return 2
    if q in name_en or q == str(service.get("id", "")).lower():
        return 3
    return None


def search(query: str, services: Iterable[Mapping[str, Any]]) -> list[str]:
    """The ids of the services matching ``query``, best first."""
    found = []
    for order, svc in enumerate(services):
        r = rank(query, svc)
        if r is not None:
            found.append((r, order, str(svc.get("id", ""))))
    return [sid for _, _, sid in sorted(found)]
