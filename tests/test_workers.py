"""`search.workers`: worker processes fill one study (a journal file, or PostgreSQL) with exact
counts, every trial a child run of the one parent, the ensemble and registration done once; and
PostgreSQL as the store of both Optuna and MLflow (an `mlflow server` on it)."""

import os
import subprocess
import sys
from collections import Counter

import mlflow
import optuna
import pytest
import yaml

from automl.config import ConfigError, parse_config, resolve_stores
from automl.pipeline import load_and_validate, run_pipeline
from automl.search import make_storage
from automl.stores import check_stores
from tests.postgres_cluster import PASSWORD


def study_of(config, name):
    return optuna.load_study(study_name=name, storage=make_storage(config.tracking.optuna_storage))


def assert_one_search(config, result, n_trials, workers):
    """Exactly n_trials trials, numbered once each, all finished; one child run each under the
    parent, run by more than one worker; each warm-start default once; one registered version."""
    study = study_of(config, result.study_name)
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == list(range(n_trials))
    assert all(t.state.is_finished() for t in study.trials)
    warm = Counter(t.user_attrs["warm_start"] for t in study.trials if "warm_start" in t.user_attrs)
    assert warm and set(warm.values()) == {1}  # each default enqueued by one worker only
    client = mlflow.MlflowClient(config.tracking.tracking_uri)
    parent = client.get_run(result.parent_run_id)
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{result.parent_run_id}'", max_results=1000)
    assert sorted(int(c.data.tags["trial_number"]) for c in children) == list(range(n_trials))
    assert len({c.data.tags["worker"] for c in children}) > 1
    assert {c.data.tags["worker"] for c in children} <= {str(i) for i in range(workers)}
    assert parent.info.status == "FINISHED" and parent.data.metrics["n_trials"] == n_trials
    versions = client.search_model_versions(f"name = '{config.registered_model_name}'")
    assert [str(v.version) for v in versions] == ["1"] and result.registration.version == "1"
    return study, children


def test_two_workers_on_a_journal_file_fill_the_study_once(make_config):
    config = make_config(name="workers-journal", data={"source": "sklearn:wine"},
                         search={"n_trials": 10, "workers": 2, "cv_folds": 2,
                                 "families": ["linear", "hist_gradient_boosting"]})
    result = run_pipeline(config)
    assert result.n_trials == 10
    assert_one_search(config, result, 10, 2)


@pytest.mark.e2e
def test_four_workers_on_postgresql_with_mlflow_on_postgresql(make_config, postgres, mlflow_on_postgres, store):
    """The issue's setting: the Optuna study on PostgreSQL, MLflow behind an `mlflow server` backed
    by PostgreSQL with a local artifact root; 4 workers, 24 trials (6 each), cheap models."""
    uri = mlflow_on_postgres.uri
    config = make_config(name="workers-pg", data={"source": "sklearn:breast_cancer"},
                         search={"n_trials": 24, "workers": 4, "cv_folds": 2, "families": ["linear"]},
                         tracking={"tracking_uri": uri, "optuna_storage": postgres.new_database()})
    result = run_pipeline(config)
    assert result.n_trials == 24 and result.cv_score > 0.95
    study, children = assert_one_search(config, result, 24, 4)
    parent = mlflow.MlflowClient(uri).get_run(result.parent_run_id)
    written = [*parent.data.params.values(), *parent.data.tags.values()]
    written += [v for c in children for v in (*c.data.params.values(), *c.data.tags.values())]
    assert PASSWORD not in " ".join(written) and "automl:***@127.0.0.1" in parent.data.tags["optuna_storage"]
    for artifacts in (mlflow_on_postgres.artifacts, store):  # the workers' job is gone
        assert not list(artifacts.rglob("workers-job.pkl"))


