"""The pipeline as a Prefect flow: one task per step of automl.pipeline, typed by RunConfig.

Tasks pass plain values (the config, DataFrames, a RunRef naming the MLflow run, results), so
the steps run the same on a task runner that moves them to another process or host. The flow
calls them in its own thread (`direct`), where Ctrl-C reaches the search itself (no new trial
starts after it); `on_task_runner` hands each step to the flow's task runner instead (tests/flows
run every step on a ProcessPoolTaskRunner).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType, FlowRunFilterTags
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.concurrency.sync import concurrency
from prefect.context import FlowRunContext
from prefect.settings import get_current_settings
from prefect.states import Crashed, Failed, State
from prefect.utilities.urls import url_for
from pydantic import Field

from automl import pipeline as steps
from automl import tracking
from automl.config import ConfigError, RunConfig
from automl.data import DataError
from automl.evaluation import METRICS
from automl.processes import alive, this_process
from automl.report import report_markdown, run_url
from automl.search import SearchResult
from flows.workers import dask_launcher

PROGRESS_EVERY_S = 5.0  # the progress artifact is updated at most this often (one ~30 ms API call each)
PROCESS_PREFIX = "automl-process:"  # a flow run's tag naming the process that runs it
CONFIG_PREFIX = "automl-config:"  # a flow run's tag naming its config (the run's name is the user's)
GPU_LIMIT = "gpu"  # the global concurrency limit that runs training on CUDA take a slot of
MONITORING_RUN_TAG = "automl.monitoring_run"  # the MLflow parent run's tag: the monitoring run that started it


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
    spec = METRICS[metric]
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
                                 description=f"{config.name}: {state['done']}/{budget or '?'} trials, "
                                             f"best {metric} {best}")

    def on_trial(record) -> None:
        state["done"] += 1
        state["since"].append(record.state)
        if record.state == "COMPLETE" and (state["best"] is None or spec.better(record.value, state["best"])):
            state["best"], state["best_trial"] = record.value, f"{record.number}, {record.family}"
        if time.monotonic() - state["updated"] >= PROGRESS_EVERY_S:  # push() after the search sends the rest
            push()

    on_trial.push = push
    return on_trial


# DataFrames and fitted models pass between steps: neither cached nor persisted.
step = dict(cache_policy=NO_CACHE, persist_result=False)
# What `automl run` checked before the flow started, for the flow of the same call: the table is read once.
CHECKED: ContextVar[tuple[steps.Prepared, float | None] | None] = ContextVar("automl_checked", default=None)


@contextmanager
def checked_before(prepared: steps.Prepared, started: float | None) -> Iterator[None]:
    """Within this block, a flow run on the same config and budget start (`started`) takes `prepared`
    as its load-and-validate (the checks `automl run` made just before) instead of reading the table
    again."""
    token = CHECKED.set((prepared, started))
    try:
        yield
    finally:
        CHECKED.reset(token)


@task(name="load-and-validate", retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=_retry_on_io_error,
      task_run_name="load-and-validate[{config.name}]", **step)
def load_and_validate(config: RunConfig, started: float | None = None,
                      before: steps.Prepared | None = None) -> steps.Prepared | State:
    """Every check before anything is written. A bad config or table (a run started from the UI's
    form, say) ends the task Failed with the one-line reason, not a traceback; I/O errors retry.
    `before`: what `automl run` prepared in the same checks before the flow (checked_before): taken
    as it is, the table not read again."""
    if before is not None:
        get_run_logger().info("the config and table as `automl run` checked them before the flow started")
        return before
    try:
        return steps.load_and_validate(config, started=started)
    except (ConfigError, DataError) as error:
        get_run_logger().error(f"automl: error: {error}")
        return Failed(message=str(error))


start_run = task(steps.start_run, name="start-mlflow-run", task_run_name="start-mlflow-run", **step)
resume_run = task(tracking.resume_run, name="resume-mlflow-run", task_run_name="resume-mlflow-run[{run.ref.run_name}]",
                  **step)
profile_features = task(steps.profile_step, name="feature-profile", task_run_name="feature-profile", **step)
# Registration is idempotent per run (no second version on a retry), so any failure may retry.
register = task(steps.register_step, name="register-model", retries=2, retry_delay_seconds=[2, 10],
                task_run_name="register-model", **step)


@task(name="refit-and-evaluate", task_run_name="refit-and-evaluate", **step)
def refit_and_evaluate(prepared: steps.Prepared, result: SearchResult, run) -> steps.FittedModel:
    """The final model (the blend, or the best trial's pipeline) refitted on all training rows, then
    scored once on the test rows."""
    get_run_logger().info(f"refitting the final model on {len(prepared.split.y_train)} rows, then the test scores")
    return steps.refit_and_evaluate(prepared, result, run)


@task(name="model-search", task_run_name="model-search[{run.run_name}]", **step)
def search(prepared: steps.Prepared, profile, run) -> SearchResult:
    """The Optuna search, with a progress artifact and log lines from inside the task."""
    progress = trial_progress(prepared.config, prepared.dataset.metric)
    address = prepared.config.search.dask_address
    result = steps.search_step(prepared, profile, run, progress, dask_launcher(address) if address else None)
    progress.push()
    return result


def flow_run_url() -> str:
    """The flow run in the Prefect UI: the configured server's, or, for a run on Prefect's temporary
    server, where `prefect server start` shows it (same database) once started."""
    url = url_for("flow-run", obj_id=str(runtime.flow_run.id), url_type="ui")  # None: no UI URL configured
    if url:
        return url
    server = get_current_settings().server.api
    return f"http://{server.host}:{server.port}/runs/flow-run/{runtime.flow_run.id}"


def prefect_tags(triggered_by: str | None = None) -> dict[str, str]:
    """The Prefect flow run, as MLflow tags on the parent run (id, name and UI link), and the
    monitoring run that started it, if one did."""
    tags = {"prefect.flow_run_id": str(runtime.flow_run.id), "prefect.flow_run_name": str(runtime.flow_run.name),
            "prefect.flow_run_url": flow_run_url()}
    return {**tags, MONITORING_RUN_TAG: triggered_by} if triggered_by else tags


def direct(step_task, *args) -> Any:
    """Run a task in the flow's own thread."""
    return step_task(*args)


def on_task_runner(step_task, *args) -> Any:
    """Run a task on the flow's task runner (another process, or another host with Dask or Ray)."""
    return step_task.submit(*args).result()


def config_tag(config: RunConfig) -> str:
    return CONFIG_PREFIX + config.name


def flow_run_name() -> str:
    """A name given when the flow run was created is kept (a Custom run typed in the Prefect UI, a
    Quick run's generated one, `automl trigger --name`); a run the scheduler or `automl run` made is
    named after its config and start time. The config's name is also a tag (config_tag)."""
    context = FlowRunContext.get()
    run, config = context.flow_run, context.parameters["config"]
    if run.deployment_id is not None and not run.auto_scheduled:
        return run.name
    name = config.name if isinstance(config, RunConfig) else config.get("name", "automl")
    return f"{name}-{datetime.now(UTC):%Y%m%d-%H%M%S}"


def crash_flow_run(flow_run_id, why: str, client) -> None:
    """Mark a dead process's flow run CRASHED (it stays RUNNING otherwise)."""
    state = client.read_flow_run(flow_run_id).state
    if state is not None and not state.is_final():
        client.set_flow_run_state(flow_run_id, Crashed(message=why), force=True)


def own_flow_run(config: RunConfig) -> None:
    """Tag this flow run with its config (`automl-config:<name>`) and process
    (`automl-process:host:pid:start`), and end as CRASHED this config's flow runs still RUNNING
    whose process is gone (SIGKILLed, OOM-killed, rebooted)."""
    this = runtime.flow_run.id
    with get_client(sync_client=True) as client:
        mine = client.read_flow_run(this)
        client.update_flow_run(this, tags=list(dict.fromkeys([*mine.tags, config_tag(config),
                                                              PROCESS_PREFIX + this_process()])))
        stale = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            tags=FlowRunFilterTags(all_=[config_tag(config)]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING]))),
            sort=FlowRunSort.START_TIME_DESC, limit=200)  # (the sync client sends no default sort)
        for other in stale:
            owner = next((tag.removeprefix(PROCESS_PREFIX) for tag in other.tags if tag.startswith(PROCESS_PREFIX)), "")
            if other.id != this and owner and alive(owner) is False:
                crash_flow_run(other.id, f"its process ({owner}) was gone", client)


