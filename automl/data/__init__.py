"""The data: read a table (CSV, Parquet, a bundled set, a DataFrame), validate it into a Dataset
(target, task, metric, column kinds; a DataError naming the fix otherwise), and split it."""

from automl.data._load import BUNDLED, load_dataset, read_table
from automl.data._split import Split, cv_folds, split_dataset
from automl.data._validate import (MAX_CLASSES_FOR_INTEGER_TARGET, DataError, Dataset, column_kinds, infer_task,
                                   validate_table)

__all__ = ["BUNDLED", "MAX_CLASSES_FOR_INTEGER_TARGET", "DataError", "Dataset", "Split", "column_kinds",
           "cv_folds", "infer_task", "load_dataset", "read_table", "split_dataset", "validate_table"]
