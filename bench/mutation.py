"""Mutation testing with mutmut 3: how many planted bugs the tests catch.

    python -m bench.mutation [--module client|core|protocol|store|service] [--jobs N]
                             [--keep] [--show] [--only GLOB] [--untried]
                             [--tests FUNC_GLOB=PATH[,PATH...]] [--no-full-recheck]

For each module asked for (all five by default) this copies the project to
``.mutation/<module>/`` (gitignored), writes that copy's ``[tool.mutmut]``
(what to mutate, which tests), runs ``mutmut run`` there and prints:

* the score: killed (a test failed or timed out) / mutants, in percent;
* every surviving mutant by name (``--show`` adds each one's diff).

A module's mutants are checked against a chosen, fast test selection (the
tests that target it); ``store`` and ``service`` run their SQLite cases only
(the PostgreSQL cases run the same assertions). Not part of CI: a full run
takes tens of minutes on two cores. Survivors judged equivalent or accepted
are listed, with the reason, in docs/TESTING.md.

A function every test of the selection runs (``Store.commit``) costs a whole
selection per surviving mutant. ``--tests`` narrows it: the mutants of the
functions matching ``FUNC_GLOB`` (mutmut's name without ``__mutmut_N``) run
only those of their tests (as mutmut's last stats run traced them) whose id
starts with one of the ``PATH`` prefixes. A mutant that survives that is no
survivor yet: it is tried again with every test reaching its function (the
map as it was) before the figures are printed (``--no-full-recheck`` skips
that and prints it as ``narrowed``). The map is put back either way. It needs
the map of an earlier run (``--keep``); ``--untried`` turns the ``--only``
globs into the mutants the last run left untried (so the tried ones are not
run again).

``--fork PAIRS`` skips mutmut's runner (a new process and a full pytest
start-up per mutant, which dominates for the functions every test runs): in
the scratch copy's ``mutants/`` (an earlier run made them) it imports the
tests once, starts one PostgreSQL cluster, and forks one child per mutant
(``MUTANT_UNDER_TEST``) running the tests its line of PAIRS names
(``NAME TEST [TEST...]``, in that order, with ``-x``). A clean run of each
set of tests comes first. Each result is appended to ``PAIRS.out`` as
``NAME EXIT_CODE SECONDS`` (0 survived, 1 killed; a rerun skips the names
already there). mutmut's own cache is left as it was.
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MODULES", "main"]

ROOT = Path(__file__).resolve().parents[1]
SCRATCH = ROOT / ".mutation"
COPY = ("server", "tests", "kiosk", "counter", "display", "sounds", "bench", "pyproject.toml")


@dataclass(frozen=True)
class Target:
    mutate: tuple[str, ...]   # glob patterns of the files to mutate
    tests: tuple[str, ...]    # pytest arguments selecting the tests
    goal: int                 # percent killed the issue asks for
    skip: tuple[str, ...] = ()  # glob patterns of files under ``mutate`` left alone


MODULES: dict[str, Target] = {
    # (the hypothesis properties are left out: they cover everything, slowly)
    "core": Target(("server/core/*",),
                   ("tests/core", "--ignore=tests/core/test_properties.py"), 90),
    "protocol": Target(("server/wire/protocol.py",),
                       ("tests/wire",), 90),
    # The process races (tests/store/test_concurrency.py, the booking race) time
    # out under mutmut on a shared machine and the migration upgrades take
    # minutes a mutant; the migrations themselves (DDL, pinned by
    # tests/store/test_migrations.py) are not mutated.
    "store": Target(("server/store/*.py",),
                    ("tests/store", "tests/core/test_restore_store.py",
                     "--ignore=tests/store/test_concurrency.py",
                     "--ignore=tests/store/test_migrations.py", "-k", "not postgresql"),
                    80, skip=("server/store/migrations/*",)),
    # The client's sans-I/O session (failover rules: which URL next, how long
    # a gone or a silent one is passed over, the opening's bound): its own
    # in-process tests; the I/O layers' tests start servers, too slow a mutant.
    "client": Target(("server/client/session.py",),
                     ("tests/client/test_session.py", "tests/client/test_session_resume.py",
                      "tests/client/test_session_welcome.py", "tests/client/test_session_moves.py",
                      "tests/client/test_session_requests.py"),
                     80),
    # The service's own tests (a HallService driven in-process); the features'
    # server-level tests start a server per test and run too long per mutant.
    # test_resume_tickets.py is the exception: in-process, fast, and the only
    # test of server/service/resume.py.
    "service": Target(("server/service/*.py",),
                      ("tests/service", "tests/server/test_resume_tickets.py",
                       "-k", "not postgresql"), 80),
}


def _toml_list(items: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def _config(target: Target) -> str:
    return "\n".join([
        "[tool.mutmut]",
        'source_paths = ["server"]',
        f"only_mutate = {_toml_list(target.mutate)}",
        f"do_not_mutate = {_toml_list(target.skip)}",
        f"pytest_add_cli_args_test_selection = {_toml_list(target.tests)}",
        'also_copy = ["kiosk", "counter", "display", "sounds", "bench"]',
        "",
    ])


def prepare(module: str, keep: bool, scratch: str | None = None) -> Path:
    """A scratch copy of the project whose pyproject asks mutmut for ``module``
    (in ``.mutation/<scratch or module>/``)."""
    work = SCRATCH / (scratch or module)
    if work.exists() and not keep:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", "mutants")
    for name in COPY:
        src, dst = ROOT / name, work / name
        if src.is_dir():
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(src, dst, ignore=ignore)
        else:
            shutil.copy2(src, dst)
    pyproject = (work / "pyproject.toml").read_text(encoding="utf-8")
    # Replace the repository's own [tool.mutmut] table with this module's.
    pyproject = re.sub(r"\[tool\.mutmut\].*?(?=^\[)", "", pyproject, flags=re.S | re.M)
    (work / "pyproject.toml").write_text(pyproject + "\n" + _config(MODULES[module]),
                                         encoding="utf-8")
    return work


def _mutmut(work: Path, *args: str, quiet: bool = False) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("mutmut")
    return subprocess.run([str(exe), *args], cwd=work, text=True,
                          capture_output=quiet, check=False)


#: Statuses that mean a test noticed the mutant.
KILLED = frozenset({"killed", "timeout", "segfault"})
#: Statuses of mutants that were not tried (an interrupted or partial run).
UNTRIED = frozenset({"not checked", "skipped"})


def statuses(work: Path) -> dict[str, str]:
    """mutant name -> mutmut's status for it (``mutmut results --all true``)."""
    done = _mutmut(work, "results", "--all", "true", quiet=True)
    found = {}
    for line in done.stdout.splitlines():
        m = re.match(r"\s*(\S+): (.+)$", line)
        if m:
            found[m.group(1)] = m.group(2).strip()
    return found


