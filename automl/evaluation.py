"""Metrics (one table, used by the search and the final evaluation) and the final model's
permutation importance (its plots: automl.plots)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn import metrics as skm

# Optuna's direction of a study, as the factor that makes larger always better (sign * value).
SIGNS = {"maximize": 1.0, "minimize": -1.0}


@dataclass(frozen=True)
class MetricSpec:
    """One metric; `greater_is_better` is where its sign is decided (everything else reads it from here)."""

    name: str
    tasks: tuple[str, ...]
    greater_is_better: bool
    needs_proba: bool
    compute: Callable[[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None], float]

    @property
    def direction(self) -> str:
        return "maximize" if self.greater_is_better else "minimize"

    @property
    def sign(self) -> float:
        """1.0 or -1.0: sign * score is larger for a better score."""
        return SIGNS[self.direction]

    def better(self, score: float, than: float) -> bool:
        """Whether `score` is strictly better than `than` on this metric."""
        return self.sign * score > self.sign * than


def _roc_auc(y, pred, proba, classes):
    if proba.shape[1] == 2:
        return skm.roc_auc_score(y, proba[:, 1])
    return skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes)


CLASSIFICATION = ("binary", "multiclass")
METRICS: dict[str, MetricSpec] = {
    m.name: m
    for m in [
        MetricSpec("roc_auc", CLASSIFICATION, True, True, _roc_auc),
        MetricSpec("accuracy", CLASSIFICATION, True, False, lambda y, p, pr, c: skm.accuracy_score(y, p)),
        MetricSpec("f1", ("binary",), True, False,
                   lambda y, p, pr, c: skm.f1_score(y, p, pos_label=c[-1])),
        MetricSpec("f1_macro", CLASSIFICATION, True, False,
                   lambda y, p, pr, c: skm.f1_score(y, p, average="macro")),
        MetricSpec("log_loss", CLASSIFICATION, False, True,
                   lambda y, p, pr, c: skm.log_loss(y, pr, labels=c)),
        MetricSpec("rmse", ("regression",), False, False,
                   lambda y, p, pr, c: skm.root_mean_squared_error(y, p)),
        MetricSpec("mae", ("regression",), False, False,
                   lambda y, p, pr, c: skm.mean_absolute_error(y, p)),
        MetricSpec("r2", ("regression",), True, False, lambda y, p, pr, c: skm.r2_score(y, p)),
    ]
}
DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "rmse"}


def default_metric(task: str) -> str:
    return DEFAULT_METRIC[task]


def metrics_for_task(task: str) -> list[str]:
    return [name for name, spec in METRICS.items() if task in spec.tasks]


def score(metric: str, estimator, X, y) -> float:
    """The metric of a fitted estimator (or pipeline) on (X, y)."""
    spec = METRICS[metric]
    classes = getattr(estimator, "classes_", None)
    proba = estimator.predict_proba(X) if spec.needs_proba else None
    pred = None if spec.needs_proba else estimator.predict(X)
    return float(spec.compute(np.asarray(y), pred, proba, classes))


def score_predictions(metric: str, y, predicted: np.ndarray, classes: np.ndarray | None) -> float:
    """The metric from predictions already made: class probabilities (columns in `classes` order)
    for classification, values for regression."""
    spec = METRICS[metric]
    if classes is None:
        return float(spec.compute(np.asarray(y), predicted, None, None))
    labels = classes[np.argmax(predicted, axis=1)]
    return float(spec.compute(np.asarray(y), labels, predicted, classes))


def holdout_metrics(task: str, estimator, X, y, predicted: np.ndarray | None = None) -> dict[str, float]:
    """Every metric that fits the task, on the held-out test split (from `predicted`, the values or
    class probabilities already made on X, where given: a slow model predicts the rows once)."""
    y = np.asarray(y)
    if task == "regression":
        pred = estimator.predict(X) if predicted is None else predicted
        return finite_metrics({
            "test_rmse": float(skm.root_mean_squared_error(y, pred)),
            "test_mae": float(skm.mean_absolute_error(y, pred)),
            "test_r2": float(skm.r2_score(y, pred)),
        })
    classes = estimator.classes_
    if predicted is None:
        pred, proba = estimator.predict(X), estimator.predict_proba(X)
    else:
        pred, proba = classes[np.argmax(predicted, axis=1)], predicted
    average = "binary" if task == "binary" else "macro"
    pos = {"pos_label": classes[-1]} if task == "binary" else {}
    return finite_metrics({
        "test_accuracy": float(skm.accuracy_score(y, pred)),
        "test_f1": float(skm.f1_score(y, pred, average=average, **pos)),
        "test_recall": float(skm.recall_score(y, pred, average=average, **pos)),
        "test_precision": float(skm.precision_score(y, pred, average=average, zero_division=0, **pos)),
        "test_roc_auc": float(_roc_auc(y, pred, proba, classes)),
        "test_log_loss": float(skm.log_loss(y, proba, labels=classes)),
    })


class EvaluationError(ValueError):
    """The final model could not be scored: the run fails before anything is registered."""


def finite_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """The metrics, if every one is a number: an inf RMSE or a NaN R² is a failed evaluation, not a
    score a champion could be judged by."""
    bad = {name: value for name, value in metrics.items() if not np.isfinite(value)}
    if bad:
        raise EvaluationError(f"the final model's test metrics are not finite ({bad}): its predictions or the test "
                              "target overflow; nothing is registered. Rescale the target or the features")
    return metrics


PERMUTATION_REPEATS = 3
PERMUTATION_MAX_S = 20.0  # at most this long (or half the time left) on permutation importance
MIN_ROWS = 100
FIXED_SHARE = 0.3  # of a predict call's time on the test split, assumed not to shrink with fewer rows


def permutation_rows(n_rows: int, n_columns: int, predict_ms_per_1k: float, seconds_left: float | None) -> int:
    """How many test rows permutation importance can use in its time (0: none). A call on r of the
    n rows is taken to cost the full call's time × (FIXED_SHARE + (1 − FIXED_SHARE) × r / n)."""
    allowed = PERMUTATION_MAX_S if seconds_left is None else min(PERMUTATION_MAX_S, 0.5 * seconds_left)
    calls = n_columns * PERMUTATION_REPEATS + 1
    full = max(predict_ms_per_1k, 1e-3) * n_rows / 1e6  # seconds to predict every test row once
    share = (allowed / (calls * full) - FIXED_SHARE) / (1 - FIXED_SHARE)
    rows = min(n_rows, int(n_rows * share)) if share > 0 else 0
    return rows if rows >= min(MIN_ROWS, n_rows) and n_columns else 0


