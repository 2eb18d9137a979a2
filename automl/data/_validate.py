"""Validate a raw table into a Dataset: the target, the task, the metric and the column kinds.

Every check runs before anything is written; each failure names the value and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from automl.config import LARGE_FOLDS, RunConfig
from automl.data._columns import ColumnCleaner, ColumnDecision
from automl.data._numbers import LARGEST
from automl.evaluation import default_metric, metrics_for_task
from automl.extras import FINE_TUNED, PRETRAINED, TEXT_EXTRA, missing_text_packages, text_encoders
from automl.names import did_you_mean

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
    cleaner: ColumnCleaner | None = None  # raw rows → X; the served model starts with it
    raw_example: pd.DataFrame | None = None  # a few raw feature rows, as users will send them
    warnings: list[str] = field(default_factory=list)  # said loudly: likely leaks
    text_columns: list[str] = field(default_factory=list)  # free text, for the text encoders (not categorical)
    text_encoders: list[str] = field(default_factory=list)  # what trials may encode them with (automl.extras)
    raw: pd.DataFrame | None = None  # the feature columns as read (X's index): the champion is compared on them

    @property
    def column_report(self) -> list[ColumnDecision]:
        return list(self.cleaner.decisions_) if self.cleaner is not None else []

    @property
    def n_classes(self) -> int:
        return 0 if self.task == "regression" else int(self.y.nunique())


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


def validate_table(table: pd.DataFrame, target: str, config: RunConfig, name: str) -> Dataset:
    """Check a raw table and turn it into a Dataset, or raise DataError naming the fix."""
    if table.shape[0] == 0 or table.shape[1] == 0:
        raise DataError(f"the table '{name}' is empty ({table.shape[0]} rows, {table.shape[1]} columns); "
                        "point data.source at a file with rows")
    table.columns = [str(c) for c in table.columns]
    _check_columns(table, target, config, name)
    raw, y, notes = _features_and_target(table, target, config, name)
    task, metric = _task_and_metric(y, target, config)
    decimal = config.data.decimal or ("," if table.attrs.get("delimiter") == ";" else None)
    encoders = text_encoders(config.text.encoders) + ([FINE_TUNED] if config.text.fine_tune else [])
    X, cleaner = _clean(raw, name, ColumnCleaner(tuple(config.data.missing_values), decimal, tuple(encoders),
                                                 tuple(config.text.columns)))
    numeric, categorical = column_kinds(X)
    text = cleaner.text_columns_
    categorical = [c for c in categorical if c not in text]
    lost = _check_text(raw, text, encoders)
    _check_enough_rows(y, task, config)
    said = [f"dropped column '{d.column}' ({d.read_as}): {d.detail}" if d.action == "dropped"
            else f"column '{d.column}': {d.detail}" for d in cleaner.decisions_ if d.action == "dropped" or d.loud]
    said += lost
    if text and PRETRAINED not in encoders and config.text.encoders is None:
        notes.append(f"text column{'s' if len(text) > 1 else ''} {_few(text)} encoded by TF-IDF + SVD only; the "
                     f"pretrained sentence encoder (all-MiniLM-L6-v2) comes with {TEXT_EXTRA}")
    return Dataset(name, X, y, task, metric, numeric, categorical, notes, cleaner=cleaner,
                   raw_example=raw.head(5).copy(), warnings=said, text_columns=text,
                   text_encoders=encoders if text else [], raw=raw)


def _check_columns(table: pd.DataFrame, target: str, config: RunConfig, name: str) -> None:
    if target not in table.columns:
        hint = did_you_mean(target, table.columns)
        raise DataError(f"target column '{target}' is not in the table '{name}'.{hint} "
                        f"Columns: {', '.join(list(table.columns)[:20])}{_delimiter_hint(table)}")
    missing_drops = [c for c in config.data.drop_columns if c not in table.columns]
    if missing_drops:
        hints = "".join(did_you_mean(c, table.columns, name_word=True) for c in missing_drops)
        raise DataError(f"data.drop_columns names columns that are not in the table: {missing_drops}.{hints} "
                        f"Columns: {', '.join(list(table.columns)[:30])}")
    if target in config.data.drop_columns:
        raise DataError(f"data.drop_columns drops the target '{target}'; remove it from drop_columns")
    for column in config.text.columns:
        if column not in table.columns or column == target or column in config.data.drop_columns:
            why = ("is the target" if column == target else "is dropped (data.drop_columns)"
                   if column in table.columns else "is not in the table")
            hint = did_you_mean(column, table.columns) if column not in table.columns else ""
            raise DataError(f"text.columns names '{column}', which {why}.{hint} Remove it from text.columns")
        values = table[column]
        if not (values.dropna().astype(str).str.strip() != "").any():
            raise DataError(f"text column '{column}' is empty in every row; remove it from text.columns "
                            "(or add it to data.drop_columns)")
        if values.dtype.kind in "iufb" or pd.api.types.infer_dtype(values, skipna=True) in NUMBER_KINDS:
            raise DataError(f"text column '{column}' holds numbers, not text; remove it from text.columns")


def _delimiter_hint(table: pd.DataFrame) -> str:
    """A header read as one column that holds another separator: name it."""
    if table.shape[1] != 1:
        return ""
    header = str(table.columns[0])
    found = [sep for sep in ";\t|," if sep in header]
    return (f". The header reads as a single column: the delimiter is probably {found[0]!r}; "
            f"set data.delimiter: {found[0]!r}") if found else ""


def _features_and_target(table: pd.DataFrame, target: str, config: RunConfig,
                         name: str) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """X and y, without the rows whose target is missing (said in the notes)."""
    notes: list[str] = []
    missing_target = ~target_known(table[target])
    if missing_target.all():
        raise DataError(f"target column '{target}' has no values; choose a target column that is filled in")
    if missing_target.any():
        infinite = int((missing_target & table[target].notna().to_numpy()).sum())  # (missing, yet not NaN: inf)
        notes.append(f"dropped {int(missing_target.sum())} rows whose target '{target}' is missing"
                     + (f" ({infinite} of them infinite)" if infinite else ""))
        table = table.loc[~missing_target]
    y = _plain_target(table[target].reset_index(drop=True))
    X = table.drop(columns=[target, *config.data.drop_columns]).reset_index(drop=True)
    if X.shape[1] == 0:
        raise DataError(f"the table '{name}' has no feature columns besides the target '{target}'")
    return X, y, notes


def target_known(values: pd.Series) -> np.ndarray:
    """True where the target holds a value: not missing and, for numbers, finite (inf is missing
    everywhere, as in the features)."""
    known = values.notna().to_numpy()
    if values.dtype.kind in "iuf":
        known = known & np.isfinite(values.to_numpy(dtype="float64", na_value=np.nan))
    return known


def _plain_target(y: pd.Series) -> pd.Series:
    """The target in a numpy dtype (scikit-learn's label encoders and metrics take those, not pandas'
    nullable ones, once its missing rows are gone); labels of mixed types as text (1 and 'a' do not sort)."""
    if not isinstance(y.dtype, np.dtype):
        y = pd.Series(y.to_numpy(), name=y.name).infer_objects()
    if y.dtype.kind == "O" and pd.api.types.infer_dtype(y, skipna=True).startswith("mixed"):
        y = y.astype(str)
    return y


def _check_target_range(y: pd.Series, target: str) -> None:
    """Regression metrics square the errors: a value beyond float32's range overflows them to inf."""
    largest = float(np.abs(y.to_numpy(dtype="float64")).max())
    if largest > LARGEST:
        raise DataError(f"target column '{target}' holds {largest:.3g}, beyond ±{LARGEST:.1e}, where the metrics "
                        "overflow to inf; rescale the target (e.g. to thousands or a log scale) or drop those rows")