def report(module: str, found: dict[str, str],
           narrowed: Collection[str] = ()) -> tuple[float, list[tuple[str, str]]]:
    """The score over the mutants tried, and the survivors (name, status); a
    survivor of a narrowed selection not yet tried with all its tests is
    ``narrowed`` and counts as not tried."""
    found = {n: ("narrowed" if n in narrowed and s not in KILLED else s)
             for n, s in found.items()}
    tried = {n: s for n, s in found.items() if s not in UNTRIED | {"narrowed"}}
    killed = sum(1 for s in tried.values() if s in KILLED)
    percent = 100.0 * killed / max(1, len(tried))
    left = sorted((n, s) for n, s in tried.items() if s not in KILLED)
    print(f"{module}: {killed}/{len(tried)} killed = {percent:.1f}% "
          f"(goal {MODULES[module].goal}%); tried {len(tried)} of {len(found)} mutants")
    return percent, left


def forget_survivors(work: Path, names: Collection[str] | None = None) -> int:
    """Mark the last run's survivors (and untested ones) as not checked, so the
    next run tries them again against the current tests (only ``names`` when
    given); returns how many."""
    forgotten = 0
    for meta in (work / "mutants").rglob("*.py.meta"):
        data = json.loads(meta.read_text(encoding="utf-8"))
        codes = data.get("exit_code_by_key", {})
        for name, code in codes.items():
            if code in (0, 33) and (names is None or name in names):  # 0 survived, 33 no tests
                codes[name] = None
                forgotten += 1
        meta.write_text(json.dumps(data, indent=4), encoding="utf-8")
    return forgotten


