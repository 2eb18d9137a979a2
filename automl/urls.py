"""Store URLs read in one place: the file an SQLite URL names (MLflow's store, an Optuna RDB
storage), by SQLAlchemy's own parser, so a driver (sqlite+pysqlite://), a query (?timeout=5) or an
absolute path (sqlite:////abs/x.db) is read as SQLAlchemy reads it."""

from __future__ import annotations

from pathlib import Path


def sqlite_file(url: str | None) -> Path | None:
    """The database file of an SQLite URL (relative to the working folder, as SQLite opens it);
    None for any other URL, a path that is not a URL, or an SQLite URL with no file (in memory)."""
    if url is None or not url.startswith("sqlite"):
        return None
    from sqlalchemy.engine import make_url  # (imported when an SQLite URL is read: not at automl's import)
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def with_sqlite_file(url: str, path: Path) -> str:
    """`url` (an SQLite URL) naming `path` instead, its driver and query kept."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=str(path)).render_as_string(hide_password=False)
