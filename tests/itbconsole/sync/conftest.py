"""A throwaway PostgreSQL cluster for the sync tests: a real server, never a stand-in.

One cluster per test session (initdb takes seconds), listening on 127.0.0.1 on a free port
with its socket in the cluster's temporary folder and trust authentication (test use only);
each test gets a database of its own. ``initdb`` refuses to run as root, so as root the
cluster is made and run by the ``postgres`` user. PostgreSQL missing is a failure with a
plain message (``.ci/run`` installs Debian's ``postgresql``), never a silent skip.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

_MISSING = (
    "PostgreSQL is not installed: the sync tests need a real server (initdb and pg_ctl). "
    "Install Debian's 'postgresql' package (.ci/run does it) and run the tests again."
)


def _bin_dirs() -> list[Path]:
    found: list[Path] = []
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        if out:
            found.append(Path(out))
    found += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return found


def find_postgres_tool(name: str) -> str:
    """The full path of ``initdb`` or ``pg_ctl`` (pg_config's bindir, Debian's versioned
    folders, then PATH); fails the test run with a plain message when there is none."""
    for folder in _bin_dirs():
        candidate = folder / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    on_path = shutil.which(name)
    if on_path:
        return on_path
    pytest.fail(_MISSING, pytrace=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresCluster:
    """A running cluster: start, stop, and a DSN for any database on it."""

    folder: Path
    port: int
    pg_ctl: str
    as_postgres: bool
    superuser: str

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        command = args
        if self.as_postgres and shutil.which("runuser"):
            command = ["runuser", "-u", "postgres", "--", *args]
        elif self.as_postgres:
            command = ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(args)]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off"
        result = self._run(
            [self.pg_ctl, "-D", str(self.data), "-o", options, "-l",
             str(self.folder / "server.log"), "-w", "-t", "60", "start"]
        )  # fmt: skip
        if result.returncode != 0:
            log = (self.folder / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"PostgreSQL did not start: {result.stderr}\n{log}")

    def stop(self, mode: str = "fast") -> None:
        self._run([self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop"])

    def dsn(self, dbname: str = "postgres", user: str | None = None) -> str:
        return f"host=127.0.0.1 port={self.port} dbname={dbname} user={user or self.superuser}"


def _make_cluster() -> Generator[PostgresCluster, None, None]:
    initdb = find_postgres_tool("initdb")
    pg_ctl = find_postgres_tool("pg_ctl")
    as_postgres = os.geteuid() == 0
    folder = Path(tempfile.mkdtemp(prefix="itbconsole-pg-"))
    if as_postgres:
        shutil.chown(folder, "postgres", "postgres")
    cluster = PostgresCluster(folder, _free_port(), pg_ctl, as_postgres, "postgres")
    init = cluster._run(
        [initdb, "-D", str(cluster.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
         "--locale=C", "--no-sync"]
    )  # fmt: skip
    if init.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"initdb failed: {init.stderr.strip()}", pytrace=False)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    yield from _make_cluster()


_numbers = itertools.count(1)


@pytest.fixture
def pg_dsn(pg_cluster: PostgresCluster) -> Iterator[str]:
    """A fresh, empty database on the session's cluster (superuser DSN), dropped after."""
    name = f"clinic_{os.getpid()}_{next(_numbers)}"
    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield pg_cluster.dsn(name)
    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn,
    ):
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


RoomLogin = Callable[..., str]


@pytest.fixture
def room_dsn(pg_dsn: str) -> RoomLogin:
    """``room_dsn(room_id)``: the room is added to the server (``add_room``, after
    ``init_server``) and the DSN of its own login role is returned (trust authentication
    on the test cluster, so no password is needed)."""
    from itbconsole.sync import server

    def login(room_id: str, name: str = "Test room") -> str:
        server.add_room(pg_dsn, room_id, name)
        return pg_dsn.replace("user=postgres", f"user={server.room_role_name(room_id)}")

    return login
