"""Load a table, infer the task and column kinds, validate it, split it.

Every check runs before anything is written; each failure names the value and the fix.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from automl.config import LARGE_FOLDS, RunConfig
from automl.evaluation import default_metric, metrics_for_task

BUNDLED = {
    "breast_cancer": "load_breast_cancer",
    "diabetes": "load_diabetes",
    "wine": "load_wine",
    "iris": "load_iris",
    "digits": "load_digits",
    "california_housing": "fetch_california_housing",
}
# A numeric target with at most this many distinct integer values is read as classes.
MAX_CLASSES_FOR_INTEGER_TARGET = 20


class DataError(ValueError):
    """A table that cannot be trained on: the message names the value and the fix."""


@dataclass
class Dataset:
    """A validated table: features, target, and what was inferred about them."""

    name: str
    X: pd.DataFrame
    y: pd.Series
    task: str
    metric: str
    numeric_columns: list[str]
    categorical_columns: list[str]
    notes: list[str] = field(default_factory=list)
    test_rows: np.ndarray | None = None  # True for the rows of data.test_source, when one is given

    @property
    def n_classes(self) -> int:
        return 0 if self.task == "regression" else int(self.y.nunique())


@dataclass
class Split:
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series


def read_table(source: str | pd.DataFrame) -> tuple[pd.DataFrame, str, str | None]:
    """Return (frame, dataset name, default target) for a path, a bundled name or a DataFrame."""
    if isinstance(source, pd.DataFrame):
        return source.copy(), "dataframe", None
    if source.startswith("sklearn:"):
        key = source.split(":", 1)[1]
        if key not in BUNDLED:
            hint = difflib.get_close_matches(key, list(BUNDLED), n=1)
            did_you_mean = f" Did you mean 'sklearn:{hint[0]}'?" if hint else ""
            raise DataError(
                f"unknown bundled data set '{source}'.{did_you_mean} "
                f"Bundled: {', '.join('sklearn:' + k for k in BUNDLED)}."
            )
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, BUNDLED[key])(as_frame=True)
        frame = bunch.frame.copy()
        if "target_names" in bunch and frame["target"].dtype.kind in "iu" and key != "digits":
            names = np.asarray(bunch.target_names)
            frame["target"] = names[frame["target"].to_numpy()]
        return frame, key, "target"
    path = Path(source)
    if not path.is_file():
        raise DataError(
            f"data source '{source}' is not a file; give a CSV or Parquet path, or a bundled set "
            f"such as 'sklearn:breast_cancer'"
        )
    suffix = path.suffix.lower()
    if suffix in {".csv", ".txt", ".tsv"}:
        frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    elif suffix in {".parquet", ".pq"}:
        frame = pd.read_parquet(path)
    else:
        raise DataError(f"data source '{source}' has suffix '{suffix}'; use a .csv or .parquet file")
    return frame, path.stem, None


def infer_task(y: pd.Series) -> str:
    """binary for two values; multiclass for labels or few integer codes; else regression."""
    n_unique = y.nunique()
    if n_unique == 2:
        return "binary"
    if y.dtype.kind in "fc":
        is_integral = np.all(np.mod(y.to_numpy(dtype=float), 1) == 0)
        if not is_integral or n_unique > MAX_CLASSES_FOR_INTEGER_TARGET:
            return "regression"
    if y.dtype.kind in "iu" and n_unique > MAX_CLASSES_FOR_INTEGER_TARGET:
        return "regression"
    return "multiclass"


def column_kinds(X: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Numeric columns (ints and floats, not bools) and categorical ones (everything else)."""
    numeric = [c for c in X.columns if X[c].dtype.kind in "iuf"]
    categorical = [c for c in X.columns if c not in numeric]
    return numeric, categorical


def load_dataset(config: RunConfig, frame: pd.DataFrame | None = None) -> Dataset:
    """Read and validate the table named by the config (or the given DataFrame)."""
    table, name, default_target = read_table(frame if frame is not None else config.data.source)
    target = config.data.target or default_target
    if target is None:
        raise DataError(
            f"no target column given for '{config.data.source}'; set data.target to one of: "
            f"{', '.join(map(str, table.columns[:20]))}"
        )
    if config.data.test_source is None:
        return validate_table(table, target, config, name)
    test, _, _ = read_table(config.data.test_source)
    if list(test.columns) != list(table.columns):
        missing = [c for c in table.columns if c not in test.columns]
        extra = [c for c in test.columns if c not in table.columns]
        raise DataError(f"data.test_source '{config.data.test_source}' must have the training table's columns "
                        f"in the same order; missing {missing}, extra {extra}")
    both = pd.concat([table, test], ignore_index=True)
    is_test = np.r_[np.zeros(len(table), bool), np.ones(len(test), bool)]
    dataset = validate_table(both, target, config, name)
    dataset.test_rows = is_test[both[target].notna().to_numpy()]  # validate_table drops unlabelled rows
    if not dataset.test_rows.any() or dataset.test_rows.all():
        raise DataError(f"data.test_source '{config.data.test_source}' leaves no labelled rows on one side; "
                        "both tables need rows with a target value")
    return dataset


