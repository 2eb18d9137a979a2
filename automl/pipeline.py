"""The steps of one pipeline run, as plain functions; flows/ wraps each in a Prefect task.

load + validate → (start tracking) → feature profile → search → refit + evaluate → register.
Nothing is written until load_and_validate has passed.
"""

from __future__ import annotations

import json
import os
import time
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

import optuna
import pandas as pd

from automl import evaluation
from automl.config import ConfigError, RunConfig
from automl.data import Dataset, Split, cv_folds, load_dataset, split_dataset
from automl.features import FeatureProfile, profile_features, profile_figure, valid_score_funcs
from automl.models import FamilyContext, get_family
from automl.budget import Deadline, take_clock
from automl.ensemble import FinalModel, final_model
from automl.search import SearchResult, SearchSpace, TrialRecord, log_target_suits, run_search
from automl.tracking import Registration, Tracker
from automl.torch_models import resolve_device


@dataclass
class Prepared:
    """The validated data and the split every later step uses."""

    config: RunConfig
    dataset: Dataset
    split: Split
    score_funcs: list[str]
    deadline: Deadline  # search.timeout_s, counted from the call (automl.budget.start_clock) or the load


@dataclass
class PipelineResult:
    parent_run_id: str
    study_name: str
    best_family: str
    cv_score: float
    test_metrics: dict[str, float]
    registration: Registration
    n_trials: int
    tracking_overhead: float
    final_model: str = "single"  # or "ensemble"


def load_and_validate(config: RunConfig, frame: pd.DataFrame | None = None) -> Prepared:
    """Read, validate and split; checks the families and the device too. Writes nothing."""
    deadline = Deadline.from_budget(config.search.timeout_s, take_clock())
    dataset = load_dataset(config, frame)
    for name in config.search.families:
        family = get_family(name)
        if dataset.task not in family.tasks:
            raise ConfigError(f"family '{name}' does not support task '{dataset.task}'; "
                              f"remove it from search.families")
    if "mlp" in config.search.families:
        try:
            resolve_device(config.device)
        except (RuntimeError, ValueError) as error:
            raise ConfigError(str(error)) from None
    try:
        score_funcs = valid_score_funcs(dataset.task, config.features.score_funcs) if config.features.enabled else []
    except ValueError as error:
        raise ConfigError(str(error)) from None
    split = split_dataset(dataset, config.data.test_size, config.seed)
    return Prepared(config, dataset, split, score_funcs, deadline)


def open_tracker(config: RunConfig) -> Tracker:
    return Tracker(config.tracking.tracking_uri, config.experiment_name, config.tracking.artifact_location)


def start_run(prepared: Prepared, tracker: Tracker, extra_tags: dict[str, str] | None = None) -> str:
    """The MLflow parent run, tagged and given the resolved config; returns its run id."""
    config, dataset = prepared.config, prepared.dataset
    # A random suffix: two runs of one config can start in the same second (a schedule tick and a
    # UI trigger), and the run name is also the Optuna study's name, which must be unique.
    run_name = f"{config.name}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"
    tags = {"dataset": dataset.name, "task": dataset.task, "metric": dataset.metric,
            "config_hash": config.config_hash(), "optuna_study": run_name,
            "optuna_storage": config.tracking.optuna_storage, **(extra_tags or {})}
    run_id = tracker.start_parent(run_name, tags)
    tracker.log_text(json.dumps(config.model_dump(mode="json"), indent=2, sort_keys=True),
                     "config/resolved_config.json")
    tracker.log(params={"config": config.model_dump(mode="json")},
                metrics={"n_rows": len(dataset.y), "n_columns": dataset.X.shape[1],
                         "n_train": len(prepared.split.y_train), "n_test": len(prepared.split.y_test)},
                tags={"notes": "; ".join(dataset.notes)} if dataset.notes else None)
    return run_id


def profile_step(prepared: Prepared, tracker: Tracker) -> FeatureProfile:
    """SelectKBest scores of every transformed feature on the training split: table + plot."""
    d, s = prepared.dataset, prepared.split
    funcs = prepared.score_funcs or valid_score_funcs(d.task, None)
    profile = profile_features(s.X_train, s.y_train, d.numeric_columns, d.categorical_columns, d.task,
                               funcs, prepared.config.seed)
    tracker.log_table(profile.table, "features/feature_scores.csv")
    tracker.log_figure(profile_figure(profile), "features/feature_scores.png")
    tracker.log(metrics={"n_features_transformed": profile.n_features})
    return profile