def permutation_table(metric: str, estimator, X, y, seed: int, predict_ms_per_1k: float,
                      seconds_left: float | None = None) -> pd.DataFrame | None:
    """Permutation importance of the final model's input columns on the test split: how much of the
    metric is lost when a column is shuffled (mean and std over PERMUTATION_REPEATS), on a seeded
    subsample (stratified for classes) that fits permutation_rows; None when none fits, or when
    the metric cannot be computed on it (a report, not worth a failed run)."""
    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import train_test_split

    rows = permutation_rows(len(X), X.shape[1], predict_ms_per_1k, seconds_left)
    if rows == 0:
        return None
    y = pd.Series(np.asarray(y), index=X.index)
    if rows < len(X):
        classes = y if hasattr(estimator, "classes_") and y.value_counts().min() >= 2 else None
        X, _, y, _ = train_test_split(X, y, train_size=rows, stratify=classes, random_state=seed)
    sign = 1.0 if METRICS[metric].greater_is_better else -1.0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (undefined metrics: judged below)
            found = permutation_importance(estimator, X, y.to_numpy(), n_repeats=PERMUTATION_REPEATS, random_state=seed,
                                           scoring=lambda e, X_, y_: sign * score(metric, e, X_, y_))
    except ValueError:  # e.g. a metric that cannot be computed on these rows
        return None
    if not np.isfinite(found.importances_mean).any():  # (ROC AUC on rows of one class: NaN, with a warning)
        return None
    table = pd.DataFrame({"column": list(X.columns), "importance": found.importances_mean,
                          "std": found.importances_std})
    table["rows"] = len(X)
    return table.sort_values("importance", ascending=False, ignore_index=True)


@dataclass(frozen=True)
class PairedDifference:
    """How much better one model scores than another on the same test rows (positive: the first is
    better, whichever way the metric goes), with a bootstrap interval: the rows resampled together
    for both models, so what the two get right and wrong alike cancels out."""

    metric: str
    difference: float  # on all the rows
    low: float  # the interval's ends (2.5 % and 97.5 % of the resampled differences)
    high: float
    rows: int
    rounds: int

    @property
    def worse_beyond_noise(self) -> bool:
        """The first model is worse even at the interval's best end."""
        return self.high < 0


def bootstrap_rounds(rows: int) -> int:
    """500 resamples, fewer on many rows (each costs a metric on every row): at least 100."""
    return min(500, max(100, 4_000_000 // max(rows, 1)))


def paired_bootstrap(metric: str, y, first: np.ndarray, second: np.ndarray, classes: np.ndarray | None,
                     seed: int = 0) -> PairedDifference:
    """`first` against `second` (predictions as score_predictions takes them) on the same rows `y`:
    a paired bootstrap of the metric's difference. A resample the metric cannot be computed on (ROC
    AUC on rows of one class) is drawn again."""
    y = np.asarray(y)
    rounds = bootstrap_rounds(len(y))
    sign = METRICS[metric].sign

    def difference(rows) -> float:
        return sign * (score_predictions(metric, y[rows], first[rows], classes)
                       - score_predictions(metric, y[rows], second[rows], classes))

    generator, found = np.random.default_rng(seed), []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (an undefined metric on a resample: drawn again)
        for _ in range(rounds * 2):
            try:
                value = difference(generator.integers(0, len(y), len(y)))
            except ValueError:
                continue
            if np.isfinite(value):
                found.append(value)
            if len(found) == rounds:
                break
    low, high = np.quantile(found, [0.025, 0.975]) if found else (np.nan, np.nan)
    return PairedDifference(metric, difference(np.arange(len(y))), float(low), float(high), len(y), len(found))
