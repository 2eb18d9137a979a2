"""The students: what they learn from (the teacher's outputs on the real rows and on augmented ones,
mixed with the true labels), their search space, and how each family is built and fitted.

- mlp: automl.nn's MLP in the pipeline a search trial of the mlp family has (preprocess → select
  (passthrough) → model), trained on the run's device. Classification: DistilledMLPClassifier, whose
  loss is alpha · T² · the cross-entropy of the softened outputs against the teacher's softened
  probabilities, plus (1 - alpha) · the label term (real rows only). Regression: TorchMLPRegressor on
  alpha · the teacher's prediction + (1 - alpha) · the true value (the teacher's alone on augmented rows).
- hist_gradient_boosting: a shallow HistGradientBoosting model (few leaves, few rounds: fast on one
  row) in the native-categories pipeline. Classification: fitted on the teacher's probabilities as
  targets by their cross-entropy, each row once per class weighted by its target probability (the
  log loss of that weighted table is the cross-entropy against the soft targets); a temperature would
  only flatten a tree's outputs, so it has none. Regression: the mixed values, as the MLP.

Free-text columns are read through TF-IDF + SVD (TEXT_WIDTH numbers each), whatever the teacher used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import optuna
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline

from automl import nn
from automl.extras import TFIDF
from automl.features import TextEncoding, build_native_preprocessor, build_preprocessor
from automl.models import Suggest
from automl.search import log_target_suits

TEXT_WIDTH = 32  # a text column's numbers in a student (TF-IDF + SVD: cheap on one row, unlike the sentence encoder)
MIN_WEIGHT = 1e-3  # a tree student's row for a class whose target probability is below this is left out
MLP_TRAINING = {"optimizer": "adamw", "learning_rate": 2e-3, "weight_decay": 1e-5, "batch_size": 256,
                "schedule": "flat_cosine", "patience": 8}


@dataclass
class Rows:
    """What a student learns from: rows (the cleaned columns), their true labels (real rows) or the
    teacher's (augmented rows), the teacher's outputs (class probabilities [N, C] in `classes`
    order, or values [N]) and which rows are real."""

    X: pd.DataFrame
    y: np.ndarray
    teacher: np.ndarray
    real: np.ndarray

    def take(self, multiple: int) -> Rows:
        """The real rows and the first `multiple` × as many augmented ones."""
        n_real = int(self.real.sum())
        keep = n_real + min(multiple * n_real, len(self.real) - n_real)
        return Rows(self.X.iloc[:keep], self.y[:keep], self.teacher[:keep], self.real[:keep])


def teach(model, X: pd.DataFrame, y: pd.Series, augmented: pd.DataFrame, classes: np.ndarray | None) -> Rows:
    """The teacher's pipeline (`model`, on cleaned rows) labels the real rows and the augmented ones."""
    X_all = pd.concat([X.reset_index(drop=True), augmented], ignore_index=True)
    outputs = model.predict(X_all) if classes is None else model.predict_proba(X_all)
    outputs = np.asarray(outputs, dtype=np.float64)
    guessed = outputs[len(X):] if classes is None else classes[outputs[len(X):].argmax(axis=1)]
    labels = np.concatenate([np.asarray(y), np.asarray(guessed, dtype=np.asarray(y).dtype)])
    real = np.r_[np.ones(len(X), bool), np.zeros(len(augmented), bool)]
    return Rows(X_all, labels, outputs, real)


@dataclass(frozen=True)
class StudentContext:
    """What building and fitting a student looks at: never the data itself."""

    task: str
    numeric: list[str]
    categorical: list[str]
    classes: np.ndarray | None
    device: str = "cpu"
    seed: int = 0
    max_epochs: int = 100
    text: tuple[str, ...] = ()  # free-text columns (Dataset.text_columns)

    @property
    def is_classification(self) -> bool:
        return self.task != "regression"

    def text_encoding(self) -> TextEncoding | None:
        """A student reads text columns through TF-IDF + SVD, whatever encoder the teacher had."""
        return TextEncoding(self.text, TFIDF, TEXT_WIDTH, self.seed) if self.text else None


