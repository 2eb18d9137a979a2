"""One cross-validation routine for K ≥ 1 trials trained together; a trial alone is K = 1.

Every fold fits preprocess → SelectKBest → model on the training folds only (no leakage): the
preprocessing and selection once for the group (its trials share them), then the K models
together (ModelFamily.fit). What every trial gets, whatever K is, is written once here:
out-of-fold predictions, fold timing, a deadline check before each fold and after each epoch,
reports after each fold (step = fold) and each epoch (step = EPOCH_STEP_BASE × (fold + 1) + epoch),
pruning on them (the median pruner compares a trial's latest step with the others' at that step:
the fold for models fitted in one go, the epoch for models trained by epochs), and one tell and
one log call per trial, whatever its end.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import optuna
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline

import automl.search._rows as _rows
from automl.evaluation import METRICS, score_predictions
from automl.extras import FINE_TUNED, PRETRAINED
from automl.features import uncached_seconds, uncached_tuning_seconds
from automl.models import get_family
from automl.nn import Callback, TrainState
from automl.search._budget import POST_SEARCH_S, REFIT_MARGIN, Deadline, refit_reserve
from automl.search._records import TrialRecord
from automl.search._resume import INTERRUPTED_ATTR, RECORD_ATTR, Checkpoint, record_attr
from automl.search._settings import SearchSettings
from automl.search._space import SearchSpace, build_pipeline

EPOCH_STEP_BASE = 1000  # epoch reports live at steps >= this, apart from the per-fold ones
MIN_EPOCHS_BEFORE_PRUNING = 10  # early epochs mostly measure the learning rate, not the end result
_log = logging.getLogger(__name__)
STATES = {"COMPLETE": optuna.trial.TrialState.COMPLETE, "PRUNED": optuna.trial.TrialState.PRUNED,
          "FAIL": optuna.trial.TrialState.FAIL}


class TrialLogger(Protocol):
    """What the search needs of tracking: one call per finished trial."""

    def log_trial(self, record: TrialRecord) -> None: ...


def tell_restored(logger: TrialLogger, records: list[TrialRecord]) -> None:
    """Hand a continued study's restored trials to the logger, if it takes them (`restored`)."""
    restored = getattr(logger, "restored", None)
    if restored is not None:
        restored(records)


class OutOfTime(Exception):
    """The deadline leaves no room for the next fold or epoch: the group ends pruned, the search stops."""


class EncodingTooLong(Exception):
    """Encoding the texts the run has not encoded yet would take more than the search has left: the
    group ends pruned before its first fold; the search goes on (other encoders cost seconds)."""


def cv_splitter(task: str, folds: int, seed: int):
    if task == "regression":
        return KFold(n_splits=folds, shuffle=True, random_state=seed)
    return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)


