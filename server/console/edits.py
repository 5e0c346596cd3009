"""The console's configuration edits, as changes to the TOML data (pure).

Items are named by ``service`` (id), ``number`` (a counter), ``staff`` (id)
and ``device`` (id): ``id`` is the console request's own id. Each edit
takes the hall's configuration as TOML data (what :func:`tomllib.loads`
returns for the newest version) and the console's request, and changes a copy; the caller renders it
(:func:`server.config.toml_text`) and validates it with
:func:`server.config.parse`, so a bad value is refused with exactly the
message ``qhall check-config`` would print. This module checks only what
parse cannot know: that the edited item exists, the request's field types.

Secrets never arrive here in plain text: the caller hashes a new device
token (shown once) or a PIN set at first login, and passes the hash.
"""

from __future__ import annotations

import copy
from typing import Any

from server.config import STAFF_RESETS
from server.wire.errors import BadRequest

__all__ = ["EDITS", "apply", "summary"]

#: ``do: config`` edits: op -> what it changes (the audit's wording).
EDITS = {
    "service": "服务 service",
    "counter": "窗口 counter",
    "staff_add": "新增人员 staff added",
    "staff_disable": "停用人员 staff disabled",
    "staff_enable": "启用人员 staff enabled",
    "staff_reset": "重置密码 secret reset",
    "staff_secret": "设置密码 secret set",
    "device_add": "新增设备 device added",
    "device_revoke": "吊销设备 device revoked",
}
_SECRET_KEYS = {"pin": "pin_hash", "password": "password_hash"}


def _str(msg: dict[str, Any], key: str, limit: int = 200) -> str:
    value = msg.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise BadRequest(f"{key} must be text of 1 to {limit} characters")
    return value.strip()


def _strings(msg: dict[str, Any], key: str) -> list[str]:
    value = msg.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) \
            or len(value) > 100:
        raise BadRequest(f"{key} must be a list of texts")
    return [v.strip() for v in value if v.strip()]


def _find(items: list[dict[str, Any]], key: str, value: Any, what: str) -> dict[str, Any]:
    for item in items:
        if item.get(key) == value:
            return item
    raise BadRequest(f"没有这个{what} no {what.split()[-1]} {value!r}")


def _set(table: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key``; None or an empty text/list removes it (the default)."""
    if value is None or value == "" or value == []:
        table.pop(key, None)
    else:
        table[key] = value


def apply(data: dict[str, Any], msg: dict[str, Any], hashed: str = "") -> dict[str, Any]:
    """The configuration data after the edit ``msg["op"]`` (``data`` is untouched).

    Args:
        hashed: the new secret's hash for ``staff_add`` (a placeholder PIN,
            set by the person at first login), ``device_add`` (the token)
            and ``staff_secret``.

    Raises:
        BadRequest: unknown op, a field of the wrong type, no such item,
            or an id already taken.
    """
    op = msg.get("op")
    out = copy.deepcopy(data)
    services: list[dict[str, Any]] = out.setdefault("services", [])
    counters: list[dict[str, Any]] = out.setdefault("counters", [])
    staff: list[dict[str, Any]] = out.setdefault("staff", [])
    devices: list[dict[str, Any]] = out.setdefault("devices", [])
    if op == "service":
        svc = _find(services, "id", msg.get("service"), "服务 service")
        if "hours" in msg:
            _set(svc, "hours", _strings(msg, "hours"))
        if "daily_quota" in msg:
            quota = msg["daily_quota"]
            if quota is not None and (not isinstance(quota, int) or isinstance(quota, bool)):
                raise BadRequest("daily_quota must be a number or null")
            _set(svc, "daily_quota", quota)
        if "zone" in msg:
            zone = msg["zone"]
            if not isinstance(zone, str) or len(zone) > 200:
                raise BadRequest("zone must be text")
            _set(svc, "zone", zone.strip())
        if "appointments" in msg:
            if not isinstance(msg["appointments"], bool):
                raise BadRequest("appointments must be true or false")
            if not msg["appointments"]:
                svc.pop("appointments", None)
            elif not isinstance(svc.get("appointments"), dict):
                svc["appointments"] = {}  # the default booking rules
    elif op == "counter":
        number = msg.get("number")
        if not isinstance(number, int) or isinstance(number, bool):
            raise BadRequest("number must be a counter number")
        found = [c for c in counters if c.get("number") == number]
        counter = found[0] if found else {"number": number, "name": f"{number}号窗口"}
        if not found:
            counters.append(counter)
        counter["services"] = _strings(msg, "services")
        if msg.get("name") is not None:
            counter["name"] = _str(msg, "name", 64)
        if msg.get("mode") is not None:
            counter["mode"] = _str(msg, "mode", 16)
    elif op == "staff_add":
        sid = _str(msg, "staff", 64)
        if any(s.get("id") == sid for s in staff):
            raise BadRequest(f"工号已存在 staff id {sid!r} is taken")
        roles = _strings(msg, "roles") if "roles" in msg else ["counter"]
        member: dict[str, Any] = {"id": sid, "name": _str(msg, "name", 64), "pin_hash": hashed}
        _set(member, "roles", roles if roles != ["counter"] else None)
        # The person sets the PIN (and, with a console role, the password) at first login.
        resets = ["pin"] + (["password"] if {"supervisor", "admin"} & set(roles) else [])
        member["reset"] = resets
        staff.append(member)
    elif op in ("staff_disable", "staff_enable"):
        member = _find(staff, "id", msg.get("staff"), "人员 staff")
        _set(member, "disabled", True if op == "staff_disable" else None)
    elif op in ("staff_reset", "staff_secret"):
        member = _find(staff, "id", msg.get("staff"), "人员 staff")
        what = msg.get("what")
        if what not in STAFF_RESETS:
            raise BadRequest("what must be one of " + ", ".join(STAFF_RESETS))
        resets = [r for r in member.get("reset", []) if r != what]
        if op == "staff_reset":
            resets.append(str(what))
        else:
            member[_SECRET_KEYS[str(what)]] = hashed
        _set(member, "reset", resets)
    elif op == "device_add":
        did = _str(msg, "device", 64)
        if any(d.get("id") == did for d in devices):
            raise BadRequest(f"设备编号已存在 device id {did!r} is taken")
        device: dict[str, Any] = {"id": did, "role": _str(msg, "role", 16), "token_hash": hashed}
        if msg.get("counter") is not None:
            device["counter"] = msg["counter"]
        devices.append(device)
    elif op == "device_revoke":
        device = _find(devices, "id", msg.get("device"), "设备 device")
        devices.remove(device)
    else:
        raise BadRequest(f"unknown configuration edit {op!r}; one of " + ", ".join(EDITS))
    for key in ("services", "counters", "staff", "devices"):
        if not out[key]:
            del out[key]
    return out


def summary(msg: dict[str, Any]) -> dict[str, Any]:
    """The edit's arguments as the audit keeps them (never a secret)."""
    keep = ("op", "service", "staff", "device", "number", "name", "hours", "daily_quota",
            "zone", "appointments", "services", "mode", "roles", "what", "role", "counter")
    return {k: msg[k] for k in keep if k in msg}
