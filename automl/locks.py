"""A named lock that processes on every host of a run can take: a PostgreSQL advisory lock when the
store given is a PostgreSQL URL (processes on many hosts), else a file lock beside the given
journal or SQLite file (processes on one host). The search asks under one (automl.search's
StudyLock); tracking orders two runs' champion decisions with another (tracking.champion_lock)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from filelock import FileLock

from automl.urls import sqlite_file


class NamedLock:
    """The lock called `name` in `store` (a PostgreSQL URL, or a journal or SQLite file or URL)."""

    def __init__(self, store: str, name: str):
        self.store, self.name = store, name
        self._file: FileLock | None = None
        self._connection = None
        if store.startswith(("postgresql://", "postgresql+")):
            import sqlalchemy

            engine = sqlalchemy.create_engine(store, poolclass=sqlalchemy.pool.NullPool)
            self._connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            digest = hashlib.sha256(f"automl-ask:{name}".encode()).digest()
            self._key = int.from_bytes(digest[:8], "big", signed=True)
        else:
            self._file = FileLock(str(sqlite_file(store) or Path(store)) + ".ask.lock")

    def __enter__(self) -> NamedLock:
        if self._file is not None:
            self._file.acquire()
        else:
            self._execute("SELECT pg_advisory_lock(:key)")
        return self

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            self._file.release()
        else:
            self._execute("SELECT pg_advisory_unlock(:key)")

    def _execute(self, sql: str) -> None:
        import sqlalchemy

        self._connection.execute(sqlalchemy.text(sql), {"key": self._key})

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
