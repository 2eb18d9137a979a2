"""Parent runs by value (RunRef), nested trial runs written by the writer process, artifacts."""

import pickle

import pandas as pd
import pytest

from automl.search import TrialRecord
from automl.tracking import RunLog, TrialRuns, start_run


@pytest.fixture
def parent(store):
    return start_run(f"sqlite:///{store / 'mlflow.db'}", "tracking-test", str(store / "artifacts"), "pipeline-1",
                     {"dataset": "toy"})


def record(number, state, value=None, folds=(), reason=None, epochs=(), pack_size=1, started_at=None):
    return TrialRecord(number, "mlp", {"family": "mlp", "k": 3, "score_func": "f_classif",
                                       "model": {"dropout": 0.1, "optimizer": "adamw", "learning_rate": 0.01}},
                       state, value, list(folds), 0.5, reason, list(epochs), fold_seconds=[0.2] * len(folds),
                       pack_size=pack_size, started_at=started_at, predict_seconds=0.01 * len(folds),
                       predict_rows=50 * len(folds))


def test_a_run_is_named_by_plain_values(parent, store):
    assert parent.tracking_uri == f"sqlite:///{(store / 'mlflow.db').resolve()}"
    assert pickle.loads(pickle.dumps(parent)) == parent  # what Prefect tasks pass between them
    log = RunLog(parent)
    assert log.status() == "RUNNING"
    log.end("FAILED")
    assert RunLog(parent).status() == "FAILED"


def test_parent_and_nested_trial_runs(parent):
    runs = TrialRuns(parent)
    epochs = [{"fold": f, "epoch": e, "train_loss": 1.0 / (e + 1), "val_loss": f + 1.1 / (e + 1)}
              for f in range(2) for e in range(3)]
    logged = record(0, "COMPLETE", 0.9, [0.88, 0.92], epochs=epochs, pack_size=4, started_at=1_700_000_000.25)
    runs.log_trial(logged)
    runs.log_trial(record(1, "PRUNED", 0.5, [0.5], reason="pruned after fold 0"))
    runs.log_trial(record(2, "FAIL", reason="ValueError: boom"))
    children = {r.data.tags["trial_number"]: r for r in runs.runs()}
    assert set(children) == {"0", "1", "2"} and runs.count == 3
    done = children["0"]
    assert done.info.status == "FINISHED" and done.info.run_name == "trial-000-mlp"
    # in the run list every child has the same tick: the name says which did not complete
    assert (children["1"].info.run_name, children["2"].info.run_name) == ("trial-001-mlp · pruned",
                                                                          "trial-002-mlp · failed")
    assert done.data.params == {"family": "mlp", "k": "3", "score_func": "f_classif", "learning_rate": "0.01",
                                "mlp.dropout": "0.1", "mlp.optimizer": "adamw", "mlp.learning_rate": "0.01"}
    assert done.data.metrics["cv_score"] == pytest.approx(0.9)
    assert done.data.metrics["fold_1_score"] == pytest.approx(0.92)
    assert done.data.metrics["predict_ms_per_1k_rows"] == pytest.approx(200.0)  # 0.02 s for 100 rows
    assert (done.info.start_time, done.info.end_time) == (1_700_000_000_250, 1_700_000_000_750)  # its 0.5 s
    assert done.data.tags["pack_size"] == "4" and "pack_size" not in children["1"].data.tags
    client = RunLog(parent).client
    for fold in (0, 1):  # one series per fold, each from epoch 0: the curves do not join
        history = client.get_metric_history(done.info.run_id, f"val_loss/fold_{fold}")
        assert [m.step for m in history] == [0, 1, 2]
        assert [m.value for m in history] == pytest.approx([fold + 1.1 / (e + 1) for e in range(3)])
    pruned = children["1"]
    assert pruned.info.status == "FINISHED" and pruned.data.tags["trial_state"] == "PRUNED"
    assert pruned.data.tags["pruned"] == "true" and "pruned" not in done.data.tags
    assert "cv_score" not in pruned.data.metrics and pruned.data.metrics["partial_cv_score"] == pytest.approx(0.5)
    assert pruned.data.tags["prune_reason"] == "pruned after fold 0" and "fail_reason" not in children["1"].data.tags
    assert children["2"].info.status == "FAILED" and children["2"].data.tags["fail_reason"] == "ValueError: boom"


def test_params_are_flattened_and_artifacts_logged(parent):
    log = RunLog(parent)
    log.log(params={"config": {"search": {"n_trials": 5}}}, metrics={"a": 1.0, "skipped": None}, tags={"t": 1})
    log.log_table(pd.DataFrame({"x": [1, 2]}), "search/leaderboard.csv")
    log.log_text("{}", "config/resolved_config.json")
    run = log.client.get_run(parent.run_id)
    assert run.data.params == {"config.search.n_trials": "5"} and run.data.metrics == {"a": 1.0}
    assert run.data.tags["t"] == "1"
    listed = {f.path for folder in ("search", "config") for f in log.client.list_artifacts(parent.run_id, folder)}
    assert listed == {"search/leaderboard.csv", "config/resolved_config.json"}


def test_the_final_models_trials_are_tagged_and_a_new_choice_replaces_the_old(parent):
    from automl.tracking import mark_final_members

    runs = TrialRuns(parent)
    for number in range(3):
        runs.log_trial(record(number, "COMPLETE", 0.9, [0.9]))
    runs.flush()
    mark_final_members(parent, {0: 0.75, 2: 0.25})
    tags = {r.data.tags["trial_number"]: r.data.tags for r in runs.runs()}
    assert (tags["0"]["final_model_weight"], tags["2"]["final_model_weight"]) == ("0.7500", "0.2500")
    assert "in_final_model" not in tags["1"]
    mark_final_members(parent, {1: 1.0})  # a resumed run that chose differently
    tags = {r.data.tags["trial_number"]: r.data.tags for r in runs.runs()}
    assert [n for n, t in sorted(tags.items()) if t.get("in_final_model") == "true"] == ["1"]
    assert "final_model_weight" not in tags["0"]
