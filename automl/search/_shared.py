"""Many processes filling one stored study (`search.workers`): who asks next, and how many are left.

Each worker runs the ordinary search (run_search with `worker=i`) against the storage itself: a
journal file (processes on one host) or an RDB such as PostgreSQL (processes on many hosts).
Asking happens under a lock that every worker of the study takes: a file lock beside a journal
or SQLite file, a PostgreSQL advisory lock on the server (so workers on other hosts take it too).
Under it a worker counts the trials the study holds, enqueues the next warm-start default that no
worker has, and asks; so `n_trials` is exact across workers and each default runs once.
What the workers leave (trials with their records, out-of-fold predictions in the checkpoint
folder) is read back by collect_search, in the process that ensembles and registers.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import optuna
from filelock import FileLock

from automl.search._resume import INTERRUPTED_ATTR
from automl.urls import sqlite_file


class StudyLock:
    """A lock every process of one study takes around asking (see the module's docstring); named
    otherwise (`study_name`), it orders other decisions made by runs on many hosts, such as moving
    a registered model's champion alias on an MLflow server (automl.pipeline.champion_lock)."""

    def __init__(self, storage: str, study_name: str):
        self.storage, self.study_name = storage, study_name
        self._file: FileLock | None = None
        self._connection = None
        if storage.startswith(("postgresql://", "postgresql+")):
            import sqlalchemy

            engine = sqlalchemy.create_engine(storage, poolclass=sqlalchemy.pool.NullPool)
            self._connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            digest = hashlib.sha256(f"automl-ask:{study_name}".encode()).digest()
            self._key = int.from_bytes(digest[:8], "big", signed=True)
        else:
            self._file = FileLock(str(sqlite_file(storage) or Path(storage)) + ".ask.lock")

    def __enter__(self) -> StudyLock:
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


def counted_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The study's trials that count toward n_trials: every one asked, but those a dead process
    left interrupted (they are run again)."""
    return [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get(INTERRUPTED_ATTR)]


def warm_starts_taken(trials: list[optuna.trial.FrozenTrial]) -> set[int]:
    """The indices of the warm-start defaults some worker has enqueued (and not lost to a crash)."""
    return {t.user_attrs["warm_start"] for t in trials if "warm_start" in t.user_attrs}
