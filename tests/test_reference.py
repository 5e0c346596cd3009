"""The built-in demo hall (server.reference)."""

from __future__ import annotations

import collections
from pathlib import Path

from server.auth import parse_hash, verify_secret
from server.cli import main
from server.config import CATEGORIES, parse
from server.reference import DEMO_PIN, demo_config, demo_token, demo_toml


def test_demo_is_deterministic() -> None:
    """(Its build time is a figure of ``python -m bench.timings``.)"""
    first = demo_config()
    assert demo_config() == first
    assert demo_toml() == demo_toml()


def test_counts_match_the_reference_hall() -> None:
    config = demo_config()
    assert config.name == "滁州市政务服务中心"
    assert config.timezone == "Asia/Shanghai"
    assert len(config.counters) == 67
    assert [c.number for c in config.counters] == list(range(1, 68))
    # A counter's category is that of its first (preferred) service.
    by_category = collections.Counter(
        config.service(c.services[0]).category for c in config.counters
    )
    assert by_category == {"approval": 36, "public": 19, "intermediary": 12}
    assert len(config.services) >= 20
    assert {s.category for s in config.services} == set(CATEGORIES)


def test_counters_are_numbered_by_category() -> None:
    config = demo_config()
    category = [config.service(c.services[0]).category for c in config.counters]
    assert category == ["approval"] * 36 + ["public"] * 19 + ["intermediary"] * 12


def test_services_are_realistic() -> None:
    config = demo_config()
    prefixes = [s.prefix for s in config.services]
    assert len(set(prefixes)) == len(prefixes)
    assert len({s.id for s in config.services}) == len(config.services)
    for s in config.services:
        assert s.name and s.name_en and s.name != s.name_en
        assert 120 <= s.default_service_s <= 1500
        assert s.hours, s.id
    # Payments are quick, registrations and permits slow.
    assert config.service("sdq").default_service_s <= 300
    assert config.service("ns").default_service_s <= 300
    assert config.service("qydj").default_service_s >= 600
    assert any(s.daily_quota for s in config.services)
    booked = [s.id for s in config.services if s.appointments is not None]
    assert "gjjdk" in booked and len(booked) >= 2


def test_every_counter_serves_known_services_and_every_service_is_served() -> None:
    config = demo_config()
    served = set()
    for counter in config.counters:
        assert 1 <= len(counter.services) <= 4
        assert len(set(counter.services)) == len(counter.services)
        for sid in counter.services:
            assert config.service(sid) is not None, (counter.number, sid)
        served.update(counter.services)
        assert counter.mode in ("ordered", "oldest")
    # Counters serve every service but the joint-approval routes (their steps are served).
    assert served == {s.id for s in config.services if not s.route}
    routes = {s.id: s.route for s in config.services if s.route}
    assert routes == {"qyzr": ("mcsb", "qydj", "swdj", "sb"),
                      "jjsp": ("ghxk", "sgxk", "xfsj", "hpsp")}
    assert sum(c.mode == "oldest" for c in config.counters) >= 2


def test_staff_and_devices() -> None:
    config = demo_config()
    assert len(config.staff) >= 67
    assert [m.id for m in config.staff[:3]] == ["s001", "s002", "s003"]
    assert len({m.id for m in config.staff}) == len(config.staff)
    ids = {d.id for d in config.devices}
    assert len(ids) == len(config.devices)
    expected = (
        {f"kiosk-{i}" for i in range(1, 7)}
        | {f"counter-{n}" for n in range(1, 68)}
        | {f"board-{i}" for i in range(1, 21)}
        | {f"evaluator-{n}" for n in range(1, 68)}
        | {"admin-1", "booking-1"}
    )
    assert ids == expected
    assert config.device("counter-12").role == "counter"
    assert config.device("counter-12").counter == 12
    assert config.device("evaluator-67").counter == 67
    assert config.device("board-3").role == "display" and config.device("board-3").counter is None
    assert config.device("booking-1").role == "booking"


def test_demo_secrets_verify() -> None:
    config = demo_config()
    # Sample: every hash verifying would be ~240 scrypt runs; all are checked for format.
    for member in config.staff[::10]:
        assert verify_secret(DEMO_PIN, member.pin_hash)
        assert not verify_secret("4321", member.pin_hash)
    for device in config.devices[::7]:
        assert verify_secret(demo_token(device.id), device.token_hash)
        assert not verify_secret(DEMO_PIN, device.token_hash)
    assert verify_secret("demo-kiosk-1", config.device("kiosk-1").token_hash)
    assert not verify_secret("demo-kiosk-2", config.device("kiosk-1").token_hash)
    hashes = [m.pin_hash for m in config.staff] + [d.token_hash for d in config.devices]
    assert all(parse_hash(h) is not None for h in hashes)
    assert len(set(hashes)) == len(hashes)  # per-entry salts


def test_demo_toml_round_trip() -> None:
    assert parse(demo_toml()) == demo_config()
    url = "postgresql+psycopg://qhall@localhost/qhall"
    text = demo_toml(url)
    assert parse(text) == demo_config(url)
    assert "every staff PIN is 1234" in text


def test_check_config_accepts_the_demo(tmp_path, capsys) -> None:
    path = tmp_path / "demo.toml"
    path.write_text(demo_toml(), encoding="utf-8")
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: 滁州市政务服务中心: ")
    assert "67 counters" in out


def test_config_doc_lists_the_demo_services_and_secrets() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "CONFIG.md").read_text("utf-8")
    for service in demo_config().services:
        assert f"| `{service.id}` | {service.name} |" in doc
    assert "PIN `1234`" in doc and '"demo-" + device id' in doc
    assert f"`s001` ... `s{len(demo_config().staff):03d}`" in doc
