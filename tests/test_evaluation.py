import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import roc_auc_score

from automl.evaluation import METRICS, holdout_metrics, metrics_for_task, permutation_table, score
from automl.plots import evaluation_figures


def test_metric_directions_and_tasks():
    assert METRICS["roc_auc"].direction == "maximize" and METRICS["rmse"].direction == "minimize"
    assert metrics_for_task("regression") == ["rmse", "mae", "r2"]
    assert "f1" not in metrics_for_task("multiclass")


def test_binary_scores_match_sklearn():
    X, y = make_classification(200, 5, random_state=0)
    model = LogisticRegression().fit(X, y)
    assert score("roc_auc", model, X, y) == pytest.approx(roc_auc_score(y, model.predict_proba(X)[:, 1]))
    metrics = holdout_metrics("binary", model, X, y)
    assert set(metrics) == {"test_accuracy", "test_f1", "test_recall", "test_precision", "test_roc_auc",
                            "test_log_loss"}
    assert 0.8 < metrics["test_accuracy"] <= 1.0
    figures = dict(evaluation_figures("binary", y, model.predict_proba(X), model.classes_))
    assert list(figures) == ["confusion_matrix", "roc_curve", "precision_recall", "calibration"]
    matrix = figures["confusion_matrix"].axes[0]
    cells = [t.get_text() for t in matrix.texts]
    counts = np.bincount(2 * y + model.predict(X), minlength=4)  # true × predicted, row by row
    assert [int(c.split("\n")[0]) for c in cells] == list(counts)
    assert cells[0].endswith(f"{100 * counts[0] / counts[:2].sum():.0f}%")  # the share of its true class
    assert not any(line.get_visible() for line in matrix.get_xgridlines() + matrix.get_ygridlines())
    assert "AUC" in " ".join(t.get_text() for t in figures["roc_curve"].axes[0].get_legend().get_texts())
    assert all(f.get_size_inches()[0] >= 7 for f in figures.values())  # readable in the artifact viewer


def test_multiclass_and_regression_metrics():
    X, y = make_classification(300, 6, n_informative=4, n_classes=3, random_state=0)
    model = LogisticRegression(max_iter=500).fit(X, y)
    assert holdout_metrics("multiclass", model, X, y)["test_roc_auc"] > 0.8
    Xr, yr = make_regression(100, 3, noise=1.0, random_state=0)
    reg = LinearRegression().fit(Xr, yr)
    metrics = holdout_metrics("regression", reg, Xr, yr)
    assert metrics["test_r2"] > 0.99 and metrics["test_rmse"] == pytest.approx(score("rmse", reg, Xr, yr))
    assert np.isclose(metrics["test_mae"], np.abs(reg.predict(Xr) - yr).mean())
    [(name, figure)] = list(evaluation_figures("regression", yr, reg.predict(Xr)))
    assert name == "residuals" and len(figure.axes) == 2


class CountingPredictions(LogisticRegression):
    calls = 0

    def predict(self, X):
        CountingPredictions.calls += 1
        return super().predict(X)

    def predict_proba(self, X):
        CountingPredictions.calls += 1
        return super().predict_proba(X)


def test_metrics_from_predictions_already_made_equal_those_it_would_make_and_predict_no_more():
    """The run predicts the test rows once (a text blend takes seconds a call): the metrics from those
    probabilities are the metrics from the model's own predict and predict_proba."""
    X, y = make_classification(300, 6, n_informative=4, n_classes=3, random_state=1)
    model = CountingPredictions(max_iter=500).fit(X, y)
    proba = model.predict_proba(X)
    CountingPredictions.calls = 0
    assert holdout_metrics("multiclass", model, X, y, proba) == holdout_metrics("multiclass", model, X, y)
    assert CountingPredictions.calls == 2  # (the second call's predict and predict_proba only)


def test_permutation_importance_ranks_the_informative_column_and_fits_its_time():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"noise": rng.normal(size=400), "signal": rng.normal(size=400), "weak": rng.normal(size=400)})
    y = (X["signal"] + 0.3 * X["weak"] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    table = permutation_table("roc_auc", model, X, y, seed=0, predict_ms_per_1k=1.0)
    assert list(table["column"]) == ["signal", "weak", "noise"] and table["importance"].iloc[0] > 0.2
    assert table["rows"].iloc[0] == 400
    # 10 predict calls of 0.4 s (1 ms per row): 0.5 s is not even the fixed part of them
    assert permutation_table("roc_auc", model, X, y, seed=0, predict_ms_per_1k=1000.0, seconds_left=1.0) is None
    # 2.5 s: 0.25 s a call, 0.3 × 0.4 s fixed, the rest for (0.25 − 0.12) / 0.28 of the rows = 185
    sub = permutation_table("roc_auc", model, X, y, seed=0, predict_ms_per_1k=1000.0, seconds_left=5.0)
    assert sub["rows"].iloc[0] == 185 and sub["column"].iloc[0] == "signal"


def test_permutation_importance_subsamples_by_class_and_never_fails_the_run():
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000)})
    y = np.where(np.arange(2000) < 20, "rare", "common")  # 1 % of the rows
    model = LogisticRegression().fit(X, y)
    table = permutation_table("roc_auc", model, X, y, seed=0, predict_ms_per_1k=100.0, seconds_left=2.0)
    assert table is not None and 100 <= table["rows"].iloc[0] < 2000  # a stratified subsample keeps the rare class
    one_class = permutation_table("roc_auc", model, X.iloc[20:], y[20:], seed=0, predict_ms_per_1k=0.01)
    assert one_class is None  # ROC AUC cannot be computed: no table, no error

def test_a_metrics_sign_is_decided_once_in_its_spec():
    assert (METRICS["roc_auc"].sign, METRICS["rmse"].sign, METRICS["log_loss"].sign) == (1.0, -1.0, -1.0)
    assert METRICS["roc_auc"].better(0.9, 0.8) and not METRICS["roc_auc"].better(0.8, 0.9)
    assert METRICS["rmse"].better(1.0, 2.0) and not METRICS["rmse"].better(2.0, 2.0)  # equal is not better
    assert {spec.direction for spec in METRICS.values()} == {"maximize", "minimize"}
