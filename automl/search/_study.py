"""The Optuna study and the loop that fills it: storage, sampler, pruner, warm start, and the
driver that asks groups of trials (automl.search._packing) and cross-validates each
(automl.search._cv) until the trial budget or the deadline is spent."""

from __future__ import annotations

import threading
import warnings
from contextlib import nullcontext, suppress
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import optuna
import pandas as pd
from filelock import FileLock
from threadpoolctl import ThreadpoolController

from automl.evaluation import METRICS
from automl.scoped import optuna_warnings_only
from automl.search._budget import Deadline
from automl.search._cv import CrossValidation, TrialLogger, tell_restored
from automl.search._packing import SuggestFailed, ask_group
from automl.search._records import SearchResult
from automl.search._resume import Checkpoint, fail_stale, record_of, restore, searched_seconds
from automl.search._settings import SearchSettings
from automl.search._shared import StudyLock, counted_trials, warm_starts_taken
from automl.search._space import SearchSpace, default_trials
from automl.urls import sqlite_file


class StudyMirror(Protocol):
    """A copy of the study kept in another store, written behind the search (automl.tracking.JournalMirror)."""

    def set_user_attr(self, key: str, value: Any) -> None: ...

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial | None) -> None: ...

    def flush(self) -> None: ...

    def stored_trials(self) -> list[optuna.trial.FrozenTrial]: ...

    def copied_already(self, count: int, missing: list[int]) -> None: ...


def uses_journal(storage: str | None) -> bool:
    """A path, not an RDB URL (sqlite://, postgresql://, mysql://) and not None (in memory)."""
    return storage is not None and "://" not in storage


def make_storage(storage: str | None) -> optuna.storages.BaseStorage | str | None:
    """None: in memory; an RDB URL (sqlite://, postgresql://, mysql://) as it is; else a journal file."""
    if sqlite_file(storage) is not None:  # two runs may create its tables at once
        with FileLock(f"{sqlite_file(storage)}.lock"):
            return optuna.storages.RDBStorage(storage)
    if storage is not None and storage.startswith(("postgresql://", "postgresql+")):  # the same, on a server
        lock = StudyLock(storage, "storage-tables")
        try:
            with lock:
                return optuna.storages.RDBStorage(storage)
        finally:
            lock.close()
    if not uses_journal(storage):
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


def make_sampler(seed: int, parallel: bool = False) -> optuna.samplers.BaseSampler:
    with warnings.catch_warnings():  # `multivariate` and `group` are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # group=True samples each family's conditional parameters jointly, apart from the others.
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=parallel)


@optuna_warnings_only()  # not a line per trial; the caller's level is back after
def run_search(space: SearchSpace, X: pd.DataFrame, y: pd.Series, settings: SearchSettings, logger: TrialLogger, *,
               mirror: StudyMirror | None = None, deadline: Deadline | None = None,
               worker: int | None = None) -> SearchResult:
    """Create the study (or continue the stored one of that name), enqueue each family's defaults,
    fill it within the budget.

    settings.storage: None (in memory), a journal file or an RDB URL; or else a `mirror`: the study
    runs in memory and the mirror keeps its stored copy. settings.pack_size > 1 trains trials of a
    packing family (ModelFamily.member_params) that many at a time; n_jobs > 1 runs groups in threads.
    A study already stored under settings.study_name is continued (its process must be gone):
    finished trials count toward n_trials, interrupted ones are run again, out-of-fold predictions
    come back from settings.checkpoint (a folder).
    `worker` (0, 1, ...): this process is one of several filling the study in settings.storage at
    once (automl.search._shared); it counts their trials toward n_trials, and what it returns holds
    only its own (collect_search reads them all).
    """
    if settings.storage is not None and mirror is not None:
        raise ValueError(f"give run_search a storage ({settings.storage!r}) or a mirror, not both")
    if worker is not None and settings.storage is None:
        raise ValueError("a worker of a shared study needs the study's storage (a journal file or an RDB URL)")
    direction = METRICS[space.metric].direction
    study = _open_study(settings, direction, space.context.seed, mirror, worker)
    previous = study.get_trials(deepcopy=False) if worker is None else []
    for key, value in {"metric": space.metric, "families": space.families}.items():
        study.set_user_attr(key, value)
        if mirror is not None and not previous:
            mirror.set_user_attr(key, value)
    deadline = deadline or Deadline(None)
    records = [record_of(t) for t in previous]
    if previous and deadline.at is not None:  # the time the earlier processes searched is spent
        deadline.at -= searched_seconds(records, settings.n_jobs)
    cv = CrossValidation(space, X, y, settings, study, logger, deadline)
    cv.worker = worker
    if previous:
        cv.restore(records, *(cv.checkpoint.load() if cv.checkpoint else ({}, None)))
    done = [t for t, r in zip(previous, records) if not r.interrupted]
    warm_done = {t.user_attrs.get("warm_start") for t in done}  # (the index among the defaults)
    defaults = default_trials(space)[: settings.n_trials or None]
    warm_start = [(i, p) for i, p in enumerate(defaults) if i not in warm_done]
    shared = StudyLock(settings.storage, settings.study_name) if worker is not None else None
    driver = Driver(study, cv, settings, warm_start, [mirror] if mirror else [], asked=len(done), shared=shared)
    _drive(driver, settings.n_jobs, mirror)
    if not cv.completed_any() and worker is None:  # (a worker's fellows may have completed some)
        _none_completed(settings.study_name, cv.records)
    return SearchResult(settings.study_name, direction, sorted(cv.records, key=lambda r: r.number), space,
                        settings.folds, trials=study.get_trials(deepcopy=False), oof=cv.oof, classes=cv.classes,
                        resumed=len(previous))