def suggest_student(trial: optuna.Trial, students: list[str], augment_max: int, context: StudentContext) -> dict:
    """One student: {"family", "augment" (the multiple of augmented rows), "model": {...}}."""
    family = trial.suggest_categorical("family", students)
    s = Suggest(trial, prefix=family)
    if family == "mlp":
        s.int("hidden_layers", 1, 2)
        s.int("hidden_width", 8, 128, log=True)
        if context.is_classification:
            s.float("temperature", 1.0, 8.0, log=True)
    else:
        s.int("max_leaf_nodes", 4, 31, log=True)
        s.int("max_iter", 20, 300, log=True)
        s.float("learning_rate", 0.03, 0.3, log=True)
    s.float("alpha", 0.1, 1.0)
    return {"family": family, "augment": trial.suggest_int("augment", 0, augment_max), "model": s.params}


def default_students(students: list[str], augment_max: int, context: StudentContext) -> list[dict]:
    """A known-good student per family, as Optuna params, tried first."""
    defaults = {"mlp": {"hidden_layers": 1, "hidden_width": 32, "alpha": 0.7,
                        **({"temperature": 2.0} if context.is_classification else {})},
                "hist_gradient_boosting": {"max_leaf_nodes": 15, "max_iter": 100, "learning_rate": 0.1, "alpha": 0.7}}
    return [{"family": family, "augment": min(1, augment_max),
             **{f"{family}.{key}": value for key, value in defaults[family].items()}} for family in students]


def build_student(params: dict, context: StudentContext) -> Pipeline:
    """The unfitted pipeline: preprocess → select (passthrough, as the search's trials without selection) → model."""
    model = params["model"]
    if params["family"] == "mlp":
        net = nn.Network(hidden_layers=model["hidden_layers"], hidden_width=model["hidden_width"], dropout=0.0)
        training = nn.Training(**MLP_TRAINING, max_epochs=context.max_epochs)
        common = dict(net=net, training=training, input_scaling="robust", device=context.device,
                      random_state=context.seed)
        estimator = (nn.DistilledMLPClassifier(temperature=model["temperature"], alpha=model["alpha"], **common)
                     if context.is_classification else nn.TorchMLPRegressor(**common))
        preprocess = build_preprocessor(context.numeric, context.categorical, context.text_encoding())
        return Pipeline([("preprocess", preprocess),
                         ("select", "passthrough"), ("model", estimator)])
    preprocess, mask = build_native_preprocessor(context.numeric, context.categorical, context.text_encoding())
    kind = HistGradientBoostingClassifier if context.is_classification else HistGradientBoostingRegressor
    estimator = kind(max_leaf_nodes=model["max_leaf_nodes"], max_iter=model["max_iter"],
                     learning_rate=model["learning_rate"], early_stopping=False, random_state=context.seed,
                     categorical_features=mask if any(mask) else None)
    return Pipeline([("preprocess", preprocess), ("select", "passthrough"), ("model", estimator)])


def fit_student(params: dict, rows: Rows, context: StudentContext) -> Pipeline:
    """The student, fitted on `rows` (already cut to its multiple of augmented rows)."""
    alpha = params["model"]["alpha"]
    if not context.is_classification:
        target = np.where(rows.real, alpha * rows.teacher + (1 - alpha) * rows.y.astype(float), rows.teacher)
        pipeline = build_student(params, context)
        if params["family"] == "mlp" and log_target_suits(pd.Series(target)):  # prices, counts: log1p, as trials may
            pipeline.set_params(model__log_target=True)
        return pipeline.fit(rows.X, target)
    if params["family"] == "mlp":
        return build_student(params, context).fit(rows.X, rows.y, model__teacher_proba=rows.teacher,
                                                  model__label_weight=rows.real.astype(float))
    onehot = rows.y[:, None] == context.classes[None, :]
    target = np.where(rows.real[:, None], alpha * rows.teacher + (1 - alpha) * onehot, rows.teacher)
    row, column = np.nonzero((target >= MIN_WEIGHT) | (onehot & rows.real[:, None]))  # (every class keeps a row)
    return build_student(params, context).fit(rows.X.iloc[row], context.classes[column],
                                              model__sample_weight=target[row, column])


