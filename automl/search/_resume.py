"""What a search keeps so that a later process can continue it (`automl run --resume`).

The study itself is stored (a journal file or an RDB); each finished trial carries its TrialRecord
as a user attribute; the out-of-fold predictions the ensemble needs live in a checkpoint folder,
one file per kept trial. Continuing a study restores its finished trials in number order, fills
the numbers the dead process started but never stored with FAIL trials marked interrupted, and
marks trials still RUNNING in a shared storage the same way (their process is gone: the caller
checked). Interrupted trials do not count toward `n_trials`: they are run again.
"""

from __future__ import annotations

import datetime
import shutil
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import optuna

from automl.search._records import TrialRecord

RECORD_ATTR = "record"  # the trial's TrialRecord (without its epoch history), as a user attribute
INTERRUPTED_ATTR = "interrupted"
INTERRUPTED = "interrupted: its process ended before the trial did"
UNKNOWN = "unknown"  # the family of a trial whose process died before it was stored


def record_attr(record: TrialRecord) -> dict:
    """The record as a JSON value for the study (epochs stay in the MLflow child run)."""
    return {**asdict(record), "epoch_history": []}


def record_of(trial: optuna.trial.FrozenTrial) -> TrialRecord:
    """A stored trial's record: its own (an interrupted one always FAIL), or for one that has none
    (left RUNNING by a dead process), an interrupted FAIL."""
    stored = trial.user_attrs.get(RECORD_ATTR)
    if stored is not None:
        names = {f.name for f in fields(TrialRecord)}
        record = TrialRecord(**{k: v for k, v in stored.items() if k in names})
    else:
        params = trial.user_attrs.get("pipeline_params") or {}
        record = TrialRecord(trial.number, params.get("family", UNKNOWN), params, "FAIL", interrupted=True)
    if record.interrupted or trial.user_attrs.get(INTERRUPTED_ATTR):
        record.state, record.interrupted, record.reason = "FAIL", True, record.reason or INTERRUPTED
    return record


def interrupted_trial(number: int) -> optuna.trial.FrozenTrial:
    """A FAIL trial standing for trial `number`, which a dead process started but never stored."""
    now = datetime.datetime.now()
    record = TrialRecord(number, UNKNOWN, {}, "FAIL", reason=INTERRUPTED, interrupted=True)
    return optuna.trial.FrozenTrial(number=number, state=optuna.trial.TrialState.FAIL, value=None,
                                    datetime_start=now, datetime_complete=now, params={}, distributions={},
                                    user_attrs={INTERRUPTED_ATTR: True, "fail_reason": INTERRUPTED,
                                                RECORD_ATTR: record_attr(record)},
                                    system_attrs={}, intermediate_values={}, trial_id=number)


def restore(study: optuna.Study, stored: list[optuna.trial.FrozenTrial], started: int = 0) -> list[int]:
    """Add a stored copy's finished trials to a new in-memory `study` under their own numbers (the
    ones in their records); every number below `started` or below a stored one that the copy
    lacks becomes an interrupted FAIL trial. Returns the numbers of those (not yet stored)."""
    by_number: dict[int, optuna.trial.FrozenTrial] = {}
    for trial in stored:
        if trial.state.is_finished():
            number = record_of(trial).number
            if number not in by_number or by_number[number].user_attrs.get(INTERRUPTED_ATTR):
                by_number[number] = trial  # a finished trial wins over an interrupted one of its number
    count = max([started, *(n + 1 for n in by_number)])
    filled = [number for number in range(count) if number not in by_number]
    for number in range(count):
        study.add_trial(by_number.get(number) or interrupted_trial(number))
    return filled


def fail_stale(study: optuna.Study) -> list[int]:
    """A shared storage's trials left RUNNING (or WAITING from an old enqueue) by a dead process
    become interrupted FAIL trials. Returns their numbers."""
    # Optuna 5 has no public API for this: Study keeps its storage private (no accessor), and
    # Study.tell fails only RUNNING trials and sets no user attributes on another process's trial.
    # The storage's own methods (public BaseStorage API) do it, reached through that attribute.
    storage, numbers = study._storage, []
    study_id = storage.get_study_id_from_name(study.study_name)
    states = (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)
    for trial in study.get_trials(deepcopy=False, states=states):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)  # (not trial._trial_id)
        storage.set_trial_user_attr(trial_id, INTERRUPTED_ATTR, True)
        storage.set_trial_user_attr(trial_id, "fail_reason", INTERRUPTED)
        storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
        numbers.append(trial.number)
    return numbers


def searched_seconds(records: list[TrialRecord], n_jobs: int = 1) -> float:
    """How long earlier processes searched: their trials' time, over the threads that ran them
    (the hours no process ran are not counted)."""
    return sum(r.duration_s for r in records if not r.interrupted) / max(n_jobs, 1)


class Checkpoint:
    """The out-of-fold predictions of the trials the ensemble may use, one .npy file each, and the
    class order; written as they are kept, removed as they are dropped."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def save(self, number: int, oof: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.folder / f"trial-{number:05d}.tmp.npy"
        np.save(temporary, oof)
        temporary.replace(self.folder / f"trial-{number:05d}.npy")  # whole, or not there

    def drop(self, number: int) -> None:
        (self.folder / f"trial-{number:05d}.npy").unlink(missing_ok=True)

    def save_classes(self, classes: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        np.save(self.folder / "classes.npy", np.asarray(classes), allow_pickle=True)

    def load(self) -> tuple[dict[int, np.ndarray], np.ndarray | None]:
        oof = {int(path.stem.split("-")[1]): np.load(path) for path in sorted(self.folder.glob("trial-*[0-9].npy"))}
        classes_file = self.folder / "classes.npy"
        classes = np.load(classes_file, allow_pickle=True) if classes_file.exists() else None
        return oof, classes

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
