"""Ensemble selection over the trials' out-of-fold predictions (Caruana et al. 2004, as in
auto-sklearn and AutoGluon): greedy forward selection with replacement, then a refit of the chosen
pipelines on all training rows. The ensemble becomes the final model only when its out-of-fold
score beats the best single pipeline's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from automl.budget import TAIL_S, Deadline
from automl.evaluation import METRICS, score_predictions
from automl.search import SearchResult, build_pipeline, refit_seconds

ROUNDS = 25
MAX_CANDIDATES = 12


@dataclass
class Selection:
    weights: dict[int, int]  # trial number → times chosen
    score: float  # the ensemble's out-of-fold score
    best_single: int
    best_single_score: float  # that trial's out-of-fold score, computed the same way

    @property
    def is_ensemble(self) -> bool:
        return len(self.weights) > 1


def select(oof: dict[int, np.ndarray], y: pd.Series, metric: str, classes: np.ndarray | None,
           rounds: int = ROUNDS, max_candidates: int = MAX_CANDIDATES) -> Selection:
    """Greedy forward selection with replacement: each round adds the trial that most improves the
    averaged out-of-fold predictions' score (ties go to the earlier-ranked trial)."""
    if not oof:
        raise ValueError("no out-of-fold predictions to select from")
    sign = 1.0 if METRICS[metric].greater_is_better else -1.0
    if classes is not None:  # labels as integer codes: the metrics run ~10× faster than on strings
        y = pd.Categorical(np.asarray(y), categories=classes).codes
        classes = np.arange(len(classes))
    singles = {n: score_predictions(metric, y, p, classes) for n, p in oof.items()}
    ranked = sorted(singles, key=lambda n: (-sign * singles[n], n))[:max_candidates]
    best = ranked[0]
    total, count, weights = np.zeros_like(oof[best]), 0, {}
    current = -np.inf
    for _ in range(rounds):
        scores = [sign * score_predictions(metric, y, (total + oof[n]) / (count + 1), classes) for n in ranked]
        pick = int(np.argmax(scores))
        if count and scores[pick] < current:  # adding anything now makes it worse: done
            break
        current = scores[pick]
        total += oof[ranked[pick]]
        count += 1
        weights[ranked[pick]] = weights.get(ranked[pick], 0) + 1
    return Selection(weights, sign * current, best, singles[best])


class EnsembleModel(BaseEstimator):
    """A weighted average of fitted pipelines' probabilities (classification) or predictions."""

    def __init__(self, members: list, weights: list[float], classification: bool):
        self.members = members
        self.weights = weights
        self.classification = classification

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier" if self.classification else "regressor"
        return tags

    @property
    def classes_(self) -> np.ndarray:
        return self.members[0].classes_

    def fit(self, X, y):
        for member in self.members:
            member.fit(X, y)
        return self

    def _average(self, method: str, X) -> np.ndarray:
        w = np.asarray(self.weights, dtype=float) / np.sum(self.weights)
        return sum(wi * np.asarray(getattr(m, method)(X), dtype=float) for wi, m in zip(w, self.members))

    def predict_proba(self, X) -> np.ndarray:
        return self._average("predict_proba", X)

    def predict(self, X) -> np.ndarray:
        if self.classification:
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        return self._average("predict", X)


@dataclass
class FinalModel:
    model: object
    kind: str  # "ensemble" or "single"
    reason: str
    selection: Selection | None


def final_model(result: SearchResult, X: pd.DataFrame, y: pd.Series, deadline: Deadline | None = None,
                ensemble: bool = True) -> FinalModel:
    """The ensemble when it beats the best single pipeline out of fold and its refit fits the
    deadline; otherwise the best trial's pipeline. Fitted on all of (X, y)."""
    best_params = result.best_params
    single = lambda reason, selection=None: FinalModel(  # noqa: E731
        clone(build_pipeline(best_params, result.space)).fit(X, y), "single", reason, selection)
    if not ensemble or len(result.oof) < 2:
        return single("ensemble selection is off or fewer than 2 trials completed")
    left = deadline.left() - TAIL_S if deadline is not None else np.inf
    records = {r.number: r for r in result.records}
    folds = max(len(r.fold_seconds) for r in result.records)
    cost = lambda numbers: refit_seconds([records[n] for n in numbers], folds)  # noqa: E731
    pool = dict(result.oof)
    selection = select(pool, y, result.space.metric, result.classes)
    # A blend whose refit would overrun the budget: drop its costliest member from the pool, select again.
    while selection.is_ensemble and cost(selection.weights) > left:
        costliest = max(selection.weights, key=lambda n: cost([n]))
        del pool[costliest]
        selection = select(pool, y, result.space.metric, result.classes)
    if not selection.is_ensemble:
        return single(f"no blend beat trial {selection.best_single} out of fold within the time left", selection)
    sign = 1.0 if METRICS[result.space.metric].greater_is_better else -1.0
    if sign * selection.score <= sign * selection.best_single_score:
        return single("the ensemble did not beat the best single pipeline out of fold", selection)
    members = [clone(build_pipeline(records[n].params, result.space)).fit(X, y) for n in selection.weights]
    model = EnsembleModel(members, [float(w) for w in selection.weights.values()],
                          classification=result.classes is not None)
    return FinalModel(model, "ensemble", f"OOF {selection.score:.4f} vs best single {selection.best_single_score:.4f}",
                      selection)
