"""Secrets stay secret: a password planted in the tracking URL of a real run (`automl run`, against a
real MLflow server) is found in no store afterwards: not in MLflow's database or artifacts, not in
the Optuna journal, not in Prefect's database, not in what the run printed."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from automl.config import hide_passwords, literal_passwords, parse_config, resolve_stores
from tests.servers import free_port, serving

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """`mlflow server` on loopback with its own SQLite database and artifact folder."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    with serving(["mlflow", "server", "--backend-store-uri", f"sqlite:///{folder / 'server.db'}",
                  "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
                  "--workers", "1"],
                 f"http://127.0.0.1:{port}/health", folder / "server.log"):
        yield port, folder


def holding(folders: list[Path], secret: str) -> list[str]:
    """Every file under the folders whose bytes hold `secret`."""
    return [str(p) for folder in folders for p in folder.rglob("*")
            if p.is_file() and secret.encode() in p.read_bytes()]


def test_a_planted_password_reaches_no_store(tmp_path, mlflow_server, prefect_home):
    port, server_folder = mlflow_server
    password = f"pw-{uuid.uuid4().hex}"
    url = f"http://automl:{password}@127.0.0.1:{port}"
    config = {"name": "secretive", "search": {"n_trials": 3, "cv_folds": 2, "families": ["linear"]},
              "tracking": {"tracking_uri": url, "artifact_location": str(tmp_path / "artifacts"),
                           "optuna_storage": str(tmp_path / "optuna.journal")}}
    path = tmp_path / "secretive.yaml"
    path.write_text(yaml.safe_dump(config))
    home = prefect_home
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run", str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    client = MlflowClient(f"http://127.0.0.1:{port}")
    [parent] = client.search_runs([client.get_experiment_by_name("secretive").experiment_id],
                                  "tags.`optuna_study` LIKE 'secretive-%'")
    assert parent.info.status == "FINISHED" and parent.data.metrics["n_trials"] == 3
    assert parent.data.params["config.tracking.tracking_uri"] == "${AUTOML_SECRET_TRACKING_URI}"
    stores = [server_folder, tmp_path / "artifacts", home]
    assert any((tmp_path / "artifacts").rglob("resolved_config.json"))
    assert list(home.rglob("*.db")), "the run used no Prefect database under its PREFECT_HOME"
    assert holding(stores, parent.info.run_id), "the grep reads the stores the run wrote"
    assert holding(stores + [tmp_path / "optuna.journal"], password) == []
    assert password not in done.stdout + done.stderr and "http://automl:***@127.0.0.1" in done.stdout


def test_passwords_are_masked_moved_to_the_environment_or_refused(monkeypatch, tmp_path):
    literal = parse_config({"tracking": {"optuna_storage": "postgresql://me:s3cret@db:5432/optuna"}})
    assert literal.public_values()["tracking"]["optuna_storage"] == "postgresql://me:***@db:5432/optuna"
    assert literal_passwords(literal) == ["tracking.optuna_storage"]
    hidden, secrets = hide_passwords(literal)
    assert hidden.tracking.optuna_storage == "${AUTOML_SECRET_OPTUNA_STORAGE}" and literal_passwords(hidden) == []
    assert secrets == {"AUTOML_SECRET_OPTUNA_STORAGE": "postgresql://me:s3cret@db:5432/optuna"}
    assert "AUTOML_SECRET_OPTUNA_STORAGE" not in os.environ  # the caller decides where it goes
    monkeypatch.setenv("AUTOML_SECRET_OPTUNA_STORAGE", secrets["AUTOML_SECRET_OPTUNA_STORAGE"])
    assert resolve_stores(hidden.tracking).optuna_storage == "postgresql://me:s3cret@db:5432/optuna"
    monkeypatch.setenv("PG_URL", "postgresql://me:other@db/optuna")
    by_name = parse_config({"tracking": {"optuna_storage": "${PG_URL}"}})
    assert by_name.public_values()["tracking"]["optuna_storage"] == "${PG_URL}"
    assert resolve_stores(by_name.tracking).optuna_storage == "postgresql://me:other@db/optuna"

    from automl.config import ConfigError
    from flows.deploy import load_configs

    path = tmp_path / "leaky.yaml"
    path.write_text(yaml.safe_dump({"name": "leaky", "tracking": {"tracking_uri": "http://u:pw@127.0.0.1:5000"}}))
    with pytest.raises(ConfigError, match=r"tracking.tracking_uri holds a password, and a deployment's parameters "
                                          r"are stored in Prefect's database; write the URL as \$\{PG_URL\}"):
        load_configs([str(path)])
