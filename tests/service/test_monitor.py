"""`automl monitor` on a real champion: fresh rows from the training distribution do not drift, a
rescaled column and a selected slice do; the reference is stored with the version at training
time; bad input is one line and writes no run."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from automl.config import MonitorConfig
from automl.service import REFERENCE_PATH, ServiceError, log_monitoring, monitor_batch, monitor_markdown
from flows.cli import main
from tests.customers import customers


def test_reference_is_stored_with_the_version(champion):
    _, uri, _, _ = champion
    client = MlflowClient(uri)
    version = client.get_model_version("customers", "1")
    reference = json.loads(Path(client.download_artifacts(version.run_id, REFERENCE_PATH)).read_text())
    assert reference["target"] == {"name": "label", "classes": ["no", "yes"]}
    assert set(reference["numeric"]) >= {"signal", "spend", "visits"} and set(reference["categorical"]) == {"plan"}
    assert sum(reference["numeric"]["signal"]["shares"]) == pytest.approx(1.0)
    assert len(reference["numeric"]["signal"]["edges"]) == 9  # deciles of a continuous column
    assert reference["categorical"]["plan"]["missing_rate"] == pytest.approx(0.1, abs=0.05)
    assert reference["test_score"] == pytest.approx(float(version.tags["test_score"]))
    assert sum(reference["prediction"]["levels"].values()) == pytest.approx(1.0)


def test_no_shift_is_not_drift(champion, tmp_path):
    _, uri, _, _ = champion
    customers(600, seed=11).to_csv(tmp_path / "fresh.csv", index=False)
    result = monitor_batch("models:/customers@champion", str(tmp_path / "fresh.csv"), uri, chunk_rows=128)
    assert not result.drifted, result.reasons
    assert result.rows == 600 and result.table["psi"].max() < 0.2
    assert result.live_score is not None and abs(result.live_score - result.test_score) < 0.1  # label found by name
    assert result.prediction_psi < 0.2
    run_id = log_monitoring(result, str(tmp_path / "fresh.csv"))
    run = MlflowClient(uri).get_run(run_id)
    assert run.data.tags["drifted"] == "false" and run.data.tags["model_version"] == "1"
    assert run.data.metrics["psi/signal"] == pytest.approx(float(result.table.set_index("column").loc["signal", "psi"]))
    names = {a.path for a in MlflowClient(uri).list_artifacts(run_id, "drift")}
    assert names == {"drift/drift_table.csv", "drift/report.html"}


def test_a_rescaled_column_and_a_selected_slice_drift(champion, tmp_path):
    _, uri, _, _ = champion
    rescaled = customers(600, seed=12)
    rescaled["spend"] *= 3
    rescaled.to_csv(tmp_path / "rescaled.csv", index=False)
    result = monitor_batch("models:/customers@champion", str(tmp_path / "rescaled.csv"), uri, chunk_rows=100)
    assert result.drifted and result.table.iloc[0]["column"] == "spend"
    assert result.reasons[0].startswith("spend: PSI ")
    assert list(result.table["psi"]) == sorted(result.table["psi"], reverse=True)
    slice_ = customers(2000, seed=13).query("signal > 0.5")
    slice_.drop(columns="label").to_parquet(tmp_path / "slice.parquet", index=False)
    result = monitor_batch("models:/customers@champion", str(tmp_path / "slice.parquet"), uri)
    assert result.drifted and "signal" in result.reasons[0] and result.live_score is None
    assert result.prediction_psi > 0.2  # nearly every row predicted 'yes'
    assert "| signal | numeric |" in monitor_markdown(result)


def test_a_score_drop_alone_drifts(champion, tmp_path):
    _, uri, _, _ = champion
    flipped = customers(600, seed=14)
    flipped["label"] = np.where(flipped["label"] == "yes", "no", "yes")  # the same rows, the world changed
    flipped.to_csv(tmp_path / "flipped.csv", index=False)
    result = monitor_batch("models:/customers@champion", str(tmp_path / "flipped.csv"), uri,
                           settings=MonitorConfig(psi_threshold=0.2, max_score_drop=0.05))
    assert result.table["psi"].max() < 0.2 and result.drifted
    assert result.reasons[0].startswith("live roc_auc ")


def test_cli_drift_without_a_deployment_says_what_to_run(champion, tmp_path, capsys, monkeypatch):
    _, uri, _, _ = champion
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    batch = customers(400, seed=15)
    batch["visits"] = batch["visits"] + 30
    batch.to_csv(tmp_path / "b.csv", index=False)
    # (the session's Prefect server, when an earlier test started one, is in Prefect's settings: not here)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert main(["monitor", "--model", "models:/customers@champion", "--input", str(tmp_path / "b.csv"),
                     "--tracking-uri", uri]) == 1
    out = capsys.readouterr().out
    assert "drifted: visits: PSI" in out and "automl trigger <customers's config>" in out


@pytest.mark.parametrize("case, expected", [
    ("target_of_another_type", r"target column 'label' holds '\d', which is not a class of the model \(no, yes\)"),
    ("no_reference", r"model bare v1 has no reference profile .*automl run CONFIG"),
    ("empty", r"holds no rows"),
])
def test_bad_input_is_one_line_and_writes_no_run(champion, unreferenced_model, tmp_path, capsys, case, expected):
    _, uri, _, _ = champion
    batch = customers(50, seed=16)
    model = unreferenced_model if case == "no_reference" else "models:/customers@champion"
    if case == "target_of_another_type":
        batch["label"] = (batch["label"] == "yes").astype(int)
    elif case == "empty":
        batch = batch.iloc[:0]
    batch.to_csv(tmp_path / "b.csv", index=False)
    capsys.readouterr()  # (what registering the bare model printed, when this test made it)
    client = MlflowClient(uri)
    before = client.get_experiment_by_name("customers-monitoring")
    runs_before = len(client.search_runs([before.experiment_id])) if before else 0
    assert main(["monitor", "--model", model, "--input", str(tmp_path / "b.csv"), "--tracking-uri", uri]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(expected, err), err
    after = client.get_experiment_by_name("customers-monitoring")
    assert (len(client.search_runs([after.experiment_id])) if after else 0) == runs_before
    with pytest.raises(ServiceError):
        monitor_batch(model, str(tmp_path / "b.csv"), uri)
