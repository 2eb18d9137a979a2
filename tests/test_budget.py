"""The whole-run budget: the deadline, the reserve it keeps, and where a search stops for it."""

import time

import optuna
import pytest

from automl import budget
from automl.budget import POST_SEARCH_S, TAIL_S, Deadline
from automl.search import Objective, TrialRecord, make_storage, refit_reserve, run_search
from tests.test_search import ListLogger, space_for, wine  # noqa: F401  (the fixture)


def test_the_clock_started_by_the_cli_is_used_once():
    budget.start_clock()
    origin = budget.take_clock()
    assert abs(origin - time.monotonic()) < 5
    time.sleep(0.01)
    assert budget.take_clock() > origin  # used up: the next run's clock starts afresh


def test_deadline_keeps_its_reserve_for_after_the_search():
    deadline = Deadline.from_budget(100.0, origin=time.monotonic() - 40.0)
    assert 59 < deadline.left() <= 60
    deadline.reserve_s = 50.0
    assert 9 < deadline.search_left() <= 10
    assert deadline.allows(5.0) and not deadline.allows(20.0)
    assert Deadline.from_budget(None).allows(1e9)  # no time budget: the trial budget decides


def record(number, family, value, fold_seconds, state="COMPLETE"):
    return TrialRecord(number, family, {}, state, value, [value] * len(fold_seconds), sum(fold_seconds),
                       fold_seconds=fold_seconds)


def test_reserve_covers_refitting_the_best_kept_trials():
    records = [record(0, "linear", 0.9, [1.0, 1.0]), record(1, "random_forest", 0.95, [4.0, 4.0]),
               record(2, "mlp", 0.7, [10.0, 10.0]), record(3, "hist_gradient_boosting", 0.93, [2.0, 2.0])]
    oof = {0: None, 1: None, 2: None, 3: None}
    # the best 3 (trials 1, 3, 0): (4 + 2 + 1) s per fold × 2 folds / 1 × margin 1.6
    assert refit_reserve(records, oof, folds=2, members=3) == pytest.approx(TAIL_S + POST_SEARCH_S + 1.6 * 14.0)
    # minimising (e.g. RMSE): the lowest values are the best
    assert refit_reserve(records, oof, folds=2, sign=-1.0, members=1) == pytest.approx(TAIL_S + POST_SEARCH_S + 1.6 * 20.0)


def test_a_fold_that_cannot_finish_in_time_stops_the_search(wine):  # noqa: F811
    dataset, split = wine
    space = space_for(dataset, ["linear"])
    deadline = Deadline(at=time.monotonic() + 1000.0, reserve_s=1000.0 - 3.0)  # ~3 s left for the search
    objective = Objective(space, split.X_train, split.y_train, 2, ListLogger(), deadline)
    objective.records = [record(0, "linear", 0.9, [5.0, 5.0])]  # linear folds took 5 s each before
    with pytest.raises(optuna.TrialPruned, match="out of time before fold 0"):
        objective._check_time(TrialRecord(1, "linear", {}, "RUNNING", None, [], 0.0), 0)
    objective._check_time(TrialRecord(1, "mlp", {}, "RUNNING", None, [], 0.0), 0)  # no estimate: goes on
    fast = TrialRecord(2, "linear", {}, "RUNNING", None, [0.9], 0.0, fold_seconds=[1.0])
    objective._check_time(fast, 1)  # this trial's own folds take 1 s: fits


def test_a_spent_budget_still_yields_one_model_then_stops(wine, tmp_path):  # noqa: F811
    dataset, split = wine
    space = space_for(dataset, ["linear", "hist_gradient_boosting"])
    logger = ListLogger()
    spent = Deadline(at=time.monotonic() - 1.0)
    result = run_search(space, split.X_train, split.y_train, folds=2, study_name="spent",
                        storage=str(tmp_path / "s.journal"), n_trials=10, timeout_s=None, logger=logger,
                        deadline=spent)
    assert [r.state for r in logger.records] == ["COMPLETE"]  # the first trial, then the stop
    assert len([t for t in result.study.trials if t.state.is_finished()]) == 1  # the next one never ran
    reloaded = optuna.load_study(study_name="spent", storage=make_storage(str(tmp_path / "s.journal")))
    assert len(reloaded.trials) == 1 and reloaded.user_attrs["metric"] == dataset.metric
