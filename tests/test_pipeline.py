"""The pipeline without Prefect (`run_pipeline`), on a CSV with categoricals and gaps, through the registry."""

import datetime as dt

import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest

import automl.pipeline as pipeline
from automl.config import ConfigError
from automl.pipeline import load_and_validate, run_pipeline
from automl.search import make_storage


def test_csv_with_categoricals_and_gaps_serves_raw_rows(tmp_path, make_config, mixed_frame):
    path = tmp_path / "mixed.csv"
    mixed_frame.assign(flag=np.arange(len(mixed_frame)) % 2 == 0).to_csv(path, index=False)
    config = make_config(name="mixed", data={"source": str(path), "target": "label"},
                         search={"n_trials": 4, "cv_folds": 2, "families": ["linear", "hist_gradient_boosting"]})
    result = run_pipeline(config)
    assert result.n_trials == 4 and result.test_metrics["test_roc_auc"] > 0.8
    assert result.registration.moved_alias and result.registration.version == "1"
    client = mlflow.MlflowClient(config.tracking.tracking_uri)
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["device"] == "cpu"
    assert parent.data.metrics["n_trials"] == 4 and parent.data.params["cv_folds_used"] == "2"

    mlflow.set_tracking_uri(config.tracking.tracking_uri)
    model = mlflow.pyfunc.load_model("models:/mixed@champion")
    raw = pd.read_csv(path).drop(columns="label").head(4)
    raw.loc[0, "colour"] = "purple"  # a category never seen in training
    raw.loc[1, "noise"] = np.nan
    raw.loc[2, "colour"] = np.nan
    assert set(model.predict(raw)) <= {"yes", "no"}  # gaps where training had gaps: imputed
    raw.loc[3, "count"] = np.nan  # a gap in a column that had none: refused, naming it
    with pytest.raises(mlflow.exceptions.MlflowException, match=r"^column 'count' is required but has 1 missing"):
        model.predict(raw)
    assert set(model.predict(raw.drop(columns=["noise", "colour"]).head(3))) <= {"yes", "no"}  # optional ones


def test_two_runs_of_one_config_in_the_same_second_get_their_own_study(tmp_path, make_config, mixed_frame,
                                                                        monkeypatch):
    """A schedule tick and a UI trigger can start one config in the same second: the run name (also
    the Optuna study's name) must still differ, or the second run fails with DuplicatedStudyError."""

    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime(2026, 11, 22, 12, 0, 0, tzinfo=tz)

    monkeypatch.setattr(pipeline, "datetime", Frozen)
    path = tmp_path / "mixed.csv"
    mixed_frame.to_csv(path, index=False)
    config = make_config(name="twice", data={"source": str(path), "target": "label"},
                         search={"n_trials": 2, "cv_folds": None, "families": ["linear"]})
    first, second = run_pipeline(config), run_pipeline(config)
    assert first.study_name != second.study_name
    assert first.study_name.startswith("twice-20261122-120000-")
    stored = optuna.get_all_study_names(make_storage(config.tracking.optuna_storage))
    assert {first.study_name, second.study_name} <= set(stored)
    # cv_folds left empty: 150 training rows are a small table, so 5 folds, logged on the parent run
    parent = mlflow.MlflowClient(config.tracking.tracking_uri).get_run(first.parent_run_id)
    assert parent.data.params["cv_folds_used"] == "5"
    assert second.registration.version == "2"


def test_the_device_is_decided_once_and_checked_before_anything_is_written(make_config, store):
    prepared = load_and_validate(make_config(search={"families": ["linear", "mlp"]}))
    import torch

    assert prepared.device == ("cuda" if torch.cuda.is_available() else "cpu")
    assert load_and_validate(make_config(device="cuda", search={"families": ["linear"]})).device == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available on this machine"):
            load_and_validate(make_config(device="cuda", search={"families": ["mlp"]}))
    assert not store.exists()


def test_the_run_the_version_and_the_model_describe_themselves(champion):
    """What MLflow shows first: the parent run's description (what won out of fold, the trials, the test
    score and rows, the champion's verdict), the version's, and the registered model's (what it
    predicts, from which table, and the champion policy)."""
    from mlflow import MlflowClient

    config, uri, _, _ = champion
    client = MlflowClient(uri)
    version = client.get_model_version_by_alias("customers", "champion")
    run = client.get_run(version.run_id)
    note = run.data.tags["mlflow.note.content"]
    won = run.data.tags["winner"]
    assert note.startswith(f"**{won}** won: roc_auc {float(run.data.metrics['winner_cv_score']):.4f} out of fold")
    assert "3 trials: 3 complete, 0 pruned, 0 failed." in note
    assert "**champion moved**, the first registered model" in note
    assert f"Test roc_auc {run.data.metrics['test_score']:.4f} on 60 rows" in note and "Took 0 min" in note
    assert version.description == "Champion moved: the first registered model.\n\n" + note.rsplit("\n\nTook", 1)[0]
    assert version.tags["test_rows"] == "60" and float(version.tags["cv_score"]) == run.data.metrics["winner_cv_score"]
    model = client.get_registered_model("customers").description
    assert model.startswith("Predicts `label` (binary, roc_auc) from ") and "not worse on the test rows" in model


def test_the_champion_stays_with_a_clearly_better_model_and_moves_to_one_as_good(tmp_path, make_config):
    """if_not_worse on whole runs, both ways: the label is the sign of x1·x2, which boosting learns and
    a linear model cannot. A linear run after the boosting champion is worse on the same test rows
    beyond their noise (the champion, loaded from the registry, predicts them): kept. The boosting
    config run again makes the same model: as good out of fold and on the test rows: moved."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.uniform(-1, 1, (400, 3)), columns=["x1", "x2", "noise"])
    frame["label"] = np.where(frame.x1 * frame.x2 > 0, "same", "opposite")
    path = tmp_path / "xor.csv"
    frame.to_csv(path, index=False)

    def run(families):
        return run_pipeline(make_config(name="xor", data={"source": str(path), "target": "label"},
                                        search={"n_trials": 1, "cv_folds": 2, "families": families}))

    first = run(["hist_gradient_boosting"]).registration
    linear = run(["linear"]).registration
    assert not linear.moved_alias and linear.reason.startswith("kept: worse than champion v1 beyond the noise on the "
                                                               "80 test rows (Δ -0.")
    again = run(["hist_gradient_boosting"]).registration
    assert first.moved_alias and again.moved_alias, again.reason
    assert again.reason.startswith("moved: at least as good out of fold") and "(Δ +0.0000" in again.reason
    client = mlflow.MlflowClient(make_config().tracking.tracking_uri)
    assert str(client.get_model_version_by_alias("xor", "champion").version) == "3"
