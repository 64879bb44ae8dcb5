"""A throwaway PostgreSQL cluster for tests: initdb + pg_ctl in a temporary folder on 127.0.0.1.

One cluster per pytest process (started on first use, stopped at exit). Without the server
binaries the tests that need it are skipped with the reason, or fail when `CI=true`.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

HOST = "127.0.0.1"
SUPERUSER = "postgres"
# Tests prove correctness across client crashes, not the server's own durability: fsync off.
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
DURABLE_SETTINGS = ("fsync=on", "synchronous_commit=on")


def find_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<v>/bin holding initdb and pg_ctl (or PG_BINDIR)."""
    explicit = os.environ.get("PG_BINDIR")
    candidates = [explicit] if explicit else []
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    for c in candidates:
        if c and (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Cluster:
    """A running throwaway cluster: where it lives and how to reach it."""

    bindir: Path
    root: Path
    port: int
    run_as: str | None
    _names: itertools.count[int]

    @property
    def datadir(self) -> Path:
        """The cluster's data directory."""
        return self.root / "data"

    def dsn(self, database: str = "postgres") -> str:
        """A libpq URL for one database of this cluster."""
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{database}"

    def _cmd(self, *argv: str) -> list[str]:
        return ["runuser", "-u", self.run_as, "--", *argv] if self.run_as else list(argv)

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; returns its DSN."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        psql = [str(self.bindir / "psql"), "-q", "-h", HOST, "-p", str(self.port), "-U", SUPERUSER]
        subprocess.run(
            [*psql, "-d", "postgres", "-c", f'CREATE DATABASE "{name}"'],
            check=True,
            capture_output=True,
        )
        return self.dsn(name)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its folder."""
        subprocess.run(
            self._cmd(
                str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop"
            ),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster(durable: bool = False) -> Cluster:
    """initdb into a fresh temporary folder and start it on a free 127.0.0.1 port."""
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
    run_as = SUPERUSER if os.geteuid() == 0 else None  # initdb refuses to run as root
    root = Path(tempfile.mkdtemp(prefix="switchboard-pg-"))
    if run_as:
        pw = pwd.getpwnam(run_as)
        os.chown(root, pw.pw_uid, pw.pw_gid)
    cluster = Cluster(bindir, root, 0, run_as, itertools.count(1))
    initdb = (str(bindir / "initdb"), "-D", str(cluster.datadir), "-U", SUPERUSER)
    subprocess.run(
        cluster._cmd(*initdb, "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"),
        check=True,
        capture_output=True,
    )
    settings = DURABLE_SETTINGS if durable else FAST_SETTINGS
    last_error = ""
    for _ in range(5):  # a free port may be taken between probing and binding
        cluster.port = _free_port()
        server = (
            f"listen_addresses={HOST}",
            f"port={cluster.port}",
            "unix_socket_directories=''",
            "max_connections=200",
            *settings,
        )
        options = " ".join(f"-c {s}" for s in server)
        pg_ctl = (str(bindir / "pg_ctl"), "-D", str(cluster.datadir), "-w", "-t", "30")
        proc = subprocess.run(
            cluster._cmd(*pg_ctl, "-l", str(root / "server.log"), "-o", options, "start"),
            capture_output=True,
            check=False,
        )
        if proc.returncode == 0:
            return cluster
        last_error = proc.stderr.decode(errors="replace") + _tail(root / "server.log")
    cluster.stop()
    raise RuntimeError(f"pg_ctl start failed: {last_error}")


def _tail(path: Path) -> str:
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace")[-2000:]
    return ""


_shared: Cluster | None = None


def shared_cluster() -> Cluster:
    """The process-wide test cluster; skips (or fails under CI=true) without PostgreSQL."""
    global _shared
    if _shared is None:
        if find_bindir() is None:
            reason = "PostgreSQL not installed (apt-get install postgresql); engine tests skipped"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(reason.replace("skipped", "required in CI"), pytrace=False)
            pytest.skip(reason)
        _shared = start_cluster()
        atexit.register(_shared.stop)
    return _shared
