"""Secret hashing (server.auth) and ``qhall hash-secret``."""

from __future__ import annotations

import io

import pytest

from server import auth
from server.auth import hash_secret, parse_hash, verify_secret
from server.cli import main

# Tests mostly use a low cost so the file stays fast; one test checks the default.
FAST = {"n": 2**8}


def test_hash_has_the_documented_format() -> None:
    hashed = hash_secret("4821")
    scheme, params, salt, key = hashed.split("$")
    assert scheme == "scrypt"
    assert params == "n=16384,r=8,p=1"
    parsed = parse_hash(hashed)
    assert parsed is not None
    assert (parsed.n, parsed.r, parsed.p) == (2**14, 8, 1)
    assert len(parsed.salt) == 16 and len(parsed.key) == 32
    assert "4821" not in hashed


def test_right_and_wrong_secrets() -> None:
    hashed = hash_secret("demo-kiosk-1", **FAST)
    assert verify_secret("demo-kiosk-1", hashed)
    assert not verify_secret("demo-kiosk-2", hashed)
    assert not verify_secret("demo-kiosk-1 ", hashed)
    assert not verify_secret("", hashed)


def test_unicode_secret() -> None:
    hashed = hash_secret("口令-密码", **FAST)
    assert verify_secret("口令-密码", hashed)
    assert not verify_secret("口令-密吗", hashed)


def test_salt_is_random_per_hash() -> None:
    first, second = hash_secret("1234", **FAST), hash_secret("1234", **FAST)
    assert first != second
    assert first.split("$")[2] != second.split("$")[2]
    assert verify_secret("1234", first) and verify_secret("1234", second)


def test_fixed_salt_is_deterministic() -> None:
    salt = bytes(range(16))
    assert hash_secret("1234", salt=salt, **FAST) == hash_secret("1234", salt=salt, **FAST)


def test_cost_parameters_travel_with_the_hash() -> None:
    hashed = hash_secret("1234", n=2**9, r=4, p=2)
    assert hashed.startswith("scrypt$n=512,r=4,p=2$")
    assert verify_secret("1234", hashed)


@pytest.mark.parametrize(
    "bad",
    [
        None,
        42,
        b"scrypt$n=256,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "",
        "1234",
        "scrypt$",
        "bcrypt$n=256,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
        "scrypt$n=255,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",  # not a power of 2
        "scrypt$n=1048576,r=32,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",  # 4 GiB
        "scrypt$n=256,r=0,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
        "scrypt$n=256,r=8,p=1$AAAA$AAAAAAAAAAAAAAAAAAAAAA",  # salt too short
        "scrypt$n=256,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAA",  # key too short
        "scrypt$n=256,r=8,p=1$AAAA*AAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",  # not base64
        "scrypt$p=1,r=8,n=256$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
        "scrypt$n=256,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA$extra",
    ],
)
def test_malformed_hash_is_false_never_an_exception(bad: object) -> None:
    assert parse_hash(bad) is None
    assert verify_secret("1234", bad) is False


@pytest.mark.parametrize("secret", [None, 1234, b"1234", "\ud800"])
def test_bad_secret_is_false(secret: object) -> None:
    hashed = hash_secret("1234", **FAST)
    assert verify_secret(secret, hashed) is False


def test_tampered_key_does_not_verify() -> None:
    hashed = hash_secret("1234", **FAST)
    head, key = hashed.rsplit("$", 1)
    flipped = ("B" if key[0] == "A" else "A") + key[1:]
    assert not verify_secret("1234", f"{head}${flipped}")


def test_hash_secret_refuses_empty_and_non_strings() -> None:
    with pytest.raises(ValueError, match="empty"):
        hash_secret("")
    with pytest.raises(TypeError):
        hash_secret(b"1234")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="out of bounds"):
        hash_secret("1234", n=2**21)
    with pytest.raises(ValueError, match="out of bounds"):
        hash_secret("1234", n=1000)
    with pytest.raises(ValueError, match="salt"):
        hash_secret("1234", salt=b"short", **FAST)


# ---------------------------------------------------------------- CLI


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_cli_reads_stdin_and_strips_one_newline(monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("4821\n"))
    assert main(["hash-secret"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("scrypt$n=16384,r=8,p=1$")
    assert verify_secret("4821", out)
    assert not verify_secret("4821\n", out)


def test_cli_keeps_inner_whitespace_and_strips_only_one_newline(monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(" a b \n\n"))
    assert main(["hash-secret"]) == 0
    out = capsys.readouterr().out.strip()
    assert verify_secret(" a b \n", out)


@pytest.mark.parametrize("stdin", ["", "\n", "\r\n"])
def test_cli_refuses_empty_secret(monkeypatch, capsys, stdin: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    assert main(["hash-secret"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "empty secret" in captured.err


def test_cli_prompts_twice_on_a_tty(monkeypatch, capsys) -> None:
    answers = iter(["4821", "4821"])
    prompts: list[str] = []
    monkeypatch.setattr("sys.stdin", _Tty())
    monkeypatch.setattr(auth.getpass, "getpass", lambda p: prompts.append(p) or next(answers))
    assert main(["hash-secret"]) == 0
    assert len(prompts) == 2
    assert verify_secret("4821", capsys.readouterr().out.strip())


def test_cli_refuses_mismatched_entries(monkeypatch, capsys) -> None:
    answers = iter(["4821", "4812"])
    monkeypatch.setattr("sys.stdin", _Tty())
    monkeypatch.setattr(auth.getpass, "getpass", lambda p: next(answers))
    assert main(["hash-secret"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "differ" in captured.err
