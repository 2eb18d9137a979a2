"""The whole-run budget: the deadline (on an injected clock), the reserve it keeps, and where a
search stops for it."""

import optuna
import pytest

from automl.search import (
    POST_SEARCH_S,
    TAIL_S,
    CrossValidation,
    Deadline,
    OutOfTime,
    SearchSettings,
    TrialRecord,
    refit_reserve,
    run_search,
    shortfall,
)
from automl.search._cv import _GroupTrial


def test_the_budget_counts_from_the_origin_given_and_nothing_is_kept_between_runs():
    assert Deadline.from_budget(150.0, origin=100.0, clock=lambda: 250.0).at == 250.0  # the caller's start
    assert Deadline.from_budget(150.0, clock=lambda: 250.0).at == 400.0  # none given: from now, every time
    assert Deadline.from_budget(150.0, clock=lambda: 250.0).at == 400.0


def test_the_load_step_counts_the_budget_from_the_start_it_is_given(tmp_path, store_settings):
    """`automl run` passes the moment its interpreter began (flows/cli.py's STARTED), not the
    process's start: a wrapper's slow work before an `exec` is not the budget's."""
    from automl.config import parse_config
    from automl.pipeline import load_and_validate

    config = parse_config({"name": "clock", "search": {"n_trials": 2, "timeout_s": 150, "families": ["linear"]},
                           "tracking": store_settings(tmp_path / "mlruns")})
    assert load_and_validate(config, started=1000.0).deadline.at == 1150.0


def test_a_search_the_budget_cut_short_says_how_many_trials_ran():
    assert shortfall(3, 40) == "3 of 40 trials: the budget ran out"
    assert shortfall(40, 40) is None and shortfall(5, None) is None  # all ran; no trial budget


def test_deadline_keeps_its_reserve_for_after_the_search():
    deadline = Deadline.from_budget(100.0, origin=0.0, clock=lambda: 40.0)
    assert deadline.left() == 60.0
    deadline.reserve_s = 50.0
    assert deadline.search_left() == 10.0
    assert deadline.allows(5.0) and deadline.allows(10.0) and not deadline.allows(10.5)
    assert Deadline.from_budget(None).allows(1e9)  # no time budget: the trial budget decides
    assert Deadline.from_budget(30.0, clock=lambda: 7.0).at == 37.0  # no origin given: from now


def record(number, family, value, fold_seconds, state="COMPLETE"):
    return TrialRecord(number, family, {}, state, value, [value] * len(fold_seconds), sum(fold_seconds),
                       fold_seconds=fold_seconds)


def test_reserve_covers_refitting_the_best_kept_trials():
    records = [record(0, "linear", 0.9, [1.0, 1.0]), record(1, "random_forest", 0.95, [4.0, 4.0]),
               record(2, "mlp", 0.7, [10.0, 10.0]), record(3, "hist_gradient_boosting", 0.93, [2.0, 2.0])]
    kept = {0, 1, 2, 3}
    # the best 3 (trials 1, 3, 0): (4 + 2 + 1) s per fold × 2 folds / 1 × margin 1.6
    assert refit_reserve(records, kept, folds=2, members=3) == pytest.approx(TAIL_S + POST_SEARCH_S + 1.6 * 14.0)
    # minimising (e.g. RMSE): the lowest values are the best
    assert (refit_reserve(records, kept, folds=2, sign=-1.0, members=1)
            == pytest.approx(TAIL_S + POST_SEARCH_S + 1.6 * 20.0))
    # only trials whose predictions were kept count
    assert refit_reserve(records, {2}, folds=2, members=3) == pytest.approx(TAIL_S + POST_SEARCH_S + 1.6 * 20.0)


def test_a_fold_that_cannot_finish_in_time_is_not_started(wine, space_for, trial_log):
    dataset, split = wine
    study = optuna.create_study(direction="maximize")
    deadline = Deadline(at=1000.0, reserve_s=997.0, clock=lambda: 0.0)  # 3 s left for the search
    cv = CrossValidation(space_for(dataset, ["linear"]), split.X_train, split.y_train, SearchSettings("fold", folds=2),
                         study, trial_log, deadline)
    cv.records = [record(0, "linear", 0.9, [5.0, 5.0])]  # linear folds took 5 s each before

    def group_trial(family, fold_seconds=()):
        return _GroupTrial(None, TrialRecord(1, family, {}, "RUNNING", fold_seconds=list(fold_seconds)))

    with pytest.raises(OutOfTime, match="out of time before fold 0"):
        cv._check_time([group_trial("linear")], 0)
    cv._check_time([group_trial("mlp")], 0)  # no estimate for this family: goes on
    cv._check_time([group_trial("linear", [1.0])], 1)  # this trial's own folds take 1 s: fits
    deadline.at = None
    cv._check_time([group_trial("linear")], 0)  # no time budget: nothing to check


def test_a_spent_budget_still_yields_one_model_then_stops(wine, space_for, trial_log, study_store, step_clock):
    dataset, split = wine
    spent = Deadline(at=0.0, clock=step_clock)  # the clock reads 1, 2, ...: past the deadline from the start
    result = run_search(space_for(dataset, ["linear", "hist_gradient_boosting"]), split.X_train, split.y_train,
                        study_store.settings("spent", folds=2, n_trials=10), trial_log, deadline=spent,
                        mirror=study_store.mirror("spent", "maximize"))
    assert [r.state for r in trial_log.records] == ["COMPLETE"]  # the first trial, then the stop
    assert len(result.trials) == 1
    stored = study_store.load("spent")
    if stored is not None:
        assert len(stored.trials) == 1 and stored.user_attrs["metric"] == dataset.metric


def test_an_epoch_past_the_deadline_ends_the_trial_and_the_search(wine, space_for, trial_log, step_clock):
    """A linear trial completes; the MLP that follows reads the clock once an epoch, and a few
    epochs in its time is spent: pruned "out of time" mid-fold, and no trial after it."""
    dataset, split = wine
    deadline = Deadline(at=25.0, clock=step_clock)
    result = run_search(space_for(dataset, ["linear", "mlp"]), split.X_train, split.y_train,
                        SearchSettings(study_name="epochs", folds=2, n_trials=10), trial_log, deadline=deadline)
    assert [(r.family, r.state) for r in result.records] == [("linear", "COMPLETE"), ("mlp", "PRUNED")]
    mlp = result.records[1]
    assert mlp.reason.startswith("out of time at fold 0, epoch ") and mlp.fold_scores == []
    assert 0 < len(mlp.epoch_history) < 20
    assert deadline.search_left() <= 0 < deadline.left()  # stopped in its own time, the reserve untouched
