"""A throwaway PostgreSQL server on 127.0.0.1 for the tracking tests (Debian's postgresql).

`.ci/run` installs Debian's ``postgresql`` package and sets ``EIH_ML_REQUIRE_POSTGRES=1``: there,
a missing or broken server fails the tests instead of skipping them. Elsewhere the PostgreSQL
cases are skipped with the reason when the binaries are not installed.

The server is a fresh cluster (``initdb``) in a temporary folder, with trust authentication on
the loopback address only, started by ``pg_ctl`` and stopped (and deleted) at the end. As root
(a CI container), PostgreSQL refuses to run, so the cluster belongs to the ``postgres`` user that
Debian's package creates.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import free_port

REQUIRED = os.environ.get("EIH_ML_REQUIRE_POSTGRES") == "1"


def bindir() -> Path | None:
    """Debian's PostgreSQL server binaries (newest version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version(path: str) -> int:
    try:
        return int(Path(path).parts[-3])
    except ValueError:
        return 0


def unavailable(reason: str) -> None:
    """Skip (or fail, where CI requires PostgreSQL) with ``reason``."""
    if REQUIRED:
        pytest.fail(f"PostgreSQL is required here (EIH_ML_REQUIRE_POSTGRES=1): {reason}")
    pytest.skip(reason)


class PostgresServer:
    """A running server: :meth:`create_database` gives a fresh database's SQLAlchemy URI."""

    def __init__(self, port: int, bin_dir: Path, as_user: list[str]):
        self.port = port
        self.bin_dir = bin_dir
        self._as_user = as_user
        self._count = 0

    def psql(self, sql: str) -> None:
        subprocess.run(
            [
                *self._as_user,
                str(self.bin_dir / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def create_database(self, prefix: str = "mlflow") -> str:
        """A new empty database; returns ``postgresql://postgres@127.0.0.1:PORT/NAME``."""
        self._count += 1
        name = f"{prefix}_{self._count}"
        self.psql(f"CREATE DATABASE {name}")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a fresh PostgreSQL cluster on a free loopback port; stop and delete it after."""
    bin_dir = bindir()
    if bin_dir is None:
        unavailable("PostgreSQL's server binaries are not installed (apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401 - the driver SQLAlchemy 2.1 uses for postgresql://
    except ImportError:
        unavailable("psycopg is not installed (pip install 'eih-ml[cluster]')")
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="eih-pg-"))
    if os.geteuid() == 0:  # PostgreSQL does not run as root
        runuser = shutil.which("runuser")
        if runuser is None:
            unavailable("running as root and runuser is not available to start PostgreSQL")
        as_user = [runuser, "-u", "postgres", "--"]
        shutil.chown(root, "postgres", "postgres")
    data = root / "data"
    port = free_port()
    log = root / "server.log"
    try:
        subprocess.run(
            [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
             "--auth=trust", "--encoding=UTF8", "--locale=C"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        options = f"-h 127.0.0.1 -p {port} -k {root} -c max_connections=200 -c fsync=off"
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
             "-w", "-t", "60", "start"],
            check=True, capture_output=True, timeout=90,
        )  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        text = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
        if log.is_file():
            text += log.read_text(errors="replace")[-2000:]
        shutil.rmtree(root, ignore_errors=True)
        unavailable(f"PostgreSQL did not start: {exc}; {text.strip()}")
    try:
        yield PostgresServer(port, bin_dir, as_user)
    finally:
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)
