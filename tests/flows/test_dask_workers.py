"""Search workers on other hosts, on loopback: the session's `prefect server start`, a `dask
scheduler` and two `dask worker`s; `automl run` puts its search-worker tasks on them through
Prefect's Dask task runner, and one study is filled exactly once."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import mlflow
import optuna
import pytest
import yaml

from automl.search import make_storage
from tests.servers import free_port

pytestmark = pytest.mark.e2e
DASK = Path(sys.executable).parent / "dask"


@pytest.fixture
def dask_cluster(server, tmp_path):
    """A Dask scheduler and two single-thread workers on 127.0.0.1, seeing the Prefect API."""
    distributed = pytest.importorskip("distributed")
    port = free_port()
    env = {**os.environ, "PREFECT_API_URL": server, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_HOME": str(tmp_path / "dask-prefect-home")}
    log = open(tmp_path / "dask.log", "w")
    started = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                 "--no-dashboard"], env=env, stdout=log, stderr=subprocess.STDOUT)]
    address = f"tcp://127.0.0.1:{port}"
    started += [subprocess.Popen([str(DASK), "worker", address, "--nthreads", "1", "--no-dashboard",
                                  "--name", f"host-{i}"], env=env, stdout=log, stderr=subprocess.STDOUT)
                for i in range(2)]
    try:
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for process in started[::-1]:
            process.terminate()
            process.wait(timeout=30)


def test_two_dask_workers_fill_one_study_as_prefect_tasks(make_config, dask_cluster, server, tmp_path):
    """`automl run` against a Prefect server, as on many hosts: the search-worker tasks run on
    the Dask workers, each filling the one study; one parent run, one registration."""
    config = make_config(name="dask-workers", data={"source": "sklearn:wine"},
                         search={"n_trials": 8, "workers": 2, "cv_folds": 2, "dask_address": dask_cluster,
                                 "families": ["linear", "hist_gradient_boosting"]})
    path = tmp_path / "dask-workers.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    env = {**os.environ, "PREFECT_API_URL": server, "PREFECT_HOME": str(tmp_path / "cli-prefect-home")}
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run", str(path)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    client = mlflow.MlflowClient(config.tracking.tracking_uri)
    [parent] = client.search_runs([client.get_experiment_by_name(config.experiment_name).experiment_id],
                                  "tags.`mlflow.parentRunId` IS NULL")
    study_name = parent.data.tags["optuna_study"]
    study = optuna.load_study(study_name=study_name, storage=make_storage(config.tracking.optuna_storage))
    assert sorted(t.number for t in study.trials) == list(range(8))
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent.info.run_id}'", max_results=100)
    assert sorted(int(c.data.tags["trial_number"]) for c in children) == list(range(8))
    assert {c.data.tags["worker"] for c in children} == {"0", "1"}
    assert parent.info.status == "FINISHED" and parent.data.metrics["n_trials"] == 8
    assert [str(v.version) for v in client.search_model_versions("name = 'dask-workers'")] == ["1"]
    # This run's (the server is the session's): the tasks of its search-workers subflow, named after the study.
    found = httpx.post(f"{server}/task_runs/filter", json={
        "flow_runs": {"name": {"any_": [f"search-workers[{study_name}]"]}},
        "task_runs": {"name": {"any_": ["search-worker[0]", "search-worker[1]"]}}, "limit": 50}).json()
    assert sorted((r["name"], r["state"]["type"]) for r in found) == [("search-worker[0]", "COMPLETED"),
                                                                      ("search-worker[1]", "COMPLETED")]
