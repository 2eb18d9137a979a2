"""The pipeline as a Prefect flow: one task per step of automl.pipeline, typed by RunConfig."""

from __future__ import annotations

from prefect import flow, runtime, task
from prefect.cache_policies import NO_CACHE

from automl import pipeline as steps
from automl.config import RunConfig
from automl.data import DataError


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


@flow(name="automl-pipeline", flow_run_name="{config.name}", log_prints=True, validate_parameters=True)
def automl_pipeline(config: RunConfig) -> dict:
    """Load + validate → feature profile → Optuna model search → refit + evaluate → register."""
    prepared = load_and_validate(config)
    tracker = steps.open_tracker(config)
    start_run(prepared, tracker, prefect_tags())
    with steps.tracked_run(tracker):
        profile = profile_features(prepared, tracker)
        result = search(prepared, profile, tracker, tracker.parent_run_name)
        model = refit_and_evaluate(prepared, profile, result, tracker)
        registration = register(prepared, model, tracker)
        overhead = steps.finish_run(tracker, result)
    summary = steps.summarize(tracker, result, model, registration, overhead)
    print(f"best family {summary.best_family}: CV {prepared.dataset.metric} {summary.cv_score:.4f}; "
          f"test {summary.test_metrics}; {registration.reason}")
    return {
        "parent_run_id": summary.parent_run_id, "study_name": summary.study_name,
        "best_family": summary.best_family, "cv_score": summary.cv_score,
        "test_metrics": summary.test_metrics, "n_trials": summary.n_trials,
        "registered_model": registration.name, "version": registration.version,
        "champion_moved": registration.moved_alias, "tracking_overhead_per_trial": overhead,
    }
