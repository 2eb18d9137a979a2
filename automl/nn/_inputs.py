"""What a PyTorch estimator does to its columns before the network, learned on the training rows.

Numeric columns, with `robust`: RealMLP's robust scaling with smooth clipping (Holzmüller et al.
2024): centred on the median, divided by the interquartile range (half the range when that is
0), then x / sqrt(1 + (x/3)²), which leaves the bulk alone and bends outliers towards ±3; a
missing value becomes 0, the median. Categorical columns (integer codes, as the native
preprocessor writes them) become codes 0..c-2 with c-1 for missing, unknown or unseen: the
network embeds them, so a column with many levels costs one small table, not a one-hot block.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Inputs:
    numeric: np.ndarray  # column indices, in output order first
    categorical: np.ndarray  # column indices, after the numeric ones in the output
    center: np.ndarray | None  # None: numeric columns pass as they are
    scale: np.ndarray | None
    cardinalities: tuple[int, ...]  # per categorical column: its codes, plus one slot for missing or unseen

    @classmethod
    def fit(cls, X: np.ndarray, categorical_features=None, robust: bool = False) -> Inputs:
        categorical = categorical_indices(categorical_features, X.shape[1])
        numeric = np.setdiff1d(np.arange(X.shape[1]), categorical)
        center = scale = None
        if robust and len(numeric):
            values = X[:, numeric].astype(np.float64)
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column: its centre is 0
                center = np.nan_to_num(np.nanmedian(values, axis=0))
                q25, q75 = np.nanquantile(values, [0.25, 0.75], axis=0)
                spread = np.nan_to_num(np.nanmax(values, axis=0) - np.nanmin(values, axis=0))
            iqr = np.nan_to_num(q75 - q25)
            scale = np.where(iqr > 0, 1 / np.where(iqr > 0, iqr, 1),
                             np.where(spread > 0, 2 / np.where(spread > 0, spread, 1), 1.0))
        cardinalities = []
        for column in categorical:
            codes = X[:, column]
            seen = codes[np.isfinite(codes) & (codes >= 0)]
            cardinalities.append(int(seen.max()) + 2 if len(seen) else 1)
        return cls(numeric, categorical, center, scale, tuple(cardinalities))

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Numeric columns first (scaled and clipped with `robust`), then the category codes, float32."""
        if self.center is None and not len(self.categorical):
            return X
        numeric = X[:, self.numeric].astype(np.float64)
        if self.center is not None:  # in float64, and with hypot: a huge value still bends to ±3, never overflows
            numeric = (numeric - self.center) * self.scale
            numeric = np.nan_to_num(numeric / np.hypot(1, numeric / 3), nan=0.0)
        codes = X[:, self.categorical]
        unknown = np.array(self.cardinalities, dtype=np.float32) - 1
        with np.errstate(invalid="ignore"):
            codes = np.where(np.isfinite(codes) & (codes >= 0) & (codes < unknown), np.floor(codes), unknown)
        return np.hstack([numeric.astype(np.float32), codes.astype(np.float32)])


def categorical_indices(categorical_features, n_features: int) -> np.ndarray:
    """scikit-learn's forms (as HistGradientBoosting takes them): None, a boolean mask, or indices."""
    if categorical_features is None:
        return np.array([], dtype=int)
    values = np.asarray(categorical_features)
    if values.dtype.kind in "OUS":
        raise ValueError(f"categorical_features {values.tolist()} names columns; give a boolean mask or column "
                         "indices (the estimator sees an array, not named columns)")
    if values.dtype == bool:
        if len(values) != n_features:
            raise ValueError(f"categorical_features is a mask of {len(values)} values, but X has {n_features} "
                             "columns: give one per column")
        return np.flatnonzero(values)
    indices = values.astype(int).ravel()
    if len(indices) and (indices.min() < 0 or indices.max() >= n_features):
        raise ValueError(f"categorical_features {indices.tolist()} holds indices outside X's {n_features} columns")
    return np.unique(indices)
