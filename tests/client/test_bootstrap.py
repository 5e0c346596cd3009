"""server.client.bootstrap: the apps' --server/--device/--token-file/--demo."""

from __future__ import annotations

import argparse

import pytest

from server.client.bootstrap import add_server_options, resolve_server_options


def parse(*argv: str, device_default: str | None = "counter-5") -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_server_options(parser, device_default=device_default, device_help="id")
    return parser.parse_args(list(argv))


def test_token_file_gives_its_first_line(tmp_path):
    token = tmp_path / "token"
    token.write_text("  s3cret \nsecond line\n", encoding="utf-8")
    options = resolve_server_options(parse("--token-file", str(token)))
    assert (options.urls, options.device, options.token) == (
        ("ws://127.0.0.1:8765/ws",), "counter-5", "s3cret")


def test_demo_token_only_with_demo():
    with pytest.raises(ValueError, match="--token-file.*--demo"):
        resolve_server_options(parse("--device", "kiosk-3"))
    assert resolve_server_options(parse("--device", "kiosk-3", "--demo")).token == "demo-kiosk-3"
    # A derived device id (the evaluator's evaluator-N) gets its own demo token.
    options = resolve_server_options(parse("--demo", device_default=None), "evaluator-4")
    assert (options.device, options.token) == ("evaluator-4", "demo-evaluator-4")


def test_demo_and_token_file_exclude_each_other(tmp_path, capsys):
    with pytest.raises(SystemExit):
        parse("--demo", "--token-file", str(tmp_path / "t"))
    assert "not allowed with" in capsys.readouterr().err


def test_several_servers_comma_separated():
    options = resolve_server_options(
        parse("--server", "ws://a:8765/ws, wss://b.example/ws,ws://a:8765/ws", "--demo"))
    assert options.urls == ("ws://a:8765/ws", "wss://b.example/ws")  # repeats once


@pytest.mark.parametrize("server", ["http://a/ws", "ws://a/ws,", "ws://:1/ws", "ws://a:99999/ws",
                                    ""])
def test_bad_server_list_is_refused(server):
    with pytest.raises(ValueError, match="server url|at least one"):
        resolve_server_options(parse("--server", server, "--demo"))


def test_unreadable_or_empty_token_file(tmp_path):
    with pytest.raises(ValueError, match="cannot read token file"):
        resolve_server_options(parse("--token-file", str(tmp_path / "missing")))
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError, match="empty"):
        resolve_server_options(parse("--token-file", str(tmp_path / "empty")))
    with pytest.raises(ValueError, match="device id"):
        resolve_server_options(parse("--demo", device_default=None))


@pytest.mark.parametrize("app", ["kiosk.app", "counter.app", "display.app",
                                 "display.rating.cli"])
def test_every_device_app_takes_several_servers_for_failover(app):
    # qhall kiosk / counter / display / evaluator: the same --server list, in order.
    import importlib

    parser = argparse.ArgumentParser()
    importlib.import_module(app).configure(parser)
    args = parser.parse_args(["--server", "ws://a:8765/ws,ws://b:8765/ws", "--demo",
                              "--device", "counter-1"])
    assert resolve_server_options(args).urls == ("ws://a:8765/ws", "ws://b:8765/ws")
