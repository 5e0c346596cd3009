"""The announcement queue: one call at a time, none lost, none doubled.

Pure logic (no Qt): the audio output is an injected player (see
``display.player.Player``), the audio comes from an injected
``render(number, counter_number, counter_name) -> Path``, and timestamps
come from an injected ``clock()``.

Rules (REFERENCE_HALL: announcements must not overlap or cut each other off):

* Calls are announced in the order they arrive. The next play starts only
  after the player reported the current one finished, so plays never overlap.
* Each call is played ``repeat`` times in a row (first play + repeats).
* No call is dropped: a call's *first* play is never removed.
* Backlog: when more than ``max_backlog`` plays wait, the oldest waiting
  *repeats* are dropped (oldest first) until the backlog fits or only first
  plays are left. So under a burst every ticket is still called once, and
  the queue of first plays may exceed ``max_backlog``.
* A call or recall of a ticket that is already waiting (not yet playing)
  is merged, not doubled: the waiting plays take the newest counter, and
  if only repeats of it were waiting, the earliest one becomes a first play
  (so the recall cannot be dropped). A recall of a ticket that is playing
  or done is queued anew.

Rendering happens synchronously, in ``announce()`` or when a play ends:
the call about to play is rendered before ``player.play``, and the next
waiting call is rendered ahead while one plays (so the gap between two
announcements is not the synthesis time). ``render`` is called once per
call: its result is memoised here, so repeats cost nothing; a slow render
(an uncached speech synthesis) delays only the start of that play. Pair it
with ``display.speech.cache.Voice``, whose disk cache makes a known announcement a
hash and a stat. A render that raises is logged and that play is skipped
(recorded in ``failed``), so one bad announcement cannot stall the hall.

Wiring (board app)::

    voice = Voice(cache_dir, voice=cfg.announce.voice)
    lang = "both" if cfg.announce.english else "zh"
    announcer = Announcer(
        QtPlayer(parent),
        lambda n, c, name: voice.build_announcement(n, c, name, lang),
        clock, repeat=cfg.announce.repeat)
    # on ticket.called / ticket.recalled events:
    announcer.announce(d["ticket"]["number"], d["counter"], d["counter_name"],
                       recall=name == "ticket.recalled")
"""

from __future__ import annotations

import functools
import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from display.player import Player

__all__ = ["Announcer", "Failed", "Played", "Queued"]

log = logging.getLogger(__name__)

Render = Callable[[str, int, str], Path]
_RENDER_MEMO = 64  # recent calls whose audio path is remembered


@dataclass(frozen=True)
class Queued:
    """One waiting (or playing) play of a call.

    Attributes:
        number: ticket number.
        counter_number: the counter to go to.
        counter_name: its name ("" = none).
        recall: the latest event for it was a recall.
        index: 0 for the first play of the call, 1.. for its repeats.
        received_at: clock time the (latest) event arrived.
    """

    number: str
    counter_number: int
    counter_name: str
    recall: bool
    index: int
    received_at: Any

    @property
    def first(self) -> bool:
        return self.index == 0


@dataclass(frozen=True)
class Played:
    """A finished play: what, audio file, and when (clock times)."""

    item: Queued
    path: Path
    started_at: Any
    finished_at: Any


@dataclass(frozen=True)
class Failed:
    """A play skipped because rendering or the player raised."""

    item: Queued
    error: str
    at: Any


