"""`automl distill` on a real (small) champion, on the CPU with a tiny budget: the student is a new
version of the same registered model with the alias `student` (champion unchanged), loads from
models:/shop@student and predicts raw rows (labels and probabilities); the distillation run holds
the comparison with every column, the student study's child runs, and what `automl monitor` reads."""

import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from automl.config import parse_config
from automl.distill import COMPARISON_COLUMNS
from flows.deploy import deployments_for
from tests.customers import customers

NUMBERS = ["rows_per_s", "latency_ms", "pipeline_latency_ms", "size_mb", "model_mb", "speed_ratio", "latency_ratio"]


def _artifact(uri: str, run_id: str, path: str) -> Path:
    folder = tempfile.mkdtemp(prefix="distill-test-")
    return Path(MlflowClient(uri).download_artifacts(run_id, path, folder))


def test_the_student_is_registered_with_its_alias_and_the_champion_stays(distilled, shop_teacher):
    assert distilled.code == 0, distilled.err
    client = MlflowClient(shop_teacher.tracking_uri)
    assert str(client.get_model_version_by_alias("shop", "champion").version) == "1"
    version = client.get_model_version("shop", distilled.version)
    assert int(distilled.version) > 1 and "student" in version.aliases and "champion" not in version.aliases
    assert version.tags["automl.role"] == "student" and version.tags["teacher_version"] == "1"
    assert version.tags["teacher_uri"] == "models:/shop@champion" and version.tags["metric"] == "roc_auc"
    assert 0.5 < float(version.tags["test_score"]) <= 1.0
    run = client.get_run(distilled.run_id)
    assert client.get_experiment(run.info.experiment_id).name == "shop-distillation"
    assert run.info.status == "FINISHED" and run.data.tags["model_version"] == "1"  # (the teacher's)
    assert run.data.tags["registered_version"] == distilled.version
    children = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{distilled.run_id}'")
    assert len(children) == 3 and {c.data.tags["family"] for c in children} <= {"mlp", "hist_gradient_boosting"}
    assert all("val_roc_auc" in c.data.metrics and c.data.metrics["size_bytes"] > 0 for c in children)
    assert f"registered shop v{distilled.version} with alias 'student'" in distilled.out
    assert distilled.err.count("student ") >= 3  # a line per student trained


def test_the_student_loads_from_the_registry_and_predicts_raw_rows(distilled, shop_teacher):
    mlflow.set_tracking_uri(shop_teacher.tracking_uri)
    model = mlflow.pyfunc.load_model("models:/shop@student")
    assert model.metadata.run_id == distilled.run_id
    rows = customers(40, seed=5).drop(columns="label").assign(note="a column the model never saw")
    rows["plan"] = rows["plan"].astype(object)
    rows.loc[3, "plan"] = None  # (plan had gaps in training: optional)
    labels = model.predict(rows)
    assert len(labels) == 40 and set(labels) <= {"no", "yes"}
    proba = model.predict(rows, params={"predict_method": "predict_proba"})
    assert list(proba.columns) == ["no", "yes"] and np.allclose(proba.sum(axis=1), 1.0)
    assert list(labels) == list(np.where(proba["yes"] > 0.5, "yes", "no"))
    teacher = mlflow.pyfunc.load_model("models:/shop@champion")
    assert np.mean(labels == teacher.predict(rows)) >= 0.8
    with pytest.raises(MlflowException, match=r"^column 'signal' is missing"):
        model.predict(rows.drop(columns="signal"))


def test_the_comparison_run_has_every_column(distilled, shop_teacher):
    uri = shop_teacher.tracking_uri
    table = pd.read_csv(_artifact(uri, distilled.run_id, "comparison/comparison.csv"))
    assert list(table.columns) == COMPARISON_COLUMNS
    assert table["model"].tolist()[:2] == ["teacher", "student"] and set(table["model"]) <= {
        "teacher", "student", "student_int8"}
    assert (table[NUMBERS] > 0).all().all() and table["test_score"].between(0.5, 1.0).all()
    assert table["registered"].sum() == 1 and table.loc[0, "score_ratio"] == 1.0
    metrics = MlflowClient(uri).get_run(distilled.run_id).data.metrics
    for model in table["model"]:
        assert all(f"{model}/{column}" in metrics for column in ["test_score", *NUMBERS])
    trials = pd.read_csv(_artifact(uri, distilled.run_id, "students/trials.csv"))
    assert len(trials) == 3 and trials["chosen"].sum() == 1
    assert _artifact(uri, distilled.run_id, "comparison/score_vs_speed.png").stat().st_size > 0
    assert _artifact(uri, distilled.run_id, "reference/reference.json").is_file()  # automl monitor can watch it


def test_a_distill_schedule_adds_its_deployment():
    config = parse_config({"name": "shop", "distill": {"schedule": {"cron": "0 5 * * *"}, "students": ["mlp"]}})
    made = deployments_for(config)
    assert [line for _, line in made][1] == ("deployment 'automl-distill/shop' (models:/shop@champion → @student): "
                                             "cron '0 5 * * *' (UTC); at most 1 at once, newer ones queued")
    deployment = made[1][0]
    assert deployment.name == "shop" and deployment.parameters["config"]["distill"]["students"] == ["mlp"]
    assert deployment.schedules[0].schedule.cron == "0 5 * * *" and deployment.enforce_parameter_schema
    assert len(deployments_for(parse_config({"name": "shop"}))) == 1  # no schedule: no distill deployment
