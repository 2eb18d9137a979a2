"""Prefect's temporary server for one `automl run`, `main(["--port", N])` in a process of its own
(flows/lifecycle.py launches it in the background): uvicorn serving Prefect's app, as Prefect 3.8's
own temporary server does, after a fresh PREFECT_HOME's database has been made a copy of an empty,
migrated one. Prefect migrates a new database at the server's start, about 10 s on 2 cores: the
first fresh home on a machine is migrated in place as before and then copied into automl's cache
folder (automl/cache.py; one copy per Prefect version); every later fresh home starts as
a copy of it, and the server's own migration check finds nothing to do.

A home whose database exists, or a database that is not an SQLite file (a PostgreSQL URL), is left
to Prefect. The copy is made with SQLite's backup (Prefect writes its SQLite database in WAL mode:
a file copy could miss what the log holds) into a temporary name, renamed when whole.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import tempfile
from pathlib import Path

from automl.cache import cache_dir
from automl.urls import sqlite_file
from flows.lifecycle import phase


def database_file() -> Path | None:
    """The SQLite file Prefect's server would use (None for another database)."""
    from prefect.settings import get_current_settings

    return sqlite_file(get_current_settings().server.database.connection_url.get_secret_value())


def template_file() -> Path:
    import prefect

    return cache_dir() / f"prefect-{prefect.__version__}-empty.db"


def seed_home(database: Path, template: Path) -> str:
    """Make the missing `database` a copy of `template`, or migrate it and keep it as the template.
    → what was done: "copied", "migrated" or "" (it existed)."""
    if database.exists():
        return ""
    if copy_template(database, template):
        return "copied"
    from prefect.server.database import provide_database_interface

    database.parent.mkdir(parents=True, exist_ok=True)  # (a home Prefect has not made yet)
    asyncio.run(provide_database_interface().create_db())  # Prefect's migrations, as at the server's start
    try:
        _backup(database, template)
    except (OSError, sqlite3.Error):  # (an unwritable cache: each fresh home is migrated, as without one)
        pass
    return "migrated"


def copy_template(database: Path, template: Path) -> bool:
    """Make the missing `database` a copy of `template`; False where there is none (or it cannot be read)."""
    if not template.exists():
        return False
    try:
        _backup(template, database, replace=False)
        return True
    except (OSError, sqlite3.Error):  # (a template that cannot be read: migrated as without one)
        return False


def _backup(source: Path, target: Path, replace: bool = True) -> None:
    """`source` copied to `target` by SQLite's backup, through a temporary name in target's folder;
    replace=False: a target made meanwhile by another process (a server that may have it open) is kept."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    os.close(handle)
    try:
        reading, writing = sqlite3.connect(f"file:{source}?mode=ro", uri=True), sqlite3.connect(partial)
        try:
            reading.backup(writing)
        finally:
            reading.close()
            writing.close()
        if replace:
            os.replace(partial, target)
        else:
            try:
                os.link(partial, target)  # (fails if it exists)
            except FileExistsError:
                pass
    finally:
        Path(partial).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    database = database_file()
    if database is not None:
        done = seed_home(database, template_file())
        if done:
            phase(f"home-{done}")  # (AUTOML_TRACE_PHASES=1: benchmarks/startup.py, the tests)
    import uvicorn

    # (uvicorn.run exits with 3 when the port is taken, as `python -m uvicorn` does: lifecycle retries)
    uvicorn.run("prefect.server.api.server:create_app", factory=True, host="127.0.0.1", port=args.port,
                log_level="error", lifespan="on")