def _drive(driver: Driver, n_jobs: int, mirror: StudyMirror | None) -> None:
    """Run the driver; the stored copy gets every trial told, interrupted or not."""
    try:
        driver.run(n_jobs)
    except BaseException:  # an interrupt: what was told still reaches the stored copy
        if mirror is not None:
            with suppress(Exception):
                mirror(driver.study, None)
                mirror.flush()
        raise
    finally:
        if driver.shared is not None:
            driver.shared.close()
    if mirror is not None:
        mirror.flush()


@optuna_warnings_only()
def open_shared_study(study_name: str, storage: str, direction: str) -> None:
    """Create the study that workers will fill (or, continuing one, fail what dead processes left
    running), once, before any worker starts."""
    study = optuna.create_study(study_name=study_name, storage=make_storage(storage), direction=direction,
                                load_if_exists=True)
    fail_stale(study)


def collect_search(space: SearchSpace, settings: SearchSettings, logger: TrialLogger) -> SearchResult:
    """What the workers of a shared study (settings.storage) left, read back as one SearchResult (as
    if one process had run every trial): each trial's record, the kept out-of-fold predictions from
    settings.checkpoint. Trials a dead worker left running become interrupted FAIL trials first."""
    study_name = settings.study_name
    study = optuna.load_study(study_name=study_name, storage=make_storage(settings.storage))
    fail_stale(study)
    trials = study.get_trials(deepcopy=False)
    records = sorted((record_of(t) for t in trials), key=lambda r: r.number)
    oof, classes = Checkpoint(settings.checkpoint).load()
    complete = {r.number for r in records if r.state == "COMPLETE"}
    if not complete:
        _none_completed(study_name, records)
    tell_restored(logger, records)
    return SearchResult(study_name, METRICS[space.metric].direction, records, space, settings.folds, trials=trials,
                        oof={n: p for n, p in oof.items() if n in complete}, classes=classes, resumed=len(records))


def _none_completed(study_name: str, records: list) -> None:
    reasons = sorted({r.reason for r in records if r.state == "FAIL"})
    raise RuntimeError(f"no trial of study '{study_name}' completed ({len(records)} tried); "
                       f"failures: {reasons[:3]}; raise search.n_trials or timeout_s, or check the data")


