"""The Optuna study: each trial = family + its params + SelectKBest(k, score fn), scored by CV.

Every fold fits preprocess → SelectKBest → model on the training folds only (no leakage). Trials
report the running CV mean per fold (step = fold) and, for the MLP, the validation loss per epoch
(step = EPOCH_STEP_BASE + fold * EPOCH_STEP_BASE + epoch), so the median pruner compares each
trial with others at the same fold, or the same MLP epoch.
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from functools import cache
from typing import Any, Protocol

import numpy as np
import optuna
import pandas as pd
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.feature_selection import SelectKBest
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from threadpoolctl import ThreadpoolController

from automl import journal_writes
from automl.budget import POST_SEARCH_S, REFIT_MARGIN, TAIL_S, Deadline
from automl.evaluation import METRICS, score, score_predictions
from automl.features import score_func
from automl.models import FamilyContext, Suggest, get_family
from automl.preprocessing import build_native_preprocessor, build_preprocessor

EPOCH_STEP_BASE = 1000  # MLP epoch reports live at steps >= this, apart from the per-fold ones
KEEP_OOF = 20  # out-of-fold predictions kept for ensemble selection: the best this many trials
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
    log_target: bool = False  # a positive, right-skewed regression target: trials may fit log1p(y)


LOG_TARGET_FAMILIES = ("hist_gradient_boosting", "random_forest", "extra_trees", "linear")
LOG_TARGET_SKEW = 0.75  # skewness of y above which fitting log1p(y) is worth a try


def log_target_suits(y: pd.Series) -> bool:
    """Prices, counts, durations: positive and right-skewed, where a model fitted on log1p(y)
    often predicts y better (CV, on y's own scale, decides)."""
    values = pd.to_numeric(y, errors="coerce")
    return bool(values.notna().all() and values.min() > 0 and values.skew() > LOG_TARGET_SKEW)


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
    fold_seconds: list[float] = field(default_factory=list)  # fit + predict, per finished fold


@dataclass
class SearchResult:
    study: optuna.Study
    records: list[TrialRecord]
    space: SearchSpace  # what was searched: the refit builds the best pipeline from it
    oof: dict[int, np.ndarray] = field(default_factory=dict)  # best completed trials' out-of-fold predictions
    classes: np.ndarray | None = None  # the column order of classification OOF probabilities

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
    if space.score_funcs and not get_family(family).native_categorical:
        params["score_func"] = trial.suggest_categorical("score_func", space.score_funcs)
        params["k"] = trial.suggest_int("k", min(space.min_k, space.n_features), space.n_features)
    if space.log_target and family in LOG_TARGET_FAMILIES:
        params["log_target"] = trial.suggest_categorical("log_target", [False, True])
    suggest = Suggest(trial, prefix=family)
    get_family(family).suggest(suggest, space.context)
    params["model"] = suggest.params
    return params


def _log_target(model):
    """The model fitted on log1p(y), predicting expm1 of what it predicts."""
    return TransformedTargetRegressor(regressor=model, func=np.log1p, inverse_func=np.expm1, check_inverse=False)


def build_pipeline(params: dict[str, Any], space: SearchSpace) -> Pipeline:
    """preprocess → SelectKBest (or passthrough) → model, unfitted."""
    family = get_family(params["family"])
    model = family.build(params["model"], space.context)
    if family.native_categorical:  # raw numbers and category codes; no selection in front
        preprocess, mask = build_native_preprocessor(space.numeric, space.categorical)
        if any(mask):
            model.set_params(categorical_features=mask)
    if params.get("log_target"):
        model = _log_target(model)
    if family.native_categorical:
        return Pipeline([("preprocess", preprocess), ("select", "passthrough"), ("model", model)])
    selector = "passthrough"
    if params.get("k") is not None:
        selector = SelectKBest(score_func(params["score_func"], space.context.seed), k=params["k"])
    return Pipeline([
        ("preprocess", build_preprocessor(space.numeric, space.categorical)),
        ("select", selector),
        ("model", model),
    ])


# Warm-start order: strong and cheap first, so a short budget has a good model early (on a 24k-row
# table, default boosting takes ~1 s a fold where a forest takes ~10 s).
WARM_START_ORDER = ["hist_gradient_boosting", "linear", "extra_trees", "random_forest", "mlp"]


def default_trials(space: SearchSpace) -> list[dict[str, Any]]:
    """One known-good configuration per family, as Optuna params, to enqueue first (warm start)."""
    trials = []
    rank = {name: i for i, name in enumerate(WARM_START_ORDER)}
    for name in sorted(space.families, key=lambda f: rank.get(f, len(rank))):
        params: dict[str, Any] = {"family": name}
        if space.score_funcs and not get_family(name).native_categorical:
            params |= {"score_func": space.score_funcs[0], "k": space.n_features}
        defaults = get_family(name).defaults(space.context)
        params |= {f"{name}.{key}": value for key, value in defaults.items()}
        if space.log_target and name in LOG_TARGET_FAMILIES:
            params["log_target"] = True  # prices and the like: most models fit log1p(y) better
        trials.append(params)
    if space.log_target and trials and trials[0]["family"] in LOG_TARGET_FAMILIES:
        trials.insert(1, trials[0] | {"log_target": False})  # the strongest default on y itself, to compare
    return trials


def cv_splitter(task: str, folds: int, seed: int):
    if task == "regression":
        return KFold(n_splits=folds, shuffle=True, random_state=seed)
    return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)


