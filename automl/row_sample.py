"""RowSample: an estimator fitted on a seeded, stratified fraction of its rows (the time-aware first
fit's refit, automl.search._rows). It is pickled inside the registered model, so it lives in a module
that imports only NumPy, pandas and scikit-learn: loading the model must not import automl.search
(Optuna, filelock), which the model's requirements do not name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone


def sample_rows(y: pd.Series, fraction: float, seed: int, stratify: bool) -> np.ndarray:
    """Sorted positions of about `fraction` of the rows of y, every class kept (stratified)."""
    rng = np.random.default_rng(seed)
    n = len(y)
    if not stratify:
        return np.sort(rng.choice(n, size=max(1, round(fraction * n)), replace=False))
    codes = pd.factorize(np.asarray(y))[0]
    chosen = [rng.choice(where, size=max(1, round(fraction * len(where))), replace=False)
              for where in (np.flatnonzero(codes == c) for c in range(codes.max() + 1))]
    return np.sort(np.concatenate(chosen))


class RowSample(BaseEstimator):
    """An estimator fitted on a seeded, stratified `fraction` of the rows it is given (how a trial
    that trained on fewer rows is refitted); it predicts every row."""

    def __init__(self, estimator, fraction: float = 1.0, seed: int = 0, stratify: bool = False):
        self.estimator, self.fraction, self.seed, self.stratify = estimator, fraction, seed, stratify

    def fit(self, X, y):
        rows = sample_rows(y, self.fraction, self.seed, self.stratify)
        self.estimator_ = clone(self.estimator).fit(_take(X, rows), _take(y, rows))
        if hasattr(self.estimator_, "classes_"):
            self.classes_ = self.estimator_.classes_
        return self

    def predict(self, X):
        return self.estimator_.predict(X)

    def predict_proba(self, X):
        return self.estimator_.predict_proba(X)

    def __sklearn_tags__(self):
        return self.estimator.__sklearn_tags__()


def _take(values, rows: np.ndarray):
    """Rows by position of a DataFrame, a Series or an array (VotingClassifier hands on y encoded)."""
    return values.iloc[rows] if hasattr(values, "iloc") else np.asarray(values)[rows]
