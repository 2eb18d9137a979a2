"""Columns as every later step can carry them: numbers, booleans, strings, dates or nested values.

A table may bring any pandas dtype (a Parquet file, a DataFrame): a category, a duration, a
period, Decimals, bytes, pyarrow types. The model's signature and its input example (JSON) take
only the plain ones, and a run that meets another one fails at its very end, registering. So each
column is converted here, at load, before anything is written; what changes the values is said.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from automl.data._validate import DataError

# pandas' own nullable dtypes: the signature and the input example take them as they are
_NULLABLE = re.compile(r"^(U?Int\d+|Float\d+|boolean|string|str)$")


def plain_columns(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The frame with every column in a plain dtype, and a note per column whose values changed form."""
    columns, notes = {}, []
    for name in frame.columns:
        values, said = plain_values(frame[name])
        columns[name] = values
        if said:
            notes.append(f"column '{name}': {said}")
    out = pd.DataFrame(columns, index=frame.index)
    out.attrs.update(frame.attrs)  # (how the file was read: the delimiter)
    return out, notes


def plain_values(values: pd.Series) -> tuple[pd.Series, str]:
    """One column in a plain dtype, and what was done to its values ("" when they kept their form)."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):  # a category's values, as they are
        return plain_values(pd.Series(np.asarray(values, dtype=object), index=values.index,
                                      name=values.name).infer_objects())
    if isinstance(dtype, pd.SparseDtype):
        return plain_values(values.sparse.to_dense())
    if isinstance(dtype, pd.PeriodDtype):
        return values.dt.to_timestamp(), "periods read as their start dates"
    if dtype.kind == "m":
        return values.dt.total_seconds(), "durations read as seconds"
    if dtype.kind == "c":
        raise DataError(f"column '{values.name}' holds complex numbers, which no model here takes; split it into "
                        "its real and imaginary parts, or drop it (data.drop_columns)")
    if isinstance(dtype, np.dtype) and dtype.kind in "biufM" or isinstance(dtype, pd.DatetimeTZDtype):
        return values, ""
    if not isinstance(dtype, np.dtype) and _NULLABLE.match(str(dtype)):
        return values, ""
    return _plain_objects(values.astype(object))  # object columns, and pyarrow's or other extension types


def _plain_objects(values: pd.Series) -> tuple[pd.Series, str]:
    """Python objects: numbers (Decimals too) as floats; strings, booleans and nested values kept;
    bytes decoded; anything else (dates, times, intervals, ...) as its text."""
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("string", "empty", "boolean", "mixed-integer"):
        return values, ""
    if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
        return pd.to_numeric(values.astype(float)), ""
    if kind in ("datetime", "datetime64", "date"):
        return _as_dates(values)
    if kind == "bytes":
        decoded = values.map(lambda cell: cell.decode("utf-8", errors="replace"), na_action="ignore")
        return decoded, "bytes read as UTF-8 text"
    if kind == "mixed":  # numbers and words (the ColumnCleaner decides), or nested values (it drops them)
        return values, ""
    return values.map(str, na_action="ignore"), f"{kind} values read as text"


def _as_dates(values: pd.Series) -> tuple[pd.Series, str]:
    try:
        return pd.to_datetime(values, utc=None), ""
    except (ValueError, TypeError):  # (e.g. dates in several time zones in one column)
        return pd.to_datetime(values, utc=True), "dates in several time zones read as UTC"
