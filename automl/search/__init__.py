"""The model search: an Optuna study whose trials are pipelines (family + params + SelectKBest k),
cross-validated on the training split only, within a trial budget and a wall-clock deadline.

- space: SearchSpace, suggest_pipeline, build_pipeline, build_model (as refitted), default_trials (the warm start)
- the time-aware first fit (of the search, and of each family): RowSample (a trial trained on fewer
  rows, refitted the same way)
- the one cross-validation routine for K ≥ 1 trials trained together: CrossValidation
- packing (grouping only): ask_group, shared_params
- the study and its driver: run_search (how it runs: one SearchSettings value), make_storage, make_pruner
- many worker processes on one stored study: run_search(worker=i), open_shared_study, collect_search
- the budget: Deadline (injectable clock; its origin passed in, never global), refit_reserve, shortfall
- what it leaves: TrialRecord, SearchResult
- continuing a stored study (automl run --resume): Checkpoint (the out-of-fold predictions kept)

It starts no processes and knows nothing of MLflow: trials are handed to a TrialLogger, and a
stored copy of the study to a StudyMirror, both supplied by the caller (automl.pipeline).
"""

from automl.search._budget import POST_SEARCH_S, REFIT_MARGIN, TAIL_S, Deadline, refit_reserve, refit_seconds, shortfall
from automl.search._cv import (
                                   EPOCH_STEP_BASE,
                                   MIN_EPOCHS_BEFORE_PRUNING,
                                   CrossValidation,
                                   OutOfTime,
                                   TrialLogger,
                                   cv_splitter,
)
from automl.search._packing import SuggestFailed, ask_group, shared_params
from automl.search._records import SearchResult, TrialRecord
from automl.search._resume import INTERRUPTED, Checkpoint, record_of
from automl.search._rows import RowSample
from automl.search._settings import KEEP_OOF, SearchSettings
from automl.search._shared import StudyLock
from automl.search._space import (
                                   SearchSpace,
                                   build_model,
                                   build_pipeline,
                                   default_trials,
                                   log_target_suits,
                                   suggest_pipeline,
)
from automl.search._study import (
                                   StudyMirror,
                                   collect_search,
                                   make_pruner,
                                   make_sampler,
                                   make_storage,
                                   open_shared_study,
                                   run_search,
                                   uses_journal,
)

__all__ = [
    "EPOCH_STEP_BASE", "KEEP_OOF", "MIN_EPOCHS_BEFORE_PRUNING", "POST_SEARCH_S",
    "REFIT_MARGIN", "TAIL_S", "INTERRUPTED", "Checkpoint", "CrossValidation", "Deadline", "OutOfTime", "RowSample",
    "SearchResult", "SearchSettings", "SearchSpace", "StudyLock",
    "StudyMirror", "SuggestFailed", "TrialLogger", "TrialRecord", "ask_group", "build_model", "collect_search",
    "open_shared_study", "build_pipeline", "cv_splitter", "default_trials",
    "log_target_suits", "make_pruner", "make_sampler", "make_storage", "record_of", "refit_reserve", "refit_seconds",
    "run_search", "shared_params", "shortfall", "suggest_pipeline", "uses_journal",
]
