import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from automl.search import TrialRecord
from automl.tracking import CHAMPION, Tracker


@pytest.fixture
def tracker(store):
    return Tracker(f"sqlite:///{store / 'mlflow.db'}", "tracking-test", str(store / "artifacts"))


def record(number, state, value=None, folds=(), reason=None, epochs=()):
    return TrialRecord(number, "mlp", {"family": "mlp", "k": 3, "score_func": "f_classif",
                                       "model": {"dropout": 0.1, "optimizer": "adamw"}},
                       state, value, list(folds), 0.5, reason, list(epochs))


def test_parent_and_nested_trial_runs(tracker):
    parent = tracker.start_parent("pipeline-1", {"dataset": "toy"})
    epochs = [{"fold": 0, "epoch": e, "train_loss": 1.0 / (e + 1), "val_loss": 1.1 / (e + 1)} for e in range(3)]
    tracker.log_trial(record(0, "COMPLETE", 0.9, [0.88, 0.92], epochs=epochs))
    tracker.log_trial(record(1, "PRUNED", 0.5, [0.5]))
    tracker.log_trial(record(2, "FAIL", reason="ValueError: boom"))
    children = {r.data.tags["trial_number"]: r for r in tracker.child_runs(parent)}
    assert set(children) == {"0", "1", "2"}
    done = children["0"]
    assert done.info.status == "FINISHED" and done.info.run_name == "trial-000-mlp"
    assert done.data.params == {"family": "mlp", "k": "3", "score_func": "f_classif", "mlp.dropout": "0.1",
                                "mlp.optimizer": "adamw"}
    assert done.data.metrics["cv_score"] == pytest.approx(0.9)
    assert done.data.metrics["fold_1_score"] == pytest.approx(0.92)
    history = tracker.client.get_metric_history(done.info.run_id, "epoch_val_loss")
    assert [m.step for m in history] == [0, 1, 2]
    assert children["1"].info.status == "KILLED" and children["1"].data.tags["trial_state"] == "PRUNED"
    assert children["2"].info.status == "FAILED" and children["2"].data.tags["fail_reason"] == "ValueError: boom"
    assert tracker.seconds_in_trial_logging > 0 and tracker.seconds_in_tracking >= tracker.seconds_in_trial_logging


def test_params_are_flattened_and_artifacts_logged(tracker):
    tracker.start_parent("pipeline-2", {})
    tracker.log(params={"config": {"search": {"n_trials": 5}}}, metrics={"a": 1.0, "skipped": None},
                tags={"t": 1})
    tracker.log_table(pd.DataFrame({"x": [1, 2]}), "search/leaderboard.csv")
    tracker.log_text("{}", "config/resolved_config.json")
    run = tracker.client.get_run(tracker.parent_run_id)
    assert run.data.params == {"config.search.n_trials": "5"} and run.data.metrics == {"a": 1.0}
    assert run.data.tags["t"] == "1"
    listed = {f.path for folder in ("search", "config") for f in tracker.client.list_artifacts(run.info.run_id, folder)}
    assert listed == {"search/leaderboard.csv", "config/resolved_config.json"}


def fitted(seed):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, X["a"] > 0), X


def test_champion_moves_only_when_the_new_model_wins(tracker):
    results = []
    for score in (0.80, 0.75, 0.90):
        tracker.start_parent(f"run-{score}", {})
        model, X = fitted(0)
        results.append(tracker.log_and_register(model, X, "toy-model", "roc_auc", score, greater_is_better=True))
        tracker.finish()
    assert [r.moved_alias for r in results] == [True, False, True]
    assert "0.75 does not beat champion v1's 0.8" in results[1].reason
    champion = tracker.client.get_model_version_by_alias("toy-model", CHAMPION)
    assert str(champion.version) == "3" and champion.tags["test_score"] == "0.9"
    parent = tracker.client.get_run(tracker.parent_run_id)
    assert parent.data.tags["champion_moved"] == "True" and parent.data.metrics["champion_previous_score"] == 0.8
    loaded = mlflow.pyfunc.load_model("models:/toy-model@champion")
    assert loaded.predict(X.head(3)).shape == (3,)


def test_champion_with_another_metric_is_not_replaced(tracker):
    tracker.start_parent("a", {})
    model, X = fitted(0)
    tracker.log_and_register(model, X, "m", "roc_auc", 0.5, True)
    tracker.start_parent("b", {})
    lower_is_better = tracker.log_and_register(model, X, "m", "log_loss", 0.1, False)
    assert not lower_is_better.moved_alias and "scored with 'roc_auc', not 'log_loss'" in lower_is_better.reason
