"""The train/test split, and how many CV folds the training split takes."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from automl.config import RunConfig
from automl.data._validate import Dataset


@dataclass
class Split:
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series


def cv_folds(config: RunConfig, y_train: pd.Series, task: str) -> int:
    """The folds each trial cross-validates on (search.cv_folds, or chosen by the table's size)."""
    smallest = int(y_train.value_counts().min()) if task != "regression" else None
    return config.search.folds(len(y_train), smallest)


def split_dataset(dataset: Dataset, test_size: float, seed: int) -> Split:
    """A seeded (stratified) holdout, or the rows of data.test_source when there is one."""
    if dataset.test_rows is not None:
        train, test = ~dataset.test_rows, dataset.test_rows
        return Split(dataset.X[train], dataset.X[test], dataset.y[train], dataset.y[test])
    stratify = dataset.y if dataset.task != "regression" else None
    X_train, X_test, y_train, y_test = train_test_split(
        dataset.X, dataset.y, test_size=test_size, random_state=seed, stratify=stratify
    )
    return Split(X_train, X_test, y_train, y_test)
