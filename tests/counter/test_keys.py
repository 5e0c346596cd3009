"""Shortcut configuration: defaults, overrides, clashes, files."""

from __future__ import annotations

import pytest

from counter.keys import (
    ACTIONS,
    DEFAULT_KEYS,
    KeyConfigError,
    load_keys,
    merge_keys,
    parse_key_args,
)


def test_defaults_are_f1_to_f8_in_button_order():
    assert [DEFAULT_KEYS[a] for a in ACTIONS] == [f"F{i}" for i in range(1, 9)] + [
        "Shift+F4", "Shift+F5"]


def test_override_and_swap():
    keys = merge_keys({"call_next": "F2", "recall": "F1"})
    assert keys["call_next"] == "F2" and keys["recall"] == "F1"
    assert keys["start"] == "F3"


@pytest.mark.parametrize("overrides, message", [
    ({"dance": "F9"}, "unknown action"),
    ({"call_next": " "}, "non-empty"),
    ({"call_next": "F2"}, "both"),  # clashes with recall's default
    ({"call_next": "ctrl+1", "recall": "Ctrl + 1"}, "both"),
])
def test_bad_overrides(overrides, message):
    with pytest.raises(KeyConfigError, match=message):
        merge_keys(overrides)


def test_key_args():
    assert parse_key_args(["call_next=F9", " start = Num+5"]) == {
        "call_next": "F9", "start": " Num+5"}
    with pytest.raises(KeyConfigError, match="ACTION=KEY"):
        parse_key_args(["F9"])


def test_load_keys_file(tmp_path):
    good = tmp_path / "keys.toml"
    good.write_text('[keys]\ncall_next = "F12"\n', encoding="utf-8")
    assert load_keys(good)["call_next"] == "F12"
    bad = tmp_path / "bad.toml"
    bad.write_text("[keys\n", encoding="utf-8")
    with pytest.raises(KeyConfigError, match="bad.toml: not valid TOML"):
        load_keys(bad)
    empty = tmp_path / "empty.toml"
    empty.write_text("x = 1\n", encoding="utf-8")
    with pytest.raises(KeyConfigError, match=r"\[keys\] table"):
        load_keys(empty)
    clash = tmp_path / "clash.toml"
    clash.write_text('[keys]\nstart = "F1"\n', encoding="utf-8")
    with pytest.raises(KeyConfigError, match="clash.toml: key 'F1'"):
        load_keys(clash)
    with pytest.raises(KeyConfigError, match="cannot read"):
        load_keys(tmp_path / "missing.toml")
