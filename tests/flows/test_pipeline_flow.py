"""The whole flow on real parts: Prefect's test server, MLflow on SQLite, an Optuna journal study."""

import asyncio
import re
import time
from pathlib import Path

import mlflow
import optuna
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.sorting import TaskRunSort
from prefect.task_runners import ProcessPoolTaskRunner

from automl import pipeline as steps
from automl.checks import validate_data
from automl.search import make_storage
from flows.cli import main
from flows.pipeline import automl_pipeline, on_task_runner, pipeline_steps

pytestmark = pytest.mark.e2e


def read_flow_run(flow_run_id):
    async def read():
        async with get_client() as client:
            run = await client.read_flow_run(flow_run_id)
            tasks = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])),
                sort=TaskRunSort.EXPECTED_START_TIME_ASC, limit=100)
            return run, tasks

    return asyncio.run(read())


def read_logs(flow_run_id, until: str) -> list[str]:
    """The flow run's log lines (its tasks' included), as the Prefect UI shows them. Logs reach the API
    from a background worker in batches, so the queue is drained first and the read is repeated (a few
    times) until a line starting with `until` has arrived: on a busy machine a batch can lag the state."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    async def read():
        async with get_client() as client:
            return await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])),
                                          limit=200, offset=0)

    for _ in range(20):
        APILogWorker.drain_all(timeout=10)
        lines = [log.message for log in asyncio.run(read())]
        if any(line.startswith(until) for line in lines):
            break
        time.sleep(0.5)
    return lines


# -- one run of the whole flow (tests/flows/conftest.py's `whole_run`), read by the tests below ----------
FAMILIES = {"linear", "extra_trees", "mlp"}


@pytest.fixture(scope="module")
def parent(whole_run):
    """The run's MLflow parent run."""
    return MlflowClient(whole_run.config.tracking.tracking_uri).get_run(whole_run.summary["parent_run_id"])


@pytest.fixture(scope="module")
def children(whole_run, parent):
    """Its child runs, one per trial."""
    client = MlflowClient(whole_run.config.tracking.tracking_uri)
    return client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")


def read_artifact(whole_run, path: str) -> pd.DataFrame:
    return pd.read_csv(mlflow.artifacts.download_artifacts(run_id=whole_run.summary["parent_run_id"],
                                                           artifact_path=path,
                                                           tracking_uri=whole_run.config.tracking.tracking_uri))


def test_the_summary_names_a_winner_that_scores_well(whole_run):
    summary = whole_run.summary
    assert summary["n_trials"] == 6 and summary["best_family"] in FAMILIES | {"blend"}
    assert 0.9 < summary["cv_score"] <= 1.0 and summary["test_metrics"]["test_roc_auc"] > 0.9


