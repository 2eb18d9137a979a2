"""Deployments, schedules and API-triggered runs against a real `prefect server start` (scheduler on)."""

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from mlflow import MlflowClient
from prefect.client.orchestration import get_client
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import PrefectHTTPStatusError

from automl.config import load_config
from flows.deploy import build_deployment, deployments_for, ensure_gpu_limit
from flows.pipeline import GPU_LIMIT

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def write_config(store, store_settings):
    """Writes a small run config (breast cancer, linear models) with stores in `store`."""

    def write(folder, name, schedule, n_trials=2) -> Path:
        values = {"name": name, "data": {"source": "sklearn:breast_cancer"},
                  "search": {"n_trials": n_trials, "cv_folds": 2, "families": ["linear"]},
                  "tracking": store_settings(store), "schedule": schedule}
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(values))
        return path

    return write


def run(coroutine):
    return asyncio.run(coroutine)


async def read_deployment(name, flow="automl-pipeline"):
    async with get_client() as client:
        return await client.read_deployment_by_name(f"{flow}/{name}")


async def flow_runs_of(deployment_id):
    async with get_client() as client:
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

        by_deployment = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        return await client.read_flow_runs(deployment_filter=by_deployment,
                                           sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=50)


def test_deployments_carry_schedules_and_a_form(server, tmp_path, write_config):
    nightly = load_config(write_config(tmp_path, "nightly", {"cron": "0 3 * * *", "timezone": "Europe/Berlin"}))
    hourly = load_config(write_config(tmp_path, "hourly", {"interval_s": 3600, "when_busy": "cancel"}))
    for config in (nightly, hourly):
        build_deployment(config).apply()
    cron = run(read_deployment("nightly"))
    assert cron.schedules[0].schedule.cron == "0 3 * * *" and cron.schedules[0].schedule.timezone == "Europe/Berlin"
    assert run(read_deployment("hourly")).schedules[0].schedule.interval == timedelta(hours=1)
    assert cron.enforce_parameter_schema and cron.parameters["config"]["name"] == "nightly"
    # at most one run at a time: a run due while one runs waits (nightly) or is dropped (hourly)
    assert cron.global_concurrency_limit.limit == 1 and cron.concurrency_options.collision_strategy == "ENQUEUE"
    assert run(read_deployment("hourly")).concurrency_options.collision_strategy == "CANCEL_NEW"
    schema = cron.parameter_openapi_schema
    search = schema["definitions"]["SearchConfig"]["properties"]
    assert search["n_trials"]["title"] == "Trials" and search["pruner"]["enum"] == ["median", "none"]
    assert schema["definitions"]["RunConfig"]["properties"]["metric"]["enum"][:2] == ["auto", "roc_auc"]
    # The scheduler (a real service of this server) fills in runs at 03:00 Berlin time.
    for _ in range(60):
        scheduled = [r for r in run(flow_runs_of(cron.id)) if r.state_type.value == "SCHEDULED"]
        if scheduled:
            break
        time.sleep(0.5)
    assert scheduled, "the scheduler produced no run"
    berlin = scheduled[0].expected_start_time.astimezone(ZoneInfo("Europe/Berlin"))
    assert (berlin.hour, berlin.minute) == (3, 0)


