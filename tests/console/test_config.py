"""Config for the console: staff roles and passwords, the [console] table."""

from __future__ import annotations

import pytest

from server.config import ConfigError, Console, dumps, parse
from tests.test_config import BASE, HASH, edit


def test_staff_default_to_the_counter_role_without_a_password():
    member = parse(BASE).staff[0]
    assert member.roles == ("counter",) and member.password_hash == ""
    assert parse(BASE).console == Console()


def test_roles_password_and_console_table_parse_and_round_trip():
    text = edit(f'pin_hash = "{HASH}"',
                f'pin_hash = "{HASH}"\nroles = ["counter", "supervisor"]\n'
                f'password_hash = "{HASH}"') + (
        '\n[console]\nidle_timeout_s = "10m"\nservice_level_target = 0.8\n'
        'wait_alert_s = 1200\npause_alert_s = "5m"\n')
    config = parse(text)
    assert config.staff[0].roles == ("counter", "supervisor")
    assert config.staff[0].password_hash == HASH
    assert config.console == Console(600, 0.8, 1200, 300)
    assert parse(dumps(config)) == config


@pytest.mark.parametrize(("extra", "message"), [
    ('roles = ["boss"]', "staff[0].roles[0] (line 39): unknown role 'boss'; "
                         "one of counter, supervisor, admin"),
    ('password_hash = "hunter2"', "staff[0].password_hash (line 39): looks like a plaintext "
                                  "secret; use qhall hash-secret"),
])
def test_bad_roles_and_plaintext_passwords_are_refused(extra, message):
    with pytest.raises(ConfigError) as exc:
        parse(edit(f'pin_hash = "{HASH}"', f'pin_hash = "{HASH}"\n{extra}'))
    assert exc.value.errors == [message]


@pytest.mark.parametrize(("line", "fragment"), [
    ("service_level_target = 1.5", "service_level_target"),
    ("service_level_target = 0.0", "service_level_target"),
    ("idle_timeout_s = 5", "idle_timeout_s"),
    ("wait_alert_s = \"soon\"", "wait_alert_s"),
    ("colour = 1", "colour"),
])
def test_bad_console_values_are_refused(line, fragment):
    with pytest.raises(ConfigError) as exc:
        parse(BASE + f"\n[console]\n{line}\n")
    assert len(exc.value.errors) == 1 and fragment in exc.value.errors[0]