def release_device_memory(error: BaseException) -> None:
    """After a CUDA out-of-memory error, give the cached blocks back so later trials can run. Only a
    loaded PyTorch raises one: a search of scikit-learn families never imports it."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(error, torch.cuda.OutOfMemoryError):
        torch.cuda.empty_cache()


@dataclass
class _GroupTrial:
    """One trial of the group being cross-validated."""

    optuna_trial: optuna.Trial
    record: TrialRecord
    oof: np.ndarray | None = None


class CrossValidation:
    """Cross-validates groups of trials on (X, y), tells the study and the logger how each ended,
    keeps the best trials' out-of-fold predictions and the reserve the deadline leaves for the refit."""

    def __init__(self, space: SearchSpace, X: pd.DataFrame, y: pd.Series, settings: SearchSettings,
                 study: optuna.Study, logger: TrialLogger, deadline: Deadline | None = None):
        self.space, self.X, self.y, self.study, self.logger = space, X, y, study, logger
        self.deadline = deadline or Deadline(None)
        self.clock = self.deadline.clock  # fold times and the deadline read the same clock
        self.splits = list(cv_splitter(space.context.task, settings.folds, space.context.seed).split(X, y))
        self.sign = METRICS[space.metric].sign
        self.keep_oof = settings.keep_oof
        self.checkpoint = Checkpoint(settings.checkpoint) if settings.checkpoint is not None else None
        self._classes_saved = False
        self.records: list[TrialRecord] = []
        self.oof: dict[int, np.ndarray] = {}
        self.classes: np.ndarray | None = None  # the column order of class probabilities
        self.stopped = False  # out of time: the search asks for no more trials
        self.worker: int | None = None  # this process's index among a shared study's workers
        self._lock = threading.Lock()

    def evaluate(self, trials: list[optuna.Trial], params: list[dict]) -> list[TrialRecord]:
        """Cross-validate trials of one family that share everything but their member parameters."""
        started, now = self.clock(), time.time()
        group = [_GroupTrial(t, TrialRecord(t.number, p["family"], p, "RUNNING", pack_size=len(trials),
                                            worker=self.worker, started_at=now)) for t, p in zip(trials, params)]
        running = list(group)
        try:
            self._check_encoding(group)
            self._fit_first_to_budget(group)
            for trial in group:
                trial.optuna_trial.set_user_attr("pipeline_params", trial.record.params)
                if len(group) > 1:
                    trial.optuna_trial.set_user_attr("pack_size", len(group))
            for fold, (train_idx, valid_idx) in enumerate(self.splits):
                self._check_time(running, fold)
                running = self._fold(running, fold, train_idx, valid_idx)
                if not running:
                    break
            for trial in running:
                trial.record.state, trial.record.value = "COMPLETE", float(np.mean(trial.record.fold_scores))
        except OutOfTime as error:
            self.stopped = True
            _end(running, "PRUNED", str(error))
        except EncodingTooLong as error:
            _end(running, "PRUNED", str(error))
        except BaseException as error:  # e.g. CUDA out of memory: this group fails, the study goes on
            _end(running, "FAIL", f"{type(error).__name__}: {error}"[:500])
            release_device_memory(error)
            if not isinstance(error, Exception):  # Ctrl-C, SIGTERM: told and logged as interrupted, raised
                for trial in running:
                    trial.record.interrupted = True
                    trial.record.reason = f"interrupted ({type(error).__name__})"
                raise
        finally:
            self._finish(group, self.clock() - started)
        return [trial.record for trial in group]

    def _fit_group(self, group: list[_GroupTrial], rows: np.ndarray,
                   callbacks: list[Callback] | None = None) -> tuple[Pipeline, list]:
        """Fit the group on `rows`: the head its trials share (preprocess + select) once, then
        their K models together on its output. → (the fitted head, the fitted models)."""
        pipelines = [build_pipeline(trial.record.params, self.space) for trial in group]
        head = Pipeline(pipelines[0].steps[:-1])
        X = head.fit_transform(self.X.iloc[rows], self.y.iloc[rows])
        models = [pipeline.steps[-1][1] for pipeline in pipelines]
        get_family(group[0].record.family).fit(models, X, self.y.iloc[rows], callbacks)
        return head, models

    def _fold(self, running: list[_GroupTrial], fold: int, train_idx: np.ndarray,
              valid_idx: np.ndarray) -> list[_GroupTrial]:
        """Fit the group on the training folds, score each trial on the held-out one; return the
        trials still running."""
        started = self.clock()
        fraction = running[0].record.params.get("rows_fraction")  # the group's trials share it
        if fraction is not None:
            train_idx = train_idx[self._sample(train_idx, fraction)]
        epochs = EpochReports(self, running, fold)
        head, models = self._fit_group(running, train_idx, [epochs, StopWhenOutOfTime(self, fold)])
        X_valid, y_valid = head.transform(self.X.iloc[valid_idx]), self.y.iloc[valid_idx]
        scored = {i: self._score(model, X_valid, y_valid, fold, running[i].record) for i, model in enumerate(models)
                  if i not in epochs.pruned}
        alone = (self.clock() - started) / self._pack_factor(len(running))
        still = []
        for i, trial in enumerate(running):
            if i in epochs.pruned:
                _end([trial], "PRUNED", epochs.pruned[i])
            elif isinstance(scored[i], str):  # this trial's predictions failed; the others go on
                _end([trial], "FAIL", scored[i])
            elif self._record_fold(trial, fold, valid_idx, *scored[i], alone):
                still.append(trial)
        return still

    def _pack_factor(self, k: int) -> float:
        """How much longer a fold of k trials takes than one trial's: k times the work on a CPU;
        on a GPU, which one small model fills no less than k do, about the same time."""
        return 1.0 if self.space.context.device == "cuda" else float(k)

    def _score(self, model, X: np.ndarray, y: pd.Series, fold: int,
               record: TrialRecord) -> tuple[np.ndarray, float] | str:
        """(predictions, score) of one trial on the held-out fold, or why that failed; the time
        its predictions took is added to the record's."""
        try:
            started = time.perf_counter()  # (a measurement for the leaderboard: not the deadline's clock)
            predicted = self._predict(model, X)
            record.predict_seconds += time.perf_counter() - started
            record.predict_rows += len(y)
            score = score_predictions(self.space.metric, y, predicted, self.classes)
            if not np.isfinite(score):
                raise ValueError(f"fold {fold} scored {score}")
        except Exception as error:
            return f"{type(error).__name__}: {error}"[:500]
        return predicted, score

    def _predict(self, model, X: np.ndarray) -> np.ndarray:
        """Class probabilities (columns in self.classes order) or regression predictions."""
        if self.space.context.task == "regression":
            return np.asarray(model.predict(X), dtype=float)
        if self.classes is None:
            self.classes = np.asarray(model.classes_)
        return np.asarray(model.predict_proba(X), dtype=float)

    def _record_fold(self, trial: _GroupTrial, fold: int, valid_idx: np.ndarray, predicted: np.ndarray,
                     score: float, seconds: float) -> bool:
        """Keep the fold's score, predictions and time; report the running mean; False once pruned."""
        record = trial.record
        if trial.oof is None:
            trial.oof = np.zeros((len(self.y), *predicted.shape[1:]))
        trial.oof[valid_idx] = predicted
        record.fold_scores.append(score)
        record.fold_seconds.append(seconds)
        trial.optuna_trial.report(float(np.mean(record.fold_scores)), step=fold)
        if trial.optuna_trial.should_prune():
            _end([trial], "PRUNED", f"pruned after fold {fold}")
            return False
        return True

    # -- the deadline -----------------------------------------------------------------------------
    def _sample(self, rows: np.ndarray, fraction: float) -> np.ndarray:
        """Positions (within `rows`) of a seeded, stratified `fraction` of them."""
        context = self.space.context
        return _rows.sample_rows(self.y.iloc[rows], fraction, context.seed, context.is_classification)

    def _fit_first_to_budget(self, group: list[_GroupTrial]) -> None:
        """The time-aware first fit (automl.search._rows): while no trial of the group's family has
        completed, time the group on two samples of the first fold's rows and, where its folds and
        refit would take more than their share of the search's time (the first trial: FIRST_SHARE;
        a later family's first: FAMILY_SHARE), have it train on the fraction of rows that fits."""
        train_idx = self.splits[0][0]
        family = group[0].record.family
        if self.deadline.at is None or len(train_idx) < 2 * _rows.PROBE_ROWS \
                or any(r.state == "COMPLETE" and r.family == family for r in self.records):
            return
        probes = []
        try:
            for rows in (_rows.PROBE_ROWS // 2, _rows.PROBE_ROWS):
                probe = train_idx[self._sample(train_idx, rows / len(train_idx))]
                started = self.clock()
                self._fit_group(group, probe)
                probes.append((len(probe), self.clock() - started))
        except Exception:  # the trial's own folds will fail and say why
            return
        folds = len(self.splits)
        refit = REFIT_MARGIN / self._pack_factor(len(group))  # one trial's refit, in folds of the group
        share = _rows.FAMILY_SHARE if self.completed_any() else _rows.FIRST_SHARE
        fraction = _rows.first_fit_fraction(probes, len(train_idx), folds, refit,
                                            self.deadline.search_left() - POST_SEARCH_S, share)
        if fraction < 1.0:
            said = ", ".join(f"{rows} rows in {seconds:.1f} s" for rows, seconds in probes)
            _log.info("trial %d trains on %.0f%% of the rows to fit the budget (probes: %s)",
                      group[0].record.number, 100 * fraction, said)
            for trial in group:
                trial.record.params["rows_fraction"] = round(fraction, 4)

    def _check_encoding(self, group: list[_GroupTrial]) -> None:
        """With a deadline and the pretrained text encoder: its first trial encodes every text of
        the table at once, which no fold or epoch check can interrupt; it must fit the time left
        (unless no trial has completed: the first always runs, as in _check_time)."""
        encoder = group[0].record.params.get("text_encoder")
        if self.deadline.at is None or encoder not in (PRETRAINED, FINE_TUNED) or not self.completed_any():
            return
        space = self.space
        if encoder == FINE_TUNED:  # (the frozen layers' states for the texts not kept, and one fold's tuning)
            seconds = uncached_tuning_seconds(self.X, space.text)
        else:
            seconds = uncached_seconds(self.X, space.text, space.embedding_cache, space.text_device)
        if seconds > 1.0 and seconds > self.deadline.search_left():
            raise EncodingTooLong(f"encoding the texts would take about {seconds:.0f} s, more than the "
                                  f"{max(self.deadline.search_left(), 0):.0f} s the search has left")

    def _check_time(self, running: list[_GroupTrial], fold: int) -> None:
        """Stop before a fold that the deadline has no room for (estimated from the group's earlier
        folds, else from the family's earlier trials, on all rows). With no completed trial there is
        no model yet, so the first one always runs (on the rows _fit_first_to_budget left it)."""
        if self.deadline.at is None or not self.completed_any():
            return
        record = running[0].record  # the group's trials share their fold times
        if record.fold_seconds:
            alone = float(np.mean(record.fold_seconds))
        else:
            same = [np.mean(r.fold_seconds) / r.params.get("rows_fraction", 1.0)  # (all rows: longer)
                    for r in self.records if r.family == record.family and r.fold_seconds]
            alone = float(np.median(same)) if same else 0.0
        if not self.deadline.allows(alone * self._pack_factor(len(running))):
            raise OutOfTime(f"out of time before fold {fold}")

    def out_of_time(self) -> bool:
        """The search's time is spent (and some trial has completed, so there is a model)."""
        return self.deadline.search_left() <= 0 and self.completed_any()

    def completed_any(self) -> bool:
        return any(r.state == "COMPLETE" for r in self.records)

    # -- the end of a trial -----------------------------------------------------------------------
    def _finish(self, group: list[_GroupTrial], seconds: float) -> None:
        """Keep, tell and log each trial of the group once (a pruned one keeps its finished folds'
        mean). A logger that fails costs a warning, not the search; a tell that fails is raised
        once every trial has been handled."""
        failed_tell: BaseException | None = None
        for trial in group:
            record = trial.record
            record.duration_s = seconds  # the wall time it ran, beside its pack if it had one
            if record.value is None and record.fold_scores:
                record.value = float(np.mean(record.fold_scores))
            with self._lock:
                self.records.append(record)
                if record.state == "COMPLETE":
                    self._keep_oof(record, trial.oof)
            try:
                self._tell(trial)
            except Exception as error:
                failed_tell = failed_tell or error
            try:
                self.logger.log_trial(record)
            except Exception as error:
                _log.warning("trial %d ended %s but could not be logged: %s", record.number, record.state, error)
        if failed_tell is not None:
            raise failed_tell

    def _tell(self, trial: _GroupTrial) -> None:
        record = trial.record
        if record.reason:
            trial.optuna_trial.set_user_attr("fail_reason" if record.state == "FAIL" else "prune_reason", record.reason)
        if record.interrupted:
            trial.optuna_trial.set_user_attr(INTERRUPTED_ATTR, True)
        trial.optuna_trial.set_user_attr(RECORD_ATTR, record_attr(record))  # what a resumed search restores
        complete = record.state == "COMPLETE"
        self.study.tell(trial.optuna_trial, record.value if complete else None, state=STATES[record.state])

    def _keep_oof(self, record: TrialRecord, oof: np.ndarray) -> None:
        """Keep the best `keep_oof` trials' predictions, never dropping a family's best (the blend
        needs different models, and one family can fill the list on a small table)."""
        self.oof[record.number] = oof
        if self.checkpoint is not None:
            if self.classes is not None and not self._classes_saved:  # (first: a trial's file needs it)
                self.checkpoint.save_classes(self.classes)
                self._classes_saved = True
            self.checkpoint.save(record.number, oof)
        if len(self.oof) > self.keep_oof:
            kept = {r.number: r for r in self.records if r.number in self.oof}
            best_of: dict[str, int] = {}
            for n in sorted(kept, key=lambda n: (-self.sign * kept[n].value, n)):  # ties: the earlier trial
                best_of.setdefault(kept[n].family, n)
            droppable = [n for n in kept if n not in best_of.values()]
            if droppable:  # (keep_oof is above the number of families; a test sets it lower)
                dropped = min(droppable, key=lambda n: self.sign * kept[n].value)
                del self.oof[dropped]
                if self.checkpoint is not None:
                    self.checkpoint.drop(dropped)
        self.deadline.reserve_s = refit_reserve(self.records, set(self.oof), len(self.splits), self.sign,
                                                tail_s=self.deadline.tail_s)

    def restore(self, records: list[TrialRecord], oof: dict[int, np.ndarray], classes: np.ndarray | None) -> None:
        """Start from a stored study's trials (automl run --resume): their records, and the
        out-of-fold predictions the checkpoint kept for the completed ones."""
        complete = {r.number for r in records if r.state == "COMPLETE"}
        self.records = list(records)
        self.oof = {n: predictions for n, predictions in oof.items() if n in complete}
        self.classes, self._classes_saved = classes, classes is not None
        tell_restored(self.logger, records)
        self.deadline.reserve_s = refit_reserve(self.records, set(self.oof), len(self.splits), self.sign,
                                                tail_s=self.deadline.tail_s)


def _end(trials: list[_GroupTrial], state: str, reason: str) -> None:
    for trial in trials:
        if trial.record.state == "RUNNING":
            trial.record.state, trial.record.reason = state, reason


class EpochReports(Callback):
    """Each epoch of each trial of a group (the group's K models are trained as one pack, model m
    for trial m): kept for its MLflow run, reported to its Optuna trial as the study reads scores,
    and pruned on its own from MIN_EPOCHS_BEFORE_PRUNING on."""

    def __init__(self, cv: CrossValidation, running: list[_GroupTrial], fold: int):
        self.cv, self.running, self.fold = cv, running, fold
        self.pruned: dict[int, str] = {}  # index of the trial in the group → why

    def on_epoch_end(self, state: TrainState) -> None:
        step = EPOCH_STEP_BASE * (self.fold + 1) + state.epoch
        for m in state.training():
            trial, losses = self.running[m], state.history[m][-1]
            trial.record.epoch_history.append({"fold": self.fold, "epoch": state.epoch, **losses})
            trial.optuna_trial.report(-self.cv.sign * losses["val_loss"], step=step)
            if state.epoch >= MIN_EPOCHS_BEFORE_PRUNING and trial.optuna_trial.should_prune():
                state.stop(m, "pruned")
                self.pruned[m] = f"pruned at fold {self.fold}, epoch {state.epoch}"


class StopWhenOutOfTime(Callback):
    """Ends the whole group (raising OutOfTime) once the search's time is spent."""

    def __init__(self, cv: CrossValidation, fold: int):
        self.cv, self.fold = cv, fold

    def on_epoch_end(self, state: TrainState) -> None:
        if self.cv.out_of_time():
            raise OutOfTime(f"out of time at fold {self.fold}, epoch {state.epoch}")
