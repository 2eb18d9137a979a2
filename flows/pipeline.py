"""The pipeline as a Prefect flow: one task per step of automl.pipeline, typed by RunConfig."""

from __future__ import annotations

import time
from contextlib import nullcontext

from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.concurrency.sync import concurrency

from automl import pipeline as steps
from automl.config import RunConfig
from automl.data import DataError
from automl.evaluation import METRICS
from automl.training import resolve_device

PROGRESS_EVERY_S = 5.0  # the progress artifact is updated at most this often (one ~30 ms API call each)
GPU_LIMIT = "gpu"  # the global concurrency limit that runs training on CUDA take a slot of


def _retry_on_io_error(task, task_run, state) -> bool:
    """Retry only what a second try can fix (I/O); a bad table fails at once."""
    try:
        state.result()
    except DataError:
        return False
    except (OSError, ConnectionError, TimeoutError):
        return True
    except Exception:
        return False
    return False


# Steps pass DataFrames and a live tracker along, so results are neither cached nor persisted.
step = dict(cache_policy=NO_CACHE, persist_result=False)
load_and_validate = task(steps.load_and_validate, name="load-and-validate", retries=2,
                         retry_delay_seconds=[2, 10], retry_condition_fn=_retry_on_io_error,
                         task_run_name="load-and-validate[{config.name}]", **step)
start_run = task(steps.start_run, name="start-mlflow-run", task_run_name="start-mlflow-run", **step)
profile_features = task(steps.profile_step, name="feature-profile", task_run_name="feature-profile", **step)
search = task(steps.search_step, name="model-search", task_run_name="model-search[{study_name}]", **step)
refit_and_evaluate = task(steps.refit_and_evaluate, name="refit-and-evaluate",
                          task_run_name="refit-and-evaluate", **step)
register = task(steps.register_step, name="register-model", retries=2, retry_delay_seconds=[2, 10],
                task_run_name="register-model", **step)


def prefect_tags() -> dict[str, str]:
    """The Prefect flow run, as MLflow tags on the parent run (id, name, and UI link when known)."""
    tags = {"prefect.flow_run_id": str(runtime.flow_run.id), "prefect.flow_run_name": str(runtime.flow_run.name)}
    url = runtime.flow_run.ui_url  # "None/flow-runs/…" when no UI URL is configured
    if url and url.startswith("http"):
        tags["prefect.flow_run_url"] = url
    return tags


def artifact_key(config: RunConfig, what: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return f"{config.name.lower().replace('_', '-').replace('.', '-')}-{what}"


def search_timeout(config: RunConfig) -> float | None:
    """The search task's timeout: the time budget plus room for the trial running at the deadline."""
    budget = config.search.timeout_s
    return None if budget is None else budget * 1.25 + 120


def trial_progress(config: RunConfig, metric: str):
    """A Prefect progress artifact (trials done / budget) and a log line, updated at most every
    PROGRESS_EVERY_S: each line sums up the trials finished since the last one and the best so far
    (every trial has its own MLflow child run; a line per trial would cost the search ~1 %)."""
    budget = config.search.n_trials
    artifact_id = create_progress_artifact(progress=0.0, key=artifact_key(config, "search-progress"),
                                           description=f"{config.name}: trials done / {budget or 'time budget'}")
    greater = METRICS[metric].greater_is_better
    state = {"done": 0, "best": None, "best_trial": None, "updated": time.monotonic(), "since": []}
    logger = get_run_logger()

    def push() -> None:
        state["updated"] = time.monotonic()
        best = "–" if state["best"] is None else f"{state['best']:.4f} (trial {state['best_trial']})"
        if state["since"]:
            states = {s: state["since"].count(s) for s in dict.fromkeys(state["since"])}
            logger.info(f"{state['done']}/{budget or '?'} trials done (+{len(state['since'])}: "
                        f"{', '.join(f'{n} {s.lower()}' for s, n in states.items())}); best {metric} {best}")
            state["since"] = []
        progress = 100.0 * state["done"] / budget if budget else 0.0
        update_progress_artifact(artifact_id, progress=min(progress, 100.0),
                                 description=f"{config.name}: {state['done']}/{budget or '?'} trials, best {metric} {best}")

    def on_trial(record) -> None:
        state["done"] += 1
        state["since"].append(record.state)
        if record.state == "COMPLETE" and (state["best"] is None or (record.value > state["best"]) == greater):
            state["best"], state["best_trial"] = record.value, f"{record.number}, {record.family}"
        if time.monotonic() - state["updated"] >= PROGRESS_EVERY_S:  # push() after the search sends the rest
            push()

    on_trial.push = push
    return on_trial


@flow(name="automl-pipeline", flow_run_name="{config.name}", log_prints=True, validate_parameters=True)
def automl_pipeline(config: RunConfig) -> dict:
    """Load + validate → feature profile → Optuna model search → refit + evaluate → register."""
    prepared = load_and_validate(config)
    tracker = steps.open_tracker(config)
    start_run(prepared, tracker, prefect_tags())
    metric = prepared.dataset.metric
    on_cuda = "mlp" in config.search.families and resolve_device(config.device).type == "cuda"
    with steps.tracked_run(tracker):
        profile = profile_features(prepared, tracker)
        # At most N runs train on the GPU at once (`automl deploy --gpu-slots N` sets N).
        with concurrency(GPU_LIMIT, occupy=1, strict=False) if on_cuda else nullcontext():
            progress = trial_progress(config, metric)
            result = search.with_options(timeout_seconds=search_timeout(config))(
                prepared, profile, tracker, tracker.parent_run_name, progress)
            progress.push()
            model = refit_and_evaluate(prepared, result, tracker)
        registration = register(prepared, model, tracker)
        overhead = steps.finish_run(tracker, result)
    create_markdown_artifact(steps.report_markdown(config, tracker, result, model, registration, metric),
                             key=artifact_key(config, "report"),
                             description=f"{config.name}: MLflow run, scores, registration, top trials")
    summary = steps.summarize(tracker, result, model, registration, overhead)
    print(f"best family {summary.best_family}: CV {prepared.dataset.metric} {summary.cv_score:.4f}; "
          f"test {summary.test_metrics}; {registration.reason}")
    return {
        "parent_run_id": summary.parent_run_id, "study_name": summary.study_name,
        "best_family": summary.best_family, "cv_score": summary.cv_score,
        "test_metrics": summary.test_metrics, "n_trials": summary.n_trials,
        "registered_model": registration.name, "version": registration.version,
        "champion_moved": registration.moved_alias, "tracking_overhead_per_trial": overhead,
        "final_model": summary.final_model,
    }
