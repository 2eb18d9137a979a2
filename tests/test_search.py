import optuna
import pytest

from automl.data import load_dataset, split_dataset
from automl.features import valid_score_funcs
from automl.models import FAMILIES, FamilyContext, ModelFamily
from automl.search import (JournalMirror, SearchSpace, build_pipeline, default_trials, make_storage, refit_best,
                          run_search)


class ListLogger:
    def __init__(self):
        self.records = []

    def log_trial(self, record):
        self.records.append(record)


class Broken(ModelFamily):
    """A family whose models always fail to fit: the study must record it and go on."""

    name = "broken"

    def suggest(self, s, context):
        s.int("size", 1, 3)

    def defaults(self, context):
        return {"size": 1}

    def build(self, params, context):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=-1.0)  # rejected by sklearn's parameter validation in fit


@pytest.fixture(scope="module")
def wine():
    from automl.config import parse_config

    config = parse_config({"data": {"source": "sklearn:wine"}, "search": {"cv_folds": 2}})
    dataset = load_dataset(config)
    return dataset, split_dataset(dataset, 0.2, seed=0)


def space_for(dataset, families, n_features=13):
    context = FamilyContext(task=dataset.task, seed=0, n_jobs=1, n_rows=71)  # rows in one training fold
    return SearchSpace(families=families, context=context,
                       metric=dataset.metric, numeric=dataset.numeric_columns,
                       categorical=dataset.categorical_columns, n_features=n_features,
                       score_funcs=valid_score_funcs(dataset.task, None))


def test_search_runs_the_budget_warm_starts_and_persists(wine, tmp_path):
    dataset, split = wine
    space = space_for(dataset, ["linear", "hist_gradient_boosting"])
    logger = ListLogger()
    storage = tmp_path / "study.journal"
    result = run_search(space, split.X_train, split.y_train, folds=2, study_name="wine-test",
                        storage=str(storage), n_trials=5, timeout_s=None, logger=logger)
    assert len(result.study.trials) == 5 and len(logger.records) == 5
    # defaults first, the cheap and strong one leading; boosting takes raw columns (no SelectKBest)
    assert [r.family for r in result.records[:2]] == ["hist_gradient_boosting", "linear"]
    assert result.records[0].params["k"] is None
    assert result.records[1].params["k"] == 13 and result.records[1].params["model"] == {"C": 1.0, "class_weight": "none"}
    complete = [r for r in result.records if r.state == "COMPLETE"]
    assert all(len(r.fold_scores) == 2 and 0.0 <= r.value <= 1.0 for r in complete)
    assert result.study.best_value > 0.9
    assert result.best_params["family"] in {"linear", "hist_gradient_boosting"}
    reloaded = optuna.load_study(study_name="wine-test", storage=make_storage(str(storage)))
    assert len(reloaded.trials) == 5 and reloaded.best_value == pytest.approx(result.study.best_value)
    board = result.leaderboard()
    assert board.loc[0, "cv_score"] == pytest.approx(result.study.best_value)
    assert list(board["cv_score"].dropna()) == sorted(board["cv_score"].dropna(), reverse=True)


def test_a_failing_trial_is_recorded_and_the_study_goes_on(wine, tmp_path, monkeypatch):
    monkeypatch.setitem(FAMILIES, "broken", Broken())
    dataset, split = wine
    logger = ListLogger()
    result = run_search(space_for(dataset, ["broken", "linear"]), split.X_train, split.y_train, folds=2,
                        study_name="with-failures", storage=str(tmp_path / "s.journal"), n_trials=4,
                        timeout_s=None, pruner="none", logger=logger)
    states = {t.number: t.state for t in result.study.trials}  # known families' defaults go first
    assert states[0] == optuna.trial.TrialState.COMPLETE and states[1] == optuna.trial.TrialState.FAIL
    failed = logger.records[1]
    assert failed.state == "FAIL" and "InvalidParameterError" in failed.fail_reason and "'C'" in failed.fail_reason
    assert result.study.trials[1].user_attrs["fail_reason"] == failed.fail_reason
    assert result.best_params["family"] == "linear"


def test_all_trials_failing_is_an_error_naming_the_reason(wine, tmp_path, monkeypatch):
    monkeypatch.setitem(FAMILIES, "broken", Broken())
    dataset, split = wine
    with pytest.raises(RuntimeError, match="no trial of study 'doomed' completed.*InvalidParameterError"):
        run_search(space_for(dataset, ["broken"]), split.X_train, split.y_train, folds=2, study_name="doomed",
                   storage=str(tmp_path / "s.journal"), n_trials=2, timeout_s=None, logger=ListLogger())


