"""The tree stays lint- and type-clean: ruff over the repo, mypy over the packages.

Both run as subprocesses from the repo root with the test interpreter, so CI
checks exactly what a developer runs (`ruff check .`, `mypy server kiosk
counter display sounds bench`; settings in pyproject.toml; the benchmarks
joined in session 12). mypy keeps its cache in
the repo's `.mypy_cache` (gitignored): a cold run takes about 10 s, a warm one
under a second, well inside the suite's budget either way.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("server", "kiosk", "counter", "display", "sounds", "bench")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=180, check=False)


def test_ruff_clean() -> None:
    done = _run("ruff", "check", ".")
    assert done.returncode == 0, f"ruff check . failed:\n{done.stdout}\n{done.stderr}"


def test_mypy_clean() -> None:
    done = _run("mypy", "--cache-dir", str(ROOT / ".mypy_cache"), *PACKAGES)
    assert done.returncode == 0, f"mypy failed:\n{done.stdout}\n{done.stderr}"
