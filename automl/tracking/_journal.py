"""The Optuna study written behind into a journal file (automl.search's StudyMirror).

The search runs on an in-memory study, so TPE never replays the journal per trial; the writer
process appends each finished trial once, in order, off the trials' GIL, so the Optuna dashboard
sees trials as they end.
"""

from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Any

import optuna

from automl.scoped import optuna_warnings_only
from automl.tracking._writer import writer_process
from automl.tracking._writes import copy_trial, set_study_user_attr

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)


class JournalMirror:
    def __init__(self, path: str, study_name: str, direction: str):
        self.path = str(Path(path).resolve())  # the writer process may have another working directory
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(self.path))
        try:  # a study continued (automl run --resume) is the one stored under its name
            self.study_id, self.existed = self.storage.get_study_id_from_name(study_name), True
        except KeyError:
            with optuna_warnings_only():  # (Optuna logs each new study at INFO)
                self.study_id = self.storage.create_new_study([optuna.study.StudyDirection[direction.upper()]],
                                                              study_name)
            self.existed = False
        self.writer, self.owner = writer_process(), f"optuna-journal:{self.path}:{study_name}"
        self.copied: set[int] = set()
        self._lock = threading.Lock()

    def stored_trials(self) -> list[optuna.trial.FrozenTrial]:
        """The trials already in the journal under this study's name (empty for a new study)."""
        return self.storage.get_all_trials(self.study_id) if self.existed else []

    def copied_already(self, count: int, missing: list[int]) -> None:
        """The in-memory study's first `count` trials came from the journal, but for `missing`."""
        self.copied = set(range(count)) - set(missing)

    def set_user_attr(self, key: str, value: Any) -> None:
        self.writer.submit(self.owner, set_study_user_attr, self.path, self.study_id, key, value)

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial | None = None) -> None:
        """An Optuna callback: copy every finished trial not copied yet."""
        with self._lock:
            for frozen in study.get_trials(deepcopy=False, states=FINISHED):
                if frozen.number not in self.copied:
                    self.copied.add(frozen.number)
                    self.writer.submit(self.owner, copy_trial, self.path, self.study_id, copy.deepcopy(frozen))

    def flush(self) -> None:
        """Wait until every trial is in the journal; raise the first error writing one raised."""
        self.writer.flush(self.owner)
