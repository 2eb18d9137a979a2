"""The data flow of one pipeline run, top to bottom, as plain functions; flows/ wraps each in a
Prefect task. Steps pass plain values (the config, DataFrames, a RunRef naming the MLflow run,
results), never a live connection or process, so a task runner may move any step elsewhere.

load + validate → start the MLflow run → feature profile → search → refit + evaluate → register
→ finish. Nothing is written until load_and_validate has passed.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from automl import evaluation, plots, tracking
from automl.champion import test_comparison
from automl.checks import (
    afford_text_encoder,
    check_remote_workers,
    encoding_tail_seconds,
    fine_tune_on_cuda,
    run_device,
    validate_data,
)
from automl.config import ConfigError, RunConfig, Stores, resolve_stores
from automl.data import Dataset, Split, cv_folds, leakage_warnings, split_dataset
from automl.ensemble import final_model
from automl.features import (
    TEXT_WIDTHS,
    FeatureProfile,
    profile_features,
    profile_figure,
    valid_score_funcs,
)
from automl.leaderboard import Champion, Winner, leaderboard, winner, with_test_scores
from automl.models import FamilyContext
from automl.processes import this_process
from automl.report import model_description, run_description, run_title, search_story
from automl.search import (
    TAIL_S,
    Deadline,
    SearchResult,
    SearchSettings,
    SearchSpace,
    TrialRecord,
    log_target_suits,
    run_search,
    shortfall,
    uses_journal,
)
from automl.secrets import redact
from automl.served import PredictMethods, ServedModel, input_schema
from automl.service import store_reference
from automl.stores import check_stores
from automl.tracking import PROCESS_TAG, ParentRun, Registration, RunLog, RunRef, run_ends_failed
from automl.workers import Launch, WorkerJob, search_in_workers


@dataclass
class Prepared:
    """The validated data and the split every later step uses."""

    config: RunConfig
    dataset: Dataset
    split: Split
    score_funcs: list[str]
    device: str  # where PyTorch models train ("cpu" or "cuda"): decided here, once for the run
    deadline: Deadline  # search.timeout_s, counted from `started` (automl run: its start) or the load
    stores: Stores  # the tracking URLs with ${VAR}s resolved: used, never logged


@dataclass
class FittedModel:
    pipeline: Any
    test_metrics: dict[str, float]
    test_score: float
    kind: str = "single"  # or "ensemble"
    winner: Winner | None = None  # what won, by one name (automl.leaderboard)
    board: pd.DataFrame | None = None  # the leaderboard: the final model, each family's best, the top trials
    story: str = ""  # what won out of fold, the trials (the run's description starts with it)


@dataclass
class PipelineResult:
    parent_run_id: str
    study_name: str
    winner: str  # the final model's one name: "blend(extra_trees#32×2, linear#4)" or "extra_trees#32"
    best_family: str  # the winner's family ("blend" for a blend)
    cv_score: float  # the winner's, out of fold
    test_metrics: dict[str, float]
    registration: Registration
    n_trials: int
    final_model: str = "single"  # or "ensemble"


def load_and_validate(config: RunConfig, frame: pd.DataFrame | None = None, started: float | None = None) -> Prepared:
    """Every check before anything is written: the stores answer and can be written, the table reads
    and validates, the families, device and feature settings fit it. Then the split. The time
    budget counts from `started` (time.time() seconds), or from now."""
    deadline = Deadline.from_budget(config.search.timeout_s, started)
    stores = resolve_stores(config.tracking)
    check_stores(stores)
    dataset, score_funcs = validate_data(config, frame)
    afford_text_encoder(config, dataset)
    fine_tune_on_cuda(config, dataset)
    device = run_device(config)
    check_remote_workers(config, stores)
    split = split_dataset(dataset, config.data.test_size, config.seed)
    dataset.warnings += leakage_warnings(split.X_train, split.y_train, dataset.task, dataset.numeric_columns,
                                         config.seed)
    deadline.tail_s = TAIL_S + encoding_tail_seconds(config, dataset, split.X_test)
    return Prepared(config, dataset, split, score_funcs, device, deadline, stores)


def start_run(prepared: Prepared, extra_tags: dict[str, str] | None = None) -> RunRef:
    """The MLflow parent run, tagged and given the resolved config."""
    config, dataset = prepared.config, prepared.dataset
    # A random suffix: two runs of one config can start in the same second (a schedule tick and a
    # UI trigger), and the run name is also the Optuna study's name, which must be unique.
    run_name = f"{config.name}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"
    tags = {"dataset": dataset.name, "task": dataset.task, "metric": dataset.metric,
            "config_hash": config.config_hash(), "optuna_study": run_name,
            "optuna_storage": redact(config.tracking.optuna_storage), "device": prepared.device,
            PROCESS_TAG: this_process(), **(extra_tags or {})}
    stores = prepared.stores
    run = tracking.start_run(stores.tracking_uri, config.experiment_name, stores.artifact_location, run_name, tags)
    log = RunLog(run)
    public = config.public_values()  # passwords masked; ${VAR}s as written
    log.log_text(json.dumps(public, indent=2, sort_keys=True), "config/resolved_config.json")
    said = {"notes": "; ".join(dataset.notes), "warnings": "; ".join(dataset.warnings)}
    log.log(params={"config": public},
            metrics={"n_rows": len(dataset.y), "n_columns": dataset.X.shape[1],
                     "n_train": len(prepared.split.y_train), "n_test": len(prepared.split.y_test)},
            tags={key: text for key, text in said.items() if text} or None)
    if dataset.column_report:
        log.log_table(column_report(dataset), "data/column_report.csv")
    return run


def column_report(dataset: Dataset) -> pd.DataFrame:
    """What was decided about each raw column (read as, kept/parsed/expanded/dropped, why)."""
    return pd.DataFrame([vars(d) for d in dataset.column_report], columns=["column", "read_as", "action", "detail"])


def dead_runs(prepared: Prepared) -> list[ParentRun]:
    """This config's runs left RUNNING by a process that is gone (killed, or its machine rebooted)."""
    return tracking.dead_runs(*_config_runs(prepared))


