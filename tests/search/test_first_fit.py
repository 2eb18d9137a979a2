"""The time-aware first fit: a first trial the budget cannot hold trains on fewer rows (timed by
two probes, on an injected clock), predicts every held-out row, and is refitted the same way."""

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.ensemble import VotingClassifier
from sklearn.tree import DecisionTreeClassifier

from automl.ensemble import final_model
from automl.search import (
    CrossValidation,
    Deadline,
    OutOfTime,
    RowSample,
    SearchSettings,
    TrialRecord,
    _rows,
    build_model,
    run_search,
)
from automl.search._cv import _GroupTrial
from automl.search._rows import FAMILY_SHARE, FIRST_SHARE, first_fit_fraction, sample_rows
from automl.tracking._trials import trial_run


def test_the_fraction_fits_the_first_trial_into_its_share_of_the_time():
    # fixed 2 s + 1 ms a row (probes: 500 rows in 2.5 s, 1000 in 3 s); 3 folds of 10,000 rows
    probes = [(500, 2.5), (1000, 3.0)]
    fraction = first_fit_fraction(probes, 10_000, 3, 1.6, available_s=100.0)
    folds_and_refit = 3 * (2 + 10 * fraction) + 1.6 * (2 + 10 * fraction * 1.5)
    assert folds_and_refit == pytest.approx(FIRST_SHARE * 100.0)
    assert 0.5 < fraction < 1.0
    assert first_fit_fraction(probes, 10_000, 3, 1.6, available_s=1e4) == 1.0  # time enough: every row
    assert first_fit_fraction(probes, 10_000, 3, 1.6, available_s=5.0) == 0.1  # never below the larger probe
    # a line through the origin would guess 30 s a fold; the fixed part makes a fold of 10,000 rows 12 s
    assert first_fit_fraction([(500, 1.5), (1000, 3.0)], 10_000, 3, 1.6, 100.0) < fraction


def test_noisy_probes_still_charge_rows_something():
    """The larger probe ran faster than the smaller one: a tenth of its time per row is still charged."""
    slow_first = first_fit_fraction([(500, 3.5), (1000, 3.0)], 10_000, 3, 1.6, 30.0)
    per_row, fixed = 0.1 * 3.0 / 1000, 3.0 - 0.3
    assert 3 * (fixed + per_row * 10_000 * slow_first) + 1.6 * (fixed + per_row * 15_000 * slow_first) == \
        pytest.approx(FIRST_SHARE * 30.0)


def test_a_sample_keeps_every_class_and_is_the_same_each_time():
    y = pd.Series(["a"] * 90 + ["b"] * 9 + ["c"])
    rows = sample_rows(y, 0.1, seed=3, stratify=True)
    assert sorted(y.iloc[rows].value_counts().items()) == [("a", 9), ("b", 1), ("c", 1)]
    assert np.array_equal(rows, sample_rows(y, 0.1, seed=3, stratify=True))
    assert not np.array_equal(rows, sample_rows(y, 0.1, seed=4, stratify=True))
    assert len(sample_rows(pd.Series(np.arange(200.0)), 0.25, seed=0, stratify=False)) == 50


def test_row_sample_fits_on_its_fraction_and_predicts_every_row(cancer):
    _, split = cancer
    model = RowSample(DecisionTreeClassifier(random_state=0), fraction=0.2, seed=0, stratify=True)
    voting = VotingClassifier([("sampled", clone(model)), ("all", DecisionTreeClassifier(random_state=0))],
                              voting="soft").fit(split.X_train, split.y_train)  # (hands on y encoded)
    sampled = voting.named_estimators_["sampled"]
    assert sampled.estimator_.n_features_in_ == split.X_train.shape[1]
    assert voting.predict_proba(split.X_test).shape == (len(split.X_test), 2)
    model.fit(split.X_train, split.y_train)
    assert list(model.classes_) == sorted(split.y_train.unique())
    assert model.predict(split.X_test).shape == (len(split.X_test),)


@pytest.fixture
def small_probes(monkeypatch):
    monkeypatch.setattr(_rows, "PROBE_ROWS", 100)  # probes of 50 and 100 rows; cancer's folds have 227


