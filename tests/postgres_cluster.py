"""A throwaway PostgreSQL cluster on 127.0.0.1, started as its users start one (initdb, pg_ctl),
for the tests (tests/conftest.py's `postgres`) and the benchmarks (benchmarks/workers.py)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

PASSWORD = "pg-s3cret-for-tests"  # the secrets tests grep the stores for it: it must never be written


class PostgresMissing(RuntimeError):
    """PostgreSQL or its Python driver is not installed here."""


class Postgres:
    """A running cluster: user automl with PASSWORD."""

    def __init__(self, port: int):
        self.port = port

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://automl:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database: its URL."""
        import psycopg2

        name = f"t_{uuid.uuid4().hex[:12]}"
        connection = psycopg2.connect(self.url())
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")
        connection.close()
        return self.url(name)


def _program(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    return str(versions[-1]) if versions else None


@contextmanager
def postgres_cluster():
    """Start a cluster in a temporary folder (as the postgres user when run as root: PostgreSQL
    refuses root), listening on 127.0.0.1 only, password authentication; stop and remove it after."""
    initdb, pg_ctl = _program("initdb"), _program("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise PostgresMissing("PostgreSQL is not installed (apt-get install postgresql; .ci/run does)")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        raise PostgresMissing("the PostgreSQL driver is not installed: pip install -e '.[postgres]'") from None
    folder = Path(tempfile.mkdtemp(prefix="automl-postgres-"))
    as_owner: list[str] = []
    password_file = folder / "password"
    password_file.write_text(PASSWORD)
    if os.geteuid() == 0:
        for path in (folder, password_file):
            shutil.chown(path, "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = folder / "data"
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
    try:
        subprocess.run([*as_owner, initdb, "-D", str(data), "-U", "automl", f"--pwfile={password_file}",
                        "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
        subprocess.run([*as_owner, pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-o", options, "-w", "start"],
                       check=True, capture_output=True)
        yield Postgres(port)
    finally:
        subprocess.run([*as_owner, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
