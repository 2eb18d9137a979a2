"""Writes to an Optuna journal file, as the writer process makes them (automl.writer).

The search runs on an in-memory study; automl.search.JournalMirror hands each finished trial here,
so appending it to the journal (JSON, a file lock per write: ~4 ms of Python a trial) happens in the
writer process, off the search's GIL. Kept apart so that process imports Optuna's storage only.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import optuna


@cache
def _storage(path: str) -> optuna.storages.JournalStorage:
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))


def set_study_user_attr(path: str, study_id: int, key: str, value: Any) -> None:
    _storage(path).set_study_user_attr(study_id, key, value)


def copy_trial(path: str, study_id: int, trial: optuna.trial.FrozenTrial) -> None:
    _storage(path).create_new_trial(study_id, template_trial=trial)
