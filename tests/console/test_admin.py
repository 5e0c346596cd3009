"""Configuration from the console (admin): versions validated by check-config's
rules, stored with their audit entry, applied live, undone from the audit log."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from server.config import ConfigError, dumps, load, parse, toml_text
from server.console.sessions import may_use_console
from tests.console.client import (
    ConsoleClient,
    admin_config,
    closed_with,
    console_config,
    login,
    try_login,
)
from tests.helpers.failover import until
from tests.helpers.server import PIN, RunningServer


def _config_audit(srv: RunningServer) -> list[tuple[str, dict[str, Any]]]:
    return [(r.action, r.detail) for r in reversed(srv.store.console.audit_log(srv.config.id))
            if r.action in ("config", "config_undo", "secret_set")]


def test_a_refused_edit_changes_nothing_and_says_what_check_config_says(tmp_path):
    cfg = admin_config(f"sqlite:///{tmp_path / 'hall.db'}")
    with RunningServer(cfg) as srv, srv.client("board-1") as board:
        console = ConsoleClient(srv.port, login(srv.port))
        before = srv.server.service.config
        bad = console.request("config_edit", op="service", service="gjj", hours=["25:00-12:00"])
        assert bad["type"] == "error" and bad["code"] == "bad_request"
        # The very words of qhall check-config on the same file.
        data = tomllib.loads(dumps(before))
        data["services"][0]["hours"] = ["25:00-12:00"]
        path = tmp_path / "edited.toml"
        path.write_text(toml_text(data), encoding="utf-8")
        with pytest.raises(ConfigError) as refused:
            load(path)
        words = str(refused.value).split("\n", 1)[1].strip()
        assert "services[0].hours[0]" in words and words in bad["message"]
        # Nothing stored, nothing audited, nothing applied, nobody disconnected.
        assert srv.store.configs.newest(cfg.id) is None
        assert _config_audit(srv) == []
        assert srv.server.service.config is before
        assert board.request("ping")["type"] == "ok"
        # Parse-clean but impossible now: a counter that serves an unknown service.
        unknown = console.request("config_edit", op="counter", number=2, services=["nope"])
        assert unknown["code"] == "bad_request" and "nope" in unknown["message"]
        assert console.request("config_edit", op="staff_disable", staff="s404")["code"] == \
            "bad_request"
        assert console.request("config_edit", op="explode")["code"] == "bad_request"
        assert srv.store.configs.newest(cfg.id) is None
        console.close()


def test_only_an_admin_may_read_or_change_the_configuration(tmp_path):
    with RunningServer(console_config(f"sqlite:///{tmp_path / 'hall.db'}")) as srv:
        console = ConsoleClient(srv.port, login(srv.port))  # s005: supervisor, not admin
        assert console.request("config")["code"] == "forbidden"
        assert console.request("config_edit", op="staff_disable", staff="s001")["code"] == \
            "forbidden"
        assert console.request("config_edit", op="staff_disable", staff="s001",
                               csrf=False)["code"] == "forbidden"
        assert srv.store.configs.newest(srv.config.id) is None
        console.close()


def test_a_new_staff_member_sets_the_pin_at_first_login_and_undo_removes_them(tmp_path):
    cfg = admin_config(f"sqlite:///{tmp_path / 'hall.db'}")
    with RunningServer(cfg) as srv, srv.client("counter-2") as counter:
        console = ConsoleClient(srv.port, login(srv.port))
        assert counter.request("login", staff="s009", pin="2468")["code"] == "unauthorized"
        added = console.request("config_edit", op="staff_add", staff="s009", name="赵敏")
        assert added["type"] == "ok" and added["version"] == 2, added
        assert [m["reset"] for m in added["staff"] if m["id"] == "s009"] == [["pin"]]
        # Version 1 is the configuration before the change; version 2 parses.
        assert srv.store.configs.get(cfg.id, 1) is not None
        stored = parse(srv.store.configs.newest(cfg.id).text)
        assert stored.staff_member("s009").reset == ("pin",)

        # No restart: the new member logs in at a counter; the PIN typed is theirs now.
        assert counter.request("login", staff="s009", pin="12")["code"] == "bad_request"
        assert counter.request("login", staff="s009", pin="2468")["type"] == "ok"
        until(lambda: not srv.server.service.config.staff_member("s009").reset, 10,
              "the PIN set at first login stored")
        assert counter.request("logout")["type"] == "ok"
        assert counter.request("login", staff="s009", pin="1357")["code"] == "unauthorized"
        assert counter.request("login", staff="s009", pin="2468")["type"] == "ok"
        audit = _config_audit(srv)
        assert [a for a, _ in audit] == ["config", "secret_set"]
        assert audit[0][1] == {"op": "staff_add", "staff": "s009", "name": "赵敏",
                               "from": 1, "to": 2}
        assert audit[1][1] == {"what": "pin", "from": 2, "to": 3}

        # Undo the addition from its audit entry: version 1 is stored again.
        entry = next(r.id for r in srv.store.console.audit_log(cfg.id)
                     if r.action == "config")
        undone = console.request("config_undo", audit=entry)
        assert undone["type"] == "ok" and undone["version"] == 4
        assert srv.store.configs.newest(cfg.id).text == srv.store.configs.get(cfg.id, 1).text
        assert srv.server.service.config.staff_member("s009") is None
        assert _config_audit(srv)[-1] == ("config_undo", {"undoes": entry, "restores": 1,
                                                          "from": 3, "to": 4})
        assert counter.request("logout")["type"] == "ok"
        assert counter.request("login", staff="s009", pin="2468")["code"] == "unauthorized"
        assert console.request("config_undo", audit=10_000)["code"] == "bad_request"
        console.close()


def test_disable_and_reset_take_effect_at_once(tmp_path):
    cfg = admin_config(f"sqlite:///{tmp_path / 'hall.db'}")
    with RunningServer(cfg) as srv, srv.client("counter-3") as counter:
        console = ConsoleClient(srv.port, login(srv.port))
        assert counter.request("login", staff="s003", pin=PIN)["type"] == "ok"
        # Disabled: the counter they are at closes, and they log in nowhere.
        assert console.request("config_edit", op="staff_disable", staff="s003")["type"] == "ok"
        assert srv.call(lambda: srv.server.service.hall.counter_state(3).state) == "closed"
        assert ("close", "counter:3") in [(r.action, r.target) for r in
                                          srv.store.console.audit_log(cfg.id)]
        assert counter.request("login", staff="s003", pin=PIN)["code"] == "unauthorized"
        assert console.request("config_edit", op="staff_enable", staff="s003")["type"] == "ok"
        assert counter.request("login", staff="s003", pin=PIN)["type"] == "ok"
        assert counter.request("logout")["type"] == "ok"
        # A reset PIN: the old one no longer opens anything... the next one typed does.
        assert console.request("config_edit", op="staff_reset", staff="s003",
                               what="pin")["type"] == "ok"
        assert counter.request("login", staff="s003", pin="9999")["type"] == "ok"
        until(lambda: not srv.server.service.config.staff_member("s003").reset, 10, "PIN stored")
        assert counter.request("logout")["type"] == "ok"
        assert counter.request("login", staff="s003", pin=PIN)["code"] == "unauthorized"

        # A password reset: the console password typed next becomes it; old sessions end.
        assert console.request("config_edit", op="staff_reset", staff="s005",
                               what="password")["type"] == "ok"
        assert console.request("config")["code"] == "unauthorized"
        assert try_login(srv.port, "s005", "short")["code"] == "bad_request"
        fresh = ConsoleClient(srv.port, login(srv.port, "s005", "a new password 1"))
        assert fresh.request("config")["type"] == "ok"
        assert may_use_console(srv.server.service.config.staff_member("s005"))
        assert try_login(srv.port, "s005", "a new password 2")["code"] == "unauthorized"
        fresh.close()
        console.close()


def test_a_revoked_device_is_closed_and_a_new_one_gets_its_token_once(tmp_path):
    cfg = admin_config(f"sqlite:///{tmp_path / 'hall.db'}")
    with RunningServer(cfg) as srv, srv.client("board-1") as stays, \
            srv.client("board-2") as goes:
        console = ConsoleClient(srv.port, login(srv.port))
        assert console.request("config_edit", op="device_revoke", device="board-2")["type"] == "ok"
        assert closed_with(goes) == 1008
        assert stays.request("ping")["type"] == "ok"  # only staff/devices changed
        again = srv.client("board-2", expect_welcome=False)
        assert again.welcome["type"] == "error"
        again.close()

        added = console.request("config_edit", op="device_add", device="kiosk-9", role="kiosk")
        assert added["type"] == "ok" and len(added["token"]) >= 32
        assert added["qr"].startswith("<svg") and "<path" in added["qr"]
        assert added["token"] not in srv.store.configs.newest(cfg.id).text
        with srv.client("kiosk-9", token=added["token"]) as kiosk:
            assert kiosk.request("issue", service="gjj")["type"] == "ok"
        # The token is not shown again.
        assert "token" not in console.request("config")
        assert console.request("config_edit", op="device_add", device="kiosk-9",
                               role="kiosk")["code"] == "bad_request"
        console.close()


def test_a_service_change_applies_live_and_devices_reconnect(tmp_path):
    cfg = admin_config(f"sqlite:///{tmp_path / 'hall.db'}")
    with RunningServer(cfg) as srv:
        kiosk = srv.client("kiosk-1")
        console = ConsoleClient(srv.port, login(srv.port))
        edit = console.request("config_edit", op="service", service="gjj", daily_quota=1,
                               zone="A区", hours=[])
        assert edit["type"] == "ok", edit
        assert closed_with(kiosk) == 1012  # reconnect for the new hall
        with srv.client("kiosk-1") as again:
            gjj = next(s for s in again.welcome["hall"]["services"] if s["id"] == "gjj")
            assert (gjj["daily_quota"], gjj["zone"]) == (1, "A区")
            assert again.request("issue", service="gjj")["type"] == "ok"
            assert again.request("issue", service="gjj")["code"] == "quota_reached"
        counter = console.request("config_edit", op="counter", number=2,
                                  services=["tax", "gjj"])
        assert counter["type"] == "ok"
        assert srv.server.service.config.counter(2).services == ("tax", "gjj")
        console.close()