def test_the_parent_run_is_finished_and_tagged_with_the_data_config_and_flow_run(whole_run, parent):
    tags = parent.data.tags
    assert parent.info.status == "FINISHED" and parent.data.tags["optuna_study"] == whole_run.summary["study_name"]
    # named in the run list by when it started, what won, its score out of fold, and the champion's verdict
    winner = tags["winner"] if tags["winner_family"] != "blend" else f"blend×{tags['winner'].count('#')}"
    assert re.fullmatch(rf"\d\d-\d\d \d\d:\d\d {re.escape(winner)} {whole_run.summary['cv_score']:.4f} moved",
                        parent.info.run_name), parent.info.run_name
    assert (tags["dataset"], tags["task"], tags["metric"]) == ("breast_cancer", "binary", "roc_auc")
    assert tags["config_hash"] == whole_run.config.config_hash() and tags["champion_moved"] == "True"
    assert re.fullmatch(rf"http://127\.0\.0\.1:\d+/runs/flow-run/{tags['prefect.flow_run_id']}",
                        tags["prefect.flow_run_url"])  # the session's server (the CLI's temporary one: 4200)
    client = MlflowClient(whole_run.config.tracking.tracking_uri)
    assert client.get_experiment(parent.info.experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"


def test_what_won_has_one_name_in_the_tag_the_param_and_the_summary(whole_run, parent):
    tags = parent.data.tags
    assert tags["winner"] == parent.data.params["winner"] == whole_run.summary["winner"]
    assert tags["winner_family"] == whole_run.summary["best_family"]
    assert "best_family" not in tags and not any(k.startswith("best_params.") for k in parent.data.params)


def test_one_child_run_per_trial_lasting_the_trials_own_time(children):
    assert len(children) == 6 and {c.data.params["family"] for c in children} == FAMILIES
    for child in children:  # the child run's Duration column is the trial's own wall time
        took = (child.info.end_time - child.info.start_time) / 1000
        assert took == pytest.approx(child.data.metrics["duration_s"], abs=0.002)


def test_the_trials_in_the_final_model_carry_weights_that_sum_to_one(children):
    weights = {int(c.data.tags["trial_number"]): float(c.data.tags["final_model_weight"])
               for c in children if c.data.tags.get("in_final_model") == "true"}
    assert weights and sum(weights.values()) == pytest.approx(1.0, abs=0.01)


def test_the_parent_run_logs_the_search_figures(parent):
    assert parent.data.metrics["n_trials"] == 6 and "best_trial_cv_score" in parent.data.metrics
    overhead_figures = {"tracking_seconds_per_trial", "tracking_seconds_waited", "tracking_overhead"}
    assert overhead_figures <= set(parent.data.metrics)  # logged, for the benchmark; their values vary


def test_the_parent_run_holds_every_artifact(whole_run, parent):
    client = MlflowClient(whole_run.config.tracking.tracking_uri)
    artifacts = {f.path for folder in ("features", "search", "evaluation", "config", "")
                 for f in client.list_artifacts(parent.info.run_id, folder or None)}
    assert {"features/feature_scores.csv", "features/feature_scores.png", "leaderboard.csv", "search/trials.csv",
            "search/optimization_history.png", "search/learning_curves.png", "evaluation/confusion_matrix.png",
            "evaluation/roc_curve.png",
            "evaluation/precision_recall.png", "evaluation/calibration.png", "evaluation/permutation_importance.png",
            "evaluation/permutation_importance.csv", "config/resolved_config.json"} <= artifacts


def test_the_trials_table_and_the_leaderboard_agree_with_the_run(whole_run, parent):
    trials = read_artifact(whole_run, "search/trials.csv")
    assert len(trials) == 6 and trials.loc[0, "cv_score"] == pytest.approx(parent.data.metrics["best_trial_cv_score"])
    board = read_artifact(whole_run, "leaderboard.csv")
    assert board.loc[0, "model"] == whole_run.summary["winner"] and board.loc[0, "kind"] == "final"
    assert board.loc[0, "cv_score"] == pytest.approx(whole_run.summary["cv_score"], abs=5.1e-5)  # (to 4 digits)
    assert board.loc[0, "test_score"] == pytest.approx(parent.data.metrics["test_score"], abs=5.1e-5)
    assert board.loc[0, "cv_score"] == round(board.loc[0, "cv_score"], 4)
    assert board.loc[0, "fit_s"] > 0 and board.loc[0, "predict_ms_per_1k_rows"] > 0
    completed = trials.loc[trials["state"] == "COMPLETE", "family"]
    assert set(board.loc[board["kind"] == "family best", "family"]) == set(completed)


def test_permutation_importance_ranks_all_thirty_columns(whole_run):
    importance = read_artifact(whole_run, "evaluation/permutation_importance.csv")
    assert len(importance) == 30 and importance["importance"].iloc[0] >= importance["importance"].iloc[-1]


def test_the_champion_is_version_one_and_predicts_on_raw_rows(whole_run):
    """The registered champion loads as a pyfunc and predicts on raw rows (no preprocessing by the caller)."""
    config = whole_run.config
    version = MlflowClient(config.tracking.tracking_uri).get_model_version_by_alias(config.registered_model_name,
                                                                                    "champion")
    assert str(version.version) == whole_run.summary["version"] == "1"
    mlflow.set_tracking_uri(config.tracking.tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{config.registered_model_name}@champion")
    from sklearn.datasets import load_breast_cancer

    raw = load_breast_cancer(as_frame=True).frame.drop(columns="target").head(20)
    predictions = model.predict(raw)
    assert len(predictions) == 20 and set(predictions) <= {"malignant", "benign"}


def test_the_study_in_the_journal_holds_every_trial(whole_run):
    storage = make_storage(whole_run.config.tracking.optuna_storage)
    assert len(optuna.load_study(study_name=whole_run.summary["study_name"], storage=storage).trials) == 6


def test_the_flow_run_completed_with_a_task_per_step(parent):
    tags = parent.data.tags
    flow_run, task_runs = read_flow_run(tags["prefect.flow_run_id"])
    assert flow_run.state.is_completed() and flow_run.name == tags["prefect.flow_run_name"]
    assert flow_run.name.startswith("e2e-") and "automl-config:e2e" in flow_run.tags  # (not a typed name: renamed)
    assert {t.name.split("[")[0] for t in task_runs} >= {
        "load-and-validate", "start-mlflow-run", "feature-profile", "model-search", "refit-and-evaluate",
        "register-model"}


def test_progress_lines_sum_up_the_trials(whole_run, parent):
    """A line per PROGRESS_EVERY_S, the last after the search, each counting the trials since the one before."""
    progress = [line for line in whole_run.task_log if " trials done (+" in line]
    assert progress and progress[-1].startswith("6/6 trials done")
    assert f"{parent.data.metrics['best_trial_cv_score']:.4f}" in progress[-1]
    assert sum(int(line.split("(+")[1].split(":")[0]) for line in progress) == 6


# -- runs of their own ----------------------------------------------------------------------------


def test_bad_data_fails_in_the_first_task_in_one_line_before_any_run_is_written(make_config, store):
    """A run started from the UI's form with a bad target: the flow run fails in load-and-validate with
    the reason in one line (the state's message, and a log line), no traceback, nothing written."""
    config = make_config(data={"target": "diagnosis"})
    state = automl_pipeline(config, return_state=True)
    assert state.is_failed() and "\n" not in state.message
    assert state.message.startswith("load-and-validate: target column 'diagnosis' is not in the table")
    flow_run, task_runs = read_flow_run(state.state_details.flow_run_id)
    assert [t.state.type.value for t in task_runs] == ["FAILED"] and task_runs[0].name.startswith("load-and-validate")
    logs = read_logs(flow_run.id, until="automl: error: target column")
    assert any(line.startswith("automl: error: target column 'diagnosis'") for line in logs)
    assert not any("Traceback" in line for line in logs)
    assert not store.exists()  # no MLflow database, no artifacts, no study


@pytest.mark.parametrize("tracking, message", [
    ({"tracking_uri": "http://127.0.0.1:9/"}, r"tracking.tracking_uri 'http://127.0.0.1:9/' does not answer"),
    ({"optuna_storage": "/proc/automl/optuna.journal"}, r"tracking.optuna_storage '/proc/automl/optuna.journal': "
                                                        r"cannot write in '/proc'"),
])
def test_the_flows_first_task_makes_the_store_checks(make_config, store, tracking, message):
    """A deployment's run (the flow, no CLI in front) refuses a store as `automl validate` does, before
    any MLflow run exists; the study store stays untouched."""
    config = make_config(tracking=tracking)
    state = automl_pipeline(config, return_state=True)
    assert state.is_failed() and re.search(message, state.message)
    assert not store.exists()


def test_bad_config_is_refused_by_the_cli_before_anything_runs(tmp_path, store, store_settings, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "bad", "serch": {"n_trials": 2}, "tracking": store_settings(store)}))
    assert main(["run", str(path)]) == 2
    assert "unknown key 'serch' in RunConfig. Did you mean 'search'?" in capsys.readouterr().err
    assert not store.exists()


