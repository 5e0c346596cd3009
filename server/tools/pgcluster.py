"""A throwaway PostgreSQL cluster for tests, benchmarks and ``qhall chaos``.

``PgCluster`` runs ``initdb`` and ``pg_ctl`` from the PostgreSQL server
binaries (``/usr/lib/postgresql/<version>/bin`` or ``$QHALL_PG_BIN``) in a
temporary directory, listening on a free loopback port with its unix socket
in that directory and ``fsync=off`` for speed. PostgreSQL refuses to run as
root, so under root the cluster belongs to the ``postgres`` system user and
its commands run through ``runuser``. ``stop()`` kills it and removes the
directory.

    with PgCluster() as cluster:
        url = cluster.create_database("t1")   # postgresql+psycopg://...

``unavailable()`` says why a cluster cannot be started here (or None).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["PgCluster", "find_bin_dir", "free_port", "unavailable"]

_VERSIONS = ("15", "16", "17", "14")


def free_port() -> int:
    """A loopback TCP port free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_bin_dir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None."""
    env = os.environ.get("QHALL_PG_BIN")
    candidates = [Path(env)] if env else []
    candidates += [Path(f"/usr/lib/postgresql/{v}/bin") for v in _VERSIONS]
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    return None


def unavailable() -> str | None:
    """Why no throwaway cluster can run here, or None if one can."""
    if find_bin_dir() is None:
        return ("PostgreSQL server binaries (initdb, pg_ctl) not found: install "
                "postgresql-15 or set QHALL_PG_BIN")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the cluster as"
        if shutil.which("runuser") is None:
            return "running as root and 'runuser' is missing"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the psycopg driver is not installed"
    return None


class PgCluster:
    """One private PostgreSQL server; ``start()``/``stop()`` or ``with``."""

    def __init__(self) -> None:
        reason = unavailable()
        if reason:
            raise RuntimeError(reason)
        self.bin = find_bin_dir()
        self.dir: Path | None = None
        self.port = 0
        self.user = "postgres"
        self._running = False

    # ------------------------------------------------------------------
    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert self.bin is not None
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{args[0]} failed ({result.returncode}): {result.stderr.strip() or result.stdout}"
                + self._log_tail()
            )
        return result

    def _log_tail(self) -> str:
        log = self.dir / "server.log" if self.dir else None
        if log and log.exists():
            return "\n--- server.log ---\n" + "\n".join(log.read_text().splitlines()[-20:])
        return ""

    def start(self) -> PgCluster:
        """initdb + start; returns self. Cleans up if either step fails."""
        self.dir = Path(tempfile.mkdtemp(prefix="qhall-pg-"))
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        data = self.dir / "data"
        try:
            self._run("initdb", "-D", str(data), "-U", self.user, "--auth=trust",
                      "--encoding=UTF8", "--no-locale", "--no-sync")
            self.port = free_port()
            options = " ".join([
                f"-p {self.port}",
                f"-k {self.dir}",
                "-c listen_addresses=127.0.0.1",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ])
            self._run("pg_ctl", "-D", str(data), "-l", str(self.dir / "server.log"),
                      "-o", options, "-w", "-t", "60", "start")
            self._running = True
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, remove_later: bool = False) -> None:
        """Stop the server (immediately: the data is thrown away) and delete it.

        ``remove_later``: the files are removed by a detached ``rm -rf`` (a test
        session's cluster holds every test database: gigabytes, seconds to
        remove, which the last test would otherwise wait for).
        """
        if self.dir is None:
            return
        if self._running:
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w",
                      "stop", check=False)
            self._running = False
        if remove_later:
            # sh puts rm in the background and exits at once: rm is nobody's
            # child to wait for (no Popen left running, no zombie).
            subprocess.run(["sh", "-c", 'rm -rf -- "$1" &', "sh", str(self.dir)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True, check=False, timeout=30)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------
    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of one database of this cluster."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database; returns its URL."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"bad database name {name!r}")
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=self.user,
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