def _task_and_metric(y: pd.Series, target: str, config: RunConfig) -> tuple[str, str]:
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
    if task == "regression":
        _check_target_range(y, target)
    if task == "binary" and y.nunique() != 2:
        raise DataError(f"task 'binary' needs two classes, but '{target}' has {y.nunique()}; "
                        "set task: multiclass or leave task empty to infer it")
    metric = default_metric(task) if config.metric == "auto" else config.metric
    if metric not in metrics_for_task(task):
        raise DataError(f"metric '{metric}' does not fit task '{task}'; use one of {metrics_for_task(task)}")
    return task, metric


def _clean(raw: pd.DataFrame, name: str, cleaner: ColumnCleaner) -> tuple[pd.DataFrame, ColumnCleaner]:
    """The columns the models see (numbers as floats, dates as parts; IDs, free text, nested values
    and constants dropped)."""
    empty = [c for c in raw.columns if raw[c].isna().all()]
    if empty:
        raise DataError(f"columns with no values at all: {_few(empty)}; add them to data.drop_columns")
    cleaner.fit(raw)
    X = cleaner.transform(raw)
    if X.shape[1] == 0:
        lines = [d.line() for d in cleaner.decisions_]
        dropped = "; ".join(lines[:5]) + (f"; and {len(lines) - 5} more columns" if len(lines) > 5 else "")
        raise DataError(f"the table '{name}' has no usable feature columns ({dropped}); "
                        "add columns that describe each row")
    return X, cleaner


