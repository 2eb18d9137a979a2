"""The Optuna study: each trial = family + its params + SelectKBest(k, score fn), scored by CV.

Every fold fits preprocess → SelectKBest → model on the training folds only (no leakage). Trials
report the running CV mean per fold (step = fold) and, for the MLP, the validation loss per epoch
(step = EPOCH_STEP_BASE + fold * EPOCH_STEP_BASE + epoch), so the median pruner compares each
trial with others at the same fold, or the same MLP epoch.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import optuna
import pandas as pd
from sklearn.base import clone
from sklearn.feature_selection import SelectKBest
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline

from automl.evaluation import METRICS, score
from automl.features import score_func
from automl.models import FamilyContext, Suggest, get_family
from automl.preprocessing import build_preprocessor

EPOCH_STEP_BASE = 1000  # MLP epoch reports live at steps >= this, apart from the per-fold ones
MIN_EPOCHS_BEFORE_PRUNING = 10  # early epochs mostly measure the learning rate, not the end result


class TrialLogger(Protocol):
    """The narrow part of the tracker the search needs: one call per finished trial."""

    def log_trial(self, record: TrialRecord) -> None: ...


@dataclass
class SearchSpace:
    """Everything a trial draws from, fixed before the search starts."""

    families: list[str]
    context: FamilyContext
    metric: str
    numeric: list[str]
    categorical: list[str]
    n_features: int  # after preprocessing: k's upper bound
    score_funcs: list[str]  # empty when feature selection is off
    min_k: int = 1


@dataclass
class TrialRecord:
    number: int
    family: str
    params: dict[str, Any]
    state: str  # COMPLETE, PRUNED or FAIL
    value: float | None
    fold_scores: list[float]
    duration_s: float
    fail_reason: str | None = None
    epoch_history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class SearchResult:
    study: optuna.Study
    records: list[TrialRecord]
    space: SearchSpace  # what was searched: the refit builds the best pipeline from it

    @property
    def best_params(self) -> dict[str, Any]:
        return self.study.best_trial.user_attrs["pipeline_params"]

    def leaderboard(self) -> pd.DataFrame:
        rows = [{"trial": r.number, "family": r.family, "state": r.state, "cv_score": r.value,
                 "cv_std": float(np.std(r.fold_scores)) if r.fold_scores else None,
                 "folds_done": len(r.fold_scores), "duration_s": round(r.duration_s, 3),
                 "k": r.params.get("k"), "score_func": r.params.get("score_func"),
                 "params": r.params.get("model"), "fail_reason": r.fail_reason} for r in self.records]
        board = pd.DataFrame(rows)
        ascending = self.study.direction == optuna.study.StudyDirection.MINIMIZE
        return board.sort_values("cv_score", ascending=ascending, na_position="last", ignore_index=True)


# -- pipelines ------------------------------------------------------------------------------------
def suggest_pipeline(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """Draw one pipeline: {"family", "k", "score_func", "model": {...}} (k is None without selection)."""
    family = trial.suggest_categorical("family", space.families)
    params: dict[str, Any] = {"family": family, "k": None, "score_func": None}
    if space.score_funcs:
        params["score_func"] = trial.suggest_categorical("score_func", space.score_funcs)
        params["k"] = trial.suggest_int("k", min(space.min_k, space.n_features), space.n_features)
    suggest = Suggest(trial, prefix=family)
    get_family(family).suggest(suggest, space.context)
    params["model"] = suggest.params
    return params


def build_pipeline(params: dict[str, Any], space: SearchSpace) -> Pipeline:
    """preprocess → SelectKBest (or passthrough) → model, unfitted."""
    selector = "passthrough"
    if params.get("k") is not None:
        selector = SelectKBest(score_func(params["score_func"], space.context.seed), k=params["k"])
    model = get_family(params["family"]).build(params["model"], space.context)
    return Pipeline([
        ("preprocess", build_preprocessor(space.numeric, space.categorical)),
        ("select", selector),
        ("model", model),
    ])


def default_trials(space: SearchSpace) -> list[dict[str, Any]]:
    """One known-good configuration per family, as Optuna params, to enqueue first (warm start)."""
    trials = []
    for name in space.families:
        params: dict[str, Any] = {"family": name}
        if space.score_funcs:
            params |= {"score_func": space.score_funcs[0], "k": space.n_features}
        defaults = get_family(name).defaults(space.context)
        params |= {f"{name}.{key}": value for key, value in defaults.items()}
        trials.append(params)
    return trials


def cv_splitter(task: str, folds: int, seed: int):
    if task == "regression":
        return KFold(n_splits=folds, shuffle=True, random_state=seed)
    return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)


# -- the objective --------------------------------------------------------------------------------
class Objective:
    """Cross-validates one drawn pipeline per trial; logs each trial, whatever its end, once."""

    def __init__(self, space: SearchSpace, X: pd.DataFrame, y: pd.Series, folds: int, logger: TrialLogger):
        self.space, self.X, self.y, self.logger = space, X, y, logger
        self.splits = list(cv_splitter(space.context.task, folds, space.context.seed).split(X, y))
        self.sign = 1.0 if METRICS[space.metric].greater_is_better else -1.0
        self.records: list[TrialRecord] = []

    def __call__(self, trial: optuna.Trial) -> float:
        started = time.perf_counter()
        params = suggest_pipeline(trial, self.space)
        trial.set_user_attr("pipeline_params", params)
        record = TrialRecord(trial.number, params["family"], params, "RUNNING", None, [], 0.0)
        try:
            for fold, (train_idx, valid_idx) in enumerate(self.splits):
                pipeline = build_pipeline(params, self.space)
                fit_params = {}
                if params["family"] == "mlp":
                    fit_params["model__callbacks"] = [self._epoch_reporter(trial, fold, record)]
                pipeline.fit(self.X.iloc[train_idx], self.y.iloc[train_idx], **fit_params)
                fold_score = score(self.space.metric, pipeline, self.X.iloc[valid_idx], self.y.iloc[valid_idx])
                if not np.isfinite(fold_score):
                    raise ValueError(f"fold {fold} scored {fold_score}")
                record.fold_scores.append(fold_score)
                trial.report(float(np.mean(record.fold_scores)), step=fold)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after fold {fold}")
            record.value = float(np.mean(record.fold_scores))
            record.state = "COMPLETE"
            return record.value
        except optuna.TrialPruned:
            record.state = "PRUNED"
            raise
        except Exception as error:  # recorded, then re-raised so Optuna marks the trial FAIL
            record.state, record.fail_reason = "FAIL", f"{type(error).__name__}: {error}"[:500]
            trial.set_user_attr("fail_reason", record.fail_reason)
            self.release_device_memory(error)
            raise
        finally:
            record.duration_s = time.perf_counter() - started
            self.finish(record)

    def finish(self, record: TrialRecord) -> None:
        """Keep and log a trial that has ended (a pruned one keeps the mean of its finished folds)."""
        if record.value is None and record.fold_scores:
            record.value = float(np.mean(record.fold_scores))
        self.records.append(record)
        self.logger.log_trial(record)

    @staticmethod
    def release_device_memory(error: Exception) -> None:
        """After a CUDA out-of-memory error, give the cached blocks back so later trials can run."""
        import torch

        if isinstance(error, torch.cuda.OutOfMemoryError):
            torch.cuda.empty_cache()

    def _epoch_reporter(self, trial: optuna.Trial, fold: int, record: TrialRecord):
        """Reports the MLP's validation loss per epoch (sign follows the study) and prunes."""

        def report(epoch: int, values: dict[str, float]) -> None:
            record.epoch_history.append({"fold": fold, "epoch": epoch, **values})
            trial.report(-self.sign * values["val_loss"], step=EPOCH_STEP_BASE * (fold + 1) + epoch)
            if epoch >= MIN_EPOCHS_BEFORE_PRUNING and trial.should_prune():
                raise optuna.TrialPruned(f"pruned at fold {fold}, epoch {epoch}")

        return report


