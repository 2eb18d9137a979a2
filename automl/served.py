"""What is registered: the column cleaner, then the fitted pipeline, so the served model takes the
rows users send (the training table's raw columns, as read from its CSV) and not the cleaned ones.

Integers where the training table had floats (and the reverse) are accepted, as are numbers written
as text; an infinite value counts as missing; zero rows give zero predictions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator


class ServedModel(BaseEstimator):
    """A fitted cleaner and a fitted pipeline, joined (nothing is fitted here)."""

    def __init__(self, cleaner, model):
        self.cleaner = cleaner
        self.model = model

    @property
    def classes_(self) -> np.ndarray:
        return self.model.classes_

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        rows = self.cleaner.transform(_frame(X))
        if len(rows) == 0:
            dtype = self.model.classes_.dtype if hasattr(self.model, "classes_") else np.float64
            return np.empty(0, dtype=dtype)
        return self.model.predict(rows)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        rows = self.cleaner.transform(_frame(X))
        if len(rows) == 0:
            return np.empty((0, len(self.model.classes_)))
        return self.model.predict_proba(rows)


def _frame(X) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    raise TypeError(f"the model takes a pandas DataFrame of the training table's columns, not {type(X).__name__}")


def input_schema(cleaner, example: pd.DataFrame):
    """MLflow's input schema: categories as strings, every numeric or date column of any type (the
    cleaner parses them, and names the column of a value that is not a number); dropped columns
    (IDs, free text) optional."""
    from mlflow.types.schema import AnyType, ColSpec, DataType, Schema

    specs = []
    for decision in cleaner.decisions_:
        column = decision.column
        text = example[column].dtype.kind == "O"  # object, or pandas' str
        kind = DataType.string if decision.read_as == "category" and text else AnyType()
        specs.append(ColSpec(kind, column, required=decision.action != "dropped"))
    return Schema(specs)