def end_dead_runs(prepared: Prepared) -> list[ParentRun]:
    """End this config's dead runs KILLED (their children too); they can still be continued."""
    return tracking.end_dead_runs(*_config_runs(prepared))


def end_own_runs(prepared: Prepared, status: str) -> list[ParentRun]:
    """End this config's runs left RUNNING by this process (a stop as its run opened) as `status`."""
    return tracking.end_own_runs(*_config_runs(prepared), status)


def resumable_run(prepared: Prepared, which: str = "last") -> ParentRun:
    """The run `automl run --resume [which]` continues (tracking.resumable_run); a ConfigError if
    it cannot be."""
    try:
        return tracking.resumable_run(*_config_runs(prepared), prepared.config.config_hash(), which)
    except tracking.ResumeRefused as refused:
        raise ConfigError(str(refused)) from None


def _config_runs(prepared: Prepared) -> tuple[str, str, str]:
    """Where this config's parent runs are: (tracking URI, experiment, config name)."""
    config = prepared.config
    return prepared.stores.tracking_uri, config.experiment_name, config.name


def checkpoint_dir(prepared: Prepared, run: RunRef) -> Path:
    """The run's checkpoint folder (tracking.checkpoint_dir): the search's kept out-of-fold predictions."""
    return tracking.checkpoint_dir(prepared.stores.optuna_storage, run.run_name)


def profile_step(prepared: Prepared, run: RunRef) -> FeatureProfile:
    """SelectKBest scores of every transformed feature on the training split: the table (its plot
    is drawn after the search, with the search's: matplotlib is not on the way to the first trial)."""
    d, s = prepared.dataset, prepared.split
    funcs = prepared.score_funcs or valid_score_funcs(d.task, None)
    profile = profile_features(s.X_train, s.y_train, d.numeric_columns, d.categorical_columns, d.task,
                               funcs, prepared.config.seed)
    log = RunLog(run)
    log.log_table(profile.table, "features/feature_scores.csv")
    log.log(metrics={"n_features_transformed": profile.n_features})
    return profile


