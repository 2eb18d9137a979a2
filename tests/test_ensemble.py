"""Ensemble selection over out-of-fold predictions, the ensemble model, and the final-model choice."""

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from automl.ensemble import blend, final_model, select
from automl.features import valid_score_funcs
from automl.models import FamilyContext
from automl.search import Deadline, SearchSettings, SearchSpace, build_pipeline, run_search


def test_selection_blends_complementary_predictors():
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    a = y + rng.normal(scale=1.0, size=400)  # two equally noisy, independent predictors:
    b = y + rng.normal(scale=1.0, size=400)  # their average halves the error variance
    bad = y + 5.0  # biased: any share of it hurts
    sel = select({0: a, 1: b, 2: bad}, pd.Series(y), "rmse", None)
    assert set(sel.weights) == {0, 1} and 2 not in sel.weights
    assert sel.score < sel.best_single_score  # RMSE: lower is better
    assert sel.best_single_score == pytest.approx(np.sqrt(np.mean((y - a) ** 2)) if sel.best_single == 0
                                                  else np.sqrt(np.mean((y - b) ** 2)))


def test_selection_keeps_a_single_model_when_nothing_helps():
    y = pd.Series(["a", "b"] * 50)
    perfect = np.column_stack([(y == "a").astype(float), (y == "b").astype(float)])
    flat = np.full((100, 2), 0.5)
    sel = select({3: perfect, 4: flat}, y, "roc_auc", np.array(["a", "b"]))
    assert sel.weights == {3: sel.weights[3]} and sel.score == pytest.approx(1.0)


def test_accuracy_ties_are_broken_by_log_loss():
    """Two models right on the same rows tie on accuracy; their blend too, at a lower log-loss, so
    the blend wins (and is called better); under ROC AUC nothing breaks the tie, so one model stays."""
    y = pd.Series(["a", "b"] * 20)
    truth = (y == "b").to_numpy()

    def model(p_right, p_wrong):  # wrong on rows 0 and 1, right elsewhere
        pb = np.where(truth, p_right, 1 - p_right)
        pb[[0, 1]] = np.where(truth[[0, 1]], 1 - p_wrong, p_wrong)
        return np.column_stack([1 - pb, pb])

    sure, unsure = model(0.95, 0.99), model(0.7, 0.55)
    classes = np.array(["a", "b"])
    sel = select({0: unsure, 1: sure}, y, "accuracy", classes)
    assert sel.best_single == 1  # same accuracy as trial 0, lower log-loss: ranked first
    assert sel.score == sel.best_single_score == pytest.approx(0.95)
    assert set(sel.weights) == {0, 1} and sel.beats_single
    assert sel.log_loss < sel.best_single_log_loss
    same = select({0: sure, 1: sure.copy()}, y, "accuracy", classes)
    assert not same.beats_single and same.log_loss == pytest.approx(same.best_single_log_loss)
    flat_auc = select({0: np.tile([0.5, 0.5], (40, 1)), 1: np.tile([0.5, 0.5], (40, 1))}, y, "roc_auc", classes)
    assert flat_auc.log_loss is None and not flat_auc.beats_single


def test_each_family_best_is_a_candidate():
    """Twelve near-copies of one family fill the top of the list; the other family's best still
    gets a say, and blending it in helps."""
    rng = np.random.default_rng(1)
    y = rng.normal(size=300)
    noise = rng.normal(size=300)
    copies = {n: y + noise + rng.normal(scale=0.01, size=300) for n in range(12)}  # same errors
    other = y - noise + rng.normal(scale=1.2, size=300)  # worse alone, errors against theirs
    oof = {**copies, 12: other}
    families = {**{n: "forest" for n in copies}, 12: "linear"}
    without = select(oof, pd.Series(y), "rmse", None, max_candidates=3)
    assert 12 not in without.weights  # ranked 13th, not a candidate
    with_families = select(oof, pd.Series(y), "rmse", None, max_candidates=3, families=families)
    assert 12 in with_families.weights and with_families.score < without.score


def test_the_blend_is_a_weighted_soft_vote():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    y = np.where(X["a"] + 0.5 * rng.normal(size=80) > 0, "yes", "no")
    members = {3: LogisticRegression(), 7: DecisionTreeClassifier(max_depth=2, random_state=0)}
    model = blend(members, [1.0, 3.0], classification=True).fit(X, y)
    assert isinstance(model, VotingClassifier) and model.weights == [1.0, 3.0]  # its arguments stay as given
    fitted = model.named_estimators_
    expected = (fitted["trial_3"].predict_proba(X) + 3 * fitted["trial_7"].predict_proba(X)) / 4
    np.testing.assert_allclose(model.predict_proba(X), expected)
    assert list(model.classes_) == ["no", "yes"] and set(model.predict(X)) <= {"no", "yes"}


