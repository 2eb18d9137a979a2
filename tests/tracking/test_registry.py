"""The registry: one version per run however often registration is retried, tags from creation,
and the champion alias that moves only when the new model wins."""

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from automl.tracking import CHAMPION, HoldoutScore, RunLog, model_requirements, register_model, start_run


@pytest.fixture
def new_run(store):
    def start(name):
        return start_run(f"sqlite:///{store / 'mlflow.db'}", "registry-test", str(store / "artifacts"), name, {})

    return start


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, X["a"] > 0), X


def test_champion_moves_only_when_the_new_model_wins(new_run, fitted):
    model, X = fitted
    results = []
    for score in (0.80, 0.75, 0.90):
        run = new_run(f"run-{score}")
        results.append(register_model(run, model, X, "toy-model", HoldoutScore("roc_auc", score, True)))
        RunLog(run).end()
    assert [r.moved_alias for r in results] == [True, False, True]
    assert "0.75 does not beat champion v1's 0.8" in results[1].reason
    client = MlflowClient(run.tracking_uri)
    champion = client.get_model_version_by_alias("toy-model", CHAMPION)
    assert str(champion.version) == "3" and champion.tags == {"metric": "roc_auc", "test_score": "0.9"}
    parent = client.get_run(run.run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["champion_moved"] == "True" and parent.data.metrics["champion_previous_score"] == 0.8
    mlflow.set_tracking_uri(run.tracking_uri)
    loaded = mlflow.pyfunc.load_model("models:/toy-model@champion")
    assert loaded.predict(X.head(3)).shape == (3,)


def test_champion_with_another_metric_is_not_replaced(new_run, fitted):
    model, X = fitted
    register_model(new_run("a"), model, X, "m", HoldoutScore("roc_auc", 0.5, True))
    lower_is_better = register_model(new_run("b"), model, X, "m", HoldoutScore("log_loss", 0.1, False))
    assert not lower_is_better.moved_alias and "scored with 'roc_auc', not 'log_loss'" in lower_is_better.reason


def test_a_retried_registration_makes_no_second_version(new_run, fitted, monkeypatch):
    """The register step fails after log_model (the registry is unreachable once), then is
    retried, then retried again after it succeeded: one logged model, one version, one alias."""
    model, X = fitted
    run = new_run("retried")
    real = mlflow.register_model
    calls = []

    def unreachable_once(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise ConnectionError("registry unreachable")
        return real(*args, **kwargs)

    monkeypatch.setattr(mlflow, "register_model", unreachable_once)
    with pytest.raises(ConnectionError):
        register_model(run, model, X, "retry-model", HoldoutScore("roc_auc", 0.9, True))
    first = register_model(run, model, X, "retry-model", HoldoutScore("roc_auc", 0.9, True))
    again = register_model(run, model, X, "retry-model", HoldoutScore("roc_auc", 0.9, True))
    client = MlflowClient(run.tracking_uri)
    versions = client.search_model_versions("name = 'retry-model'")
    assert [str(v.version) for v in versions] == ["1"] and first.version == again.version == "1"
    assert len(calls) == 2  # the third call found the version and registered nothing
    logged = client.search_logged_models(experiment_ids=[run.experiment_id])
    assert len(logged) == 1 and versions[0].tags == {"metric": "roc_auc", "test_score": "0.9"}
    assert first.moved_alias and again.moved_alias and "champion already" in again.reason
    assert str(client.get_model_version_by_alias("retry-model", CHAMPION).version) == "1"


def test_a_model_declares_torch_only_where_it_holds_a_pytorch_estimator():
    """Unfitted models will do: what is declared follows what the model is made of."""
    from sklearn.ensemble import VotingClassifier

    from automl.nn import TabMClassifier, TorchMLPClassifier
    from automl.row_sample import RowSample
    from automl.served import PredictMethods, ServedModel

    linear = make_pipeline(StandardScaler(), LogisticRegression())
    names = lambda model: [line.split("==")[0] for line in model_requirements(model)]  # noqa: E731
    base = ["mlflow", "scikit-learn", "pandas", "numpy", "scipy", "cloudpickle"]
    assert names(linear) == base
    assert names(PredictMethods(ServedModel(None, RowSample(linear, 0.5)))) == base
    assert names(PredictMethods(ServedModel(None, make_pipeline(StandardScaler(), TorchMLPClassifier())))) == [
        *base, "torch"]
    blend = VotingClassifier([("linear", linear), ("tabm", make_pipeline(RowSample(TabMClassifier(), 0.5)))])
    assert names(PredictMethods(ServedModel(None, blend))) == [*base, "torch"]
    assert model_requirements(blend)[-1] == f"torch=={torch.__version__.split('+')[0]}"
