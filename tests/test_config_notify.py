"""``[[notify]]`` and ``[hall] soon_ahead``: parsed, validated with places, round-tripped."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.cli import main
from server.config import ConfigError, Notify, dumps, parse
from tests.test_config import BASE


def with_notify(table: str) -> str:
    return BASE + "\n[[notify]]\n" + table + "\n"


def test_defaults_no_webhooks_soon_three() -> None:
    cfg = parse(BASE)
    assert (cfg.notify, cfg.soon_ahead) == ((), 3)


def test_webhook_with_a_secret_file_round_trips(tmp_path: Path) -> None:
    secret = tmp_path / "notify.secret"
    secret.write_text("k3y\n")
    text = BASE.replace("[hall]\n", "[hall]\nsoon_ahead = 5\n") + (
        f'\n[[notify]]\nurl = "https://sms.example/qhall?x=1"\nsecret_file = "{secret}"\n'
        'events = ["ticket.soon", "ticket.called"]\n')
    cfg = parse(text)
    assert cfg.soon_ahead == 5
    assert cfg.notify == (Notify("https://sms.example/qhall?x=1", ("ticket.soon", "ticket.called"),
                                 secret_file=str(secret)),)
    assert parse(dumps(cfg)) == cfg


@pytest.mark.parametrize(("table", "message"), [
    ('url = "http://x/"\nevents = ["ticket.called"]',
     "give exactly one of secret or secret_file"),
    ('url = "http://x/"\nsecret = "a"\nsecret_file = "/f"\nevents = ["ticket.called"]',
     "give exactly one of secret or secret_file"),
    ('url = "ftp://x/"\nsecret = "a"\nevents = ["ticket.called"]',
     "must be an http:// or https:// URL"),
    ('url = "http://x/"\nsecret = "a"\nevents = ["ticket.late"]', "unknown event 'ticket.late'"),
    ('url = "http://x/"\nsecret = "a"\nevents = []', "must name at least one event"),
    ('url = "http://x/"\nsecret = "a"', "missing required key"),
    ('url = "http://x/"\nsecret_file = "/nonexistent/qhall.secret"\nevents = ["rating.bad"]',
     "cannot read /nonexistent/qhall.secret"),
    ('url = "http://x/"\nsecret = "a"\nevents = ["rating.bad"]\nretries = 3', "unknown key"),
])
def test_bad_webhooks_are_refused_with_their_place(table: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(with_notify(table))
    assert len(info.value.errors) == 1
    assert info.value.errors[0].startswith("notify[0]") and message in info.value.errors[0]


def test_soon_ahead_is_checked() -> None:
    with pytest.raises(ConfigError) as info:
        parse(BASE.replace("[hall]\n", "[hall]\nsoon_ahead = -1\n"))
    assert "hall.soon_ahead" in info.value.errors[0] and "at least 0" in info.value.errors[0]


def test_check_config_names_a_bad_webhook(tmp_path: Path, capsys) -> None:
    path = tmp_path / "hall.toml"
    path.write_text(with_notify('url = "http://x/"\nsecret = "a"\nevents = ["ticket.gone"]'),
                    encoding="utf-8")
    assert main(["check-config", str(path)]) == 1
    assert "notify[0].events[0]" in capsys.readouterr().err
