"""What a search leaves: one TrialRecord per trial, and the SearchResult (plain values only, so
it can cross to another process or host with the step that made it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
import pandas as pd

from automl.evaluation import SIGNS
from automl.scoped import optuna_warnings_only

if TYPE_CHECKING:
    from automl.search._space import SearchSpace


@dataclass
class TrialRecord:
    number: int
    family: str
    params: dict[str, Any]  # {"family", "k", "score_func", "model": {...}} (and "log_target" where searched)
    state: str  # RUNNING, then COMPLETE, PRUNED or FAIL
    value: float | None = None  # the mean CV score (of the finished folds, for a pruned trial)
    fold_scores: list[float] = field(default_factory=list)
    duration_s: float = 0.0
    reason: str | None = None  # why it failed, or why it was pruned
    epoch_history: list[dict[str, float]] = field(default_factory=list)  # {"fold", "epoch", losses}
    fold_seconds: list[float] = field(default_factory=list)  # fit + predict, per finished fold
    pack_size: int = 1  # trials trained together with this one (itself included)
    interrupted: bool = False  # ended FAIL by a signal or its process's death: run again on resume
    worker: int | None = None  # which of search.workers processes ran it (None: the only one)
    started_at: float | None = None  # when it started (seconds since the epoch): its child run's start
    predict_seconds: float = 0.0  # spent predicting its held-out folds (out of the fold seconds)
    predict_rows: int = 0  # the rows those predictions were made for

    @property
    def predict_ms_per_1k(self) -> float | None:
        """Milliseconds to predict 1,000 rows (through its preprocessing), from its held-out folds."""
        return 1e6 * self.predict_seconds / self.predict_rows if self.predict_rows else None

    @property
    def fit_seconds(self) -> float | None:
        """Seconds one fold's fit took (preprocessing included), its share of a pack on a CPU."""
        if not self.fold_seconds:
            return None
        return float(np.mean(self.fold_seconds)) - self.predict_seconds / len(self.fold_seconds)


@dataclass
class SearchResult:
    study_name: str
    direction: str  # "maximize" or "minimize"
    records: list[TrialRecord]  # in trial-number order
    space: SearchSpace  # what was searched: the refit builds pipelines from it
    folds: int  # the CV folds each trial ran (the refit estimates scale by them)
    trials: list[optuna.trial.FrozenTrial] = field(default_factory=list)  # for Optuna's plots
    oof: dict[int, np.ndarray] = field(default_factory=dict)  # best completed trials' out-of-fold predictions
    classes: np.ndarray | None = None  # the column order of classification OOF probabilities
    resumed: int = 0  # trials 0..resumed-1 were restored from a stored study (automl run --resume)

    @property
    def sign(self) -> float:
        return SIGNS[self.direction]

    @property
    def best(self) -> TrialRecord:
        """The best completed trial (the earliest among equals, as Optuna's best_trial)."""
        completed = [r for r in self.records if r.state == "COMPLETE"]
        return max(completed, key=lambda r: (self.sign * r.value, -r.number))

    @property
    def best_params(self) -> dict[str, Any]:
        return self.best.params

    @property
    def best_value(self) -> float:
        return self.best.value

    @optuna_warnings_only()
    def study(self) -> optuna.Study:
        """An in-memory copy of the study (for Optuna's plots)."""
        study = optuna.create_study(direction=self.direction, study_name=self.study_name)
        study.add_trials(self.trials)
        return study

    def trial_table(self) -> pd.DataFrame:
        """Every trial, the complete ones first by CV score; a pruned trial's mean over the folds it
        finished is `partial_cv_score`, kept apart from complete trials' `cv_score`."""
        rows = [{"trial": r.number, "family": r.family, "state": r.state,
                 "cv_score": r.value if r.state == "COMPLETE" else None,
                 "partial_cv_score": r.value if r.state == "PRUNED" else None,
                 "cv_std": float(np.std(r.fold_scores)) if r.fold_scores else None,
                 "folds_done": len(r.fold_scores), "duration_s": round(r.duration_s, 3),
                 "fit_s": r.fit_seconds, "predict_ms_per_1k_rows": r.predict_ms_per_1k,
                 "k": r.params.get("k"), "score_func": r.params.get("score_func"),
                 "params": r.params.get("model"), "reason": r.reason} for r in self.records]
        board = pd.DataFrame(rows)
        board["k"] = board["k"].astype("Int64")
        board = board.sort_values("cv_score", ascending=self.sign < 0, na_position="last", kind="stable",
                                  ignore_index=True)
        return board