def search_space(prepared: Prepared, profile: FeatureProfile, run: RunRef | None = None) -> SearchSpace:
    """What the trials draw from; with the run, its checkpoint folder keeps the pretrained text
    encoder's embeddings (computed once per run, whichever trial or fold asks first)."""
    config, d = prepared.config, prepared.dataset
    folds = cv_folds(config, prepared.split.y_train, d.task)
    fold_rows = len(prepared.split.y_train) * (folds - 1) // folds  # what one CV fit trains on
    context = FamilyContext(task=d.task, seed=config.seed, device=prepared.device, n_rows=fold_rows,
                            n_jobs=max(1, (os.cpu_count() or 1) // (config.search.n_jobs * config.search.workers)))
    return SearchSpace(families=list(config.search.families), context=context, metric=d.metric,
                       numeric=d.numeric_columns, categorical=d.categorical_columns,
                       n_features=profile.n_features + len(d.text_columns) * max(TEXT_WIDTHS),
                       score_funcs=prepared.score_funcs, min_k=config.features.min_k,
                       log_target=d.task == "regression" and log_target_suits(prepared.split.y_train),
                       text=d.text_columns, text_encoders=d.text_encoders or ["tfidf"],
                       text_device=prepared.device if prepared.device == "cuda" else config.device,
                       embedding_cache=str(checkpoint_dir(prepared, run) / "embeddings") if run else None)


def pack_size(prepared: Prepared) -> int:
    """How many trials of a packing family train together: `pack_trials: auto` packs on CUDA only,
    where it pays."""
    mode = prepared.config.search.pack_trials
    if mode == "on" or (mode == "auto" and prepared.device == "cuda"):
        return prepared.config.search.pack_size
    return 1


def search_step(prepared: Prepared, profile: FeatureProfile, run: RunRef,
                on_trial: Callable[[TrialRecord], None] | None = None, launch: Launch | None = None) -> SearchResult:
    """The Optuna study over families, params and k, in this process or in search.workers worker
    processes (`launch`: see automl.workers); one child run per trial; the trials' table and plots."""
    config, split = prepared.config, prepared.split
    space, settings = search_space(prepared, profile, run), search_settings(prepared, run)
    started = time.perf_counter()
    if uses_workers(config):
        job = WorkerJob(space, split.X_train, split.y_train, settings, prepared.deadline.at, prepared.deadline.tail_s,
                        run)
        result, runs = search_in_workers(job, config.search.workers, config.tracking, on_trial, launch)
    else:
        result, runs = search_in_process(prepared, space, settings, run, on_trial)
    log = RunLog(run)
    tracking.log_search(log, result, runs, time.perf_counter() - started, settings.pack_size,
                        plots.search_figures(result))
    log.log_figure(profile_figure(profile), "features/feature_scores.png")  # (profile_step's table, drawn)
    return note_shortfall(run, result, config.search.n_trials)


def note_shortfall(run: RunRef, result: SearchResult, asked: int | None) -> SearchResult:
    """Tag the parent run `automl.budget: 3 of 40 trials: the budget ran out` when the time budget
    ended the search first (interrupted trials do not count: they run again on resume)."""
    if note := shortfall(sum(not r.interrupted for r in result.records), asked):
        RunLog(run).log(tags={"automl.budget": note})
    return result


def search_settings(prepared: Prepared, run: RunRef) -> SearchSettings:
    """How this run's search runs: the same value for this process and for every worker."""
    config, split = prepared.config, prepared.split
    return SearchSettings(study_name=run.run_name, folds=cv_folds(config, split.y_train, prepared.dataset.task),
                          n_trials=config.search.n_trials, pruner=config.search.pruner, n_jobs=config.search.n_jobs,
                          pack_size=pack_size(prepared), storage=prepared.stores.optuna_storage,
                          checkpoint=str(checkpoint_dir(prepared, run)))


def uses_workers(config: RunConfig) -> bool:
    """Whether the search runs in worker processes (search.workers > 1, or on a Dask cluster)
    rather than in this process."""
    return config.search.workers > 1 or config.search.dask_address is not None


def search_in_process(prepared: Prepared, space: SearchSpace, settings: SearchSettings, run: RunRef,
                      on_trial: Callable[[TrialRecord], None] | None) -> tuple[SearchResult, tracking.TrialRuns]:
    """run_search in this process; a continued run's child runs are made one per trial after."""
    runs = tracking.TrialRuns(run)
    existing = runs.existing()  # a continued run's child runs (none for a new one)
    settings = replace(settings, started=max(existing, default=-1) + 1)
    mirror = None
    if uses_journal(settings.storage):  # the study runs in memory; the writer process writes the file behind it
        mirror = tracking.JournalMirror(settings.storage, run.run_name, evaluation.METRICS[space.metric].direction)
        settings = replace(settings, storage=None)
    try:
        result = run_search(space, prepared.split.X_train, prepared.split.y_train, settings,
                            tracking.TrialReporter(runs, on_trial), mirror=mirror,
                            deadline=replace(prepared.deadline))  # (a copy: the search sets its reserve)
    except BaseException:  # an interrupt: the trials told so far still reach MLflow
        with suppress(Exception):
            runs.flush()
        raise
    runs.mend(result.records[:result.resumed], existing)
    runs.flush()  # every child run is in MLflow before the search step ends
    return result, runs


def refit_and_evaluate(prepared: Prepared, result: SearchResult, run: RunRef) -> FittedModel:
    """Refit the final model (the blend or the best pipeline) on all of train, score it once on
    test; log what won (one name), the leaderboard, the metrics and the plots."""
    d, s = prepared.dataset, prepared.split
    started = time.perf_counter()
    final = final_model(result, s.X_train, s.y_train, prepared.deadline, prepared.config.search.ensemble)
    fit_s = time.perf_counter() - started
    won, pipeline = winner(result, final), final.model
    started = time.perf_counter()  # (the predictions the plots draw: timed once, for the leaderboard)
    predicted = pipeline.predict(s.X_test) if d.task == "regression" else pipeline.predict_proba(s.X_test)
    predict_ms = 1e6 * (time.perf_counter() - started) / max(len(s.y_test), 1)
    metrics = evaluation.holdout_metrics(d.task, pipeline, s.X_test, s.y_test, predicted)
    test_score = evaluation.score_predictions(d.metric, s.y_test, predicted, getattr(pipeline, "classes_", None))
    board = with_test_scores(leaderboard(result, won, fit_s, predict_ms), test_score, evaluation.METRICS[d.metric].sign,
                             current_champion(prepared))
    log = RunLog(run)
    tracking.log_winner(log, final, won)
    log.log_figure(plots.history_figure(result, (won.name, won.cv_score)), "search/optimization_history.png")
    log.log_table(board, "leaderboard.csv")
    tracking.mark_final_members(run, won.weights)
    log.log(metrics={**metrics, "test_score": test_score, "final_fit_seconds": fit_s,
                     "final_predict_ms_per_1k_rows": predict_ms})
    for name, figure in plots.evaluation_figures(d.task, s.y_test, predicted, getattr(pipeline, "classes_", None)):
        log.log_figure(figure, f"evaluation/{name}.png")
    importance = evaluation.permutation_table(d.metric, pipeline, s.X_test, s.y_test, prepared.config.seed,
                                              predict_ms, prepared.deadline.left() - prepared.deadline.tail_s)
    if importance is not None:  # (None when the time left is too short for it)
        log.log_table(importance, "evaluation/permutation_importance.csv")
        log.log_figure(plots.permutation_figure(importance, d.metric), "evaluation/permutation_importance.png")
    return FittedModel(pipeline, metrics, test_score, final.kind, won, board, search_story(result, won, d.metric))


def current_champion(prepared: Prepared) -> Champion | None:
    """The registered model's champion before this run registers (the leaderboard's row for it)."""
    found = tracking.champion_scores(prepared.stores.tracking_uri, prepared.config.registered_model_name)
    return Champion(*found) if found else None


def register_step(prepared: Prepared, model: FittedModel, run: RunRef) -> Registration:
    """Log and register the final model; `champion` moves only if it wins (a retry makes no second version)."""
    config, d = prepared.config, prepared.dataset
    served = PredictMethods(ServedModel(d.cleaner, model.pipeline))  # raw rows, as read from the training table
    store_reference(prepared, model, run)  # what `automl monitor` compares batches with
    score = tracking.HoldoutScore(d.metric, model.test_score, evaluation.METRICS[d.metric].greater_is_better,
                                  model.winner.cv_score if model.winner else None, len(prepared.split.y_test),
                                  config.config_hash())
    compare = test_comparison(d, prepared.split, model.pipeline, prepared.stores.tracking_uri,
                              config.registered_model_name, config.seed)
    # (the Optuna storage: where two runs on one tracking server take the champion lock)
    registration = tracking.register_model(run, served, d.raw_example, config.registered_model_name, score,
                                           input_schema(d.cleaner, d.raw_example), prepared.stores.optuna_storage,
                                           tracking.ChampionPolicy(config.champion, compare))
    tracking.describe(run, registration, run_description(model.story, model.test_score, d.metric, score.rows,
                                                         registration), model_description(d, config.champion),
                      run_title(model.winner, registration))
    return registration


def finish_step(prepared: Prepared, run: RunRef) -> None:
    """The parent run ends FINISHED, its checkpoint folder removed first (tracking.finish_run)."""
    tracking.finish_run(run, checkpoint=checkpoint_dir(prepared, run))


def run_pipeline(config: RunConfig, frame: pd.DataFrame | None = None,
                 tags: dict[str, str] | None = None) -> PipelineResult:
    """The whole pipeline in plain Python (no Prefect): what the flow does, step for step."""
    prepared = load_and_validate(config, frame)
    run = start_run(prepared, tags)
    with run_ends_failed(run):
        profile = profile_step(prepared, run)
        result = search_step(prepared, profile, run)
        model = refit_and_evaluate(prepared, result, run)
        registration = register_step(prepared, model, run)
        finish_step(prepared, run)
    return summarize(run, result, model, registration)


def summarize(run: RunRef, result: SearchResult, model: FittedModel, registration: Registration) -> PipelineResult:
    won = model.winner
    return PipelineResult(run.run_id, result.study_name, won.name, won.family, won.cv_score,
                          model.test_metrics, registration, len(result.records), model.kind)