def search(cancer, space_for, trial_log, deadline, families=("hist_gradient_boosting",), n_trials=1):
    dataset, split = cancer
    return run_search(space_for(dataset, list(families)), split.X_train, split.y_train,
                      SearchSettings(study_name="first-fit", folds=2, n_trials=n_trials), trial_log, deadline=deadline)


def test_a_first_trial_the_budget_cannot_hold_trains_on_fewer_rows(cancer, space_for, trial_log, step_clock,
                                                                   small_probes):
    """The clock moves one second a read: each probe takes 1 s, so rows seem cheap beside the
    fixed part and a 20-s budget leaves room for part of the rows, not all."""
    dataset, split = cancer
    result = search(cancer, space_for, trial_log, Deadline(at=20.0, clock=step_clock))
    first = result.records[0]
    assert first.state == "COMPLETE" and 100 / 227 <= first.params["rows_fraction"] < 1.0
    oof = result.oof[first.number]
    assert np.allclose(oof.sum(axis=1), 1.0)  # every held-out row predicted, not only the sampled ones
    # its child run says so
    assert trial_run(first, "parent", 0)[1]["rows_fraction"] == str(first.params["rows_fraction"])
    refit = final_model(result, split.X_train, split.y_train).model
    assert isinstance(refit, RowSample) and refit.fraction == first.params["rows_fraction"]
    assert refit.predict(split.X_test).shape == (len(split.X_test),)
    # the refit draws its rows as the folds did: stratified, seeded, that fraction of all rows
    rows = sample_rows(split.y_train, refit.fraction, 0, stratify=True)
    hgb = refit.estimator_.named_steps["model"]
    assert hgb.n_features_in_ == split.X_train.shape[1] and len(rows) < len(split.y_train)


def test_a_first_trial_with_time_or_no_deadline_trains_on_every_row(cancer, space_for, trial_log, step_clock,
                                                                   small_probes):
    generous = search(cancer, space_for, trial_log, Deadline(at=1e6, clock=step_clock))
    untimed = search(cancer, space_for, trial_log, None)
    for result in (generous, untimed):
        assert "rows_fraction" not in result.records[0].params
        assert not isinstance(build_model(result.records[0].params, result.space), RowSample)


def test_each_family_first_trial_is_fitted_to_its_smaller_share(cancer, space_for, trial_log, step_clock,
                                                                 small_probes):
    """A later family's first trial gets FAMILY_SHARE of the time left, not the first trial's
    FIRST_SHARE: with the same probes, a smaller fraction."""
    probes = [(500, 2.5), (1000, 3.0)]
    assert first_fit_fraction(probes, 10_000, 3, 1.6, 100.0, FAMILY_SHARE) < first_fit_fraction(probes, 10_000, 3,
                                                                                                 1.6, 100.0)
    # 40 reads: the first trial's half of the search's time holds every row; linear's share does not
    result = search(cancer, space_for, trial_log, Deadline(at=40.0, clock=step_clock),
                    families=("linear", "hist_gradient_boosting"), n_trials=2)
    first, second = result.records  # the warm start: hgb's default, then linear's
    assert (first.family, second.family) == ("hist_gradient_boosting", "linear")
    assert first.state == second.state == "COMPLETE"
    assert "rows_fraction" not in first.params and round(100 / 227, 4) <= second.params["rows_fraction"] < 1.0


def test_a_later_trial_is_expected_to_take_longer_on_every_row(wine, space_for, trial_log):
    """The first trial's folds took 1 s on a quarter of the rows: a trial of its family on all of
    them is expected to take 4 s a fold, which the 3 s left do not hold."""
    dataset, split = wine
    deadline = Deadline(at=1000.0, reserve_s=997.0, clock=lambda: 0.0)  # 3 s left for the search
    cv = CrossValidation(space_for(dataset, ["linear"]), split.X_train, split.y_train, SearchSettings("later", folds=2),
                         optuna.create_study(direction="maximize"), trial_log, deadline)
    sampled = TrialRecord(0, "linear", {"rows_fraction": 0.25}, "COMPLETE", 0.9, [0.9, 0.9], fold_seconds=[1.0, 1.0])
    cv.records = [sampled]
    later = _GroupTrial(None, TrialRecord(1, "linear", {}, "RUNNING"))
    with pytest.raises(OutOfTime, match="out of time before fold 0"):
        cv._check_time([later], 0)
    sampled.params = {}  # the same folds on every row: 1 s, which fits
    cv._check_time([later], 0)