def search_space(prepared: Prepared, profile: FeatureProfile) -> SearchSpace:
    config, d = prepared.config, prepared.dataset
    workers, folds = config.search.n_jobs, cv_folds(config, prepared.split.y_train, d.task)
    fold_rows = len(prepared.split.y_train) * (folds - 1) // folds  # what one CV fit trains on
    context = FamilyContext(task=d.task, seed=config.seed, device=config.device, n_rows=fold_rows,
                            n_jobs=max(1, (os.cpu_count() or 1) // workers))
    return SearchSpace(families=list(config.search.families), context=context, metric=d.metric,
                       numeric=d.numeric_columns, categorical=d.categorical_columns,
                       n_features=profile.n_features, score_funcs=prepared.score_funcs,
                       min_k=config.features.min_k,
                       log_target=d.task == "regression" and log_target_suits(prepared.split.y_train))


def pack_size(config: RunConfig) -> int:
    """How many MLP trials train together: `pack_trials: auto` packs on CUDA only, where it pays."""
    mode = config.search.pack_trials
    if mode == "on" or (mode == "auto" and resolve_device(config.device).type == "cuda"):
        return config.search.pack_size
    return 1


class _TrialReporter:
    """Logs each trial to MLflow, then tells `on_trial` (e.g. a Prefect progress artifact)."""

    def __init__(self, tracker: Tracker, on_trial: Callable[[TrialRecord], None]):
        self.tracker, self.on_trial = tracker, on_trial

    def log_trial(self, record: TrialRecord) -> None:
        self.tracker.log_trial(record)
        self.on_trial(record)


def search_step(prepared: Prepared, profile: FeatureProfile, tracker: Tracker, study_name: str,
                on_trial: Callable[[TrialRecord], None] | None = None) -> SearchResult:
    """The Optuna study over families, params and k; one child run per trial; leaderboard + plots."""
    config = prepared.config
    space = search_space(prepared, profile)
    logger = _TrialReporter(tracker, on_trial) if on_trial else tracker
    started = time.perf_counter()
    folds = cv_folds(config, prepared.split.y_train, prepared.dataset.task)
    result = run_search(space, prepared.split.X_train, prepared.split.y_train, folds=folds,
                        study_name=study_name, storage=config.tracking.optuna_storage,
                        n_trials=config.search.n_trials, timeout_s=None,  # the deadline bounds time
                        pruner=config.search.pruner, n_jobs=config.search.n_jobs,
                        pack_size=pack_size(config), logger=logger, deadline=prepared.deadline)
    tracker.flush()  # every child run is in MLflow before the search step ends
    elapsed = time.perf_counter() - started
    board = result.leaderboard()
    tracker.log_table(board, "search/leaderboard.csv")
    for name, figure in _optuna_figures(result.study):
        tracker.log_figure(figure, f"search/{name}.png")
    states = board["state"].value_counts().to_dict()
    tracker.log(
        params={"best_params": result.best_params, "mlp_pack_size": pack_size(config), "cv_folds_used": folds},
        metrics={"best_cv_score": result.study.best_value, "search_seconds": elapsed,
                 "n_trials": len(board), **{f"n_trials_{k.lower()}": v for k, v in states.items()}},
        tags={"best_family": result.best_params["family"]},
    )
    return result


def _optuna_figures(study: optuna.Study):
    """Optimisation history and parameter importances (skipped when too few trials completed)."""
    from optuna.visualization import matplotlib as optuna_plots

    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    figures = [("optimization_history", lambda: optuna_plots.plot_optimization_history(study))]
    if len(completed) >= 3:
        figures.append(("param_importances", lambda: optuna_plots.plot_param_importances(study)))
    for name, draw in figures:
        try:
            with warnings.catch_warnings():  # "some regimes have less than 2 trials" on short searches
                warnings.simplefilter("ignore")
                axes = draw()
        except (ValueError, RuntimeError):  # e.g. importances with no varying parameter
            continue
        figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
        figure.set_size_inches(9, 5)
        figure.tight_layout()
        yield name, figure


@dataclass
class FittedModel:
    pipeline: Any
    test_metrics: dict[str, float]
    test_score: float
    kind: str = "single"  # or "ensemble"


def refit_and_evaluate(prepared: Prepared, result: SearchResult, tracker: Tracker) -> FittedModel:
    """Refit the final model (ensemble or best pipeline) on all of train, score it once on test,
    log metrics and the plot."""
    d, s = prepared.dataset, prepared.split
    final = final_model(result, s.X_train, s.y_train, prepared.deadline, prepared.config.search.ensemble)
    log_selection(tracker, final)
    pipeline = final.model
    metrics = evaluation.holdout_metrics(d.task, pipeline, s.X_test, s.y_test)
    test_score = evaluation.score(d.metric, pipeline, s.X_test, s.y_test)
    tracker.log(metrics={**metrics, "test_score": test_score})
    tracker.log_figure(evaluation.evaluation_figure(d.task, pipeline, s.X_test, s.y_test),
                       "evaluation/" + ("residuals.png" if d.task == "regression" else "confusion_matrix.png"))
    return FittedModel(pipeline, metrics, test_score, final.kind)


def log_selection(tracker: Tracker, final: FinalModel) -> None:
    """What ensemble selection chose, and why the final model is what it is."""
    metrics, params = {}, {"final_model": final.kind}
    if final.selection is not None:
        sel = final.selection
        metrics = {"ensemble_oof_score": sel.score, "best_single_oof_score": sel.best_single_score,
                   "ensemble_size": len(sel.weights)}
        if sel.log_loss is not None:  # the tie-breaker for label metrics
            metrics.update(ensemble_oof_log_loss=sel.log_loss, best_single_oof_log_loss=sel.best_single_log_loss)
        params["ensemble_weights"] = ",".join(f"trial {n}×{w}" for n, w in sel.weights.items())
    tracker.log(params=params, metrics=metrics, tags={"final_model_reason": final.reason})


def register_step(prepared: Prepared, model: FittedModel, tracker: Tracker) -> Registration:
    config, d = prepared.config, prepared.dataset
    spec = evaluation.METRICS[d.metric]
    return tracker.log_and_register(model.pipeline, prepared.split.X_train, config.registered_model_name,
                                    d.metric, model.test_score, spec.greater_is_better)


def finish_run(tracker: Tracker, result: SearchResult, status: str = "FINISHED") -> float:
    """Log the tracking overhead (the time the search waited for MLflow ÷ trial time), close the run.

    The child runs themselves are written behind, in a thread; their time is logged apart."""
    trial_seconds = sum(r.duration_s for r in result.records)
    overhead = tracker.seconds_waiting / trial_seconds if trial_seconds else 0.0
    tracker.log(metrics={"tracking_seconds_total": tracker.seconds_in_tracking,
                         "tracking_seconds_per_trial": tracker.seconds_in_trial_logging / len(result.records),
                         "tracking_seconds_waited": tracker.seconds_waiting,
                         "trial_seconds": trial_seconds, "tracking_overhead_per_trial": overhead})
    tracker.finish(status)
    return overhead


def run_url(config: RunConfig, tracker: Tracker) -> str:
    """The parent run in the MLflow UI."""
    base = config.tracking.ui_url.rstrip("/")
    return f"{base}/#/experiments/{tracker.experiment_id}/runs/{tracker.parent_run_id}"


def report_markdown(config: RunConfig, tracker: Tracker, result: SearchResult, model: FittedModel,
                    registration: Registration, metric: str, top: int = 10) -> str:
    """A short report of one pipeline run: links, scores, the registration and the top trials."""
    board = result.leaderboard().head(top)
    rows = "\n".join(f"| {r.trial} | {r.family} | {r.state} | {r.cv_score:.4f} | {r.k} | {r.duration_s:.2f} |"
                      if r.cv_score == r.cv_score else
                      f"| {r.trial} | {r.family} | {r.state} | – | {r.k} | {r.duration_s:.2f} |"
                      for r in board.itertuples())
    tests = ", ".join(f"{k.removeprefix('test_')} {v:.4f}" for k, v in model.test_metrics.items())
    return f"""# {config.name}: best {result.best_params['family']}, CV {metric} {result.study.best_value:.4f}

- MLflow parent run: [{tracker.parent_run_name}]({run_url(config, tracker)}) (`{tracker.parent_run_id}`)
- Test split: {tests}
- Registered `{registration.name}` v{registration.version}; champion {'moved' if registration.moved_alias else 'kept'}: {registration.reason}
- Optuna study `{tracker.parent_run_name}` in `{config.tracking.optuna_storage}`; {len(result.records)} trials

| trial | family | state | CV {metric} | k | seconds |
| ---: | --- | --- | ---: | ---: | ---: |
{rows}
"""


@contextmanager
def tracked_run(tracker: Tracker):
    """Marks the parent run FAILED when a step raises (never left RUNNING); finish_run ends it otherwise."""
    try:
        yield
    except BaseException:
        tracker.finish("FAILED")
        raise


def run_pipeline(config: RunConfig, frame: pd.DataFrame | None = None,
                 tags: dict[str, str] | None = None) -> PipelineResult:
    """The whole pipeline in plain Python (no Prefect): what the flow does, step for step."""
    prepared = load_and_validate(config, frame)
    tracker = open_tracker(config)
    run_id = start_run(prepared, tracker, tags)
    with tracked_run(tracker):
        profile = profile_step(prepared, tracker)
        result = search_step(prepared, profile, tracker, tracker.parent_run_name)
        model = refit_and_evaluate(prepared, result, tracker)
        registration = register_step(prepared, model, tracker)
        overhead = finish_run(tracker, result)
    return summarize(tracker, result, model, registration, overhead)


def summarize(tracker: Tracker, result: SearchResult, model: FittedModel, registration: Registration,
              overhead: float) -> PipelineResult:
    return PipelineResult(tracker.parent_run_id, tracker.parent_run_name, result.best_params["family"],
                          result.study.best_value, model.test_metrics, registration, len(result.records),
                          overhead, model.kind)
