"""The layering of docs/ARCHITECTURE.md, checked against the real import graph.

Rules (each test below is one):
- no import cycles between project modules (lazy imports inside functions count);
- the core imports the standard library, config types and the wire's pure
  vocabulary (errors, lifecycle) only;
- SQLAlchemy and Alembic only under ``server/store/``;
- the wire package imports nothing of the project but itself;
- the apps (kiosk, counter, display) import from ``server`` only ``server.wire``
  and ``server.client``, and never each other;
- the client package imports only the wire and itself;
- only ``server/tools/`` imports the apps or the tools;
- the service never imports a feature; features import the service only
  through ``server.service.api``, and no store, serve or tool (the
  personal-data helper ``server.pii`` aside; their command line may default to
  the demo hall);
- docs/ARCHITECTURE.md's module table is what the code says.
"""

from __future__ import annotations

import sys

import pytest

from tests.helpers import layers

APPS = ("kiosk", "counter", "display")


@pytest.fixture(scope="module")
def graph() -> dict[str, layers.Module]:
    return layers.graph()


def _under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _offences(graph: dict[str, layers.Module], who: tuple[str, ...],
              allowed: tuple[str, ...]) -> list[str]:
    return sorted(f"{m.name} imports {t}" for m in graph.values() if _under(m.name, *who)
                  for t in m.imports if not _under(t, *allowed))


def test_the_graph_is_read(graph: dict[str, layers.Module]) -> None:
    # A broken reader would pass every rule below vacuously.
    assert len(graph) > 60
    assert "server.core.machine" in graph["server.core"].imports | {
        t for m in graph.values() if m.name.startswith("server.core.") for t in m.imports}
    assert "PySide6" in graph["kiosk.view"].external


def test_no_import_cycles(graph: dict[str, layers.Module]) -> None:
    assert layers.cycles(graph) == []


def test_the_cycle_finder_finds_one() -> None:
    fake = {n: layers.Module(n, layers.ROOT, "", frozenset(i), frozenset())
            for n, i in {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}.items()}
    assert layers.cycles(fake) == [["a", "b", "c"]]


def test_core_is_pure(graph: dict[str, layers.Module]) -> None:
    assert _offences(graph, ("server.core",),
                     ("server.core", "server.config", "server.wire.errors",
                      "server.wire.lifecycle")) == []
    outside = sorted(f"{m.name} imports {e}" for m in graph.values()
                     if _under(m.name, "server.core")
                     for e in m.external if e not in sys.stdlib_module_names)
    assert outside == []


def test_sqlalchemy_only_in_the_store(graph: dict[str, layers.Module]) -> None:
    users = sorted(m.name for m in graph.values()
                   if m.external & {"sqlalchemy", "alembic"})
    assert users and all(_under(u, "server.store") for u in users), users


def test_wire_stands_alone(graph: dict[str, layers.Module]) -> None:
    assert _offences(graph, ("server.wire",), ("server.wire",)) == []


def test_apps_use_only_the_wire_and_the_client(graph: dict[str, layers.Module]) -> None:
    for app in APPS:
        assert _offences(graph, (app,), (app, "server.wire", "server.client", "sounds")) == []


def test_client_uses_only_the_wire(graph: dict[str, layers.Module]) -> None:
    assert _offences(graph, ("server.client",), ("server.client", "server.wire")) == []


def test_only_tools_import_apps_and_tools(graph: dict[str, layers.Module]) -> None:
    offences = sorted(f"{m.name} imports {t}" for m in graph.values()
                      if not _under(m.name, "server.tools")
                      for t in m.imports
                      if (_under(t, *APPS) and t.split(".")[0] != m.name.split(".")[0])
                      or (_under(t, "server.tools")))
    assert offences == []


def test_service_knows_no_feature(graph: dict[str, layers.Module]) -> None:
    assert _offences(graph, ("server.service",),
                     ("server.service", "server.wire", "server.core", "server.config",
                      "server.store", "server.auth", "server.authpool", "server.limits")) == []


def test_features_use_the_service_api(graph: dict[str, layers.Module]) -> None:
    # server.pii: the personal-data key and hashing (a helper, not a layer).
    # The features' command line (`qhall book`, `qhall report`) is an entry
    # point like `qhall serve`: it may default to the demo hall.
    offences = _offences(graph, ("server.features",),
                         ("server.features", "server.service.api", "server.wire", "server.core",
                          "server.config", "server.pii"))
    assert [o for o in offences
            if o != "server.features.commandline imports server.reference"] == []


def test_architecture_table_matches_the_code(graph: dict[str, layers.Module]) -> None:
    documented = layers.documented_table(layers.DOC.read_text(encoding="utf-8"))
    assert documented == layers.module_table(graph), (
        "docs/ARCHITECTURE.md's module table is stale: run "
        "`python -m tests.helpers.layers --write` and review the diff")
