"""A private PostgreSQL server for one test, which the test may stop and start at will.

The shared server on 127.0.0.1:5432 serves every other test (and other people's
runs at the same time), so a test that takes its database away starts its own
from the installed binaries: a data folder in a fresh temporary folder, trust
authentication, listening on 127.0.0.1 on a free port outside the ephemeral
range (so the port is still free when the server starts again on it) and on a
Unix socket in the same folder. PostgreSQL refuses to run as root: as root the
binaries run as the `postgres` system user, who owns the folder.

    with PostgresInstance.create() as server:   # skips the test when it cannot run
        server.url                              # postgresql://postgres@127.0.0.1:PORT/postgres
        server.stop(); server.start()           # same port, same data
"""

from __future__ import annotations

import glob
import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import pytest

SERVER_USER = "postgres"
# Quick to start, and durability does not matter for a test's throw-away data.
OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


def binaries() -> Path | None:
    """Return the newest installed PostgreSQL bin folder that has initdb and pg_ctl, or None."""
    found = [
        Path(path).parent
        for path in glob.glob("/usr/lib/postgresql/*/bin/initdb")
        if Path(path).with_name("pg_ctl").exists()
    ]
    return max(found, key=lambda p: int(p.parent.name), default=None) if found else None


def unavailable() -> str | None:
    """Return why a private server cannot be started here, or None."""
    if binaries() is None:
        return "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (initdb, pg_ctl)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no {SERVER_USER!r} user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root and `runuser` is missing: cannot run PostgreSQL as postgres"
    return None


def _free_port() -> int:
    """Pick a port below the ephemeral range that nothing listens on now."""
    low, _ = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    candidates = list(range(20000, min(low, 32768)))
    random.shuffle(candidates)
    for port in candidates[:200]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port for a private PostgreSQL server")


class PostgresInstance:
    """One private server: its folder, port and URL; stopped and removed by `cleanup`."""

    def __init__(self, folder: Path, port: int, bin_dir: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.log = folder / "server.log"
        self.port = port
        self._bin = bin_dir
        self.url = f"postgresql://{SERVER_USER}@127.0.0.1:{port}/postgres"

    @classmethod
    def create(cls) -> PostgresInstance:
        """Initialise and start a server; skip the calling test (saying why) when it cannot run."""
        reason = unavailable()
        if reason:
            pytest.skip(reason)
        bin_dir = binaries()
        assert bin_dir is not None
        folder = Path(tempfile.mkdtemp(prefix="pw-pg-"))
        if os.geteuid() == 0:
            account = pwd.getpwnam(SERVER_USER)
            os.chown(folder, account.pw_uid, account.pw_gid)
        instance = cls(folder, _free_port(), bin_dir)
        try:
            instance._run(
                "initdb", "-D", str(instance.data), "-U", SERVER_USER, "-A", "trust", "--no-sync"
            )
            instance.start()
        except BaseException:
            instance.cleanup()
            raise
        return instance

    def _run(self, program: str, *args: str, timeout: float = 60) -> str:
        as_user = ["runuser", "-u", SERVER_USER, "--"] if os.geteuid() == 0 else []
        done = subprocess.run(
            [*as_user, str(self._bin / program), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.folder,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{program} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
                f"\n{self.server_log()}"
            )
        return done.stdout

    def start(self) -> None:
        """Start the server (again) on its port and wait until it accepts connections."""
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} "
            f"-c unix_socket_directories={self.folder} {OPTIONS}"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: end every session at once) and wait until it is down."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        """True while the server's postmaster runs."""
        as_user = ["runuser", "-u", SERVER_USER, "--"] if os.geteuid() == 0 else []
        status = subprocess.run(
            [*as_user, str(self._bin / "pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
            timeout=30,
            cwd=self.folder,
        )
        return status.returncode == 0

    def server_log(self) -> str:
        """The server's own log, for a failure message."""
        try:
            return self.log.read_text()[-4000:]
        except OSError:
            return ""

    def cleanup(self) -> None:
        """Stop the server if it runs (immediately: nothing is kept) and remove its folder."""
        try:
            if self.data.exists() and self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresInstance:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.cleanup()
