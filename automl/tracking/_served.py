"""The registered model as MLflow serves it: a pyfunc around the fitted model (automl.served's
ServedModel) that predicts labels or values by default, and class probabilities when asked
through params (`{"params": {"predict_method": "predict_proba"}}` in a request to `mlflow models
serve`, or `model.predict(rows, params=...)`), one column per class. Rows the model refuses (a
required column absent or missing a value, a number that is not one) are the caller's error: an
MLflow INVALID_PARAMETER_VALUE, which the scoring server answers with 400."""

from __future__ import annotations

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel


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

    def predict(self, context, model_input, params=None):  # (no type hints: MLflow 3 would check inputs by them)
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
