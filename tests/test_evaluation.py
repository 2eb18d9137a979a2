import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import roc_auc_score

from automl.evaluation import METRICS, evaluation_figure, holdout_metrics, metrics_for_task, score


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
    assert len(evaluation_figure("binary", model, X, y).axes) == 1


def test_multiclass_and_regression_metrics():
    X, y = make_classification(300, 6, n_informative=4, n_classes=3, random_state=0)
    model = LogisticRegression(max_iter=500).fit(X, y)
    assert holdout_metrics("multiclass", model, X, y)["test_roc_auc"] > 0.8
    Xr, yr = make_regression(100, 3, noise=1.0, random_state=0)
    reg = LinearRegression().fit(Xr, yr)
    metrics = holdout_metrics("regression", reg, Xr, yr)
    assert metrics["test_r2"] > 0.99 and metrics["test_rmse"] == pytest.approx(score("rmse", reg, Xr, yr))
    assert np.isclose(metrics["test_mae"], np.abs(reg.predict(Xr) - yr).mean())
    assert len(evaluation_figure("regression", reg, Xr, yr).axes) == 2