def search(data, n_rows):
    """A seeded 6-trial search over three families (module-scoped below: the tests read it, never change it)."""
    dataset, split = data
    space = SearchSpace(["linear", "hist_gradient_boosting", "random_forest"],
                        FamilyContext(task=dataset.task, seed=0, n_jobs=1, n_rows=n_rows), dataset.metric,
                        dataset.numeric_columns, dataset.categorical_columns, dataset.X.shape[1],
                        valid_score_funcs(dataset.task, None))

    class Quiet:
        def log_trial(self, record):
            pass

    return run_search(space, split.X_train, split.y_train, SearchSettings(study_name="ens", folds=2, n_trials=6),
                      Quiet())


@pytest.fixture(scope="module")
def cancer_search(cancer):
    return search(cancer, 227)


@pytest.fixture(scope="module")
def wine_search(wine):
    return search(wine, 71)


def test_a_blend_that_beats_the_best_trial_is_the_final_model(cancer, cancer_search):
    """On breast cancer, three families' trials blend to a better out-of-fold ROC AUC than the best
    trial alone (seeded: this is the branch this search takes)."""
    _, split = cancer
    result = cancer_search
    completed = [r.number for r in result.records if r.state == "COMPLETE"]
    assert set(result.oof) == set(completed) and list(result.classes) == ["benign", "malignant"]
    assert all(result.oof[n].shape == (len(split.y_train), 2) for n in completed)
    final = final_model(result, split.X_train, split.y_train)
    assert final.kind == "ensemble" and final.selection.beats_single and final.selection.is_ensemble
    assert final.selection.best_single == result.best.number
    assert final.selection.score > final.selection.best_single_score == pytest.approx(result.best_value, abs=0.01)
    assert isinstance(final.model, VotingClassifier) and final.model.voting == "soft"
    assert [name for name, _ in final.model.estimators] == [f"trial_{n}" for n in final.selection.weights]
    assert final.model.weights == [float(w) for w in final.selection.weights.values()]
    proba = final.model.predict_proba(split.X_test)
    assert proba.shape == (len(split.X_test), 2) and np.allclose(proba.sum(axis=1), 1.0)
    reloaded = cloudpickle.loads(cloudpickle.dumps(final.model))  # what MLflow stores
    assert (reloaded.predict(split.X_test) == final.model.predict(split.X_test)).all()


def test_no_blend_when_none_beats_the_best_trial(wine, wine_search):
    """On wine, the best trial (a linear model) is chosen again every round: no blend, its pipeline."""
    _, split = wine
    final = final_model(wine_search, split.X_train, split.y_train)
    best = wine_search.best.number
    assert final.kind == "single" and final.reason == f"no blend beat trial {best} out of fold"
    assert final.selection.weights == {best: final.selection.weights[best]} and not final.selection.beats_single
    built = build_pipeline(wine_search.best_params, wine_search.space).named_steps["model"]
    assert repr(final.model.named_steps["model"]) == repr(built)  # the best trial's own pipeline


def test_a_blend_is_compared_with_the_best_trial_even_outside_the_pool():
    """A blend of weaker trials that beats the others but not the best trial (say the best was left
    out of the pool) does not count as better."""
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    weak = {1: y + rng.normal(scale=1.0, size=400), 2: y + rng.normal(scale=1.0, size=400)}
    best = y + rng.normal(scale=0.3, size=400)
    sel = select(weak, pd.Series(y), "rmse", None, reference=(0, best))
    assert sel.is_ensemble and sel.best_single == 0 and not sel.beats_single
    assert sel.best_single_score < sel.score  # RMSE: the best trial alone is better than the blend


def test_no_blend_when_off_or_out_of_time(cancer, cancer_search):
    _, split = cancer
    off = final_model(cancer_search, split.X_train, split.y_train, ensemble=False)
    assert off.kind == "single" and off.selection is None and "off" in off.reason
    late = final_model(cancer_search, split.X_train, split.y_train, Deadline(at=0.0, clock=lambda: 1.0))
    assert late.kind == "single" and late.reason.endswith("out of fold within the time left")
    assert not late.selection.is_ensemble


def test_kept_predictions_hold_every_family_best(wine, space_for, trial_log):
    """Only the best keep_oof trials' out-of-fold predictions are kept, but never without a
    family's best one, even when another family's trials all score higher."""
    dataset, split = wine
    space = space_for(dataset, ["linear", "hist_gradient_boosting", "random_forest"])
    result = run_search(space, split.X_train, split.y_train,
                        SearchSettings(study_name="keep", folds=2, n_trials=9, pruner="none", keep_oof=2), trial_log)
    completed = [r for r in result.records if r.state == "COMPLETE"]
    families = {r.family for r in completed}
    assert len(completed) >= 6 and len(families) == 3
    assert len(result.oof) == 3  # one per family, keep_oof notwithstanding
    for family in families:
        best = max(r.value for r in completed if r.family == family)
        assert any(r.family == family and r.value == best for r in completed if r.number in result.oof), family
