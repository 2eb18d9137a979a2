"""Ensemble selection over the trials' out-of-fold predictions (Caruana et al. 2004, as in
auto-sklearn and AutoGluon): greedy forward selection with replacement, then a refit of the chosen
pipelines on all training rows as one scikit-learn VotingClassifier (soft) or VotingRegressor with
the selection's weights. The blend becomes the final model only when its out-of-fold score beats
the study's best trial's; otherwise that trial's pipeline does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import VotingClassifier, VotingRegressor

from automl.evaluation import METRICS, score_predictions
from automl.search import Deadline, SearchResult, build_model, refit_seconds

ROUNDS = 25
MAX_CANDIDATES = 12


@dataclass
class Selection:
    weights: dict[int, int]  # trial number → times chosen
    score: float  # the blend's out-of-fold score
    best_single: int  # the trial it is compared with (the study's best, unless told otherwise)
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
           rounds: int = ROUNDS, max_candidates: int = MAX_CANDIDATES, families: dict[int, str] | None = None,
           reference: tuple[int, np.ndarray] | None = None) -> Selection:
    """Greedy forward selection with replacement: each round adds the trial that most improves the
    averaged out-of-fold predictions' score (ties on a label metric go to the lower log-loss, then
    to the earlier-ranked trial). Candidates: the best trials and each family's best. The blend is
    compared with `reference` (trial number, its out-of-fold predictions): by default the best candidate."""
    if not oof:
        raise ValueError("no out-of-fold predictions to select from")
    sign = METRICS[metric].sign
    tie_break = breaks_ties_on_log_loss(metric, classes)
    if classes is not None:  # labels as integer codes: the metrics run ~10× faster than on strings
        y = pd.Categorical(np.asarray(y), categories=classes).codes
        classes = np.arange(len(classes))

    def key(predicted: np.ndarray) -> tuple:  # larger is better
        value = sign * score_predictions(metric, y, predicted, classes)
        return (value, -score_predictions("log_loss", y, predicted, classes)) if tie_break else (value,)

    singles = {n: key(p) for n, p in oof.items()}
    ranked = candidates(singles, families, max_candidates)
    total, count, weights, current = np.zeros_like(oof[ranked[0]]), 0, {}, ()
    for _ in range(rounds):
        scores = [key((total + oof[n]) / (count + 1)) for n in ranked]
        pick = max(range(len(ranked)), key=lambda i: scores[i])  # the first of equals
        if count and scores[pick] < current:  # adding anything now makes it worse: done
            break
        current = scores[pick]
        total += oof[ranked[pick]]
        count += 1
        weights[ranked[pick]] = weights.get(ranked[pick], 0) + 1
    best, best_key = (reference[0], key(reference[1])) if reference else (ranked[0], singles[ranked[0]])
    return Selection(weights, sign * current[0], best, sign * best_key[0], current > best_key,
                     -current[1] if tie_break else None, -best_key[1] if tie_break else None)


def blend(members: dict[int, object], weights: list[float], classification: bool):
    """The members (trial number → unfitted pipeline) as one weighted soft-voting model."""
    estimators = [(f"trial_{n}", pipeline) for n, pipeline in members.items()]
    if classification:
        return VotingClassifier(estimators, voting="soft", weights=weights)
    return VotingRegressor(estimators, weights=weights)


@dataclass
class FinalModel:
    model: object
    kind: str  # "ensemble" or "single"
    reason: str
    selection: Selection | None


def final_model(result: SearchResult, X: pd.DataFrame, y: pd.Series, deadline: Deadline | None = None,
                ensemble: bool = True) -> FinalModel:
    """The blend when it beats the study's best trial out of fold and its refit fits the deadline;
    otherwise the best trial's pipeline. Fitted on all of (X, y)."""
    best = result.best.number
    single = lambda reason, selection=None: FinalModel(  # noqa: E731
        clone(build_model(result.best_params, result.space)).fit(X, y), "single", reason, selection)
    if not ensemble or len(result.oof) < 2:
        return single("ensemble selection is off or fewer than 2 trials completed")
    left = deadline.left() - deadline.tail_s if deadline is not None else np.inf
    records = {r.number: r for r in result.records}
    costs = {n: refit_seconds([records[n]], result.folds) for n in result.oof}  # (a blend's: their sum)
    # A trial whose refit alone overruns the time left is in no blend that fits (each selection
    # costs a pass over the out-of-fold predictions: on a large table, a second or more).
    pool = {n: oof for n, oof in result.oof.items() if n == best or costs[n] <= left}
    families = {n: records[n].family for n in result.oof}
    choose = lambda: select(pool, y, result.space.metric, result.classes, families=families,  # noqa: E731
                            reference=(best, result.oof[best]))
    selection, dropped = choose(), len(pool) < len(result.oof)
    # A blend whose refit would overrun the budget: drop its costliest member from the pool, select again.
    while selection.is_ensemble and sum(costs[n] for n in selection.weights) > left:
        del pool[max(selection.weights, key=costs.get)]
        selection, dropped = choose(), True
    if not selection.is_ensemble:
        return single(f"no blend beat trial {best} out of fold" + (" within the time left" if dropped else ""),
                      selection)
    if not selection.beats_single:
        return single(f"the blend did not beat the best trial ({best}) out of fold", selection)
    members = {n: build_model(records[n].params, result.space) for n in selection.weights}
    model = blend(members, [float(w) for w in selection.weights.values()], result.classes is not None).fit(X, y)
    reason = f"OOF {selection.score:.4f} vs best trial {best}'s {selection.best_single_score:.4f}"
    if selection.log_loss is not None:
        reason += f" (log-loss {selection.log_loss:.4f} vs {selection.best_single_log_loss:.4f})"
    return FinalModel(model, "ensemble", reason, selection)
