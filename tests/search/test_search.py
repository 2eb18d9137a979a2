"""The study: budget, warm start, failures, pruning and persistence, over every storage mode
(in memory, a journal file written behind by the writer process, an SQLite URL)."""

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.metrics import r2_score

from automl.models import FamilyContext
from automl.search import (
    CrossValidation,
    SearchSettings,
    SearchSpace,
    build_pipeline,
    default_trials,
    log_target_suits,
    make_pruner,
    run_search,
    suggest_pipeline,
)

COMPLETE, PRUNED, FAIL = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
                          optuna.trial.TrialState.FAIL)


def test_search_runs_the_budget_warm_starts_and_persists(wine, space_for, trial_log, study_store):
    dataset, split = wine
    space = space_for(dataset, ["linear", "hist_gradient_boosting"])
    result = run_search(space, split.X_train, split.y_train, study_store.settings("wine-test", folds=2, n_trials=5),
                        trial_log, mirror=study_store.mirror("wine-test", "maximize"))
    assert len(result.records) == 5 and [r.number for r in trial_log.records] == [0, 1, 2, 3, 4]
    # defaults first, the cheap and strong one leading; boosting takes raw columns (no SelectKBest)
    assert [r.family for r in result.records[:2]] == ["hist_gradient_boosting", "linear"]
    assert result.records[0].params["k"] is None
    assert (result.records[1].params["k"] == 13
            and result.records[1].params["model"] == {"C": 1.0, "class_weight": "none"})
    complete = [r for r in result.records if r.state == "COMPLETE"]
    assert all(len(r.fold_scores) == 2 and 0.0 <= r.value <= 1.0 for r in complete)
    assert result.best_value > 0.9 and result.best_params["family"] in {"linear", "hist_gradient_boosting"}
    board = result.trial_table()
    assert board.loc[0, "cv_score"] == pytest.approx(result.best_value)
    assert list(board["cv_score"].dropna()) == sorted(board["cv_score"].dropna(), reverse=True)
    stored = study_store.load("wine-test")
    if stored is not None:  # what the store holds is what ran
        assert [t.number for t in stored.trials] == [0, 1, 2, 3, 4]
        assert stored.best_value == pytest.approx(result.best_value)
        assert stored.user_attrs == {"metric": "accuracy", "families": ["linear", "hist_gradient_boosting"]}
        assert stored.trials[1].user_attrs["pipeline_params"]["k"] == 13


def test_a_failing_trial_is_recorded_and_the_study_goes_on(wine, space_for, trial_log, study_store, broken_family):
    dataset, split = wine
    result = run_search(space_for(dataset, [broken_family, "linear"]), split.X_train, split.y_train,
                        study_store.settings("with-failures", folds=2, n_trials=4, pruner="none"), trial_log,
                        mirror=study_store.mirror("with-failures", "maximize"))
    assert [r.state for r in result.records[:2]] == ["COMPLETE", "FAIL"]  # known families' defaults go first
    failed = trial_log.records[1]
    assert failed.family == "broken" and "InvalidParameterError" in failed.reason and "'C'" in failed.reason
    assert result.best_params["family"] == "linear"
    stored = study_store.load("with-failures")
    if stored is not None:
        assert stored.trials[1].state == FAIL and stored.trials[1].user_attrs["fail_reason"] == failed.reason


def test_all_trials_failing_is_an_error_naming_the_reason(wine, space_for, trial_log, broken_family):
    dataset, split = wine
    with pytest.raises(RuntimeError, match="no trial of study 'doomed' completed.*InvalidParameterError"):
        run_search(space_for(dataset, [broken_family]), split.X_train, split.y_train,
                   SearchSettings(study_name="doomed", folds=2, n_trials=2), trial_log)


def test_mlp_trials_report_epochs_and_hopeless_ones_are_pruned(wine, space_for, trial_log, study_store):
    """After six trials, a hopeless MLP (SGD at a tiny learning rate) is pruned within its first
    fold's epochs, by the epoch reports, not after the fold."""
    dataset, split = wine
    space = space_for(dataset, ["mlp"])
    hopeless = {"family": "mlp", "score_func": "f_classif", "k": 1, "mlp.hidden_layers": 1,
                "mlp.hidden_width": 32, "mlp.dropout": 0.5, "mlp.optimizer": "sgd", "mlp.learning_rate": 1e-3,
                "mlp.weight_decay": 1e-2, "mlp.batch_size": 256, "mlp.max_epochs": 120}

    result = run_search(space, split.X_train, split.y_train, study_store.settings("mlp", folds=2, n_trials=6),
                        trial_log, mirror=study_store.mirror("mlp", "maximize"))
    assert result.records[0].epoch_history and {"fold", "epoch", "train_loss", "val_loss"} <= set(
        result.records[0].epoch_history[0])
    study = optuna.create_study(direction="maximize", pruner=make_pruner("median"))
    study.add_trials(result.trials)
    study.enqueue_trial(hopeless)
    cv = CrossValidation(space, split.X_train, split.y_train, SearchSettings("mlp", folds=2), study, trial_log)
    trial = study.ask()
    [record] = cv.evaluate([trial], [suggest_pipeline(trial, space)])
    assert record.state == "PRUNED" and record.reason.startswith("pruned at fold 0, epoch ")
    assert 10 <= len(record.epoch_history) < 120 and record.fold_scores == []
    assert study.trials[-1].state == PRUNED


