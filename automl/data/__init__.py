"""The data: read a table (CSV, Parquet, a bundled set, a DataFrame), understand its columns
(ColumnCleaner: numbers written as text, dates, IDs, free text; each decision reported), validate
it into a Dataset (target, task, metric, column kinds; a DataError naming the fix otherwise), warn
of likely leaks, and split it."""

from automl.data._columns import ColumnCleaner, ColumnDecision
from automl.data._leakage import leakage_warnings
from automl.data._load import BUNDLED, load_dataset, read_table
from automl.data._numbers import LARGEST
from automl.data._read import CSV_SUFFIXES, PARQUET_SUFFIXES, misnamed_format, sniff_delimiter
from automl.data._split import Split, cv_folds, split_dataset
from automl.data._validate import DataError, Dataset, column_kinds, infer_task, validate_table

__all__ = ["BUNDLED", "CSV_SUFFIXES", "LARGEST", "PARQUET_SUFFIXES", "ColumnCleaner",
           "ColumnDecision", "DataError", "Dataset", "Split", "column_kinds", "cv_folds", "infer_task",
           "leakage_warnings", "load_dataset", "misnamed_format", "read_table", "sniff_delimiter",
           "split_dataset", "validate_table"]