def open_run(prepared: steps.Prepared, resume: str | None, call: Callable[..., Any], triggered_by: str | None = None):
    """The MLflow parent run: a new one (this config's dead runs ended first), or the one resumed."""
    logger = get_run_logger()
    own_flow_run(prepared.config)
    if resume:
        previous = steps.resumable_run(prepared, resume)
        logger.info(f"resuming run {previous.ref.run_name} ({previous.status})")
        return call(resume_run, previous, prefect_tags(triggered_by))
    for dead in steps.end_dead_runs(prepared):
        logger.warning(f"run {dead.ref.run_name} of this config was left running by a process that is gone; "
                       f"ended KILLED. Continue it with: automl run CONFIG --resume {dead.ref.run_name}")
    return call(start_run, prepared, prefect_tags(triggered_by))


TRIGGERED_BY = ("The MLflow run id of the monitoring run whose drifted batch started this retrain (set by automl "
                "monitor); tagged on the MLflow parent run as automl.monitoring_run. Empty for other runs.")


@flow(name="automl-pipeline", flow_run_name=flow_run_name, log_prints=True, validate_parameters=True)
def automl_pipeline(config: RunConfig, resume: str | None = None, started: float | None = None,
                    triggered_by: str | None = Field(None, description=TRIGGERED_BY)
                    ) -> dict | State:
    """Load + validate → feature profile → Optuna model search → refit + evaluate → register.
    `resume`: "last" or a run name continues that run of the config (its study and MLflow run).
    `started`: when the time budget began (time.time() seconds; `automl run` gives its own start);
    empty: at the load. `triggered_by`: the MLflow monitoring run whose drifted batch started this
    retrain (`automl monitor` sets it), tagged on the parent run as automl.monitoring_run."""
    return pipeline_steps(config, direct, resume, started, triggered_by)


