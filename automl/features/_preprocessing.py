"""Imputation, scaling and one-hot encoding as one ColumnTransformer, fitted inside each CV fold;
free-text columns encoded beside them (automl.features._encoding: the trial's TextEncoding)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from automl.features._encoding import TextEncoding

# Categories rarer than this share one "infrequent" column, so ID-like columns stay small.
MAX_CATEGORIES = 20
# Native categorical splits (HistGradientBoosting) take at most 255 bins, one kept for missing.
MAX_NATIVE_CATEGORIES = 254


def as_text(X: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Categorical cells as strings, missing ones as NaN, so bools, ints and labels mix safely."""
    frame = pd.DataFrame(X)
    return frame.apply(lambda col: col.map(lambda v: np.nan if pd.isna(v) else str(v))).to_numpy(object)


def build_preprocessor(numeric: list[str], categorical: list[str],
                       text: TextEncoding | None = None) -> ColumnTransformer:
    """Dense float output; unknown categories at predict time map to the infrequent column; text
    columns (if any) last, text.width numbers each."""
    numeric_steps = Pipeline([
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("scale", StandardScaler()),
    ])
    categorical_steps = Pipeline([
        ("as_text", FunctionTransformer(as_text, feature_names_out="one-to-one")),
        ("impute", SimpleImputer(strategy="constant", fill_value="missing", keep_empty_features=True)),
        ("onehot", OneHotEncoder(
            handle_unknown="infrequent_if_exist", max_categories=MAX_CATEGORIES, sparse_output=False
        )),
    ])
    return ColumnTransformer(
        [("numeric", numeric_steps, numeric), ("categorical", categorical_steps, categorical),
         *(text.transformers() if text is not None else [])],
        remainder="drop",
        sparse_threshold=0.0,
        verbose_feature_names_out=False,
    )


def build_native_preprocessor(numeric: list[str], categorical: list[str],
                              text: TextEncoding | None = None) -> tuple[ColumnTransformer, list[bool]]:
    """For models with native missing-value and categorical handling (HistGradientBoosting): numbers
    as they are, categories as integer codes (unknown or missing → NaN), text encoded as numbers.
    Returns the transformer and which output columns are categorical."""
    categorical_steps = Pipeline([
        ("as_text", FunctionTransformer(as_text, feature_names_out="one-to-one")),
        ("codes", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                 encoded_missing_value=np.nan, max_categories=MAX_NATIVE_CATEGORIES)),
    ])
    transformer = ColumnTransformer(
        [("numeric", "passthrough", numeric), ("categorical", categorical_steps, categorical),
         *(text.transformers() if text is not None else [])],
        remainder="drop", sparse_threshold=0.0, verbose_feature_names_out=False,
    )
    text_numbers = len(text.columns) * text.width if text is not None else 0
    return transformer, [False] * len(numeric) + [True] * len(categorical) + [False] * text_numbers
