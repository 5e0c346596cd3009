"""Hall configuration: loading, validation errors (with lines), dumps, check-config."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import pytest

from server.auth import hash_secret
from server.cli import main
from server.config import (
    Announce,
    Appointments,
    ConfigError,
    ConfigFileError,
    Counter,
    Device,
    Dispatch,
    HallConfig,
    Limits,
    Service,
    Staff,
    dumps,
    load,
    parse,
)

HASH = hash_secret("1234", n=2**8)
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "hall.toml"

# Line numbers matter: the expected errors below cite them.
BASE_LINES = [
    "[hall]",  # 1
    'name = "测试大厅"',  # 2
    'timezone = "Asia/Shanghai"',  # 3
    'database = "sqlite:///test.db"',  # 4
    "",  # 5
    "[[services]]",  # 6
    'id = "gjj"',  # 7
    'name = "公积金"',  # 8
    'name_en = "Housing fund"',  # 9
    'prefix = "A"',  # 10
    'category = "public"',  # 11
    'hours = ["08:30-12:00", "13:30-17:30"]',  # 12
    "daily_quota = 400",  # 13
    "",  # 14
    "[services.appointments]",  # 15
    "slot_minutes = 30",  # 16
    "",  # 17
    "[[services]]",  # 18
    'id = "tax"',  # 19
    'name = "税务"',  # 20
    'name_en = "Tax"',  # 21
    'prefix = "B"',  # 22
    'category = "public"',  # 23
    "",  # 24
    "[[counters]]",  # 25
    "number = 1",  # 26
    'name = "1号窗口"',  # 27
    'services = ["gjj", "tax"]',  # 28
    "",  # 29
    "[[counters]]",  # 30
    "number = 2",  # 31
    'services = ["tax"]',  # 32
    'mode = "oldest"',  # 33
    "",  # 34
    "[[staff]]",  # 35
    'id = "s001"',  # 36
    'name = "王芳"',  # 37
    f'pin_hash = "{HASH}"',  # 38
    "",  # 39
    "[[devices]]",  # 40
    'id = "kiosk-1"',  # 41
    'role = "kiosk"',  # 42
    f'token_hash = "{HASH}"',  # 43
    "",  # 44
    "[[devices]]",  # 45
    'id = "counter-1"',  # 46
    'role = "counter"',  # 47
    "counter = 1",  # 48
    f'token_hash = "{HASH}"',  # 49
]
BASE = "\n".join(BASE_LINES) + "\n"
APPEND = None  # marker: add `new` after line 49 (it starts on line 51)


def edit(old: str | None, new: str) -> str:
    """The base file with the one line ``old`` replaced by ``new`` (or ``new`` appended)."""
    if old is None:
        return BASE + "\n" + new + "\n"
    lines = list(BASE_LINES)
    assert lines.count(old) == 1, f"ambiguous or absent line {old!r}"
    lines[lines.index(old)] = new
    return "\n".join(lines) + "\n"


# (case id, line to replace or APPEND, replacement, exact expected errors)
BROKEN = [
    (
        "prefix-lowercase",
        'prefix = "A"',
        'prefix = "a1"',
        ["services[0].prefix (line 10): must be 1-2 uppercase letters, got 'a1'"],
    ),
    (
        "prefix-too-long",
        'prefix = "B"',
        'prefix = "ABC"',
        ["services[1].prefix (line 22): must be 1-2 uppercase letters, got 'ABC'"],
    ),
    (
        "unknown-key-did-you-mean",
        'prefix = "A"',
        'prefx = "A"',
        [
            "services[0].prefix (line 6): missing required key",
            "services[0].prefx (line 10): unknown key (did you mean 'prefix'?)",
        ],
    ),
    (
        "unknown-hall-key",
        'database = "sqlite:///test.db"',
        'database = "sqlite:///test.db"\ncolour = "red"',
        ["hall.colour (line 5): unknown key"],
    ),
    (
        "array-key-under-hall",
        'database = "sqlite:///test.db"',
        'database = "sqlite:///test.db"\ncounters = []',
        ["hall.counters (line 5): unknown key; [[counters]] tables belong at the top level"],
    ),
    (
        "unknown-table",
        APPEND,
        '[hal]\nname = "x"',
        ["hal (line 51): unknown key (did you mean 'hall'?)"],
    ),
    (
        "wrong-type-string-for-int",
        "daily_quota = 400",
        'daily_quota = "400"',
        ["services[0].daily_quota (line 13): must be an integer, got string '400'"],
    ),
    (
        "wrong-type-bool-for-int",
        "daily_quota = 400",
        "daily_quota = true",
        ["services[0].daily_quota (line 13): must be an integer, got boolean true"],
    ),
    (
        "quota-not-positive",
        "daily_quota = 400",
        "daily_quota = 0",
        ["services[0].daily_quota (line 13): must be at least 1, got 0"],
    ),
    (
        "missing-required-key",
        'name_en = "Tax"',
        "",
        ["services[1].name_en (line 18): missing required key"],
    ),
    (
        "missing-hall-name",
        'name = "测试大厅"',
        "",
        ["hall.name (line 1): missing required key"],
    ),
    (
        "duplicate-service-id",
        'id = "tax"',
        'id = "gjj"',
        [
            "services[1].id (line 19): duplicate service id 'gjj' (also services[0].id (line 7))",
            "counters[0].services[1] (line 28): unknown service 'tax'",
            "counters[1].services[0] (line 32): unknown service 'tax'",
        ],
    ),
    (
        "duplicate-prefix",
        'prefix = "B"',
        'prefix = "A"',
        ["services[1].prefix (line 22): duplicate prefix 'A' (also services[0].prefix (line 10))"],
    ),
    (
        "duplicate-counter-number",
        "number = 2",
        "number = 1",
        [
            "counters[1].number (line 31): duplicate counter number 1 "
            "(also counters[0].number (line 26))"
        ],
    ),
    (
        "counter-unknown-service",
        'services = ["tax"]',
        'services = ["taxes"]',
        ["counters[1].services[0] (line 32): unknown service 'taxes' (did you mean 'tax'?)"],
    ),
    (
        "counter-service-twice",
        'services = ["gjj", "tax"]',
        'services = ["gjj", "gjj"]',
        ["counters[0].services[1] (line 28): service 'gjj' is listed twice"],
    ),
    (
        "counter-no-services",
        'services = ["tax"]',
        "services = []",
        ["counters[1].services (line 32): must name at least one service"],
    ),
    (
        "counter-bad-mode",
        'mode = "oldest"',
        'mode = "random"',
        ["counters[1].mode (line 33): must be one of ordered, oldest; got 'random'"],
    ),
    (
        "duplicate-staff-id",
        APPEND,
        f'[[staff]]\nid = "s001"\nname = "李伟"\npin_hash = "{HASH}"',
        ["staff[1].id (line 52): duplicate staff id 's001' (also staff[0].id (line 36))"],
    ),
    (
        "duplicate-device-id",
        APPEND,
        f'[[devices]]\nid = "kiosk-1"\nrole = "display"\ntoken_hash = "{HASH}"',
        ["devices[2].id (line 52): duplicate device id 'kiosk-1' (also devices[0].id (line 41))"],
    ),
    (
        "bad-device-role",
        'role = "kiosk"',
        'role = "printer"',
        [
            "devices[0].role (line 42): must be one of kiosk, counter, display, evaluator, "
            "admin, booking; got 'printer'"
        ],
    ),
    (
        "counter-device-without-counter",
        "counter = 1",
        "",
        ["devices[1].counter (line 45): a counter device must name its counter"],
    ),
    (
        "device-unknown-counter",
        "counter = 1",
        "counter = 7",
        ["devices[1].counter (line 48): no counter number 7 in [[counters]]"],
    ),
    (
        "kiosk-with-counter",
        'role = "kiosk"',
        'role = "kiosk"\ncounter = 1',
        ["devices[0].counter (line 43): a kiosk device is not bound to a counter; remove this"],
    ),
    (
        "evaluator-unknown-counter",
        APPEND,
        f'[[devices]]\nid = "ev-9"\nrole = "evaluator"\ncounter = 9\ntoken_hash = "{HASH}"',
        ["devices[2].counter (line 54): no counter number 9 in [[counters]]"],
    ),
    (
        "bad-timezone",
        'timezone = "Asia/Shanghai"',
        'timezone = "Asia/Shangai"',
        ["hall.timezone (line 3): unknown timezone 'Asia/Shangai' (did you mean 'Asia/Shanghai'?)"],
    ),
    (
        "bad-hours-syntax",
        'hours = ["08:30-12:00", "13:30-17:30"]',
        'hours = ["8.30-12:00"]',
        [
            "services[0].hours[0] (line 12): must be 'HH:MM-HH:MM' like '08:30-12:00', "
            "got '8.30-12:00'"
        ],
    ),
    (
        "hours-out-of-range",
        'hours = ["08:30-12:00", "13:30-17:30"]',
        'hours = ["08:30-24:00"]',
        [
            "services[0].hours[0] (line 12): must be 'HH:MM-HH:MM' like '08:30-12:00', "
            "got '08:30-24:00'"
        ],
    ),
    (
        "hours-start-after-end",
        'hours = ["08:30-12:00", "13:30-17:30"]',
        'hours = ["08:30-12:00", "17:30-13:30"]',
        ["services[0].hours[1] (line 12): start must be before end, got '17:30-13:30'"],
    ),
    (
        "hours-overlap",
        'hours = ["08:30-12:00", "13:30-17:30"]',
        'hours = ["13:30-17:30", "08:30-14:00"]',
        ["services[0].hours[0] (line 12): '13:30-17:30' overlaps '08:30-14:00'"],
    ),
    (
        "plaintext-pin",
        f'pin_hash = "{HASH}"',
        'pin_hash = "1234"',
        ["staff[0].pin_hash (line 38): looks like a plaintext secret; use qhall hash-secret"],
    ),
    (
        "malformed-hash",
        f'pin_hash = "{HASH}"',
        'pin_hash = "scrypt$n=3,r=8,p=1$AAAA$BBBB"',
        ["staff[0].pin_hash (line 38): malformed hash; make a new one with qhall hash-secret"],
    ),
    (
        "plaintext-pin-key",
        f'pin_hash = "{HASH}"',
        'pin = "1234"',
        [
            "staff[0].pin_hash (line 35): missing required key",
            "staff[0].pin (line 38): unknown key (did you mean 'pin_hash'?)",
        ],
    ),
    (
        "bad-database-url-without-echoing-it",
        'database = "sqlite:///test.db"',
        'database = "mysql://root:hunter2@db/q"',
        [
            "hall.database (line 4): must be a sqlite:///PATH or postgresql+psycopg://... URL, "
            "got one starting with 'mysql'"
        ],
    ),
    (
        "bad-port",
        'database = "sqlite:///test.db"',
        'database = "sqlite:///test.db"\nport = 70000',
        ["hall.port (line 5): must be at most 65535, got 70000"],
    ),
    (
        "appointments-unknown-key",
        "slot_minutes = 30",
        "slot_minute = 30",
        [
            "services[0].appointments.slot_minute (line 16): unknown key "
            "(did you mean 'slot_minutes'?)"
        ],
    ),
    (
        "appointments-booking-window",
        "slot_minutes = 30",
        "book_min_days = 3\nbook_max_days = 2",
        [
            "services[0].appointments.book_max_days (line 17): "
            "must be at least book_min_days (3), got 2"
        ],
    ),
    (
        "appointments-inline-table",
        "[services.appointments]",
        "appointments = { capacity = 0 }",
        [
            "services[0].appointments.capacity (line 15): must be at least 1, got 0",
            "services[0].slot_minutes (line 16): unknown key",
        ],
    ),
    (
        "dispatch-placement",
        APPEND,
        '[dispatch]\ntransfer_placement = "front"',
        [
            "dispatch.transfer_placement (line 52): must be one of head, issue_time, tail; "
            "got 'front'"
        ],
    ),
    (
        "announce-english-type",
        APPEND,
        '[announce]\nenglish = "yes"',
        ["announce.english (line 52): must be a boolean, got string 'yes'"],
    ),
    (
        "services-as-table",
        APPEND,
        "[services2]\nx = 1",
        ["services2 (line 51): unknown key (did you mean 'services'?)"],
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "expected"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN]
)
def test_broken_file_reports_exact_errors(old: str | None, new: str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        parse(edit(old, new), "hall.toml")
    assert info.value.errors == expected
    assert not isinstance(info.value, ConfigFileError)
    assert "hunter2" not in str(info.value)


def test_broken_table_is_big_enough() -> None:
    assert len(BROKEN) >= 15


def test_bad_category() -> None:
    # Its line is not unique in BASE, so it is edited by position.
    lines = list(BASE_LINES)
    lines[10] = 'category = "misc"'
    with pytest.raises(ConfigError) as info:
        parse("\n".join(lines) + "\n")
    assert info.value.errors == [
        "services[0].category (line 11): must be one of approval, public, intermediary; got 'misc'"
    ]


def test_missing_tables() -> None:
    with pytest.raises(ConfigError) as info:
        parse("[dispatch]\nrequeue_places = 3\n")
    assert info.value.errors == [
        "hall: missing required table [hall]",
        "services: missing required array [[services]]",
        "counters: missing required array [[counters]]",
    ]


def test_table_where_array_expected() -> None:
    text = BASE.replace("[[staff]]", "[staff]")
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert info.value.errors == [
        "staff (line 35): must be an array of tables ([[staff]]), got table"
    ]


def test_every_error_is_collected_in_file_order() -> None:
    text = (
        edit('prefix = "B"', 'prefix = "b"')
        .replace('timezone = "Asia/Shanghai"', 'timezone = "Mars/Olympus"')
        .replace('mode = "oldest"', 'mode = "fifo"')
        .replace(f'pin_hash = "{HASH}"', 'pin_hash = "0000"')
    )
    with pytest.raises(ConfigError) as info:
        parse(text, "hall.toml")
    lines = [int(e.split("(line ")[1].split(")")[0]) for e in info.value.errors]
    assert lines == [3, 22, 33, 38]
    message = str(info.value)
    assert message.startswith("hall.toml: 4 errors\n  hall.timezone (line 3): unknown timezone")
    assert "0000" not in message  # a plaintext secret is never echoed


def test_syntax_error_reports_its_line() -> None:
    with pytest.raises(ConfigFileError) as info:
        parse(BASE.replace('name = "税务"', 'name = "税务'), "hall.toml")
    assert info.value.errors[0].startswith("line 20, column ")
    assert "invalid TOML" in info.value.errors[0]


def test_duplicate_key_is_a_syntax_error() -> None:
    with pytest.raises(ConfigFileError) as info:
        parse(edit('name_en = "Tax"', 'name_en = "Tax"\nname_en = "Taxes"'))
    assert info.value.errors[0].startswith("line 22, column ")


# ---------------------------------------------------------------- valid files


def test_valid_file_parses_to_the_dataclasses() -> None:
    config = parse(BASE)
    assert config == HallConfig(
        name="测试大厅",
        timezone="Asia/Shanghai",
        database="sqlite:///test.db",
        services=(
            Service(
                "gjj",
                "公积金",
                "Housing fund",
                "A",
                "public",
                hours=(
                    (datetime.time(8, 30), datetime.time(12, 0)),
                    (datetime.time(13, 30), datetime.time(17, 30)),
                ),
                daily_quota=400,
                appointments=Appointments(),
            ),
            Service("tax", "税务", "Tax", "B", "public"),
        ),
        counters=(
            Counter(1, "1号窗口", ("gjj", "tax")),
            Counter(2, "2号窗口", ("tax",), "oldest"),
        ),
        staff=(Staff("s001", "王芳", HASH),),
        devices=(Device("kiosk-1", "kiosk", HASH), Device("counter-1", "counter", HASH, 1)),
        dispatch=Dispatch(),
        announce=Announce(),
    )
    assert config.id == "main" and config.port == 8765 and config.host == "127.0.0.1"
    assert config.rating_followup_days == 5 and config.service_level_s == 900
    assert Appointments() == Appointments(30, 2, 1, 5, 30, 15, 2, 90)


def test_lookup_helpers() -> None:
    config = parse(BASE)
    assert config.tz.key == "Asia/Shanghai"
    assert datetime.datetime(2026, 1, 1, tzinfo=config.tz).utcoffset() == datetime.timedelta(
        hours=8
    )
    assert config.service("tax").name_en == "Tax"
    assert config.service("nope") is None
    assert config.counter(2).mode == "oldest"
    assert config.counter(3) is None
    assert config.device("counter-1").counter == 1
    assert config.device("kiosk-9") is None
    assert config.staff_member("s001").name == "王芳"
    assert config.staff_member("s999") is None


def test_config_is_frozen_and_hashable() -> None:
    config = parse(BASE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.name = "x"  # type: ignore[misc]
    assert isinstance(config.services, tuple) and isinstance(config.counters[0].services, tuple)
    assert hash(config) == hash(parse(BASE))


def test_hours_are_sorted_and_may_be_empty() -> None:
    config = parse(
        edit('hours = ["08:30-12:00", "13:30-17:30"]', 'hours = ["13:30-17:30", "8:30 - 12:00"]')
    )
    assert [(a.hour, b.hour) for a, b in config.service("gjj").hours] == [(8, 12), (13, 17)]
    assert (
        parse(edit('hours = ["08:30-12:00", "13:30-17:30"]', "hours = []")).service("gjj").hours
        == ()
    )


def test_all_optional_settings_parse() -> None:
    extra = (
        '[dispatch]\npriority_per_normal = 1\ntransfer_placement = "tail"\n'
        "requeue_places = 5\nno_show_return_s = 600\n\n"
        '[announce]\nrepeat = 3\nenglish = true\nvoice = "zh"\n'
    )
    hall_extra = (
        'database = "postgresql+psycopg://qhall@db/qhall"\nid = "east"\nnotice = "通知"\n'
        'host = "0.0.0.0"\nport = 9000\nrating_followup_days = 10\nservice_level_s = 1200'
    )
    config = parse(edit('database = "sqlite:///test.db"', hall_extra) + "\n" + extra)
    assert config.dispatch == Dispatch(1, "tail", 5, 600)
    assert config.announce == Announce(3, True, "zh")
    assert (config.id, config.notice, config.host, config.port) == ("east", "通知", "0.0.0.0", 9000)
    assert (config.rating_followup_days, config.service_level_s) == (10, 1200)
    assert config.database.startswith("postgresql+psycopg://")


def test_display_may_name_a_counter() -> None:
    text = (
        BASE + f'\n[[devices]]\nid = "cd-1"\nrole = "display"\ncounter = 2\ntoken_hash = "{HASH}"\n'
    )
    assert parse(text).device("cd-1").counter == 2


def test_dumps_round_trip() -> None:
    config = parse(BASE)
    assert parse(dumps(config)) == config
    odd = dataclasses.replace(config, notice='quote " backslash \\ tab \t newline \n del \x7f')
    assert parse(dumps(odd)) == odd


def test_example_file_is_valid() -> None:
    config = load(EXAMPLE)
    assert len(config.services) == 4 and len(config.counters) == 4
    assert parse(dumps(config)) == config


# ---------------------------------------------------------------- load


def test_load_accepts_a_utf8_bom(tmp_path: Path) -> None:
    path = tmp_path / "hall.toml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert load(path).name == "测试大厅"


def test_load_refuses_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "hall.toml"
    path.write_bytes(BASE.encode("gbk"))
    with pytest.raises(ConfigFileError, match="not UTF-8"):
        load(path)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError) as info:
        load(tmp_path / "nope.toml")
    assert info.value.errors == ["cannot read the file: No such file or directory"]
    assert info.value.source.endswith("nope.toml")


# ---------------------------------------------------------------- check-config


def test_check_config_ok(tmp_path: Path, capsys) -> None:
    path = tmp_path / "hall.toml"
    path.write_text(BASE, encoding="utf-8")
    assert main(["check-config", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "ok: 测试大厅: 2 services, 2 counters, 1 staff, 2 devices\n"
    assert captured.err == ""


def test_check_config_example(capsys) -> None:
    assert main(["check-config", str(EXAMPLE)]) == 0
    assert capsys.readouterr().out.startswith("ok: 示例政务服务大厅: 4 services, 4 counters")


def test_check_config_errors_exit_1(tmp_path: Path, capsys) -> None:
    path = tmp_path / "hall.toml"
    path.write_text(edit('prefix = "A"', 'prefix = "a1"'), encoding="utf-8")
    assert main(["check-config", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"qhall check-config: {path}: 1 error\n"
        "  services[0].prefix (line 10): must be 1-2 uppercase letters, got 'a1'\n"
    )


def test_check_config_syntax_error_exit_2(tmp_path: Path, capsys) -> None:
    path = tmp_path / "hall.toml"
    path.write_text("[hall\nname = 1\n", encoding="utf-8")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "line 1, column " in err and "invalid TOML" in err


def test_check_config_unreadable_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["check-config", str(tmp_path / "missing.toml")]) == 2
    assert "cannot read the file" in capsys.readouterr().err


WEIRD_VALUES = [
    "0",
    "-1",
    "3.5",
    "true",
    '""',
    '"x"',
    "[]",
    "[1, [2]]",
    "{}",
    "{ a = 1 }",
    "1979-05-27",
]


@pytest.mark.parametrize("value", WEIRD_VALUES)
def test_any_value_anywhere_gives_config_error_not_a_crash(value: str) -> None:
    for number, line in enumerate(BASE_LINES):
        if " = " not in line:
            continue
        key = line.split(" = ")[0]
        lines = list(BASE_LINES)
        lines[number] = f"{key} = {value}"
        try:
            parse("\n".join(lines) + "\n")
        except ConfigError as exc:
            assert exc.errors and all("(line " in e for e in exc.errors), exc.errors


# ---------------------------------------------------------------- [limits]


def test_limits_default_when_absent() -> None:
    assert parse(BASE).limits == Limits(60, 20, 120, 5)


def test_limits_parse_and_zero_means_unlimited() -> None:
    text = BASE + (
        "\n[limits]\nkiosk_issues_per_min = 30\nrequests_per_s = 0\n"
        "hellos_per_min = 600\npin_failures = 3\n"
    )
    config = parse(text)
    assert config.limits == Limits(30, 0, 600, 3)
    assert parse(dumps(config)) == config


def test_limits_partial_table_keeps_other_defaults() -> None:
    assert parse(BASE + "\n[limits]\npin_failures = 10\n").limits == Limits(60, 20, 120, 10)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("kiosk_issues_per_min = -1",
         "limits.kiosk_issues_per_min (line 52): must be at least 0, got -1"),
        ("requests_per_s = 2.5",
         "limits.requests_per_s (line 52): must be an integer, got float 2.5"),
        ('hellos_per_min = "120"',
         "limits.hellos_per_min (line 52): must be an integer, got string '120'"),
        ("pin_failures = 1001",
         "limits.pin_failures (line 52): must be at most 1000, got 1001"),
        ("pin_failure = 5",
         "limits.pin_failure (line 52): unknown key (did you mean 'pin_failures'?)"),
    ],
)
def test_limits_bad_values_are_refused(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(BASE + "\n[limits]\n" + line + "\n")
    assert info.value.errors == [message]


def test_limits_off_turns_every_limit_off() -> None:
    assert Limits.off() == Limits(0, 0, 0, 0, 0)


def test_pii_key_file_is_read_and_round_trips() -> None:
    config = parse(edit('database = "sqlite:///test.db"',
                        'database = "sqlite:///test.db"\npii_key_file = "/etc/qhall/pii.key"'))
    assert config.pii_key_file == "/etc/qhall/pii.key"
    assert parse(dumps(config)) == config
# ------------------------------------------- transfer_timeout and public_url
@pytest.mark.parametrize(("value", "seconds"), [
    ("600", 600), ('"10m"', 600), ('"90s"', 90), ('"1h"', 3600), ('"15 min"', 900),
])
def test_transfer_timeout_takes_seconds_or_a_duration(value: str, seconds: int) -> None:
    config = parse(BASE + f"\n[dispatch]\ntransfer_timeout = {value}\n")
    assert config.dispatch.transfer_timeout == seconds


def test_transfer_timeout_defaults_to_ten_minutes() -> None:
    assert parse(BASE).dispatch.transfer_timeout == 600


@pytest.mark.parametrize("value", ['"ten minutes"', '"5d"', "0", "-3", "true", '""'])
def test_bad_transfer_timeout_is_reported_with_its_place(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(BASE + f"\n[dispatch]\ntransfer_timeout = {value}\n")
    assert len(info.value.errors) == 1
    assert info.value.errors[0].startswith("dispatch.transfer_timeout")


def test_public_url_is_an_http_url_without_trailing_slash() -> None:
    text = edit('database = "sqlite:///test.db"',
                'database = "sqlite:///test.db"\npublic_url = "https://qh.example.gov.cn/"')
    config = parse(text)
    assert config.public_url == "https://qh.example.gov.cn"
    assert parse(dumps(config)) == config
    assert parse(BASE).public_url == ""


@pytest.mark.parametrize("url", ["qh.example.gov.cn", "ftp://qh.example", "https://",
                                 "https://qh.example/?a=1"])
def test_bad_public_url_is_refused(url: str) -> None:
    text = edit('database = "sqlite:///test.db"',
                f'database = "sqlite:///test.db"\npublic_url = "{url}"')
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert info.value.errors[0].startswith("hall.public_url")


def test_service_zone_is_optional_one_short_line() -> None:
    config = parse(edit("daily_quota = 400", 'daily_quota = 400\nzone = "A区 1-12号窗口"'))
    assert config.service("gjj").zone == "A区 1-12号窗口"
    assert config.service("tax").zone == ""  # not set: clients name the counters
    assert parse(dumps(config)) == config
    for bad, problem in (("zone = 3", "must be a string, got integer 3"),
                         ('zone = "  "', "must not be empty (leave the key out for no zone)"),
                         (f'zone = "{"长" * 41}"', "must be one line of at most 40 characters"),
                         ('zone = "A区\\n1号"', "must be one line of at most 40 characters")):
        with pytest.raises(ConfigError) as info:
            parse(edit("daily_quota = 400", f"daily_quota = 400\n{bad}"))
        [error] = info.value.errors
        assert error.startswith("services[0].zone (line 14): " + problem), error


def test_a_service_may_be_kept_off_the_kiosk() -> None:
    lines = list(BASE_LINES)
    lines.insert(11, "kiosk = false")  # in services[0], after its category
    cfg = parse("\n".join(lines) + "\n")
    assert cfg.services[0].kiosk is False and cfg.services[1].kiosk is True
    assert parse(dumps(cfg)) == cfg
    lines[11] = 'kiosk = "no"'
    with pytest.raises(ConfigError) as info:
        parse("\n".join(lines) + "\n")
    assert info.value.errors == ["services[0].kiosk (line 12): must be a boolean, got string 'no'"]
