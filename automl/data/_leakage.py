"""A feature that predicts the target perfectly on the training split is most likely a leak (a copy
of the target, or something known only after it): say so loudly, by name. Nothing is dropped: the
user knows whether the column exists at prediction time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier

SAMPLE_ROWS = 10_000  # rows looked at; perfect on a sample is as telling
MIN_ROWS = 20


def leakage_warnings(X: pd.DataFrame, y: pd.Series, task: str, numeric: list[str], seed: int = 0) -> list[str]:
    """One warning per feature that alone predicts y perfectly (a correlation of ±1 for regression)."""
    if len(y) < MIN_ROWS:
        return []
    if len(y) > SAMPLE_ROWS:
        rows = np.random.default_rng(seed).choice(len(y), SAMPLE_ROWS, replace=False)
        X, y = X.iloc[rows], y.iloc[rows]
    y = y.reset_index(drop=True)
    X = X.reset_index(drop=True)
    leaks = [c for c in X.columns if _predicts_perfectly(X[c], y, task, c in numeric)]
    return [f"likely leakage: feature '{c}' predicts the target '{y.name}' perfectly on the training split; "
            f"drop it (data.drop_columns) unless its value is known when predicting" for c in leaks]


def _predicts_perfectly(values: pd.Series, y: pd.Series, task: str, is_numeric: bool) -> bool:
    known = values.notna()
    if known.sum() < MIN_ROWS or known.mean() < 0.95:
        return False
    values, y = values[known], y[known]
    if task == "regression":
        if not is_numeric or values.nunique() < 3:
            return False
        return abs(np.corrcoef(values.to_numpy(float), y.to_numpy(float))[0, 1]) >= 0.9999
    n_classes = y.nunique()
    if not is_numeric:
        keys = values.astype(str).to_numpy()
        pure = bool((y.groupby(keys).nunique() == 1).all())
        return pure and 1 < len(set(keys)) <= 2 * n_classes
    tree = DecisionTreeClassifier(max_leaf_nodes=max(2, n_classes), random_state=0)
    column = values.to_numpy(float).reshape(-1, 1)
    return tree.fit(column, y.astype(str)).score(column, y.astype(str)) == 1.0