def validate_table(table: pd.DataFrame, target: str, config: RunConfig, name: str) -> Dataset:
    """Check a raw table and turn it into a Dataset, or raise DataError naming the fix."""
    if table.shape[0] == 0 or table.shape[1] == 0:
        raise DataError(f"the table '{name}' is empty ({table.shape[0]} rows, {table.shape[1]} columns); "
                        "point data.source at a file with rows")
    table.columns = [str(c) for c in table.columns]
    if target not in table.columns:
        hint = difflib.get_close_matches(target, list(table.columns), n=1)
        did_you_mean = f" Did you mean '{hint[0]}'?" if hint else ""
        raise DataError(f"target column '{target}' is not in the table '{name}'.{did_you_mean} "
                        f"Columns: {', '.join(list(table.columns)[:20])}")
    missing_drops = [c for c in config.data.drop_columns if c not in table.columns]
    if missing_drops:
        raise DataError(f"data.drop_columns names columns that are not in the table: {missing_drops}")
    if target in config.data.drop_columns:
        raise DataError(f"data.drop_columns drops the target '{target}'; remove it from drop_columns")

    notes: list[str] = []
    missing_target = table[target].isna()
    if missing_target.all():
        raise DataError(f"target column '{target}' has no values; choose a target column that is filled in")
    if missing_target.any():
        notes.append(f"dropped {int(missing_target.sum())} rows whose target '{target}' is missing")
        table = table.loc[~missing_target]
    y = table[target].reset_index(drop=True)
    X = table.drop(columns=[target, *config.data.drop_columns]).reset_index(drop=True)
    if X.shape[1] == 0:
        raise DataError(f"the table '{name}' has no feature columns besides the target '{target}'")

    if y.nunique() < 2:
        raise DataError(f"target column '{target}' has a single value ({y.iloc[0]!r}); "
                        "a model needs at least two classes or varying values")
    task = infer_task(y) if config.task == "auto" else config.task
    if task != "regression" and y.dtype.kind in "fc" and not np.all(np.mod(y.to_numpy(float), 1) == 0):
        raise DataError(f"task '{task}' needs class labels, but target '{target}' holds fractional "
                        f"numbers such as {y.iloc[0]!r}; set task: regression")
    if task == "regression" and y.dtype.kind not in "iuf":
        raise DataError(f"task 'regression' needs a numeric target, but '{target}' holds "
                        f"{y.dtype} values such as {y.iloc[0]!r}; set task: binary or multiclass")
    if task == "binary" and y.nunique() != 2:
        raise DataError(f"task 'binary' needs two classes, but '{target}' has {y.nunique()}; "
                        "set task: multiclass or leave task empty to infer it")
    metric = default_metric(task) if config.metric == "auto" else config.metric
    if metric not in metrics_for_task(task):
        raise DataError(f"metric '{metric}' does not fit task '{task}'; use one of {metrics_for_task(task)}")

    empty = [c for c in X.columns if X[c].isna().all()]
    if empty:
        raise DataError(f"columns with no values at all: {empty}; add them to data.drop_columns")
    numeric, categorical = column_kinds(X)
    infinite = [c for c in numeric if np.isinf(X[c].to_numpy(dtype=float)).any()]
    if infinite:
        raise DataError(f"columns hold infinite values: {infinite}; replace them (e.g. with empty cells) "
                        "or add the columns to data.drop_columns")
    # Integer feature columns become floats, so a served model accepts missing values in them.
    for column in numeric:
        if X[column].dtype.kind in "iu":
            X[column] = X[column].astype("float64")

    _check_enough_rows(y, task, config)
    return Dataset(name, X, y, task, metric, numeric, categorical, notes)


def _check_enough_rows(y: pd.Series, task: str, config: RunConfig) -> None:
    folds = config.search.cv_folds or LARGE_FOLDS  # the automatic choice never goes below this
    n_train = int(len(y) * (1 - config.data.test_size))
    if n_train < 2 * folds or len(y) - n_train < 2:
        raise DataError(f"{len(y)} rows are too few for a {config.data.test_size:.0%} test split and "
                        f"{folds} CV folds; supply more rows or lower search.cv_folds")
    if task != "regression":
        counts = y.value_counts()
        needed = int(np.ceil(folds / (1 - config.data.test_size))) + 1
        rare = counts[counts < needed]
        if len(rare):
            raise DataError(f"classes with too few rows for {folds} folds and a test split: "
                            f"{ {str(k): int(v) for k, v in rare.items()} } (each needs at least {needed}); "
                            "lower search.cv_folds, merge rare classes, or supply more rows")


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