def _check_text(raw: pd.DataFrame, text: list[str], encoders: list[str]) -> list[str]:
    """Each text column reads as text decoded right, and the encoders asked for can load. → warnings:
    a few cells whose characters were lost before the table reached us (U+FFFD in them)."""
    warnings = []
    for column in text:
        filled = raw[column].dropna().astype(str)
        if problem := _misdecoded(column, filled):
            raise DataError(problem)
        if lost := _lost_characters(column, filled):
            warnings.append(lost)
    if text and FINE_TUNED in encoders and PRETRAINED not in encoders:
        missing = missing_text_packages()
        why = (f"{', '.join(missing)} is not installed; {TEXT_EXTRA}" if missing else
               f"text.encoders {encoders[:-1]} leaves it out; add {PRETRAINED} to text.encoders")
        raise DataError(f"text column '{text[0]}': text.fine_tune is true, but {PRETRAINED}, the encoder it "
                        f"fine-tunes, is not in this run: {why}, or set text.fine_tune: false")
    missing = missing_text_packages() if text and PRETRAINED in encoders else []
    if missing:
        raise DataError(f"text column '{text[0]}': text.encoders asks for {PRETRAINED} (the pretrained sentence "
                        f"encoder), but {', '.join(missing)} is not installed; {TEXT_EXTRA}, or set "
                        "text.encoders: [tfidf]")
    return warnings


NUMBER_KINDS = ("integer", "floating", "mixed-integer-float", "decimal", "boolean")
SAMPLE_CELLS = 2000  # cells of a text column looked at for a wrong decoding
REPLACED_SHARE = 0.05  # U+FFFD in this share of a text column's cells: the column was decoded wrongly


def _misdecoded(column: str, filled: pd.Series) -> str | None:
    """Text decoded with the wrong encoding, said with the fix: bytes that were not UTF-8 (U+FFFD,
    the replacement character, where they stood, in REPLACED_SHARE of the cells or more), or UTF-8
    read as cp1252/latin-1 ('Ã©' for 'é')."""
    cells = filled.head(SAMPLE_CELLS)
    replaced = int(cells.str.contains("\ufffd", regex=False).sum())
    if replaced >= max(1, REPLACED_SHARE * len(cells)):
        example = cells[cells.str.contains("\ufffd", regex=False)].iloc[0][:40]
        return (f"text column '{column}' holds {replaced} cell(s) with U+FFFD, the replacement character (bytes "
                f"that were not UTF-8 text, e.g. {example!r}); decode the column with its own encoding (e.g. "
                "latin-1) before training, or set data.encoding for a CSV")
    wrong = [cell for cell in cells if not cell.isascii() and _mojibake(cell)]
    if wrong and len(wrong) >= 0.5 * sum(not cell.isascii() for cell in cells):
        return (f"text column '{column}' reads as UTF-8 decoded with another encoding ({len(wrong)} cells, e.g. "
                f"{wrong[0][:40]!r}); set data.encoding: utf-8 (or leave it empty) for this file")
    return None


def _lost_characters(column: str, filled: pd.Series) -> str | None:
    """A few cells with U+FFFD (under REPLACED_SHARE of the column: characters lost upstream, as in a
    table that was decoded lossily before it reached us): the text is kept, and the warning says so."""
    lost = filled[filled.str.contains("\ufffd", regex=False)]
    if lost.empty:
        return None
    return (f"text column '{column}': {len(lost)} of {len(filled)} cells hold U+FFFD, the replacement character "
            f"(characters lost before the table was read, e.g. {lost.iloc[0][:40]!r}); encoded as they are "
            "(decode the source with its own encoding to keep them)")


def _mojibake(cell: str) -> bool:
    """Whether a cell is UTF-8 read as a one-byte encoding: encoded back, its bytes decode as UTF-8
    into other text (a real 'José' in cp1252 gives b'Jos\xe9', which is not UTF-8)."""
    for encoding in ("cp1252", "latin-1"):
        try:
            return cell.encode(encoding).decode("utf-8") != cell
        except UnicodeError:
            continue
    return False


def _few(names: list, shown: int = 10) -> str:
    """A list of names, cut after `shown` (a message stays one readable line)."""
    return str(names[:shown])[:-1] + (f", … {len(names) - shown} more]" if len(names) > shown else "]")


def _check_enough_rows(y: pd.Series, task: str, config: RunConfig) -> None:
    folds = config.search.cv_folds or LARGE_FOLDS  # the automatic choice never goes below this
    n_train = int(len(y) * (1 - config.data.test_size))
    if n_train < 2 * folds or len(y) - n_train < 2:
        raise DataError(f"{len(y)} rows are too few for a {config.data.test_size:.0%} test split and "
                        f"{folds} CV folds; supply more rows or lower search.cv_folds")
    if task != "regression":
        counts = y.value_counts()
        needed = int(np.ceil(folds / (1 - config.data.test_size))) + 1
        rare = counts[counts < needed].sort_values(kind="stable")
        if len(rare):
            smallest = {str(k): int(v) for k, v in rare.head(5).items()}
            which = (f"{smallest}" if len(rare) <= 5 else
                     f"{len(rare)} of {len(counts)} classes; the five smallest: {smallest}")
            raise DataError(f"classes with too few rows for {folds} folds and a test split: {which} (each needs at "
                            f"least {needed}); lower search.cv_folds, merge rare classes, or supply more rows")