def test_mlp_trials_report_epochs_and_hopeless_ones_are_pruned(wine, tmp_path):
    dataset, split = wine
    space = space_for(dataset, ["mlp"])
    study_storage = str(tmp_path / "mlp.journal")
    logger = ListLogger()
    run_search(space, split.X_train, split.y_train, folds=2, study_name="mlp", storage=study_storage,
               n_trials=6, timeout_s=None, logger=logger)
    # A hopeless configuration (learning rate ~0) after good ones: pruned within its first fold's epochs.
    study = optuna.load_study(study_name="mlp", storage=make_storage(study_storage))
    study.enqueue_trial({"family": "mlp", "score_func": "f_classif", "k": 1, "mlp.hidden_layers": 1,
                         "mlp.hidden_width": 32, "mlp.dropout": 0.5, "mlp.optimizer": "sgd",
                         "mlp.learning_rate": 1e-3, "mlp.weight_decay": 1e-2, "mlp.batch_size": 256,
                         "mlp.max_epochs": 120})
    from automl.search import Objective

    objective = Objective(space, split.X_train, split.y_train, 2, logger)
    study.optimize(objective, n_trials=1, catch=(Exception,))
    hopeless = logger.records[-1]
    assert hopeless.state == "PRUNED"
    assert len(hopeless.epoch_history) < 120 and hopeless.fold_scores == []
    first_mlp = logger.records[0]
    assert first_mlp.epoch_history and {"fold", "epoch", "train_loss", "val_loss"} <= set(first_mlp.epoch_history[0])


def test_refit_best_fits_the_whole_pipeline(wine, tmp_path):
    dataset, split = wine
    space = space_for(dataset, ["linear"])
    result = run_search(space, split.X_train, split.y_train, folds=2, study_name="refit",
                        storage=str(tmp_path / "r.journal"), n_trials=2, timeout_s=None, logger=ListLogger())
    pipeline = refit_best(result, split.X_train, split.y_train)
    assert [name for name, _ in pipeline.steps] == ["preprocess", "select", "model"]
    assert (pipeline.predict(split.X_test) == split.y_test).mean() > 0.85


def test_default_trials_and_passthrough_without_selection(wine):
    dataset, _ = wine
    space = space_for(dataset, ["linear", "random_forest"])
    space.score_funcs = []
    trials = default_trials(space)
    assert trials[0] == {"family": "linear", "linear.C": 1.0, "linear.class_weight": "none"}
    pipeline = build_pipeline({"family": "linear", "k": None, "model": {"C": 1.0, "class_weight": "none"}}, space)
    assert pipeline.named_steps["select"] == "passthrough"


def test_a_skewed_positive_target_is_also_tried_on_the_log_scale(tmp_path):
    import numpy as np
    import pandas as pd

    from automl.search import log_target_suits

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
    logger = ListLogger()
    result = run_search(space, X, y, folds=2, study_name="log", storage=None, n_trials=4, timeout_s=None,
                        logger=logger)
    by_number = {r.number: r for r in logger.records}
    assert by_number[0].params["log_target"] is True and by_number[1].params["log_target"] is False
    # A linear model of log(y) fits this target far better than one of y itself.
    plain = build_pipeline({"family": "linear", "k": None, "model": {"alpha": 1.0}, "log_target": False}, space)
    logged = build_pipeline({"family": "linear", "k": None, "model": {"alpha": 1.0}, "log_target": True}, space)
    from sklearn.metrics import r2_score

    scores = [r2_score(y[150:], p.fit(X[:150], y[:150]).predict(X[150:])) for p in (plain, logged)]
    assert scores[1] > scores[0] + 0.05
    assert len(result.study.trials) == 4


def test_the_journal_is_written_by_the_writer_process_and_its_errors_reach_flush(tmp_path):
    path = tmp_path / "mirrored.journal"
    mirror = JournalMirror(make_storage(str(path)), str(path), "mirrored", "maximize")
    mirror.set_user_attr("metric", "accuracy")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3, callbacks=[mirror])
    mirror.flush()
    reloaded = optuna.load_study(study_name="mirrored", storage=make_storage(str(path)))
    assert [t.params["x"] for t in reloaded.trials] == [t.params["x"] for t in study.trials]
    assert reloaded.user_attrs == {"metric": "accuracy"}

    broken = tmp_path / "broken.journal"
    mirror = JournalMirror(make_storage(str(broken)), str(broken), "broken", "maximize")
    broken.unlink()
    broken.mkdir()  # the writer process cannot open it: the error comes back at flush, not lost
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1, callbacks=[mirror])
    with pytest.raises(IsADirectoryError):
        mirror.flush()
