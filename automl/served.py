"""What is registered: the column cleaner, then the fitted pipeline, so the served model takes the
rows users send (the training table's raw columns, as read from its CSV) and not the cleaned ones.

Integers where the training table had floats (and the reverse) are accepted, as are numbers written
as text; an infinite value, or one beyond float32's range (where the models compute), counts as
missing; zero rows give zero predictions. A column with no
missing value in training is required: absent, or with a missing value, the rows are refused
(InputError, naming the column first); one that had missing values (or was dropped) is optional.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel
from sklearn.base import BaseEstimator

from automl.data import LARGEST


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
        kept = [c for c in self.cleaner.plans_ if c not in self.cleaner.dropped_]
        rows = self.cleaner.transform(X.assign(**{c: np.nan for c in kept if c not in X.columns}))
        if not rows.isna().to_numpy().any():  # (no cell missing: nothing to look for, column by column)
            return rows
        for column in required:  # missing as training judged it: after parsing ('?', 'NA', inf, '')
            parts = [name for name in rows.columns if name == column or name.startswith(f"{column}.")]
            empty = np.flatnonzero(rows[parts].isna().to_numpy().any(axis=1))
            if len(empty):
                raise InputError(f"column '{column}' is required but has {len(empty)} missing value(s) (rows "
                                 f"{', '.join(map(str, empty[:5]))}{', …' if len(empty) > 5 else ''}): empty, a "
                                 f"missing word, infinite or beyond ±{LARGEST:.1e}; it had none in training: send a "
                                 "finite value")
        return rows

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


# -- as MLflow serves it ---------------------------------------------------------------------------
# The registered model is PredictMethods(ServedModel(...)): labels or values by default, class
# probabilities when asked through params (`{"params": {"predict_method": "predict_proba"}}` in a
# request to `mlflow models serve`, or `model.predict(rows, params=...)`), one column per class.
# Rows it refuses are the caller's error (INVALID_PARAMETER_VALUE: a 400 from the scoring server).
# Loading it imports this module and what the pipeline is made of, never automl.tracking or
# automl.search (their Optuna and file locks are not among the model's requirements).

class RefusedRows(MlflowException):
    """The caller's rows could not be used (INVALID_PARAMETER_VALUE: a 400). MLflow's scoring server
    rewrites an error's message as "Failed to predict data '<the whole request>'. Error: <message>";
    this one keeps its own reason as the first line, so the column it names is read first."""

    def __init__(self, reason: str):
        self._reason = None
        super().__init__(reason, error_code=INVALID_PARAMETER_VALUE)

    @property
    def message(self) -> str:
        return self._message

    @message.setter
    def message(self, value: str) -> None:
        if self._reason is None:
            self._reason = value
        self._message = value if value.startswith(self._reason) else f"{self._reason}\n{value}"


class PredictMethods(PythonModel):
    def __init__(self, model):
        self.model = model

    @staticmethod
    def methods(model) -> list[str]:
        return ["predict", *(["predict_proba"] if hasattr(model, "classes_") else [])]

    def metadata(self) -> dict:
        """What the logged model's MLmodel says of it: its predict methods and required columns."""
        return {"predict_methods": self.methods(self.model),
                "required_columns": list(getattr(self.model, "required_columns", []))}

    def params_schema(self):
        from mlflow.types.schema import ParamSchema, ParamSpec

        return ParamSchema([ParamSpec("predict_method", "string", "predict")])

    def predict(self, context, model_input: pd.DataFrame,  # (a DataFrame hint: MLflow checks no types by it)
                params: dict | None = None):
        method = (params or {}).get("predict_method") or "predict"
        allowed = self.methods(self.model)
        if method not in allowed:
            raise RefusedRows(f"predict_method '{method}' is not one of this model's: {', '.join(allowed)}")
        try:
            if method == "predict_proba":
                return pd.DataFrame(self.model.predict_proba(model_input),
                                    columns=[str(c) for c in self.model.classes_])
            return self.model.predict(model_input)
        except (ValueError, TypeError) as error:  # the rows, not the model: the caller's to fix
            raise RefusedRows(str(error)) from None


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