def test_a_failing_step_leaves_the_parent_run_failed(make_config, every_family_broken):
    # every trial fails, so the search step fails
    config = make_config(name="doomed", search={"n_trials": 2, "families": ["linear"]})
    with pytest.raises(RuntimeError, match="no trial of study 'doomed-.*' completed"):
        automl_pipeline(config)
    client = MlflowClient(config.tracking.tracking_uri)
    [parent] = client.search_runs([client.get_experiment_by_name("doomed").experiment_id],
                                  "attributes.run_name LIKE 'doomed-%'")
    assert parent.info.status == "FAILED"


def test_cli_runs_a_regression_config_with_packed_mlp_trials(store, store_settings, capsys, monkeypatch):
    config = Path(__file__).resolve().parents[2] / "config" / "diabetes.yaml"
    overrides = [f"tracking.{k}={v}" for k, v in store_settings(store).items()]
    reads = []  # the table is read and validated once: by the checks before the flow, which the flow takes
    monkeypatch.setattr(steps, "validate_data", lambda *args: reads.append(args) or validate_data(*args))
    code = main(["run", str(config), "--set", "search.n_trials=6", "--set", "search.families=[linear,mlp]",
                 "--set", "search.pack_trials=on", "--set", "search.pack_size=3",
                 *[arg for o in overrides for arg in ("--set", o)]])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "registered diabetes_regressor v1; champion moved" in captured.out
    assert len(reads) == 1
    client = MlflowClient(store_settings(store)["tracking_uri"])
    version = client.get_model_version_by_alias("diabetes_regressor", "champion")
    run = client.get_run(version.run_id)
    assert run.data.tags["task"] == "regression" and run.data.metrics["test_r2"] > 0.2
    assert run.data.params["pack_size"] == "3"
    children = client.search_runs([run.info.experiment_id], f"tags.`mlflow.parentRunId` = '{run.info.run_id}'")
    mlp_runs = [c for c in children if c.data.params["family"] == "mlp"]
    assert len(children) == 6 and len(mlp_runs) >= 3  # the default MLP leads a pack of 3
    assert all(c.data.tags["trial_state"] in {"COMPLETE", "PRUNED"} for c in mlp_runs)