def test_default_trials_and_passthrough_without_selection(wine, space_for):
    dataset, _ = wine
    space = space_for(dataset, ["linear", "random_forest"])
    space.score_funcs = []
    trials = default_trials(space)
    assert trials[0] == {"family": "linear", "linear.C": 1.0, "linear.class_weight": "none"}
    pipeline = build_pipeline({"family": "linear", "k": None, "model": {"C": 1.0, "class_weight": "none"}}, space)
    assert pipeline.named_steps["select"] == "passthrough"


def test_a_skewed_positive_target_is_also_tried_on_the_log_scale(trial_log):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    y = pd.Series(np.exp(1.0 + X["a"] + 0.3 * rng.normal(size=300)), name="price")  # log-normal, like prices
    assert log_target_suits(y) and not log_target_suits(y - y.min()) and not log_target_suits(np.log(y))
    context = FamilyContext(task="regression", seed=0, n_jobs=1, n_rows=150)
    space = SearchSpace(families=["linear", "hist_gradient_boosting"], context=context, metric="r2",
                        numeric=["a", "b"], categorical=[], n_features=2, score_funcs=[], log_target=True)
    trials = default_trials(space)
    assert [(t["family"], t["log_target"]) for t in trials[:3]] == [
        ("hist_gradient_boosting", True), ("hist_gradient_boosting", False), ("linear", True)]
    result = run_search(space, X, y, SearchSettings(study_name="log", folds=2, n_trials=4), trial_log)
    assert result.records[0].params["log_target"] is True and result.records[1].params["log_target"] is False
    # A linear model of log(y) fits this target far better than one of y itself.
    plain = build_pipeline({"family": "linear", "k": None, "model": {"alpha": 1.0}, "log_target": False}, space)
    logged = build_pipeline({"family": "linear", "k": None, "model": {"alpha": 1.0}, "log_target": True}, space)
    scores = [r2_score(y[150:], p.fit(X[:150], y[:150]).predict(X[150:])) for p in (plain, logged)]
    assert scores[1] > scores[0] + 0.05
    assert len(result.records) == 4


def test_pytorch_regressors_fit_the_log_scale_themselves_so_their_trials_still_pack(trial_log):
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = pd.Series(np.exp(1.0 + X["a"] + 0.3 * rng.normal(size=200)), name="price")
    context = FamilyContext(task="regression", seed=0, n_jobs=1, n_rows=100)
    space = SearchSpace(families=["mlp", "tabm"], context=context, metric="r2", numeric=["a", "b"],
                        categorical=[], n_features=2, score_funcs=[], log_target=True)
    trials = default_trials(space)
    assert [(t["family"], t["log_target"]) for t in trials] == [("mlp", True), ("mlp", False), ("tabm", True)]
    for family in ("mlp", "tabm"):
        params = {"family": family, "k": None, "model": {"max_epochs": 3}, "log_target": True}
        model = build_pipeline(params, space).named_steps["model"]  # the estimator itself, no wrapper
        assert type(model).__name__ in ("TorchMLPRegressor", "TabMRegressor") and model.log_target is True
    result = run_search(space, X, y,
                        SearchSettings(study_name="log-packed", folds=2, n_trials=6, pruner="none", pack_size=3),
                        trial_log)
    packed = [r for r in result.records if r.pack_size == 3]
    assert len(packed) == 6 and all(r.state == "COMPLETE" for r in packed)
    # the warm start's pack on log1p(y), then its pack on y itself: the members of a pack share the scale
    assert [r.params["log_target"] for r in result.records] == [True] * 3 + [False] * 3
    assert result.best_value > 0.4


def test_parallel_trials_in_threads_fill_the_budget_once(wine, space_for, trial_log, study_store):
    dataset, split = wine
    result = run_search(space_for(dataset, ["linear", "random_forest"]), split.X_train, split.y_train,
                        study_store.settings("threads", folds=2, n_trials=6, n_jobs=2), trial_log,
                        mirror=study_store.mirror("threads", "maximize"))
    assert sorted(r.number for r in result.records) == list(range(6))
    assert sorted(r.number for r in trial_log.records) == list(range(6))
    stored = study_store.load("threads")
    if stored is not None:
        assert sorted(t.number for t in stored.trials) == list(range(6))