def test_deploy_serves_monitor_and_score_beside_the_pipeline(server, tmp_path, write_config):
    """A config with monitor.input, a score: section and a distill.schedule gives four deployments, each
    on its own schedule, their forms filled from the config; `automl deploy` prints one line for each."""
    path = write_config(tmp_path, "trio", {"cron": "0 3 * * 0"})
    values = yaml.safe_load(path.read_text())
    incoming, predictions = str(tmp_path / "incoming" / "*.csv"), str(tmp_path / "predictions.parquet")
    values["monitor"] = {"psi_threshold": 0.25, "input": incoming,
                         "schedule": {"cron": "0 6 * * *", "timezone": "Europe/Berlin"}}
    values["score"] = {"input": incoming, "output": predictions, "id_column": "customer_id",
                       "schedule": {"interval_s": 3600, "when_busy": "cancel"}}
    values["distill"] = {"n_trials": 5, "schedule": {"cron": "30 3 * * *"}}
    path.write_text(yaml.safe_dump(values))
    made = deployments_for(load_config(path))
    for deployment, _ in made:
        deployment.apply()
    assert [line for _, line in made] == [
        "deployment 'automl-pipeline/trio' (sklearn:breast_cancer): cron '0 3 * * 0' (UTC); at most 1 at once, "
        "newer ones queued",
        f"deployment 'automl-monitor/trio' ({incoming} against the champion): cron '0 6 * * *' (Europe/Berlin); "
        "at most 1 at once, newer ones queued",
        f"deployment 'automl-score/trio' ({incoming} → {predictions}): every 3600 s (UTC); at most 1 at once, "
        "newer ones cancelled",
        "deployment 'automl-distill/trio' (models:/trio@champion → @student): cron '30 3 * * *' (UTC); at most 1 "
        "at once, newer ones queued"]
    tracking_uri = values["tracking"]["tracking_uri"]
    monitor = run(read_deployment("trio", "automl-monitor"))
    assert monitor.schedules[0].schedule.cron == "0 6 * * *"
    assert monitor.schedules[0].schedule.timezone == "Europe/Berlin"
    assert monitor.parameters == {"model": "models:/trio@champion", "input": incoming, "tracking_uri": tracking_uri,
                                  "monitor": {"psi_threshold": 0.25, "max_score_drop": 0.05}}
    thresholds = monitor.parameter_openapi_schema["definitions"]["DriftThresholds"]["properties"]
    assert thresholds["psi_threshold"]["title"] == "PSI threshold" and monitor.enforce_parameter_schema
    score = run(read_deployment("trio", "automl-score"))
    assert score.schedules[0].schedule.interval == timedelta(hours=1)
    assert score.concurrency_options.collision_strategy == "CANCEL_NEW"
    assert score.parameters == {"model": "models:/trio@champion", "input": incoming, "output": predictions,
                                "tracking_uri": tracking_uri, "id_column": "customer_id", "proba": False}
    distill = run(read_deployment("trio", "automl-distill"))
    assert distill.schedules[0].schedule.cron == "30 3 * * *" and distill.enforce_parameter_schema
    assert distill.parameters["config"]["distill"]["n_trials"] == 5
    assert "teacher" in distill.parameter_openapi_schema["properties"]  # (optional: the config's champion)
    pipeline = run(read_deployment("trio"))
    assert pipeline.schedules[0].schedule.cron == "0 3 * * 0"
    assert pipeline.parameters["config"]["score"]["output"] == predictions
    assert "triggered_by" in pipeline.parameter_openapi_schema["properties"]  # (optional: set by a drifted monitor)
    assert "triggered_by" not in pipeline.parameter_openapi_schema.get("required", [])
    assert len(deployments_for(load_config(write_config(tmp_path, "alone", None)))) == 1  # nothing more to serve


def test_bad_parameter_is_refused_before_a_run_exists(server, tmp_path, write_config):
    config = load_config(write_config(tmp_path, "strict", None))
    build_deployment(config).apply()

    async def create(parameters):
        async with get_client() as client:
            deployment = await client.read_deployment_by_name("automl-pipeline/strict")
            return await client.create_flow_run_from_deployment(deployment.id, parameters=parameters)

    bad = {"config": {**config.model_dump(mode="json"), "search": {"n_trials": "many"}}}
    with pytest.raises(PrefectHTTPStatusError, match="n_trials") as caught:
        run(create(bad))
    assert caught.value.response.status_code == 409
    assert run(flow_runs_of(run(read_deployment("strict")).id)) == []


def test_gpu_limit_is_created_and_resized(server):
    run(ensure_gpu_limit(2))
    run(ensure_gpu_limit(3))

    async def read():
        async with get_client() as client:
            return await client.read_global_concurrency_limit_by_name(GPU_LIMIT)

    limit = run(read())
    assert limit.limit == 3 and limit.active


class Watch:
    """Polls a deployment's flow runs (every 0.5 s) and remembers the most that ran at once."""

    def __init__(self, deployment_name):
        self.name, self.most_running = deployment_name, 0

    def runs(self):
        try:
            deployment = run(read_deployment(self.name))
        except Exception:  # not registered yet
            return []
        runs = run(flow_runs_of(deployment.id))
        self.most_running = max(self.most_running, sum(r.state_type.value == "RUNNING" for r in runs))
        return runs

    def until(self, done, tries=240):
        """The first run for which done(run) holds, or None after `tries` polls."""
        for _ in range(tries):
            found = [r for r in self.runs() if done(r)]
            if found:
                return found[0]
            time.sleep(0.5)
        return None