def checked(config: RunConfig, call: Callable[..., Any], started: float | None = None) -> steps.Prepared | State:
    """load_and_validate's result, or its Failed state (the flow ends with it: one line, no traceback)."""
    before, checked_started = CHECKED.get() or (None, None)
    if before is None or before.config != config or checked_started != started:
        before = None  # (checks made for another config or budget start: the table is read here)
    if call is direct:
        state = load_and_validate(config, started, before, return_state=True)
        return state if state.is_failed() else state.result()
    future = load_and_validate.submit(config, started, before)
    future.wait()
    return future.state if future.state.is_failed() else future.result()


def pipeline_steps(config: RunConfig, call: Callable[..., Any], resume: str | None = None,
                   started: float | None = None, triggered_by: str | None = None) -> dict | State:
    """The flow's body: each step a task, run by `call`."""
    prepared = checked(config, call, started)
    if isinstance(prepared, State):
        return Failed(message=f"load-and-validate: {prepared.message}")
    try:
        run = open_run(prepared, resume, call, triggered_by)
    except BaseException as stop:  # (e.g. a SIGTERM as the step that made the run returned it)
        steps.end_own_runs(prepared, "FAILED" if isinstance(stop, Exception) else "KILLED")
        raise
    with steps.run_ends_failed(run):
        profile = call(profile_features, prepared, run)
        # At most N runs train on the GPU at once (`automl deploy --gpu-slots N` sets N).
        with concurrency(GPU_LIMIT, occupy=1, strict=False) if prepared.device == "cuda" else nullcontext():
            result = call(search.with_options(timeout_seconds=search_timeout(config)), prepared, profile, run)
            model = call(refit_and_evaluate, prepared, result, run)
        registration = call(register, prepared, model, run)
        steps.finish_step(prepared, run)
    metric = prepared.dataset.metric
    create_markdown_artifact(report_markdown(config, run, result, model, registration, metric),
                             key=artifact_key(config, "report"),
                             description=f"{config.name}: what won, scores, registration, leaderboard")
    summary = steps.summarize(run, result, model, registration)
    tests = ", ".join(f"{k.removeprefix('test_')} {v:.4f}" for k, v in summary.test_metrics.items())
    print(f"winner {summary.winner}: CV {metric} {summary.cv_score:.4f} (out of fold); test {tests}; "
          f"{registration.reason}")
    return {
        "parent_run_id": summary.parent_run_id, "study_name": summary.study_name,
        "winner": summary.winner, "best_family": summary.best_family, "cv_score": summary.cv_score,
        "test_metrics": summary.test_metrics, "n_trials": summary.n_trials,
        "registered_model": registration.name, "version": registration.version,
        "champion_moved": registration.moved_alias, "final_model": summary.final_model,
        "mlflow_url": run_url(config, run),
    }