def test_cli_validate_writes_nothing(store, capsys):
    config = Path(__file__).resolve().parents[2] / "config" / "wine.yaml"
    assert main(["validate", str(config), "--set", f"tracking.tracking_uri=sqlite:///{store}/x.db"]) == 0
    assert "178 rows, 13 columns" in capsys.readouterr().out and not store.exists()


def test_a_retried_register_task_makes_one_model_version(make_config, monkeypatch):
    """The registry is unreachable once, after the model was logged: Prefect retries the task,
    and the retry finds the logged model instead of making a second one."""
    real, calls = mlflow.register_model, []

    def unreachable_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("registry unreachable")
        return real(*args, **kwargs)

    monkeypatch.setattr(mlflow, "register_model", unreachable_once)
    config = make_config(name="retried", search={"n_trials": 2, "families": ["linear"]})
    summary = automl_pipeline(config)
    client = MlflowClient(config.tracking.tracking_uri)
    versions = client.search_model_versions("name = 'retried'")
    assert [str(v.version) for v in versions] == ["1"] and summary["version"] == "1" and len(calls) == 2
    parent = client.get_run(summary["parent_run_id"])
    assert len(client.search_logged_models(experiment_ids=[parent.info.experiment_id])) == 1
    _, task_runs = read_flow_run(parent.data.tags["prefect.flow_run_id"])
    [register] = [t for t in task_runs if t.name == "register-model"]
    assert register.run_count == 2 and register.state.is_completed()


@flow(name="automl-pipeline-on-processes", task_runner=ProcessPoolTaskRunner(max_workers=1))
def pipeline_on_processes(config):
    return pipeline_steps(config, on_task_runner)