def test_an_interrupt_in_one_thread_stops_every_thread_from_asking(wine, space_for, trial_log, interrupting_family):
    dataset, split = wine
    with pytest.raises(KeyboardInterrupt):
        run_search(space_for(dataset, [interrupting_family]), split.X_train, split.y_train,
                   SearchSettings(study_name="interrupted", folds=2, n_trials=60, n_jobs=2), trial_log)
    # the interrupted trial is told and logged; the other thread ends the trial it is running, no more
    assert any(r.state == "FAIL" and r.interrupted and r.reason == "interrupted (KeyboardInterrupt)"
               for r in trial_log.records)
    assert len(trial_log.records) <= 4


def test_a_logger_that_fails_costs_a_warning_not_the_search(wine, space_for, caplog):
    class Unreachable:
        def log_trial(self, record):
            raise ConnectionError("tracking server unreachable")

    dataset, split = wine
    result = run_search(space_for(dataset, ["linear"]), split.X_train, split.y_train,
                        SearchSettings(study_name="unlogged", folds=2, n_trials=3), Unreachable())
    assert [r.state for r in result.records].count("COMPLETE") >= 1 and len(result.records) == 3
    assert "trial 0 ended COMPLETE but could not be logged: tracking server unreachable" in caplog.text


def test_a_family_whose_space_raises_fails_its_trials_and_the_search_goes_on(wine, space_for, trial_log,
                                                                            cannot_suggest_family):
    dataset, split = wine
    space = space_for(dataset, ["linear", cannot_suggest_family])
    space.score_funcs = []  # (the bad family's trials fail before k is drawn either way)
    result = run_search(space, split.X_train, split.y_train,
                        SearchSettings(study_name="unsuggestable", folds=2, n_trials=6), trial_log)
    failed = [t for t in result.trials if t.state == FAIL]
    assert failed and all("ValueError while suggesting: no space here" in t.user_attrs["fail_reason"] for t in failed)
    assert len(result.trials) == 6 and result.best_params["family"] == "linear"


def test_an_interrupted_search_continues_where_it_stopped(wine, space_for, trial_log, study_store, tmp_path,
                                                         interrupting_family):
    """Ctrl-C in trial 1; the same study continued: trial 0 is kept (its record and out-of-fold
    predictions), trial 1 stays an interrupted FAIL and does not count, n_trials finish in all."""
    if study_store.mode == "memory":
        pytest.skip("an in-memory study is gone with its process: nothing to continue")
    dataset, split = wine
    space, checkpoint = space_for(dataset, [interrupting_family]), tmp_path / "checkpoint"
    settings = study_store.settings("resumed", folds=2, n_trials=5, checkpoint=str(checkpoint))
    with pytest.raises(KeyboardInterrupt):
        run_search(space, split.X_train, split.y_train, settings, trial_log,
                   mirror=study_store.mirror("resumed", "maximize"))
    first = {r.number: r for r in trial_log.records}
    assert sorted(first) == [0, 1] and first[0].state == "COMPLETE" and first[1].interrupted
    assert sorted(p.name for p in checkpoint.glob("*.npy")) == ["classes.npy", "trial-00000.npy"]
    trial_log.records.clear()
    result = run_search(space, split.X_train, split.y_train, settings, trial_log,
                        mirror=study_store.mirror("resumed", "maximize"))
    assert result.resumed == 2 and [r.number for r in result.records] == list(range(6))
    assert [r.number for r in trial_log.records] == [2, 3, 4, 5]  # only new trials are logged again
    assert [r.number for r in result.records if r.interrupted] == [1]
    assert result.records[0].value == first[0].value and result.records[0].fold_scores == first[0].fold_scores
    assert all(r.state == "COMPLETE" for r in result.records if not r.interrupted)
    assert 0 in result.oof and list(result.classes) == sorted(split.y_train.unique())
    assert np.mean(result.oof[0].argmax(axis=1) == pd.Categorical(split.y_train, result.classes).codes) == \
        pytest.approx(first[0].value, abs=0.02)  # the restored predictions are trial 0's
    stored = study_store.load("resumed")
    assert [t.number for t in stored.trials] == list(range(6))
    assert [t.state for t in stored.trials].count(FAIL) == 1 and stored.trials[1].user_attrs["interrupted"]
    assert all(t.state != optuna.trial.TrialState.RUNNING for t in stored.trials)
