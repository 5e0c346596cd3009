"""Where the configuration lives: versions in the database, the file imported
by ``qhall serve`` and moved by ``qhall config export|import``; and with
several halls in one process, one console per hall (``/console/<hall-id>``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

from server.cli import main
from server.config import Limits, dumps, parse
from server.console.versions import current, effective, import_file
from server.store import Store
from server.tools.chaos import Instance
from server.tools.pgcluster import free_port
from tests.console.client import PASSWORD, closed_with, console_config, get, open_socket
from tests.helpers.failover import until
from tests.helpers.server import small_config


def test_serve_imports_the_file_once_and_says_when_it_differs(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'hall.db'}"
    cfg = small_config(db)
    path = tmp_path / "hall.toml"
    path.write_text(dumps(cfg), encoding="utf-8")
    with Store(db) as store:
        assert current(store, cfg) is cfg  # nothing stored: the file as given
        assert "stored as version 1" in import_file(store, path)
        assert "unchanged" in import_file(store, path)
        path.write_text(dumps(dataclasses.replace(cfg, notice="新通知")), encoding="utf-8")
        said = import_file(store, path)
        assert "differs from the database's version 1" in said
        assert store.configs.newest_number(cfg.id) == 1
        # The newest version is served, with this process's own database and address.
        moved = dataclasses.replace(cfg, database="sqlite:////elsewhere.db", port=9999,
                                    limits=Limits.off())
        served = current(store, moved)
        assert served.notice == cfg.notice
        assert (served.database, served.port, served.limits) == (moved.database, 9999,
                                                                 Limits.off())
        assert effective(cfg, cfg) == cfg


def test_config_export_and_import_move_versions(tmp_path: Path, capsys) -> None:
    db = f"sqlite:///{tmp_path / 'hall.db'}"
    path = tmp_path / "hall.toml"
    path.write_text(dumps(small_config(db)), encoding="utf-8")
    assert main(["config", "export", "--config", str(path)]) == 1  # nothing stored yet
    assert main(["config", "import", str(path)]) == 0
    changed = tmp_path / "changed.toml"
    changed.write_text(dumps(dataclasses.replace(small_config(db), notice="改")),
                       encoding="utf-8")
    assert main(["config", "import", str(changed)]) == 0
    out = tmp_path / "out.toml"
    assert main(["config", "export", "--database", db, "--hall", "main", "-o", str(out)]) == 0
    assert parse(out.read_text(encoding="utf-8")).notice == "改"
    assert main(["config", "export", "--config", str(path), "--version", "1",
                 "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == path.read_text(encoding="utf-8")
    capsys.readouterr()
    # A bad file is refused with check-config's words and stores nothing.
    bad = tmp_path / "bad.toml"
    bad.write_text(path.read_text(encoding="utf-8").replace('prefix = "A"', 'prefix = "a"'),
                   encoding="utf-8")
    assert main(["config", "import", str(bad)]) == 1
    assert "must be 1-2 uppercase letters" in capsys.readouterr().err
    assert main(["config", "history", "--config", str(path)]) == 0
    history = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in history] == ["2", "1"]


def _login(port: int, hall: str) -> str:
    ws = open_socket(port, path=f"/console/{hall}/ws")
    with ws:
        ws.send(json.dumps({"type": "login", "staff": "s005", "password": PASSWORD}))
        reply = json.loads(ws.recv(timeout=20))
    assert reply["type"] == "ok", reply
    status, headers, _ = get(port, f"/console/{hall}/session?grant={reply['grant']}")
    assert status == 303 and headers["location"] == f"/console/{hall}"
    assert f"Path=/console/{hall};" in headers["set-cookie"]
    return headers["set-cookie"].split(";")[0]


def test_each_hall_of_a_process_has_its_own_console(tmp_path: Path) -> None:
    halls = tmp_path / "halls"
    halls.mkdir()
    database = f"sqlite:///{tmp_path / 'city.db'}"
    for hall in ("east", "west"):
        cfg = dataclasses.replace(console_config(database), id=hall, name=f"{hall} hall")
        (halls / f"{hall}.toml").write_text(dumps(cfg), encoding="utf-8")
    proc = Instance("one", ["--config-dir", str(halls)], free_port(), tmp_path / "one.log", 10)
    try:
        proc.start()
        assert "east: " in proc.output() and "stored as version 1" in proc.output()
        assert get(proc.port, "/console")[0] == 404  # which hall?
        assert get(proc.port, "/console/north")[0] == 404
        cookie = _login(proc.port, "east")
        status, _, page = get(proc.port, "/console/east", cookie)
        assert status == 200 and 'name="qhall-csrf"' in page and "east hall" in page
        assert 'content="/console/east"' in page
        # East's session opens nothing in the west (the browser would not even send it).
        status, _, page = get(proc.port, "/console/west", cookie)
        assert status == 200 and 'name="qhall-csrf"' not in page and "west hall" in page
        assert get(proc.port, "/console/west/report.csv", cookie)[0] == 401
        with open_socket(proc.port, cookie, path="/console/west/ws") as ws:
            ws.send(json.dumps({"id": "1", "do": "audit"}))
            assert json.loads(ws.recv(timeout=10))["code"] == "unauthorized"
        with open_socket(proc.port, cookie, path="/console/east/ws") as ws:
            assert json.loads(ws.recv(timeout=10))["floor"]["counters"]
    finally:
        proc.terminate()


def test_a_new_owner_serves_the_newest_stored_version(tmp_path: Path) -> None:
    # build_server is what a starting process or a standby taking over runs.
    from server.serve import build_server

    db = f"sqlite:///{tmp_path / 'hall.db'}"
    cfg = small_config(db)
    with Store(db) as store:
        store.configs.add(cfg.id, dumps(dataclasses.replace(cfg, notice="新版本")),
                          dt.datetime.now(dt.UTC), "s005", "edited", based_on=0)
        server = build_server(cfg, store)
        assert server.service.config.notice == "新版本"
        assert server.service.config.database == db


def test_a_version_imported_while_the_server_runs_is_served_within_seconds(
        tmp_path: Path) -> None:
    from tests.helpers.server import RunningServer

    db = f"sqlite:///{tmp_path / 'hall.db'}"
    cfg = small_config(db)
    with RunningServer(cfg) as srv, srv.client("board-1") as board:
        path = tmp_path / "new.toml"
        path.write_text(dumps(dataclasses.replace(cfg, notice="导入的通知")), encoding="utf-8")
        assert main(["config", "import", str(path)]) == 0
        until(lambda: srv.server.service.config_version == 1, 10, "the imported version served")
        assert srv.server.service.config.notice == "导入的通知"
        assert closed_with(board) == 1012  # the boards reconnect for the new notice
        with srv.client("board-1") as again:
            assert again.welcome["hall"]["notice"] == "导入的通知"
        # A version this hall cannot serve is left (logged); the hall goes on.
        bad = dataclasses.replace(cfg, counters=cfg.counters[:1], devices=())
        path.write_text(dumps(bad), encoding="utf-8")
        with srv.client("counter-4") as counter:
            assert counter.request("login", staff="s001", pin="1234")["type"] == "ok"
            assert main(["config", "import", str(path)]) == 0
            until(lambda: srv.server.service.config_version == 2, 10, "version 2 looked at")
            assert srv.server.service.config.notice == "导入的通知"
            assert len(srv.server.service.config.counters) == 4