def _open_study(settings: SearchSettings, direction: str, seed: int, mirror: StudyMirror | None,
                worker: int | None) -> optuna.Study:
    """The study to fill: new, or the stored one of that name continued (see run_search); a
    continued study's sampler is seeded apart, so it does not draw the first process's trials again,
    and so is each worker's. A worker leaves other processes' running trials alone (the process
    that started the workers failed the stale ones before)."""
    name, storage, parallel = settings.study_name, settings.storage, settings.n_jobs > 1
    if mirror is not None:
        stored = mirror.stored_trials()
        study = optuna.create_study(study_name=name, direction=direction, pruner=make_pruner(settings.pruner),
                                    sampler=make_sampler(seed + len(stored), parallel))
        filled = restore(study, stored, settings.started) if stored or settings.started else []
        mirror.copied_already(len(study.trials), filled)
        return study
    parallel = parallel or worker is not None  # trials of other threads or processes run beside
    study = optuna.create_study(study_name=name, storage=make_storage(storage), direction=direction,
                                sampler=make_sampler(seed, parallel), pruner=make_pruner(settings.pruner),
                                load_if_exists=storage is not None)
    if storage is None:
        return study
    if worker is None:
        fail_stale(study)
    if study.trials or worker is not None:
        study.sampler = make_sampler(seed + len(study.trials) + 1000 * (worker or 0), parallel)
    return study


class Driver:
    """Asks groups of trials and cross-validates them until `n_trials` are asked or the deadline
    stops the search; with n_jobs > 1, in that many threads, each asking under one lock. An
    error or interrupt anywhere stops every thread from asking again."""

    def __init__(self, study: optuna.Study, cv: CrossValidation, settings: SearchSettings,
                 warm_start: list[tuple[int, dict]], callbacks: list, asked: int = 0, shared: StudyLock | None = None):
        self.study, self.cv = study, cv
        self.n_trials, self.pack_size = settings.n_trials, settings.pack_size
        self.warm_start, self.callbacks = list(warm_start), callbacks
        self.asked = asked  # trials toward n_trials (a continued study's finished ones count)
        self.shared = shared  # one of several processes filling the study: ask under this lock
        self.lock = threading.Lock()
        self.halt = threading.Event()
        self.errors: list[BaseException] = []

    def run(self, n_jobs: int) -> None:
        # One BLAS thread per trial: on CV-sized fits a second one only spins (twice the CPU, no
        # faster), taking the core the tracking writer and the Prefect server need.
        with _blas().limit(limits=1, user_api="blas"):
            if n_jobs == 1:
                self.work()  # (raises in the main thread; elsewhere, e.g. a Dask worker's, below)
            else:
                self._in_threads(n_jobs)
        if self.errors:
            raise self.errors[0]

    def _in_threads(self, n_jobs: int) -> None:
        threads = [threading.Thread(target=self.work, name=f"automl-trials-{i}", daemon=True) for i in range(n_jobs)]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        except BaseException:  # Ctrl-C, a task timeout: no thread asks again; the running trials end
            self.halt.set()
            raise

    def work(self) -> None:
        try:
            while (group := self.next_group()) is not None:
                self.cv.evaluate(*group)
                with self.lock:
                    for callback in self.callbacks:
                        callback(self.study, None)
        except BaseException as error:  # stops the other threads; run() raises it
            self.halt.set()
            self.errors.append(error)
            if threading.current_thread() is threading.main_thread():
                raise

    def next_group(self) -> tuple[list[optuna.Trial], list[dict]] | None:
        with self.lock, self.shared or nullcontext():
            while not self.halt.is_set():
                if self.shared is not None:  # what the other workers asked counts too
                    self.sync()
                spent = self.asked and self.cv.deadline.left() <= 0  # all failed so far, and no time left
                if self.cv.stopped or self.cv.out_of_time() or spent or self.left() <= 0:
                    return None
                if self.warm_start:  # enqueued one at a time, so a pack's followers never queue behind them
                    index, params = self.warm_start.pop(0)
                    self.study.enqueue_trial(params, user_attrs={"warm_start": index})
                try:
                    trials, params = ask_group(self.study, self.cv.space, min(self.pack_size, self.left()))
                except SuggestFailed as failed:  # told FAIL already; the search goes on
                    self.asked += failed.asked
                    continue
                self.asked += len(trials)
                return trials, params
        return None

    def sync(self) -> None:
        """Read the shared study: trials asked by any worker, warm-start defaults already taken."""
        trials = counted_trials(self.study)
        self.asked, taken = len(trials), warm_starts_taken(trials)
        self.warm_start = [(index, params) for index, params in self.warm_start if index not in taken]

    def left(self) -> int | float:
        return np.inf if self.n_trials is None else self.n_trials - self.asked


@cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()