# -- the objective --------------------------------------------------------------------------------
class Objective:
    """Cross-validates one drawn pipeline per trial; logs each trial, whatever its end, once.

    Keeps the out-of-fold predictions of the best KEEP_OOF completed trials (for ensemble
    selection), and stops the search when the deadline leaves no room for another fold.
    """

    def __init__(self, space: SearchSpace, X: pd.DataFrame, y: pd.Series, folds: int, logger: TrialLogger,
                 deadline: Deadline | None = None):
        self.space, self.X, self.y, self.logger = space, X, y, logger
        self.deadline = deadline or Deadline(None)
        self.splits = list(cv_splitter(space.context.task, folds, space.context.seed).split(X, y))
        self.spec = METRICS[space.metric]
        self.sign = 1.0 if self.spec.greater_is_better else -1.0
        self.records: list[TrialRecord] = []
        self.oof: dict[int, np.ndarray] = {}
        self.classes: np.ndarray | None = None
        self.study: optuna.Study | None = None  # set by run_search, so a trial out of time can stop it

    def __call__(self, trial: optuna.Trial) -> float:
        # One BLAS thread per trial: on CV-sized fits a second one only spins (twice the CPU, no
        # faster), taking the core the tracking writer and the Prefect server need.
        with _blas().limit(limits=1, user_api="blas"):
            return self._cross_validate(trial)

    def _cross_validate(self, trial: optuna.Trial) -> float:
        started = time.perf_counter()
        params = suggest_pipeline(trial, self.space)
        trial.set_user_attr("pipeline_params", params)
        record = TrialRecord(trial.number, params["family"], params, "RUNNING", None, [], 0.0)
        oof = None
        try:
            for fold, (train_idx, valid_idx) in enumerate(self.splits):
                self._check_time(record, fold)
                fold_started = time.perf_counter()
                pipeline = build_pipeline(params, self.space)
                fit_params = {}
                if params["family"] == "mlp":
                    fit_params["model__callbacks"] = [self._epoch_reporter(trial, fold, record)]
                pipeline.fit(self.X.iloc[train_idx], self.y.iloc[train_idx], **fit_params)
                predicted = self._predict(pipeline, self.X.iloc[valid_idx])
                fold_score = self._score(self.y.iloc[valid_idx], predicted)
                if not np.isfinite(fold_score):
                    raise ValueError(f"fold {fold} scored {fold_score}")
                if oof is None:
                    oof = np.zeros((len(self.y), *predicted.shape[1:]))
                oof[valid_idx] = predicted
                record.fold_scores.append(fold_score)
                record.fold_seconds.append(time.perf_counter() - fold_started)
                trial.report(float(np.mean(record.fold_scores)), step=fold)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after fold {fold}")
            record.value = float(np.mean(record.fold_scores))
            record.state = "COMPLETE"
            self._keep_oof(record, oof)
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

    # -- predictions kept for the ensemble ---------------------------------------------------------
    def _predict(self, pipeline: Pipeline, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities (columns in self.classes order) or regression predictions."""
        if self.space.context.task == "regression":
            return np.asarray(pipeline.predict(X), dtype=float)
        if self.classes is None:
            self.classes = np.asarray(pipeline.classes_)
        return np.asarray(pipeline.predict_proba(X), dtype=float)

    def _score(self, y: pd.Series, predicted: np.ndarray) -> float:
        return score_predictions(self.space.metric, y, predicted, self.classes)

    def _keep_oof(self, record: TrialRecord, oof: np.ndarray) -> None:
        """Keep the best KEEP_OOF trials' predictions, never dropping a family's best (the blend
        needs different models, and one family can fill the list on a small table)."""
        self.oof[record.number] = oof
        if len(self.oof) > KEEP_OOF:
            kept = {r.number: r for r in self.records + [record] if r.number in self.oof}
            best_of: dict[str, int] = {}
            for n in sorted(kept, key=lambda n: -self.sign * kept[n].value):
                best_of.setdefault(kept[n].family, n)
            droppable = [n for n in kept if n not in best_of.values()]
            if droppable:  # (KEEP_OOF is above the number of families; a test sets it lower)
                del self.oof[min(droppable, key=lambda n: self.sign * kept[n].value)]
        self.deadline.reserve_s = refit_reserve(self.records + [record], self.oof, len(self.splits), self.sign)

    # -- the deadline -------------------------------------------------------------------------------
    def _check_time(self, record: TrialRecord, fold: int) -> None:
        """Stop before a fold that the deadline has no room for (estimated from this trial's earlier
        folds, else from the family's earlier trials)."""
        if self.deadline.at is None or not self.completed_any():
            return  # with no finished trial yet there is no model: the first one always runs
        if record.fold_seconds:
            expected = float(np.mean(record.fold_seconds))
        else:
            same = [np.mean(r.fold_seconds) for r in self.records if r.family == record.family and r.fold_seconds]
            expected = float(np.median(same)) if same else 0.0
        if not self.deadline.allows(expected):
            self.out_of_time(record, f"out of time before fold {fold}")

    def completed_any(self) -> bool:
        return any(r.state == "COMPLETE" for r in self.records)

    def out_of_time(self, record: TrialRecord, reason: str) -> None:
        record.fail_reason = reason
        if self.study is not None:
            self.study.stop()
        raise optuna.TrialPruned(reason)

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
            if self.deadline.search_left() <= 0 and self.completed_any():
                self.out_of_time(record, f"out of time at fold {fold}, epoch {epoch}")
            trial.report(-self.sign * values["val_loss"], step=EPOCH_STEP_BASE * (fold + 1) + epoch)
            if epoch >= MIN_EPOCHS_BEFORE_PRUNING and trial.should_prune():
                raise optuna.TrialPruned(f"pruned at fold {fold}, epoch {epoch}")

        return report


@cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


def refit_seconds(records: list[TrialRecord], folds: int) -> float:
    """The expected time to refit these trials on all rows: each fit ≈ its mean CV fold time ×
    folds/(folds-1), times REFIT_MARGIN."""
    fits = sum(float(np.mean(r.fold_seconds)) for r in records if r.fold_seconds)
    return REFIT_MARGIN * fits * folds / (folds - 1)


def refit_reserve(records: list[TrialRecord], oof: dict[int, np.ndarray], folds: int, sign: float = 1.0,
                  members: int = 2) -> float:
    """Seconds the search leaves for after it: the fixed tail, plus refitting the best `members`
    kept trials on all rows."""
    kept = sorted((r for r in records if r.number in oof and r.value is not None),
                  key=lambda r: -sign * r.value)[:members]
    return TAIL_S + POST_SEARCH_S + refit_seconds(kept, folds)


# -- the study ------------------------------------------------------------------------------------
def make_storage(storage: str | None) -> optuna.storages.BaseStorage | str | None:
    """None: in memory; an RDB URL (sqlite://, postgresql://, mysql://) as it is; else a journal file."""
    if storage is None or "://" in storage:
        return storage
    path = Path(storage)
    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


class JournalMirror:
    """The study written behind into a journal file: the search runs on an in-memory study (no
    journal replay per trial), and the writer process (automl.writer) appends each finished trial
    once, in order, off the trials' GIL."""

    def __init__(self, storage: optuna.storages.BaseStorage, path: str, study_name: str, direction: str):
        from automl.writer import writer_process

        self.path, self.copied = str(Path(path).resolve()), set()  # the writer process may have another cwd
        self.study_id = storage.create_new_study([optuna.study.StudyDirection[direction.upper()]], study_name)
        self.writer, self.owner = writer_process(), f"optuna-journal:{self.path}:{study_name}"

    def set_user_attr(self, key: str, value: Any) -> None:
        self.writer.submit(self.owner, journal_writes.set_study_user_attr, self.path, self.study_id, key, value)

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial | None = None) -> None:
        """An Optuna callback: copy every finished trial not copied yet."""
        for frozen in study.get_trials(deepcopy=False, states=FINISHED):
            if frozen.number not in self.copied:
                self.copied.add(frozen.number)
                self.writer.submit(self.owner, journal_writes.copy_trial, self.path, self.study_id,
                                   copy.deepcopy(frozen))

    def flush(self) -> None:
        """Wait until every trial is in the journal; raise the first error writing one raised."""
        self.writer.flush(self.owner)


FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)


