"""The registered model takes the rows users send: read straight from the training CSV (integers
where training had integers), numbers where training read text, inf, zero rows."""

import json

import mlflow
import numpy as np
import pandas as pd
import pytest

from automl.config import parse_config
from automl.pipeline import run_pipeline


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One run on a CSV with an all-integer column, a parsed '?' column and a date; its champion."""
    folder = tmp_path_factory.mktemp("served")
    rng = np.random.default_rng(3)
    n = 160
    signal = rng.normal(size=n)
    frame = pd.DataFrame({
        "customer_id": np.arange(n) + 5000, "visits": rng.integers(0, 40, size=n),
        "spend": [f"{v:.1f}" if i % 10 else "?" for i, v in enumerate(rng.gamma(2, 50, size=n))],
        "since": pd.date_range("2023-03-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        "signal": signal, "plan": rng.choice(["a", "b"], size=n), "label": np.where(signal > 0, "yes", "no")})
    path = folder / "customers.csv"
    frame.to_csv(path, index=False)
    store = folder / "mlruns"
    config = parse_config({"name": "customers", "data": {"source": str(path), "target": "label"},
                           "search": {"n_trials": 3, "cv_folds": 2, "families": ["linear", "hist_gradient_boosting"]},
                           "tracking": {"tracking_uri": f"sqlite:///{store / 'mlflow.db'}",
                                        "artifact_location": str(store / "artifacts"),
                                        "optuna_storage": str(store / "optuna.journal")}})
    result = run_pipeline(config)
    mlflow.set_tracking_uri(config.tracking.tracking_uri)
    return path, result, config, mlflow.pyfunc.load_model("models:/customers@champion")


def test_rows_straight_from_the_training_csv(served):
    path, _, _, model = served
    rows = pd.read_csv(path).head(20)  # with the target and the ID: extra and optional columns
    assert rows["visits"].dtype == "int64"
    assert len(model.predict(rows)) == 20 and set(model.predict(rows)) <= {"yes", "no"}


def test_numbers_of_either_type_inf_and_text_numbers(served):
    path, _, _, model = served
    rows = pd.read_csv(path).drop(columns=["label", "customer_id"]).head(4)
    expected = model.predict(rows)
    as_numbers = rows.assign(spend=pd.to_numeric(rows["spend"], errors="coerce"), visits=rows["visits"] * 1.0,
                             signal=rows["signal"])
    assert list(model.predict(as_numbers)) == list(expected)
    with_inf = rows.assign(signal=[np.inf, -np.inf, 0.5, 1.0])
    assert len(model.predict(with_inf)) == 4


def test_zero_rows_give_zero_predictions(served):
    path, _, _, model = served
    rows = pd.read_csv(path).head(0)
    assert len(model.predict(rows)) == 0


def test_a_value_that_is_not_a_number_is_named(served):
    path, _, _, model = served
    rows = pd.read_csv(path).head(2)
    rows["visits"] = rows["visits"].astype(object)
    rows.loc[0, "visits"] = "many"
    with pytest.raises(Exception, match="column 'visits' holds 'many', which is not a number"):
        model.predict(rows)


def test_the_signature_says_what_is_optional(served):
    _, result, config, _ = served
    client = mlflow.MlflowClient(config.tracking.tracking_uri)
    version = client.get_model_version("customers", result.registration.version)
    info = mlflow.models.get_model_info(version.source)
    inputs = {spec["name"]: spec for spec in json.loads(info.signature.to_dict()["inputs"])}
    assert inputs["customer_id"]["required"] is False and inputs["plan"]["type"] == "string"
    assert inputs["visits"]["type"] == "any" and inputs["since"]["required"] is True
    report = client.download_artifacts(result.parent_run_id, "data/column_report.csv")
    decisions = pd.read_csv(report).set_index("column")
    assert decisions.loc["customer_id", "action"] == "dropped" and decisions.loc["since", "read_as"] == "date"