# -- the study ------------------------------------------------------------------------------------
def make_storage(storage: str | None) -> optuna.storages.BaseStorage | str | None:
    """None: in memory; an RDB URL (sqlite://, postgresql://, mysql://) as it is; else a journal file."""
    if storage is None or "://" in storage:
        return storage
    path = Path(storage)
    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


def make_pruner(name: str, n_startup_trials: int = 5) -> optuna.pruners.BasePruner:
    if name not in ("median", "none"):
        raise ValueError(f"pruner '{name}' is not one of 'median', 'none'")
    if name == "median":
        # One fold's score is too noisy to prune on; from the second fold on, prune below the median.
        return optuna.pruners.MedianPruner(n_startup_trials=n_startup_trials, n_warmup_steps=1)
    return optuna.pruners.NopPruner()


def run_search(space: SearchSpace, X: pd.DataFrame, y: pd.Series, *, folds: int, study_name: str,
               storage: str | None, n_trials: int | None, timeout_s: float | None, pruner: str = "median",
               n_jobs: int = 1, pack_size: int = 1, logger: TrialLogger) -> SearchResult:
    """Create the stored study, enqueue each family's defaults, optimise within the budget.

    pack_size > 1 trains MLP trials that many at a time (automl.packing); other families as usual.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():  # `multivariate` and `group` are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # group=True samples each family's conditional parameters jointly, apart from the others.
        sampler = optuna.samplers.TPESampler(seed=space.context.seed, multivariate=True, group=True,
                                             constant_liar=n_jobs > 1)
    study = optuna.create_study(study_name=study_name, storage=make_storage(storage),
                                direction=METRICS[space.metric].direction, sampler=sampler,
                                pruner=make_pruner(pruner))
    study.set_user_attr("metric", space.metric)
    study.set_user_attr("families", space.families)
    warm_start = default_trials(space)[: n_trials or None]
    objective = Objective(space, X, y, folds, logger)
    if pack_size > 1 and "mlp" in space.families:
        from automl.packing import optimize_packed

        optimize_packed(study, objective, n_trials=n_trials, timeout_s=timeout_s, pack_size=pack_size,
                        warm_start=warm_start)
    else:
        for params in warm_start:
            study.enqueue_trial(params, user_attrs={"warm_start": True})
        study.optimize(objective, n_trials=n_trials, timeout=timeout_s, n_jobs=n_jobs, catch=(Exception,),
                       gc_after_trial=False)
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        reasons = sorted({r.fail_reason for r in objective.records if r.fail_reason})
        raise RuntimeError(f"no trial of study '{study_name}' completed ({len(study.trials)} tried); "
                           f"failures: {reasons[:3]}; raise search.n_trials or timeout_s, or check the data")
    return SearchResult(study, sorted(objective.records, key=lambda r: r.number), space)


def refit_best(result: SearchResult, X: pd.DataFrame, y: pd.Series) -> Pipeline:
    """The best trial's pipeline, fitted on the whole training split."""
    return clone(build_pipeline(result.best_params, result.space)).fit(X, y)