@pytest.mark.e2e
def test_postgresql_is_a_store_like_any_other(postgres):
    url = postgres.new_database()
    check_stores(resolve_stores(parse_config({"tracking": {"optuna_storage": url}}).tracking))
    wrong = url.replace(f":{PASSWORD}@", ":wrong@")
    with pytest.raises(ConfigError, match=r"optuna_storage 'postgresql://automl:\*\*\*@127.0.0.1:\d+/t_\w+' "
                                          r"does not accept a connection \(.*password authentication failed"):
        check_stores(resolve_stores(parse_config({"tracking": {"optuna_storage": wrong}}).tracking))


def test_without_the_driver_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg2", None)  # as if not installed
    config = parse_config({"tracking": {"optuna_storage": "postgresql://u:pw@127.0.0.1:1/optuna"}})
    with pytest.raises(ConfigError, match=r"needs the database driver 'psycopg2', which is not installed; "
                                          r"run: pip install 'automl\[postgres\]'"):
        check_stores(resolve_stores(config.tracking))


@pytest.mark.e2e
def test_a_password_in_the_config_is_refused_for_dask_workers_before_anything_is_written(make_config, postgres,
                                                                                        monkeypatch, store):
    """Workers on other hosts cannot read a password this process holds: refused in
    load_and_validate, before anything is written; a ${VAR} of the user's passes."""
    url = postgres.new_database()

    def config(storage):
        return make_config(name="dask-password", data={"source": "sklearn:wine"},
                           search={"workers": 2, "dask_address": "tcp://127.0.0.1:1", "families": ["linear"]},
                           tracking={"optuna_storage": storage})

    with pytest.raises(ConfigError, match=r"tracking.optuna_storage holds a password in the config; .*"
                                          r"write it as \$\{VAR\} \(e.g. \$\{PG_URL\}\) and set VAR on every host"):
        load_and_validate(config(url))
    assert not store.exists()  # nothing written
    monkeypatch.setenv("PG_URL", url)
    assert load_and_validate(config("${PG_URL}")).stores.optuna_storage == url


@pytest.mark.e2e
def test_two_runs_at_once_on_the_postgresql_backed_server_agree_on_one_champion(postgres, mlflow_on_postgres,
                                                                                tmp_path):
    """Two pipeline runs in two processes at once, MLflow behind a server on PostgreSQL, the study
    on PostgreSQL: each its own parent and trials, two versions, and the champion alias on the
    better one as both runs' records say (the decision ordered by a PostgreSQL advisory lock)."""
    uri = mlflow_on_postgres.uri
    path = tmp_path / "twins.yaml"
    path.write_text(yaml.safe_dump({
        "name": "pg-twins", "data": {"source": "sklearn:breast_cancer"}, "champion": "if_better",
        "search": {"n_trials": 3, "cv_folds": 2, "families": ["linear"]},
        "tracking": {"tracking_uri": uri, "artifact_location": str(tmp_path / "artifacts"),
                     "optuna_storage": "${PG_URL}"}}))
    env = {**os.environ, "PG_URL": postgres.new_database()}
    script = ("import sys; from automl.config import load_config; from automl.pipeline import run_pipeline; "
              "run_pipeline(load_config(sys.argv[1], [f'seed={sys.argv[2]}']))")
    runs = [subprocess.Popen([sys.executable, "-c", script, str(path), str(seed)], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for seed in (1, 2)]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], "\n".join(out[-2000:] for out in outputs)
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("pg-twins").experiment_id
    parents = client.search_runs([experiment], "tags.`optuna_study` LIKE 'pg-twins-%'")
    assert len(parents) == 2 and all(p.info.status == "FINISHED" for p in parents)
    for parent in parents:
        assert len(client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")) == 3
    versions = {str(v.version): float(v.tags["test_score"]) for v in client.search_model_versions("name = 'pg-twins'")}
    assert sorted(versions) == ["1", "2"]
    champion = str(client.get_model_version_by_alias("pg-twins", "champion").version)
    assert versions[champion] == max(versions.values()) and (champion == "1" or versions["1"] < versions[champion])
    moved = {p.data.tags["registered_version"]: p.data.tags["champion_moved"] for p in parents}
    assert moved[champion] == "True"
