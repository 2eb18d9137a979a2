"""Read a table (CSV, Parquet, a bundled scikit-learn set or a DataFrame) and validate it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from automl.config import RunConfig
from automl.data._dtypes import plain_columns
from automl.data._read import read_file
from automl.data._validate import DataError, Dataset, target_known, validate_table
from automl.names import did_you_mean

BUNDLED = {
    "breast_cancer": "load_breast_cancer",
    "diabetes": "load_diabetes",
    "wine": "load_wine",
    "iris": "load_iris",
    "digits": "load_digits",
    "california_housing": "fetch_california_housing",
}


def read_table(source: str | pd.DataFrame, key: str = "data.source", encoding: str | None = None,
               delimiter: str | None = None) -> tuple[pd.DataFrame, str, str | None, list[str]]:
    """(frame, dataset name, default target, notes on how it was read) for a path, a bundled name or
    a DataFrame; `key` names the config key in messages."""
    if isinstance(source, pd.DataFrame):
        repeated = sorted({str(c) for c in source.columns[source.columns.duplicated()]})
        if repeated:
            raise DataError(f"the DataFrame repeats column names {repeated}; rename them so each column "
                            "has its own name")
        frame, notes = plain_columns(source)
        return frame, "dataframe", None, notes
    if source.startswith("sklearn:"):
        bundled = source.split(":", 1)[1]
        if bundled not in BUNDLED:
            raise DataError(
                f"unknown bundled data set '{source}'.{did_you_mean(bundled, BUNDLED, prefix='sklearn:')} "
                f"Bundled: {', '.join('sklearn:' + k for k in BUNDLED)}."
            )
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, BUNDLED[bundled])(as_frame=True)
        frame = bunch.frame.copy()
        if "target_names" in bunch and frame["target"].dtype.kind in "iu" and bundled != "digits":
            names = np.asarray(bunch.target_names)
            frame["target"] = names[frame["target"].to_numpy()]
        return frame, bundled, "target", []
    path = Path(source)
    if not path.is_file():
        what = "a folder" if path.is_dir() else "not a file"
        raise DataError(f"{key} '{source}' is {what}; give a CSV or Parquet path, or a bundled set "
                        f"such as 'sklearn:breast_cancer'")
    frame, notes = read_file(path, key, encoding, delimiter)
    frame, converted = plain_columns(frame)
    return frame, path.stem, None, notes + converted


def load_dataset(config: RunConfig, frame: pd.DataFrame | None = None) -> Dataset:
    """Read and validate the table named by the config (or the given DataFrame)."""
    data = config.data
    table, name, default_target, notes = read_table(frame if frame is not None else data.source, "data.source",
                                                    data.encoding, data.delimiter)
    target = data.target or default_target
    if target is None:
        raise DataError(
            f"no target column given for '{data.source}'; set data.target to one of: "
            f"{', '.join(map(str, table.columns[:20]))}"
        )
    if data.test_source is None:
        dataset = validate_table(table, target, config, name)
        dataset.notes[:0] = notes
        return dataset
    test, _, _, _ = read_table(data.test_source, "data.test_source", data.encoding, data.delimiter)
    if list(test.columns) != list(table.columns):
        missing = [c for c in table.columns if c not in test.columns]
        extra = [c for c in test.columns if c not in table.columns]
        raise DataError(f"data.test_source '{config.data.test_source}' must have the training table's columns "
                        f"in the same order; missing {missing}, extra {extra}")
    both = pd.concat([table, test], ignore_index=True)
    both.attrs = dict(table.attrs)
    is_test = np.r_[np.zeros(len(table), bool), np.ones(len(test), bool)]
    dataset = validate_table(both, target, config, name)
    dataset.test_rows = is_test[target_known(both[target])]  # validate_table drops unlabelled rows
    dataset.notes[:0] = notes
    if not dataset.test_rows.any() or dataset.test_rows.all():
        raise DataError(f"data.test_source '{config.data.test_source}' leaves no labelled rows on one side; "
                        "both tables need rows with a target value")
    return dataset
