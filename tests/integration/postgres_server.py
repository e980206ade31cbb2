"""A throwaway PostgreSQL server for tests: initdb in a temporary folder, postgres on a free local port.

Used by the `postgres_url` / `postgres_db_url` fixtures in `tests/integration/conftest.py`, and
importable on its own (HTTP server tests, benchmarks)::

    from postgres_server import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer.start()
    except PostgresUnavailable as exc:
        ...  # skip, with str(exc) as the reason
    try:
        url = server.create_database("bench")  # postgresql+psycopg://despina@127.0.0.1:PORT/bench
        ...
    finally:
        server.stop()  # stops postgres and removes its folder

The server listens on 127.0.0.1 only (no Unix socket), trusts local connections (no password) and
runs with fsync off: fast, and its data is gone when it stops. `initdb` and `postgres` refuse to run
as root, so under root they run as the `postgres` system user that Debian's package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = "install Debian's postgresql package"
SUPERUSER = "despina"  # the cluster's superuser, made by initdb; local connections need no password
# Settings for a disposable test cluster: durability off, small memory, enough connections for
# several server processes with their pools.
TEST_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "200",
    "log_min_messages": "warning",
}


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be started here (no server binaries, or no user to run them as)."""


def find_bindir() -> Path | None:
    """The folder with `initdb` and `postgres`: `pg_config --bindir`, else the newest Debian install."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    # Debian keeps server binaries out of PATH, one folder per major version; the newest first.
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parent.name.split(".")],
        reverse=True,
    )
    candidates.extend(Path(p) for p in debian)
    for path in candidates:
        if (path / "initdb").is_file() and (path / "postgres").is_file():
            return path
    return None


def _run_as() -> tuple[Callable[[], None] | None, int | None, int | None]:
    """How to drop root for initdb/postgres: (preexec function, uid, gid), or no change when not root."""
    if os.geteuid() != 0:
        return None, None, None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError as exc:
        raise PostgresUnavailable(
            f"running as root and there is no 'postgres' user to run PostgreSQL as ({INSTALL_HINT})"
        ) from exc
    uid, gid = user.pw_uid, user.pw_gid

    def drop() -> None:
        os.setgid(gid)
        os.setgroups([])
        os.setuid(uid)

    return drop, uid, gid


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """A running PostgreSQL cluster owned by the test session."""

    bindir: Path
    folder: Path
    port: int
    process: subprocess.Popen[bytes]
    host: str = "127.0.0.1"
    user: str = SUPERUSER
    _databases: set[str] = field(default_factory=set)

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def log_file(self) -> Path:
        return self.folder / "postgres.log"

    @classmethod
    def start(cls, timeout: float = 60.0) -> PostgresServer:
        """initdb a new cluster in a temporary folder and start it; PostgresUnavailable if impossible."""
        bindir = find_bindir()
        if bindir is None:
            raise PostgresUnavailable(f"PostgreSQL server binaries not found ({INSTALL_HINT})")
        preexec, uid, gid = _run_as()
        # Directly under the system temp folder: pytest's own tmp folders are private to root, and
        # the postgres user must reach its data folder.
        folder = Path(tempfile.mkdtemp(prefix="despina-pg-"))
        if uid is not None and gid is not None:
            os.chown(folder, uid, gid)
        try:
            init = subprocess.run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(folder / "data"),
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ],
                preexec_fn=preexec,  # drops root (see _run_as)
                capture_output=True,
                text=True,
                timeout=120,
            )
            if init.returncode != 0:
                raise PostgresUnavailable(f"initdb failed:\n{init.stdout}\n{init.stderr}")
            last_error: Exception | None = None
            for _ in range(5):  # another process may take the free port before postgres binds it
                port = _free_port()
                server = cls._launch(bindir, folder, port, preexec, uid, gid)
                try:
                    server._wait_ready(timeout)
                    return server
                except PostgresUnavailable as exc:
                    last_error = exc
                    server._terminate()
            raise PostgresUnavailable(f"postgres did not start: {last_error}")
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    @classmethod
    def _launch(
        cls,
        bindir: Path,
        folder: Path,
        port: int,
        preexec: Callable[[], None] | None,
        uid: int | None,
        gid: int | None,
    ) -> PostgresServer:
        log_path = folder / "postgres.log"
        with open(log_path, "ab") as log:
            if uid is not None and gid is not None:
                os.chown(log_path, uid, gid)
            args = [str(bindir / "postgres"), "-D", str(folder / "data"), "-p", str(port)]
            for name, value in TEST_SETTINGS.items():
                args += ["-c", f"{name}={value}"]
            process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=preexec,
                start_new_session=True,  # a Ctrl-C in the test run reaches it through stop(), in order
            )
        return cls(bindir=bindir, folder=folder, port=port, process=process)

    def _wait_ready(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise PostgresUnavailable(f"postgres exited ({self.process.returncode}):\n{self._log_tail()}")
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise PostgresUnavailable(f"postgres not ready after {timeout:.0f} s: {exc}") from exc
                time.sleep(0.1)

    def _log_tail(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    # -- databases ---------------------------------------------------------------------------------

    def dsn(self, database: str) -> str:
        """A libpq connection string (for psycopg directly)."""
        return f"host={self.host} port={self.port} user={self.user} dbname={database}"

    def url(self, database: str = "despina") -> str:
        """A SQLAlchemy URL for `database` with the psycopg 3 driver."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a fresh name unless given) and return its SQLAlchemy URL."""
        import psycopg
        from psycopg import sql

        name = name or f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self._databases.add(name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing connections that a test left open."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        self._databases.discard(name)

    # -- stopping ----------------------------------------------------------------------------------

    def _terminate(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown: disconnect clients, stop
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        self._terminate()
        shutil.rmtree(self.folder, ignore_errors=True)


__all__ = ["INSTALL_HINT", "PostgresServer", "PostgresUnavailable", "find_bindir"]
