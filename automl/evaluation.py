"""Metrics (one table, used by the search and the final evaluation) and evaluation plots."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn import metrics as skm  # noqa: E402


@dataclass(frozen=True)
class MetricSpec:
    name: str
    tasks: tuple[str, ...]
    greater_is_better: bool
    needs_proba: bool
    compute: Callable[[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None], float]

    @property
    def direction(self) -> str:
        return "maximize" if self.greater_is_better else "minimize"


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


def holdout_metrics(task: str, estimator, X, y) -> dict[str, float]:
    """Every metric that fits the task, on the held-out test split."""
    y = np.asarray(y)
    pred = estimator.predict(X)
    if task == "regression":
        return {
            "test_rmse": float(skm.root_mean_squared_error(y, pred)),
            "test_mae": float(skm.mean_absolute_error(y, pred)),
            "test_r2": float(skm.r2_score(y, pred)),
        }
    classes = estimator.classes_
    proba = estimator.predict_proba(X)
    average = "binary" if task == "binary" else "macro"
    pos = {"pos_label": classes[-1]} if task == "binary" else {}
    return {
        "test_accuracy": float(skm.accuracy_score(y, pred)),
        "test_f1": float(skm.f1_score(y, pred, average=average, **pos)),
        "test_recall": float(skm.recall_score(y, pred, average=average, **pos)),
        "test_precision": float(skm.precision_score(y, pred, average=average, zero_division=0, **pos)),
        "test_roc_auc": float(_roc_auc(y, pred, proba, classes)),
        "test_log_loss": float(skm.log_loss(y, proba, labels=classes)),
    }


def evaluation_figure(task: str, estimator, X, y) -> plt.Figure:
    """A confusion matrix for classification, predicted-vs-actual and residuals for regression."""
    if task == "regression":
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
        pred = estimator.predict(X)
        skm.PredictionErrorDisplay.from_predictions(y, pred, kind="actual_vs_predicted", ax=axes[0])
        skm.PredictionErrorDisplay.from_predictions(y, pred, kind="residual_vs_predicted", ax=axes[1])
        axes[0].set_title("Test: actual vs predicted")
        axes[1].set_title("Test: residuals")
    else:
        fig, ax = plt.subplots(figsize=(6, 5))
        skm.ConfusionMatrixDisplay.from_estimator(estimator, X, y, ax=ax, colorbar=False)
        ax.set_title("Test: confusion matrix")
    fig.tight_layout()
    return fig
