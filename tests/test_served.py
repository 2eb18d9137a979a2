"""The registered model takes the rows users send: read straight from the training CSV (integers
where training had integers), numbers where training read text, inf, zero rows."""

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from automl.config import parse_config
from automl.pipeline import run_pipeline
from tests.servers import free_port, serving


@pytest.fixture(scope="module")
def served(tmp_path_factory, store_settings):
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
                           "tracking": store_settings(store)})
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
    with_inf = rows.assign(spend=[np.inf, -np.inf, 5.0, 1.0])  # inf is missing: fine where training had gaps
    assert len(model.predict(with_inf)) == 4
    with pytest.raises(mlflow.exceptions.MlflowException, match=r"^column 'signal' is required but has 1 missing"):
        model.predict(rows.assign(signal=[np.inf, 0.1, 0.5, 1.0]))  # and refused where it had none


def test_a_value_beyond_float32_is_missing_and_refused_naming_its_column(served):
    """1e308 is a float64, but inf in a model's float32 arithmetic: scikit-learn refused it without a
    column's name. It counts as missing, as inf does."""
    path, _, _, model = served
    rows = pd.read_csv(path).drop(columns=["label", "customer_id"]).head(4)
    with pytest.raises(mlflow.exceptions.MlflowException) as refused:
        model.predict(rows.assign(signal=[0.1, 1e308, 0.5, -1e39]))
    assert str(refused.value).startswith("column 'signal' is required but has 2 missing value(s) (rows 1, 3): "
                                         "empty, a missing word, infinite or beyond ±3.4e+38")
    assert len(model.predict(rows.assign(spend=[1e308, "1e300", 5.0, 1.0]))) == 4  # where training had gaps


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
    assert inputs["plan"]["type"] == "string" and inputs["visits"]["type"] == "any"
    # MLflow's own check would bury an absent column's name at the end of the whole request: the
    # model checks required columns itself, and says which they are in its metadata.
    assert not any(spec["required"] for spec in inputs.values())
    assert sorted(info.metadata["required_columns"]) == ["plan", "signal", "since", "visits"]  # not 'spend' ('?')
    assert info.metadata["predict_methods"] == ["predict", "predict_proba"]
    assert info.signature.params.to_dict() == [{"name": "predict_method", "type": "string", "default": "predict",
                                                "shape": None}]
    report = client.download_artifacts(result.parent_run_id, "data/column_report.csv")
    decisions = pd.read_csv(report).set_index("column")
    assert decisions.loc["customer_id", "action"] == "dropped" and decisions.loc["since", "read_as"] == "date"


def test_probabilities_when_asked_through_params(served):
    path, _, _, model = served
    rows = pd.read_csv(path).head(6)
    proba = model.predict(rows, params={"predict_method": "predict_proba"})
    assert list(proba.columns) == ["no", "yes"] and proba.shape == (6, 2)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert list(np.array(["no", "yes"])[proba.to_numpy().argmax(axis=1)]) == list(model.predict(rows))
    with pytest.raises(mlflow.exceptions.MlflowException, match="predict_method 'score' is not one of"):
        model.predict(rows, params={"predict_method": "score"})


def test_a_required_column_absent_or_null_is_refused_naming_it_first(served):
    path, _, _, model = served
    rows = pd.read_csv(path).head(4)
    with pytest.raises(mlflow.exceptions.MlflowException) as absent:
        model.predict(rows.drop(columns=["visits"]))
    assert str(absent.value).startswith("column 'visits' is missing")
    nulls = rows.assign(signal=[0.1, None, 0.3, None])
    with pytest.raises(mlflow.exceptions.MlflowException) as missing:
        model.predict(nulls)
    assert str(missing.value).startswith("column 'signal' is required but has 2 missing value(s) (rows 1, 3)")
    assert len(model.predict(rows.drop(columns=["spend"]))) == 4  # 'spend' had missing values: optional
    as_text = rows.astype({"visits": object})
    as_text.loc[2, "visits"] = "NA"  # missing as training read it: after parsing, not only None
    with pytest.raises(mlflow.exceptions.MlflowException, match=r"^column 'visits' is required but has 1 missing"):
        model.predict(as_text)


