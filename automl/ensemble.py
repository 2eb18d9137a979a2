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
    beats_single: bool = False  # better out of fold (on the metric, then on log-loss where it breaks ties)
    log_loss: float | None = None  # the blend's and the best single's out-of-fold log-loss, where it breaks ties
    best_single_log_loss: float | None = None

    @property
    def is_ensemble(self) -> bool:
        return len(self.weights) > 1


def breaks_ties_on_log_loss(metric: str, classes: np.ndarray | None) -> bool:
    """Label metrics (accuracy, F1) tie often on small tables, where a blend of different models
    and one model can get the same rows right; log-loss, a proper scoring rule, tells them apart."""
    return classes is not None and not METRICS[metric].needs_proba


def candidates(singles: dict[int, tuple], families: dict[int, str] | None, max_candidates: int) -> list[int]:
    """The best max_candidates trials, and each family's best (a blend needs different models)."""
    ranked = sorted(singles, key=lambda n: (tuple(-v for v in singles[n]), n))
    chosen = ranked[:max_candidates]
    if families:
        best_of = {}
        for n in ranked:
            best_of.setdefault(families.get(n), n)
        chosen += [n for n in best_of.values() if n not in chosen]
    return chosen


def select(oof: dict[int, np.ndarray], y: pd.Series, metric: str, classes: np.ndarray | None,
           rounds: int = ROUNDS, max_candidates: int = MAX_CANDIDATES,
           families: dict[int, str] | None = None) -> Selection:
    """Greedy forward selection with replacement: each round adds the trial that most improves the
    averaged out-of-fold predictions' score (ties on a label metric go to the lower log-loss, then
    to the earlier-ranked trial). Candidates: the best trials and each family's best."""
    if not oof:
        raise ValueError("no out-of-fold predictions to select from")
    sign = 1.0 if METRICS[metric].greater_is_better else -1.0
    tie_break = breaks_ties_on_log_loss(metric, classes)
    if classes is not None:  # labels as integer codes: the metrics run ~10× faster than on strings
        y = pd.Categorical(np.asarray(y), categories=classes).codes
        classes = np.arange(len(classes))

    def key(predicted: np.ndarray) -> tuple:  # larger is better
        value = sign * score_predictions(metric, y, predicted, classes)
        return (value, -score_predictions("log_loss", y, predicted, classes)) if tie_break else (value,)

    singles = {n: key(p) for n, p in oof.items()}
    ranked = candidates(singles, families, max_candidates)
    best = ranked[0]
    total, count, weights = np.zeros_like(oof[best]), 0, {}
    current: tuple = ()
    for _ in range(rounds):
        scores = [key((total + oof[n]) / (count + 1)) for n in ranked]
        pick = max(range(len(ranked)), key=lambda i: scores[i])  # the first of equals
        if count and scores[pick] < current:  # adding anything now makes it worse: done
            break
        current = scores[pick]
        total += oof[ranked[pick]]
        count += 1
        weights[ranked[pick]] = weights.get(ranked[pick], 0) + 1
    return Selection(weights, sign * current[0], best, sign * singles[best][0], current > singles[best],
                     -current[1] if tie_break else None, -singles[best][1] if tie_break else None)


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
    families = {n: records[n].family for n in pool}
    selection = select(pool, y, result.space.metric, result.classes, families=families)
    # A blend whose refit would overrun the budget: drop its costliest member from the pool, select again.
    while selection.is_ensemble and cost(selection.weights) > left:
        costliest = max(selection.weights, key=lambda n: cost([n]))
        del pool[costliest]
        selection = select(pool, y, result.space.metric, result.classes, families=families)
    if not selection.is_ensemble:
        return single(f"no blend beat trial {selection.best_single} out of fold within the time left", selection)
    if not selection.beats_single:
        return single("the ensemble did not beat the best single pipeline out of fold", selection)
    members = [clone(build_pipeline(records[n].params, result.space)).fit(X, y) for n in selection.weights]
    model = EnsembleModel(members, [float(w) for w in selection.weights.values()],
                          classification=result.classes is not None)
    reason = f"OOF {selection.score:.4f} vs best single {selection.best_single_score:.4f}"
    if selection.log_loss is not None:
        reason += f" (log-loss {selection.log_loss:.4f} vs {selection.best_single_log_loss:.4f})"
    return FinalModel(model, "ensemble", reason, selection)
