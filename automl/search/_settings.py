"""How one search runs, as one value: the caller (automl.pipeline) builds it once from the run
config and hands the same value to the search in its own process and to every worker process."""

from __future__ import annotations

from dataclasses import dataclass

KEEP_OOF = 20  # out-of-fold predictions kept for ensemble selection: the best this many trials


@dataclass(frozen=True)
class SearchSettings:
    """What run_search and CrossValidation read besides the data, the logger and the deadline.

    storage: None (in memory), a journal file or an RDB URL (a worker resolves a ${VAR} in it
    first). checkpoint: the folder where the kept out-of-fold predictions are written as they are
    kept (None: nowhere), so a resumed search or the workers' caller reads them back. started: how
    many trials the caller knows were begun (a resumed run's child runs), for a study whose stored
    copy (a StudyMirror) may have lost the last ones.
    """

    study_name: str
    folds: int
    n_trials: int | None = None  # None: until the deadline
    pruner: str = "median"  # or "none"
    n_jobs: int = 1  # groups of trials cross-validated at once, in threads
    pack_size: int = 1  # trials of a packing family (ModelFamily.member_params) trained together
    keep_oof: int = KEEP_OOF
    storage: str | None = None
    checkpoint: str | None = None
    started: int = 0
