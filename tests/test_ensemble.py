"""Ensemble selection over out-of-fold predictions, the ensemble model, and the final-model choice."""

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from automl.budget import Deadline
from automl.ensemble import EnsembleModel, final_model, select
from automl.search import run_search
from tests.test_search import ListLogger, space_for, wine  # noqa: F401  (the fixture)


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


def test_ensemble_model_averages_probabilities_with_weights():
    class Fixed:
        def __init__(self, p):
            self.p, self.classes_ = np.asarray(p, float), np.array(["x", "y"])

        def predict_proba(self, X):
            return np.tile(self.p, (len(X), 1))

    model = EnsembleModel([Fixed([0.9, 0.1]), Fixed([0.0, 1.0])], [1.0, 3.0], classification=True)
    proba = model.predict_proba(pd.DataFrame({"f": [1, 2]}))
    assert proba[0] == pytest.approx([0.225, 0.775])
    assert list(model.predict(pd.DataFrame({"f": [1]}))) == ["y"]
    assert list(model.classes_) == ["x", "y"]


def test_final_model_on_a_real_search(wine, tmp_path):  # noqa: F811
    dataset, split = wine
    space = space_for(dataset, ["linear", "hist_gradient_boosting", "random_forest"])
    result = run_search(space, split.X_train, split.y_train, folds=2, study_name="ens", storage=None,
                        n_trials=6, timeout_s=None, logger=ListLogger())
    completed = [r.number for r in result.records if r.state == "COMPLETE"]
    assert set(result.oof) == set(completed) and list(result.classes) == sorted(dataset.y.unique())
    assert all(result.oof[n].shape == (len(split.y_train), 3) for n in completed)
    final = final_model(result, split.X_train, split.y_train)
    assert final.kind in ("ensemble", "single") and final.selection is not None
    if final.kind == "ensemble":
        assert final.selection.score > final.selection.best_single_score
        assert len(final.model.members) == len(final.selection.weights) >= 2
    proba = final.model.predict_proba(split.X_test)
    assert proba.shape == (len(split.X_test), 3) and np.allclose(proba.sum(axis=1), 1.0)
    reloaded = cloudpickle.loads(cloudpickle.dumps(final.model))  # what MLflow stores
    assert (reloaded.predict(split.X_test) == final.model.predict(split.X_test)).all()
    off = final_model(result, split.X_train, split.y_train, ensemble=False)
    assert off.kind == "single" and "off" in off.reason
    # No time left to refit several members: the best single pipeline, and the reason says so.
    late = final_model(result, split.X_train, split.y_train, Deadline(at=0.0))
    assert late.kind == "single"


def test_kept_predictions_hold_every_family_best(wine, monkeypatch):  # noqa: F811
    """Only the best KEEP_OOF trials' out-of-fold predictions are kept, but never without a
    family's best one, even when another family's trials all score higher."""
    import automl.search as search

    monkeypatch.setattr(search, "KEEP_OOF", 2)
    dataset, split = wine
    space = space_for(dataset, ["linear", "hist_gradient_boosting", "random_forest"])
    result = run_search(space, split.X_train, split.y_train, folds=2, study_name="keep", storage=None,
                        n_trials=9, timeout_s=None, pruner="none", logger=ListLogger())
    completed = [r for r in result.records if r.state == "COMPLETE"]
    families = {r.family for r in completed}
    assert len(completed) >= 6 and len(families) == 3
    assert len(result.oof) == 3  # one per family, KEEP_OOF notwithstanding
    for family in families:
        best = max(r.value for r in completed if r.family == family)
        assert any(r.family == family and r.value == best for r in completed if r.number in result.oof), family
