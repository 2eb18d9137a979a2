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
    assert results[1].reason == "kept: test roc_auc 0.7500 does not beat champion v1's 0.8000"
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


# -- the champion policy ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cancer_test_rows():
    """A real table's test split (breast cancer, 143 rows) and two models' class probabilities on it:
    a good logistic regression, and a weak one that sees two columns."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    good = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X_train, y_train)
    weak = make_pipeline(StandardScaler(), LogisticRegression()).fit(X_train[["mean fractal dimension",
                                                                              "texture error"]], y_train)
    return y_test, good.predict_proba(X_test), weak.predict_proba(X_test[["mean fractal dimension", "texture error"]])


def test_a_difference_within_the_test_rows_noise_moves_the_alias_one_beyond_it_does_not(cancer_test_rows):
    """if_not_worse on a real test split: the same model a hair worse (one row's probabilities moved)
    is within the noise of 143 rows, so it moves (better out of fold); a much weaker model is worse
    beyond the noise and does not, however good its out-of-fold score; if_better keeps both."""
    from automl.evaluation import paired_bootstrap
    from automl.tracking._champion import decide

    y, good, weak = cancer_test_rows
    classes = np.array([0, 1])
    hair = good.copy()
    order = np.argsort(good[:, 1])
    hair[order[[60, 61]]] = hair[order[[61, 60]]]  # two neighbouring rows' probabilities swapped
    close = paired_bootstrap("roc_auc", y, hair, good, classes)
    far = paired_bootstrap("roc_auc", y, weak, good, classes)
    assert close.difference <= 0 and close.low < 0 < close.high and close.rows == 143 and close.rounds == 500
    assert far.high < 0 and far.worse_beyond_noise
    tags = {"metric": "roc_auc", "test_score": repr(0.99), "cv_score": "0.98", "config_hash": "abc"}
    new = HoldoutScore("roc_auc", 0.9899, True, cv=0.985, rows=143, config_hash="abc")
    moved = decide("if_not_worse", new, "1", tags, close)
    assert moved.moves and moved.reason.startswith("moved: at least as good out of fold (0.9850 vs 0.9800) and not "
                                                   "worse than champion v1 beyond the noise on the 143 test rows")
    kept = decide("if_not_worse", new, "1", tags, far)
    assert not kept.moves and kept.reason.startswith("kept: worse than champion v1 beyond the noise")
    assert not decide("if_better", new, "1", tags, close).moves
    worse_oof = decide("if_not_worse", HoldoutScore("roc_auc", 0.999, True, cv=0.97, config_hash="abc"), "1", tags,
                       close)
    assert not worse_oof.moves and "out of fold 0.9700 is worse than champion v1's 0.9800" in worse_oof.reason
    # another config's out-of-fold score does not compare: the test rows decide
    other = decide("if_not_worse", HoldoutScore("roc_auc", 0.98, True, cv=0.5, config_hash="xyz"), "1", tags, close)
    assert other.moves and "out of fold" not in other.reason
    assert decide("always", new, "1", tags, far).moves and not decide("never", new, "1", tags, close).moves


def test_if_not_worse_compares_with_the_champion_on_the_same_rows_through_the_registry(new_run, fitted):
    """register_model with a comparison: the champion's version number is handed to it, its interval
    is logged on the run, and a failing comparison falls back to the recorded test scores."""
    from automl.evaluation import PairedDifference
    from automl.tracking import ChampionPolicy

    model, X = fitted
    register_model(new_run("first"), model, X, "noisy", HoldoutScore("roc_auc", 0.90, True))
    asked = []

    def compare(version):
        asked.append(version)
        return PairedDifference("roc_auc", -0.01, -0.03, 0.01, 40, 500)

    run = new_run("second")
    second = register_model(run, model, X, "noisy", HoldoutScore("roc_auc", 0.89, True),
                            policy=ChampionPolicy("if_not_worse", compare))
    assert asked == ["1"] and second.moved_alias and "not worse than champion v1 beyond the noise" in second.reason
    logged = MlflowClient(run.tracking_uri).get_run(run.run_id).data
    assert logged.metrics["champion_test_difference_low"] == -0.03 and logged.tags["champion_policy"] == "if_not_worse"

    def broken(version):
        raise ValueError("columns differ")

    third = register_model(new_run("third"), model, X, "noisy", HoldoutScore("roc_auc", 0.88, True),
                           policy=ChampionPolicy("if_not_worse", broken))
    assert not third.moved_alias and third.reason == "kept: test roc_auc 0.8800 does not beat champion v2's 0.8900"