def test_served_deployment_runs_on_schedule_and_from_the_api_linking_both_ways(server, tmp_path, store, write_config,
                                                                               store_settings, browse):
    """`automl deploy` as a user runs it: a scheduled tick becomes a flow run, trials land in MLflow;
    a run created through the API with edited parameters and a typed name (as the UI's Custom run
    form does) runs with them and keeps its name. Runs of the deployment never overlap (its
    concurrency limit is 1), however busy the machine."""
    path = write_config(tmp_path, "ticking", {"interval_s": 5}, n_trials=3)
    env = {**os.environ, "PREFECT_API_URL": server, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    log_path = tmp_path / "deploy.log"
    served = subprocess.Popen([sys.executable, "-m", "flows.cli", "deploy", str(path)], cwd=ROOT, env=env,
                              stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    watch = Watch("ticking")
    try:
        scheduled = watch.until(lambda r: r.state_type.value == "COMPLETED")
        assert scheduled is not None, log_path.read_text()[-3000:]
        pause(watch)  # no more ticks, and none queued: the API-triggered run is the next one
        edited = {**load_config(path).model_dump(mode="json"), "seed": 7}
        edited["search"] = {**edited["search"], "n_trials": 2}
        triggered = run(create_run("ticking", {"config": edited}, name="retrain after the price change"))
        by_api = watch.until(lambda r: r.id == triggered.id
                             and r.state_type.value in ("COMPLETED", "FAILED", "CRASHED"))
        assert by_api is not None and by_api.state_type.value == "COMPLETED", log_path.read_text()[-3000:]
    finally:
        served.terminate()  # serve finishes in-flight runs first
        try:
            served.wait(timeout=30)
        except subprocess.TimeoutExpired:
            served.kill()
            served.wait(timeout=30)

    assert watch.most_running == 1  # never two runs of the deployment at once
    assert by_api.name == "retrain after the price change"  # the typed name is kept; the config is a tag
    assert scheduled.name.startswith("ticking-") and "automl-config:ticking" in by_api.tags
    ui = server.removesuffix("/api")
    dom = browse(f"{ui}/runs", "prefect-runs-typed-name", until=("retrain after the price change",))
    assert "retrain after the price change" in dom  # (the newest run, first in the list)
    # The scheduled run's own page: in the list it may sit below the rows the UI draws (the ticks this
    # test cancelled while paused are listed too).
    dom = browse(f"{ui}/runs/flow-run/{scheduled.id}", "prefect-scheduled-run", until=(scheduled.name,))
    assert scheduled.name in dom
    completed = [r for r in watch.runs() if r.state_type.value == "COMPLETED"]
    versions = MlflowClient(store_settings(store)["tracking_uri"]).search_model_versions("name = 'ticking'")
    # One version per completed run. How many ticks ran before the pause depends on the machine's speed
    # (each tick that was due ran), so only the two runs the test reads are counted on.
    assert len(versions) == len(completed) >= 2 and {scheduled.id, by_api.id} <= {r.id for r in completed}
    tracking_uri = store_settings(store)["tracking_uri"]
    parent, children = mlflow_parent(tracking_uri, "ticking", scheduled.id)
    assert parent.info.status == "FINISHED" and parent.data.tags["prefect.flow_run_name"] == scheduled.name
    assert parent.data.tags["prefect.flow_run_url"].endswith(str(scheduled.id))
    assert len(children) == 3
    edited_parent, edited_children = mlflow_parent(tracking_uri, "ticking", by_api.id)
    assert len(edited_children) == 2 and edited_parent.data.params["config.seed"] == "7"

    found = httpx.post(f"{server}/artifacts/filter", json={"flow_runs": {"id": {"any_": [str(scheduled.id)]}},
                                                            "limit": 20}).json()
    by_type = {a["type"]: a for a in found}
    assert by_type["progress"]["data"] == 100.0
    report = by_type["markdown"]["data"]
    assert parent.info.run_id in report and "| model | kind |" in report
    assert parent.data.tags["winner"] in report.splitlines()[0]  # what won, by the name the tags use


def mlflow_parent(tracking_uri, experiment, flow_run_id):
    """The MLflow parent run of a flow run, and its trial runs."""
    client = MlflowClient(tracking_uri)
    [parent] = client.search_runs([client.get_experiment_by_name(experiment).experiment_id],
                                  f"tags.`prefect.flow_run_id` = '{flow_run_id}'")
    children = client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    return parent, children


def pause(watch, tries=240):
    """Pauses the deployment, lets what the runner already holds finish, then cancels the ticks queued
    behind the concurrency limit (on a busy machine a run can outlast the interval). Pausing alone
    deletes future ticks but keeps those `AwaitingConcurrencySlot`, which would all run before a run
    created now. A queued run is cancelled only while it is not due within the runner's prefetch
    window (10 s): the runner takes a due run's slot (PENDING) at once, and a forced cancel of a
    PENDING run gives its slot back while its process still starts (Prefect lets CANCELLED go to
    RUNNING), which would let the next run overlap it."""
    from datetime import datetime

    from prefect.states import Cancelled

    async def pause_deployment():
        async with get_client() as client:
            deployment = await client.read_deployment_by_name(f"automl-pipeline/{watch.name}")
            await client.pause_deployment(deployment.id)

    async def cancel(runs):
        async with get_client() as client:
            for queued in runs:
                await client.set_flow_run_state(queued.id, Cancelled(message="deployment paused"), force=True)

    run(pause_deployment())
    for _ in range(tries):
        runs, soon = watch.runs(), datetime.now(UTC) + timedelta(seconds=12)
        busy = [r for r in runs if r.state_type.value in ("PENDING", "RUNNING", "CANCELLING")]
        queued = [r for r in runs if r.state_type.value == "SCHEDULED"]
        if not busy and all(r.state.state_details.scheduled_time > soon for r in queued):
            run(cancel(queued))
            return
        time.sleep(0.5)
    raise AssertionError(f"runs of {watch.name} still in flight after {tries / 2:.0f} s")


async def create_run(deployment_name, parameters, **options):
    async with get_client() as client:
        deployment = await client.read_deployment_by_name(f"automl-pipeline/{deployment_name}")
        return await client.create_flow_run_from_deployment(deployment.id, parameters=parameters, **options)


def test_deploy_refuses_two_configs_with_one_name(tmp_path, write_config):
    from automl.config import ConfigError
    from flows.deploy import describe, load_configs

    first = write_config(tmp_path, "twin", {"interval_s": 60})
    (tmp_path / "copy").mkdir()
    second = write_config(tmp_path / "copy", "twin", None)
    with pytest.raises(ConfigError, match=r"configs share the name \['twin'\]"):
        load_configs([str(first), str(second)])
    assert describe(load_config(first).schedule) == "every 60 s (UTC); at most 1 at once, newer ones queued"


def test_search_timeout_follows_the_budget(make_config):
    from flows.pipeline import search_timeout

    assert search_timeout(make_config(search={"timeout_s": 100})) == 245.0
    assert search_timeout(make_config(search={"n_trials": 5, "timeout_s": None})) is None


def test_trigger_checks_the_data_before_a_flow_run_exists(server, tmp_path, write_config, capsys):
    """`automl trigger`: a bad target is one line and no flow run; a good one is a flow run of the
    served deployment with the name typed (it waits for `automl deploy` to pick it up)."""
    from flows.cli import main

    path = write_config(tmp_path, "triggered", None)
    deployment_id = build_deployment(load_config(path)).apply()
    assert main(["trigger", str(path), "--set", "data.target=price"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("automl: error: target column 'price' is not in the table") and err.count("\n") == 1
    assert run(flow_runs_of(deployment_id)) == []
    assert main(["trigger", str(path), "--name", "by hand", "--set", "search.n_trials=3"]) == 0
    [made] = run(flow_runs_of(deployment_id))
    assert made.name == "by hand" and made.parameters["config"]["search"]["n_trials"] == 3
    assert "flow run 'by hand'" in capsys.readouterr().out