def test_the_steps_run_on_a_task_runner_that_moves_them_to_another_process(make_config):
    """Every step runs in a worker process of a ProcessPoolTaskRunner: the values passed between
    steps are plain (no live tracker, client or process), as a Dask or Ray runner needs them too."""
    config = make_config(name="moved", search={"n_trials": 3, "families": ["linear", "mlp"]})
    summary = pipeline_on_processes(config)
    assert summary["n_trials"] == 3 and summary["version"] == "1"
    client = MlflowClient(config.tracking.tracking_uri)
    parent = client.get_run(summary["parent_run_id"])
    assert parent.info.status == "FINISHED"
    children = client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert len(children) == 3
    _, task_runs = read_flow_run(parent.data.tags["prefect.flow_run_id"])
    assert {t.name.split("[")[0] for t in task_runs} >= {"load-and-validate", "model-search", "register-model"}
    assert all(t.state.is_completed() for t in task_runs)


def test_a_temporary_server_that_does_not_start_is_one_line_saying_what_to_do(tmp_path, store, store_settings):
    """A loaded machine can miss the temporary server's start-up timeout (set to 0 s here to force
    it): one line naming the way out, exit code 3, nothing written, no server left running."""
    import os
    import subprocess
    import sys

    path = tmp_path / "busy.yaml"
    path.write_text(yaml.safe_dump({"name": "busy", "search": {"n_trials": 2, "families": ["linear"]},
                                    "tracking": store_settings(store)}))
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "home"),
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "0",
           "PREFECT_LOGGING_LEVEL": "INFO"}
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run", str(path)], cwd=Path(__file__).parents[2],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 3, done.stderr[-2000:]
    [line] = [line for line in done.stderr.splitlines() if line.startswith("automl: error:")]
    assert "temporary server did not start within 0 s" in line and "PREFECT_API_URL=http://127.0.0.1:4200/api" in line
    assert "Traceback" not in done.stderr and not store.exists()
    import re
    import socket

    [port] = re.findall(r"Starting temporary server on http://127.0.0.1:(\d+)", done.stdout + done.stderr)
    with socket.socket() as probe:  # the server it started is gone: nothing listens on its port
        assert probe.connect_ex(("127.0.0.1", int(port))) != 0


def test_two_runs_started_together_on_a_fresh_store_both_finish(tmp_path, store, store_settings):
    """Two `automl run` at once on a fresh store (and a fresh Prefect home): the store's tables are
    made once, each run has its own parent run and trials, two versions, and the champion alias
    points at the better one (or the first, on a tie), as both runs' records say."""
    import os
    import subprocess
    import sys

    path = tmp_path / "twins.yaml"
    # (champion: if_better, so the better test score decides, whichever run registers second)
    path.write_text(yaml.safe_dump({"name": "twins", "champion": "if_better",
                                    "search": {"n_trials": 3, "cv_folds": 2, "families": ["linear"]},
                                    "tracking": {**store_settings(store),
                                                 "optuna_storage": f"sqlite:///{store / 'optuna.db'}"}}))
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "home")}
    env.pop("PREFECT_API_URL", None)
    command = [sys.executable, "-m", "flows.cli", "run", str(path)]
    runs = [subprocess.Popen(command + ["--set", f"seed={seed}"], cwd=Path(__file__).parents[2], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for seed in (1, 2)]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], "\n".join(out[-2000:] for out in outputs)
    client = MlflowClient(store_settings(store)["tracking_uri"])
    experiment = client.get_experiment_by_name("twins").experiment_id
    parents = client.search_runs([experiment], "tags.`optuna_study` LIKE 'twins-%'")
    assert len(parents) == 2 and all(p.info.status == "FINISHED" for p in parents)
    for parent in parents:
        children = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
        assert len(children) == 3
    versions = {str(v.version): float(v.tags["test_score"]) for v in client.search_model_versions("name = 'twins'")}
    assert sorted(versions) == ["1", "2"]
    best = max(versions.values())
    champion = str(client.get_model_version_by_alias("twins", "champion").version)
    assert versions[champion] == best and (champion == "1" or versions["1"] < best)
    moved = {p.data.tags["registered_version"]: p.data.tags["champion_moved"] for p in parents}
    assert moved[champion] == "True"
