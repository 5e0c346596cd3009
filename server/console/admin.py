"""Configuration from the console (admin role): edit, store, apply live, undo.

One edit (``{"do": "config_edit", "op": ..., ...}``, ops in
``server/console/edits.py``) goes:

1. the hall's newest stored version (TOML text; when none is stored yet,
   the running configuration is stored first as version 1) is edited as
   TOML data and rendered;
2. validated by exactly :func:`server.config.parse` (``qhall check-config``'s
   rules: a refusal carries its message) and by building the hall's core
   under it from the store (a counter or service still in use cannot go);
3. stored as the next version WITH its audit row (both version numbers
   named) in one transaction; a version stored meanwhile by another
   process refuses the edit;
4. only then applied in memory: the core is swapped for the one built in
   step 2 (same loop turn: no request ran in between), and the server is
   told (``Host.reconfigured``): a revoked or changed device's connections
   close, and when services or counters changed every device reconnects
   for a welcome with the new hall.

Undo (``config_undo`` with an audit entry) stores that entry's earlier
version again, the same way (audited too; undoing an old entry also undoes
the versions stored after it: it is the whole earlier configuration).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import tomllib
from collections.abc import Callable
from typing import Any, Protocol

from server.auth import hash_secret
from server.config import ConfigError, HallConfig, Staff, dumps, toml_text
from server.console import edits, qr
from server.console.versions import effective, validate
from server.service import HallService
from server.store import StaleState
from server.wire.errors import BadRequest, Conflict, Forbidden

log = logging.getLogger("qhall.console")

__all__ = ["Admin", "Reconfigurable", "config_view"]

#: Versions listed on the configuration page.
VERSIONS_LISTED = 20


class Reconfigurable(Protocol):
    """What the admin needs of the server: to act on a new configuration."""

    def reconfigured(self, old: HallConfig, new: HallConfig) -> None: ...


def config_view(cfg: HallConfig) -> dict[str, Any]:
    """The configuration as the admin pages show it (no hashes)."""
    return {
        "services": [{"id": s.id, "name": s.name, "prefix": s.prefix,
                      "hours": [f"{a:%H:%M}-{b:%H:%M}" for a, b in s.hours],
                      "daily_quota": s.daily_quota, "zone": s.zone,
                      "appointments": s.appointments is not None, "route": list(s.route)}
                     for s in cfg.services],
        "counters": [{"number": c.number, "name": c.name, "services": list(c.services),
                      "mode": c.mode} for c in cfg.counters],
        "staff": [{"id": m.id, "name": m.name, "roles": list(m.roles), "disabled": m.disabled,
                   "reset": list(m.reset)} for m in cfg.staff],
        "devices": [{"id": d.id, "role": d.role, "counter": d.counter} for d in cfg.devices],
    }


class Admin:
    """The hall's configuration edits, for admins at the console."""

    def __init__(self, service: HallService, host: Reconfigurable,
                 clock: Callable[[], dt.datetime]) -> None:
        self.service = service
        self.host = host
        self.clock = clock
        # One edit at a time in this process (another process: based_on).
        self._lock = asyncio.Lock()

    @property
    def hall_id(self) -> str:
        return self.service.config.id

    # ----------------------------------------------------------------- reads
    def view(self) -> dict[str, Any]:
        rows = self.service.store.configs.history(self.hall_id, VERSIONS_LISTED)
        tz = self.service.config.tz
        return {**config_view(self.service.base_config),
                "version": rows[0].version if rows else 0,
                "versions": [{"version": r.version, "staff": r.staff, "note": r.note,
                              "at": r.at.astimezone(tz).isoformat(timespec="seconds")}
                             for r in rows]}

    # ----------------------------------------------------------------- edits
    async def edit(self, staff: Staff, msg: dict[str, Any]) -> dict[str, Any]:
        """Run one ``config_edit``; the reply's fields (``token``/``qr`` once
        for a new device).

        Raises:
            Forbidden: not an admin.
            BadRequest: a malformed edit, or one the configuration rules refuse
                (the message is ``qhall check-config``'s).
            Conflict: another version was stored meanwhile.
        """
        _admin_only(staff)
        op = msg.get("op")
        token = ""
        hashed = ""
        if op == "device_add":
            token = secrets.token_urlsafe(24)
            hashed = await asyncio.to_thread(hash_secret, token)
        elif op == "staff_add":
            # A placeholder nobody knows: the person sets the PIN at first login.
            hashed = await asyncio.to_thread(hash_secret, secrets.token_urlsafe(24))
        elif op == "staff_secret":
            raise BadRequest("a secret is set by its owner at login, not here")
        async with self._lock:
            number = self._store_edit(staff.id, msg, hashed, "config", edits.summary(msg))
        reply: dict[str, Any] = {"version": number}
        if token:
            # Shown once: only its hash is stored.
            reply["token"] = token
            reply["qr"] = qr.svg(token)  # what goes in the device's --token-file
        return reply

    async def set_secret(self, staff_id: str, what: str, plain: str) -> None:
        """A reset PIN or password set by its owner at login (hashed off the loop)."""
        hashed = await asyncio.to_thread(hash_secret, plain)
        async with self._lock:
            self._store_edit(staff_id, {"op": "staff_secret", "staff": staff_id, "what": what},
                             hashed, "secret_set", {"what": what})

    async def undo(self, staff: Staff, entry: int) -> dict[str, Any]:
        """Store again the version an audited configuration change started from."""
        _admin_only(staff)
        row = self.service.store.console.audit_entry(self.hall_id, entry)
        if row is None or row.action not in ("config", "config_undo", "secret_set") \
                or not isinstance(row.detail.get("from"), int):
            raise BadRequest(f"审计记录 {entry} 不是配置更改 audit entry {entry} is no "
                             "configuration change")
        earlier = self.service.store.configs.get(self.hall_id, row.detail["from"])
        if earlier is None:
            raise BadRequest(f"no version {row.detail['from']}")
        async with self._lock:
            base, _text = self._base()
            number = self._store(staff.id, earlier.text, base, "config_undo",
                                 {"undoes": entry, "restores": earlier.version})
        return {"version": number}

    # ------------------------------------------------------------ the steps
    def _base(self) -> tuple[int, str]:
        """The newest version (number, text); (0, the running configuration)
        when the hall has none stored."""
        newest = self.service.store.configs.newest(self.hall_id)
        if newest is not None:
            return newest.version, newest.text
        return 0, dumps(self.service.base_config)

    def _store_edit(self, who: str, msg: dict[str, Any], hashed: str, action: str,
                    detail: dict[str, Any]) -> int:
        base, text = self._base()
        data = tomllib.loads(text)
        return self._store(who, toml_text(edits.apply(data, msg, hashed)), base, action, detail)

    def _store(self, who: str, text: str, base: int, action: str,
               detail: dict[str, Any]) -> int:
        running = self.service.config
        try:
            new = effective(validate(text, self.hall_id, "the edited configuration"), running)
            hall = self.service.prepare_config(new)
        except ConfigError as exc:
            raise BadRequest(f"配置无效，未保存 not saved: {exc}") from None
        except ValueError as exc:
            raise BadRequest(f"与大厅现状不符，未保存 not saved: {exc}") from None
        now = self.clock()
        try:
            if base == 0:
                # The first change: the configuration it changes is version 1.
                base = self.service.store.configs.add(
                    self.hall_id, dumps(self.service.base_config), now, "serve",
                    "the running configuration, before the first change", based_on=0)
        except StaleState as exc:
            raise Conflict(str(exc)) from None
        audit = self.service.store.console.audit(
            self.hall_id, now, who, action, f"config:v{base}->v{base + 1}",
            {**detail, "from": base, "to": base + 1})
        try:
            number = self.service.store.configs.add(self.hall_id, text, now, who,
                                                    f"{action} {detail.get('op', '')}".strip(),
                                                    based_on=base, extra=audit)
        except StaleState as exc:
            raise Conflict(str(exc)) from None
        # Committed: now memory follows (same loop turn as prepare_config).
        self.service.adopt_config(new, hall)
        self.service.config_version = number
        self.host.reconfigured(running, self.service.config)
        return number

    def follow(self) -> bool:
        """Serve the newest stored version when another writer stored it
        (``qhall config import`` while this server runs); True if it did.

        A newest version this process cannot serve (it no longer parses, or
        does not fit the day's state) is logged once and left; the hall
        goes on with what it serves.
        """
        service = self.service
        if self._lock.locked():
            return False  # an edit of ours is under way
        number = service.store.configs.newest_number(self.hall_id)
        if number in (0, service.config_version):
            return False
        newest = service.store.configs.get(self.hall_id, number)
        running = service.config
        try:
            assert newest is not None
            new = effective(validate(newest.text, self.hall_id, f"database version {number}"),
                            running)
            hall = service.prepare_config(new)
        except (ConfigError, ValueError) as exc:
            log.error("hall %s: configuration version %d not applied: %s", self.hall_id,
                      number, exc)
            service.config_version = number
            return False
        service.adopt_config(new, hall)
        service.config_version = number
        self.host.reconfigured(running, service.config)
        log.warning("hall %s: now serving configuration version %d (%s)", self.hall_id,
                    number, newest.note)
        return True

    # --------------------------------------------------- an extra counter today
    def assign(self, staff: Staff, counter: int, services: tuple[str, ...]) -> dict[str, Any]:
        """Assign services to a counter for today (supervisor or admin): an
        extra counter for a service until the day ends; empty ``services``
        gives the counter its configured services back. Audited; applied
        like a configuration change (the core is rebuilt, devices reconnect).

        Raises:
            CoreError: no such counter, an unknown or route service.
        """
        service = self.service
        old = service.config
        before = old.counter(counter)
        try:
            hall = service.prepare_assignment(counter, services)
        except ValueError as exc:
            raise BadRequest(f"与大厅现状不符 not possible now: {exc}") from None
        day = service.today()
        now = self.clock()
        audit = service.store.console.audit(
            self.hall_id, now, staff.id, "assign", f"counter:{counter}",
            {"services": list(services), "day": str(day),
             "before": list(before.services) if before else []})
        service.store.configs.assign(self.hall_id, day, counter, services, now, staff.id,
                                     extra=audit)
        service.adopt_config(service.base_config, hall)
        self.host.reconfigured(old, service.config)
        found = service.config.counter(counter)
        return {"counter": counter, "services": list(found.services) if found else []}


def _admin_only(staff: Staff) -> None:
    if "admin" not in staff.roles:
        raise Forbidden("只有管理员可以修改配置 only an admin may change the configuration")