class Announcer:
    """Queues call announcements and feeds them to a player one at a time.

    Args:
        player: plays one file and calls back when finished (``display.player``).
        render: ``render(number, counter_number, counter_name) -> Path`` of a WAV.
        clock: ``clock()`` -> a timestamp (the hall's aware datetime, or a float).
        repeat: plays per call (>= 1).
        max_backlog: waiting plays above which the oldest repeats are dropped (>= 1).

    Attributes:
        played: finished plays, oldest first.
        dropped: repeats dropped under backlog pressure, oldest first.
        failed: plays skipped because render or the player raised.
        merged: how many announce() calls were merged into a waiting call.
    """

    def __init__(self, player: Player, render: Render, clock: Callable[[], Any],
                 repeat: int = 2, max_backlog: int = 20) -> None:
        if repeat < 1:
            raise ValueError(f"repeat must be at least 1: got {repeat}")
        if max_backlog < 1:
            raise ValueError(f"max_backlog must be at least 1: got {max_backlog}")
        self.player = player
        self.render = render
        self.clock = clock
        self.repeat = repeat
        self.max_backlog = max_backlog
        self._queue: deque[Queued] = deque()
        self._current: tuple[Queued, Path, Any, object] | None = None
        self._paths: OrderedDict[tuple[str, int, str], Path] = OrderedDict()
        self._pumping = False
        self.played: list[Played] = []
        self.dropped: list[Queued] = []
        self.failed: list[Failed] = []
        self.merged = 0

    # ------------------------------------------------------------ inspection

    @property
    def playing(self) -> Queued | None:
        """The play in progress, if any."""
        return self._current[0] if self._current else None

    def pending(self) -> tuple[Queued, ...]:
        """Waiting plays in the order they will be played (not the one playing)."""
        return tuple(self._queue)

    @property
    def idle(self) -> bool:
        return self._current is None and not self._queue

    # ------------------------------------------------------------ commands

    def announce(self, number: str, counter_number: int, counter_name: str = "",
                 recall: bool = False) -> bool:
        """Queue the call of ticket ``number`` to ``counter_number``.

        Returns:
            True if new plays were queued, False if merged into a waiting call.
        """
        if not number:
            raise ValueError("ticket number is empty")
        now = self.clock()
        waiting = [i for i, q in enumerate(self._queue) if q.number == number]
        if waiting:
            self._merge(waiting, counter_number, counter_name, recall, now)
            self.merged += 1
            self._pump()
            self._prefetch()
            return False
        for index in range(self.repeat):
            self._queue.append(Queued(number, counter_number, counter_name, recall, index, now))
        self._trim()
        self._pump()
        self._prefetch()
        return True

    def clear(self) -> None:
        """Stop the current play and forget every waiting one (e.g. at closing)."""
        self._queue.clear()
        if self._current is not None:
            self._current = None
            self.player.stop()

    # ------------------------------------------------------------ internals

    def _merge(self, waiting: list[int], counter_number: int, counter_name: str,
               recall: bool, now: Any) -> None:
        has_first = any(self._queue[i].first for i in waiting)
        for n, i in enumerate(waiting):
            q = self._queue[i]
            # The newest event names the counter to go to (a transfer may change it).
            q = replace(q, counter_number=counter_number, counter_name=counter_name,
                        recall=q.recall or recall)
            if not has_first and n == 0:
                # Its first play already started: this waiting repeat now carries
                # the recall, so it must not be dropped under backlog pressure.
                q = replace(q, index=0, received_at=now)
            self._queue[i] = q

    def _trim(self) -> None:
        while len(self._queue) > self.max_backlog:
            victim = next((q for q in self._queue if not q.first), None)
            if victim is None:
                return  # only first plays left: those are never dropped
            self._queue.remove(victim)
            self.dropped.append(victim)
            log.info("backlog: dropped repeat %d of %s", victim.index, victim.number)

    def _path(self, item: Queued) -> Path:
        key = (item.number, item.counter_number, item.counter_name)
        path = self._paths.get(key)
        if path is None:
            path = Path(self.render(*key))
            self._paths[key] = path
            while len(self._paths) > _RENDER_MEMO:
                self._paths.popitem(last=False)
        else:
            self._paths.move_to_end(key)
        return path

    def _pump(self) -> None:
        # Re-entrant safe: a player may call on_finished from inside play().
        if self._pumping:
            return
        self._pumping = True
        try:
            while self._current is None and self._queue:
                item = self._queue.popleft()
                try:
                    path = self._path(item)
                except Exception as exc:  # noqa: BLE001 - any render failure: skip, go on
                    log.error("cannot render the call of %s: %s", item.number, exc)
                    self.failed.append(Failed(item, f"render: {exc}", self.clock()))
                    continue
                token = object()
                self._current = (item, path, self.clock(), token)
                try:
                    self.player.play(path, functools.partial(self._finished, token))
                except Exception as exc:  # noqa: BLE001 - a broken player must not stall us
                    log.error("player failed on %s: %s", path, exc)
                    if self._current is not None and self._current[3] is token:
                        self._current = None
                    self.failed.append(Failed(item, f"play: {exc}", self.clock()))
                    continue
                self._prefetch()
        finally:
            self._pumping = False

    def _prefetch(self) -> None:
        # Render the next call while this one is heard, so the gap between
        # two announcements is not the synthesis time.
        if self._current is None or not self._queue:
            return
        try:
            self._path(self._queue[0])
        except Exception:  # noqa: BLE001 - retried (and reported) when it is its turn
            pass

    def _finished(self, token: object) -> None:
        current = self._current
        if current is None or current[3] is not token:
            return  # a late or repeated callback for a play already over or stopped
        item, path, started, _ = current
        self._current = None
        self.played.append(Played(item, path, started, self.clock()))
        self._pump()