#: mutmut's map from functions to the tests that reach them (and their durations).
STATS = Path("mutants") / "mutmut-stats.json"
#: Survivors of a narrowed run not yet tried with all their tests (bench's own note).
NARROWED = "narrowed-survivors.json"


def function_of(mutant: str) -> str:
    """mutmut's function name of a mutant (``...xǁStoreǁcommit__mutmut_7`` -> ``...commit``)."""
    return mutant.rsplit("__mutmut_", 1)[0]


def parse_tests(rules: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    """``--tests`` values: ``FUNC_GLOB=PATH[,PATH...]`` -> (glob, prefixes)."""
    parsed = []
    for rule in rules:
        glob, sep, paths = rule.partition("=")
        prefixes = tuple(p.strip() for p in paths.split(",") if p.strip())
        if not sep or not glob or not prefixes:
            raise SystemExit(f"--tests {rule!r}: expected FUNC_GLOB=PATH[,PATH...]")
        parsed.append((glob, prefixes))
    return parsed


def narrow(work: Path, rules: list[tuple[str, tuple[str, ...]]]) -> dict[str, list[str]]:
    """Keep, for each function a rule names, only its tests under the rule's
    paths; returns the functions' full test lists (for :func:`widen`)."""
    path = work / STATS
    if not path.exists():
        raise SystemExit(f"--tests needs the function->test map of an earlier run ({path})")
    data = json.loads(path.read_text(encoding="utf-8"))
    by_function: dict[str, list[str]] = data["tests_by_mangled_function_name"]
    saved: dict[str, list[str]] = {}
    for glob, prefixes in rules:
        for name, tests in by_function.items():
            if not fnmatch.fnmatchcase(name, glob):
                continue
            saved.setdefault(name, list(tests))
            kept = [t for t in saved[name] if t.startswith(prefixes)]
            if not kept:  # no narrowed test reaches it: every one is kept
                print(f"  --tests: no test under {', '.join(prefixes)} reaches {name}; "
                      "all of its tests kept", flush=True)
                kept = saved[name]
            by_function[name] = kept
            print(f"  {name}: {len(kept)} of {len(saved[name])} tests", flush=True)
    path.write_text(json.dumps(data, indent=4), encoding="utf-8")
    return saved


def widen(work: Path, saved: dict[str, list[str]]) -> None:
    """Put back the full test lists :func:`narrow` cut (with any test mutmut
    found reaching the function meanwhile)."""
    path = work / STATS
    data = json.loads(path.read_text(encoding="utf-8"))
    by_function = data["tests_by_mangled_function_name"]
    for name, tests in saved.items():
        by_function[name] = sorted(set(tests) | set(by_function.get(name, [])))
    path.write_text(json.dumps(data, indent=4), encoding="utf-8")


def narrowed_survivors(work: Path) -> set[str]:
    path = work / NARROWED
    return set(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else set()


def untried(work: Path, globs: list[str]) -> list[str]:
    """The mutants matching ``globs`` the last run left untried."""
    return sorted(n for n, s in statuses(work).items()
                  if s in UNTRIED and any(fnmatch.fnmatchcase(n, g) for g in globs))


def run(module: str, jobs: int, keep: bool, show: bool,
        only: list[str], recheck: bool = False,
        tests: list[tuple[str, tuple[str, ...]]] | None = None,
        full_recheck: bool = True, only_untried: bool = False, scratch: str | None = None,
        ) -> tuple[float, list[tuple[str, str]]]:
    work = prepare(module, keep or recheck or bool(tests) or only_untried, scratch)
    if recheck:
        print(f"== {module}: trying {forget_survivors(work)} survivors again", flush=True)
    names = list(only)
    if only_untried:
        names = untried(work, only)
        print(f"== {module}: {len(names)} untried mutants match {', '.join(only)}", flush=True)
        if not names:
            return report(module, statuses(work))
    print(f"== {module}: mutmut run in {work.relative_to(ROOT)}", flush=True)
    if tests:
        saved = narrow(work, tests)
        try:
            _mutmut(work, "run", "--max-children", str(jobs), *names)
        finally:
            widen(work, saved)
        found = statuses(work)
        matched = [n for n, s in found.items() if function_of(n) in saved
                   and (not names or any(n == g or fnmatch.fnmatchcase(n, g) for g in names))]
        survivors = sorted(n for n in matched if found[n] not in KILLED | UNTRIED)
        pending = narrowed_survivors(work) - set(matched)
        if survivors and full_recheck:
            print(f"== {module}: {len(survivors)} survived the narrowed tests; "
                  "trying them with all their tests", flush=True)
            # Not checked until then: an interrupted recheck leaves them untried,
            # never "survived" on the narrowed tests' word.
            forget_survivors(work, set(survivors))
            _mutmut(work, "run", "--max-children", str(jobs), *survivors)
        else:
            pending |= set(survivors)
        (work / NARROWED).write_text(json.dumps(sorted(pending), indent=1), encoding="utf-8")
    else:
        _mutmut(work, "run", "--max-children", str(jobs), *names)
        if names:  # a mutant run again with all its tests is no longer "narrowed"
            still = {n for n in narrowed_survivors(work)
                     if not any(n == g or fnmatch.fnmatchcase(n, g) for g in names)}
            (work / NARROWED).write_text(json.dumps(sorted(still), indent=1), encoding="utf-8")
    percent, left = report(module, statuses(work), narrowed_survivors(work))
    for name, status in left:
        print(f"  {status:12} {name}")
        if show:
            print(_mutmut(work, "show", name, quiet=True).stdout)
    return percent, left


def fork_run(work: Path, pairs_file: Path) -> int:
    """Try the mutants of ``pairs_file`` (``NAME TEST [TEST...]`` a line), each in
    a child forked from this process, against one PostgreSQL cluster; appends
    ``NAME EXIT_CODE SECONDS`` to ``pairs_file`` + ``.out``. Returns 0, or 1
    when a clean run fails."""
    pairs = [line.split() for line in pairs_file.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    out_path = Path(f"{pairs_file}.out")
    done = ({line.split()[0] for line in out_path.read_text(encoding="utf-8").splitlines()
             if line.strip()} if out_path.exists() else set())
    mutants = work / "mutants"
    os.chdir(mutants)
    sys.path.insert(0, str(mutants))
    os.environ["MUTANT_UNDER_TEST"] = ""
    import pytest  # noqa: PLC0415 - only this mode needs it, from the scratch's path

    # Warm imports: the test modules (and what they import) once, in the parent.
    for path in sorted({a.split("::")[0] for _, *tests in pairs for a in tests}):
        importlib.import_module(".".join(Path(path).with_suffix("").parts))
    top = importlib.import_module("tests.conftest")
    store = importlib.import_module("server.store")
    assert str(store.__file__).startswith(str(mutants)), store.__file__
    cluster = importlib.import_module("tests.helpers.pg").PgCluster().start()
    stop_cluster = cluster.stop
    cluster.stop = lambda *_a, **_k: None  # the children's session teardown

    class Shared:  # every child's session fixture gets the one cluster
        def start(self) -> object:
            return cluster

    setattr(top, "PgCluster", Shared)  # noqa: B010 - a module attribute, patched
    runs = itertools.count(1)
    args = ["-x", "-q", "-p", "no:cacheprovider", "--assert=plain", "-o", "addopts=",
            "-m", "not soak", "-W", "ignore"]

    def one(name: str, tests: list[str]) -> tuple[int, float]:
        n, start = next(runs), time.monotonic()
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.environ["MUTANT_UNDER_TEST"] = name
            setattr(top, "_db_names", itertools.count(n * 1000))  # noqa: B010 - fresh names a child
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            try:
                code = int(pytest.main([*args, *tests]))
            except BaseException:  # noqa: BLE001 - any crash of the child is a kill
                code = 99
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status), time.monotonic() - start

    def stop(*_: object) -> None:
        raise SystemExit("stopped")

    signal.signal(signal.SIGTERM, stop)
    try:
        groups: dict[frozenset[str], list[str]] = {}
        for name, *tests in pairs:
            if name not in done:
                groups.setdefault(frozenset(tests), tests)
        for tests in groups.values():
            code, secs = one("", tests)
            print(f"clean run ({code}, {secs:.1f} s): {' '.join(tests)}", flush=True)
            if code != 0:
                return 1
        with out_path.open("a", encoding="utf-8") as out:
            for name, *tests in pairs:
                if name not in done:
                    code, secs = one(name, tests)
                    print(name, code, f"{secs:.1f}", file=out, flush=True)
                    print(f"  {'killed' if code else 'SURVIVED'}: {name}", flush=True)
    finally:
        stop_cluster()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mutation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--module", choices=sorted(MODULES), action="append",
                        help="module to mutate (repeatable; default: all four)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once")
    parser.add_argument("--keep", action="store_true",
                        help="reuse the scratch copy's earlier results (mutmut caches them)")
    parser.add_argument("--show", action="store_true", help="print each survivor's diff")
    parser.add_argument("--only", action="append", default=[], metavar="GLOB",
                        help="only these mutants (mutmut names, e.g. 'server.core.machine.*')")
    parser.add_argument("--recheck", action="store_true",
                        help="try only the last run's survivors again, with the current tests")
    parser.add_argument("--report", action="store_true",
                        help="no run: score and survivors of the last run (in .mutation/)")
    parser.add_argument("--tests", action="append", default=[], metavar="FUNC_GLOB=PATH[,PATH]",
                        help="run the mutants of these functions against only their tests "
                             "under PATH (e.g. 'server.store.store.xǁStoreǁcommit="
                             "tests/store/test_commit.py'); survivors are tried again with "
                             "all their tests; needs --keep's earlier map")
    parser.add_argument("--no-full-recheck", action="store_true",
                        help="with --tests: leave the narrowed survivors untried with all "
                             "their tests (reported as 'narrowed', not counted)")
    parser.add_argument("--untried", action="store_true",
                        help="with --only: only the mutants the last run left untried")
    parser.add_argument("--scratch", metavar="NAME",
                        help="scratch copy .mutation/NAME instead of .mutation/<module> (one "
                             "module only; e.g. a `cp -a` of it trying other files at once)")
    parser.add_argument("--fork", metavar="PAIRS", type=Path,
                        help="no mutmut run: try the mutants of PAIRS (NAME TEST [TEST...] a "
                             "line) by forking one warm pytest process per mutant in the "
                             "scratch copy's mutants/; results in PAIRS.out")
    args = parser.parse_args(argv)
    if args.fork:
        if len(args.module or MODULES) != 1:
            parser.error("--fork needs exactly one --module")
        module = (args.module or list(MODULES))[0]
        return fork_run(SCRATCH / (args.scratch or module), args.fork.resolve())
    if args.untried and not args.only:
        parser.error("--untried needs --only")
    if args.scratch and len(args.module or MODULES) != 1:
        parser.error("--scratch needs exactly one --module")
    rules = parse_tests(args.tests)
    scores = {}
    for module in args.module or list(MODULES):
        if args.report:
            work = SCRATCH / (args.scratch or module)
            scores[module], left = report(module, statuses(work), narrowed_survivors(work))
            for name, status in left:
                print(f"  {status:12} {name}")
            continue
        scores[module], _ = run(module, max(1, args.jobs), args.keep, args.show, args.only,
                                args.recheck, rules, not args.no_full_recheck, args.untried,
                                args.scratch)
    print("\nscore per module: " + ", ".join(f"{m} {s:.1f}%" for m, s in scores.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