def make_pruner(name: str, n_startup_trials: int = 5) -> optuna.pruners.BasePruner:
    if name not in ("median", "none"):
        raise ValueError(f"pruner '{name}' is not one of 'median', 'none'")
    if name == "median":
        # One fold's score is too noisy to prune on; from the second fold on, prune below the median.
        return optuna.pruners.MedianPruner(n_startup_trials=n_startup_trials, n_warmup_steps=1)
    return optuna.pruners.NopPruner()


def run_search(space: SearchSpace, X: pd.DataFrame, y: pd.Series, *, folds: int, study_name: str,
               storage: str | None, n_trials: int | None, timeout_s: float | None, pruner: str = "median",
               n_jobs: int = 1, pack_size: int = 1, logger: TrialLogger,
               deadline: Deadline | None = None) -> SearchResult:
    """Create the stored study, enqueue each family's defaults, optimise within the budget.

    pack_size > 1 trains MLP trials that many at a time (automl.packing); other families as usual.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():  # `multivariate` and `group` are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # group=True samples each family's conditional parameters jointly, apart from the others.
        sampler = optuna.samplers.TPESampler(seed=space.context.seed, multivariate=True, group=True,
                                             constant_liar=n_jobs > 1)
    stored = make_storage(storage)
    mirror = None
    if isinstance(stored, optuna.storages.JournalStorage):  # written behind, see JournalMirror
        mirror, stored = JournalMirror(stored, storage, study_name, METRICS[space.metric].direction), None
    study = optuna.create_study(study_name=study_name, storage=stored,
                                direction=METRICS[space.metric].direction, sampler=sampler,
                                pruner=make_pruner(pruner))
    for key, value in {"metric": space.metric, "families": space.families}.items():
        study.set_user_attr(key, value)
        if mirror is not None:
            mirror.set_user_attr(key, value)
    warm_start = default_trials(space)[: n_trials or None]
    objective = Objective(space, X, y, folds, logger, deadline)
    objective.study = study
    callbacks = [_stop_when_out_of_time(objective)] + ([mirror] if mirror else [])
    if pack_size > 1 and "mlp" in space.families:
        from automl.packing import optimize_packed

        optimize_packed(study, objective, n_trials=n_trials, timeout_s=timeout_s, pack_size=pack_size,
                        warm_start=warm_start, callbacks=callbacks)
    else:
        for params in warm_start:
            study.enqueue_trial(params, user_attrs={"warm_start": True})
        study.optimize(objective, n_trials=n_trials, timeout=timeout_s, n_jobs=n_jobs, catch=(Exception,),
                       gc_after_trial=False, callbacks=callbacks)
    if mirror is not None:
        mirror.flush()
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        reasons = sorted({r.fail_reason for r in objective.records if r.fail_reason})
        raise RuntimeError(f"no trial of study '{study_name}' completed ({len(study.trials)} tried); "
                           f"failures: {reasons[:3]}; raise search.n_trials or timeout_s, or check the data")
    return SearchResult(study, sorted(objective.records, key=lambda r: r.number), space, objective.oof,
                        objective.classes)


def _stop_when_out_of_time(objective: Objective):
    """Stop once the deadline leaves the search no time (and some trial has completed)."""

    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial | None) -> None:
        if objective.deadline.search_left() <= 0 and objective.completed_any():
            study.stop()

    return callback


def refit_best(result: SearchResult, X: pd.DataFrame, y: pd.Series) -> Pipeline:
    """The best trial's pipeline, fitted on the whole training split."""
    return clone(build_pipeline(result.best_params, result.space)).fit(X, y)
