"""Read a table (CSV, Parquet, a bundled scikit-learn set or a DataFrame) and validate it."""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
import pandas as pd

from automl.config import RunConfig
from automl.data._validate import DataError, Dataset, validate_table

BUNDLED = {
    "breast_cancer": "load_breast_cancer",
    "diabetes": "load_diabetes",
    "wine": "load_wine",
    "iris": "load_iris",
    "digits": "load_digits",
    "california_housing": "fetch_california_housing",
}

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
