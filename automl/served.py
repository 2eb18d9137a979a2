"""What is registered: the column cleaner, then the fitted pipeline, so the served model takes the
rows users send (the training table's raw columns, as read from its CSV) and not the cleaned ones.

Integers where the training table had floats (and the reverse) are accepted, as are numbers written
as text; an infinite value counts as missing; zero rows give zero predictions. A column with no
missing value in training is required: absent, or with a missing value, the rows are refused
(InputError, naming the column first); one that had missing values (or was dropped) is optional.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator


class InputError(ValueError):
    """Rows the model cannot take: a required column absent or missing a value. The message names
    the column first."""


class ServedModel(BaseEstimator):
    """A fitted cleaner and a fitted pipeline, joined (nothing is fitted here)."""

    def __init__(self, cleaner, model):
        self.cleaner = cleaner
        self.model = model

    @property
    def classes_(self) -> np.ndarray:
        return self.model.classes_

    @property
    def required_columns(self) -> list[str]:
        """Kept columns that had no missing value in training: every row must give them."""
        optional = set(self.cleaner.dropped_) | set(getattr(self.cleaner, "had_missing_", []))
        return [c for c in self.cleaner.plans_ if c not in optional]

    def _rows(self, X: pd.DataFrame) -> pd.DataFrame:
        """The cleaned rows; absent optional columns are all missing (the pipeline imputes them)."""
        X = _frame(X).rename(columns=str)
        required = self.required_columns
        absent = [c for c in required if c not in X.columns]
        if absent:
            raise InputError(f"column '{absent[0]}' is missing" + (f" (and {len(absent) - 1} more: {absent[1:6]})"
                                                                   if len(absent) > 1 else "")
                             + "; send every required column of the training table")
        for column in required:
            empty = np.flatnonzero(X[column].isna().to_numpy())
            if len(empty):
                raise InputError(f"column '{column}' is required but has {len(empty)} missing value(s) (rows "
                                 f"{', '.join(map(str, empty[:5]))}{', …' if len(empty) > 5 else ''}); it had none "
                                 "in training: send a value")
        kept = [c for c in self.cleaner.plans_ if c not in self.cleaner.dropped_]
        X = X.assign(**{c: np.nan for c in kept if c not in X.columns})
        return self.cleaner.transform(X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        rows = self._rows(X)
        if len(rows) == 0:
            dtype = self.model.classes_.dtype if hasattr(self.model, "classes_") else np.float64
            return np.empty(0, dtype=dtype)
        return self.model.predict(rows)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        rows = self._rows(X)
        if len(rows) == 0:
            return np.empty((0, len(self.model.classes_)))
        return self.model.predict_proba(rows)


def _frame(X) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    raise TypeError(f"the model takes a pandas DataFrame of the training table's columns, not {type(X).__name__}")


def input_schema(cleaner, example: pd.DataFrame):
    """MLflow's input schema: categories as strings, every numeric or date column of any type (the
    cleaner parses them, and names the column of a value that is not a number). Every column is
    optional to MLflow's own check, whose error for an absent column starts with the whole request:
    ServedModel checks the required ones (ServedModel.required_columns, in the model's metadata) and
    names the column first."""
    from mlflow.types.schema import AnyType, ColSpec, DataType, Schema

    specs = []
    for decision in cleaner.decisions_:
        column = decision.column
        text = example[column].dtype.kind == "O"  # object, or pandas' str
        kind = DataType.string if decision.read_as == "category" and text else AnyType()
        specs.append(ColSpec(kind, column, required=False))
    return Schema(specs)