@pytest.mark.e2e
def test_mlflow_models_serve_gives_probabilities_and_refuses_nulls(served, tmp_path):
    """The registered champion behind `mlflow models serve` (the README's commands): the logged
    serving_input_example.json is a valid request; params ask for probabilities; a null in a
    required column and an absent column are 400s that name the column first."""
    import os
    import sys

    import httpx

    _, _, config, _ = served
    port = free_port()
    uri = "models:/customers@champion"
    env = {**os.environ, "MLFLOW_TRACKING_URI": config.tracking.tracking_uri,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    example = Path(mlflow.artifacts.download_artifacts(f"{uri}/serving_input_example.json", dst_path=str(tmp_path)))
    url = f"http://127.0.0.1:{port}"
    with serving(["mlflow", "models", "serve", "-m", uri, "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
                 f"{url}/ping", tmp_path / "serve.log", env):
        post = lambda body: httpx.post(f"{url}/invocations", json=body, timeout=60)  # noqa: E731
        request = json.loads(example.read_text())
        labels = post(request)
        assert labels.status_code == 200, labels.text
        assert set(labels.json()["predictions"]) <= {"yes", "no"}
        asked = post({**request, "params": {"predict_method": "predict_proba"}})
        assert asked.status_code == 200, asked.text
        rows = asked.json()["predictions"]
        assert len(rows) == len(request["dataframe_split"]["data"]) and set(rows[0]) == {"no", "yes"}
        assert all(abs(row["no"] + row["yes"] - 1.0) < 1e-6 for row in rows)
        split = request["dataframe_split"]
        signal = split["columns"].index("signal")
        with_null = [[None if i == signal else v for i, v in enumerate(row)] for row in split["data"]]
        refused = post({"dataframe_split": {**split, "data": with_null}})
        assert refused.status_code == 400
        assert refused.json()["message"].startswith("column 'signal' is required but has")
        absent = post({"dataframe_split": {"columns": [c for c in split["columns"] if c != "visits"],
                                           "data": [[v for c, v in zip(split["columns"], row) if c != "visits"]
                                                    for row in split["data"]]}})
        assert absent.status_code == 400 and absent.json()["message"].startswith("column 'visits' is missing")


def test_a_tabm_champion_predicts_raw_rows_with_unseen_categories_and_gaps(tmp_path, store_settings):
    """TabM through the whole pipeline: registered, loaded back from MLflow, and given rows with a
    city it never saw and a gap where training had gaps."""
    rng = np.random.default_rng(5)
    n = 240
    city = rng.choice([f"c{i}" for i in range(30)], size=n)
    income = np.where(rng.random(n) < 0.1, np.nan, rng.gamma(2, 20, size=n))
    frame = pd.DataFrame({"income": income, "age": rng.integers(18, 80, size=n), "city": city,
                          "label": np.where(np.nan_to_num(income, nan=40) + rng.normal(0, 10, n) > 40, "yes", "no")})
    path = tmp_path / "people.csv"
    frame.to_csv(path, index=False)
    store = tmp_path / "mlruns"
    config = parse_config({"name": "people", "data": {"source": str(path), "target": "label"},
                           "search": {"n_trials": 2, "cv_folds": 2, "families": ["tabm"], "ensemble": False},
                           "tracking": store_settings(store)})
    result = run_pipeline(config)
    assert result.best_family == "tabm"
    mlflow.set_tracking_uri(config.tracking.tracking_uri)
    model = mlflow.pyfunc.load_model("models:/people@champion")
    rows = pd.DataFrame({"income": [np.nan, 80.0, 5.0], "age": [30, 50, 70], "city": ["nowhere", "c3", "c7"]})
    assert set(model.predict(rows)) <= {"yes", "no"} and len(model.predict(rows)) == 3
    proba = model.predict(rows, params={"predict_method": "predict_proba"})
    assert (np.allclose(proba.to_numpy().sum(axis=1), 1.0)
            and proba.iloc[1, 1] > proba.iloc[2, 1])  # richer: likelier "yes"
