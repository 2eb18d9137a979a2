"""Messy real columns, understood and said out loud: ColumnCleaner decides once what each raw column
is and turns raw rows into the columns the models see, at training time and in the served model.

- numbers written as text ('?', 'NA', '-' for missing; decimal commas; thousands separators)
  are parsed as numbers; infinite values are read as missing;
- dates are expanded into parts (year, month, day, day of week, and hour when times vary);
- ID-like columns (a distinct value per row: an integer key or a short code) are dropped;
- free text (many distinct, long, multi-word strings) is dropped;
- everything else is kept: numbers as numbers, the rest as categories.

Each decision is a ColumnDecision, printed by `automl validate` and logged on the parent run.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

NA_TOKENS = {"", "?", "??", "na", "n/a", "nan", "null", "none", "-", "--", ".", "missing", "#n/a", "nil", "unknown"}
MIN_ROWS_TO_JUDGE = 20  # fewer rows: no column is called an ID or free text
DATE_PARTS = ("year", "month", "day", "weekday")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d{1,3}(?:\.\d{3})*,\d+$|^[+-]?\d+,\d+$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_DATE_LIKE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
_ID_NAME = re.compile(r"(^|[_\s.\-])(id|key|uuid|guid|index|idx)$|^(id|uuid)[_\s.\-]|[a-z]I[dD]$|^ID$"
                      r"|^(row_?names?|row_?(id|number)|unnamed: ?0)$", re.IGNORECASE)


@dataclass
class ColumnDecision:
    column: str
    read_as: str  # number, category, date, id, text
    action: str  # kept, parsed, expanded, dropped
    detail: str = ""

    @property
    def changed(self) -> bool:
        return self.action != "kept" or bool(self.detail)

    def line(self) -> str:
        return f"{self.column}: {self.read_as}, {self.action}" + (f" ({self.detail})" if self.detail else "")


class ColumnCleaner(TransformerMixin, BaseEstimator):
    """Decides per raw column (fit) and applies the decisions to any rows (transform)."""

    def fit(self, X: pd.DataFrame, y=None) -> ColumnCleaner:
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.plans_, self.decisions_ = {}, []
        self.had_missing_ = []  # kept columns with a missing value in training (a served row may lack them)
        for column in X.columns:
            plan, decision = _decide(str(column), X[column])
            self.plans_[str(column)] = plan
            self.decisions_.append(decision)
            if plan[0] != "drop" and _apply(plan, str(column), X[column]).isna().to_numpy().any():
                self.had_missing_.append(str(column))
        return self

    @property
    def dropped_(self) -> list[str]:
        return [column for column, plan in self.plans_.items() if plan[0] == "drop"]

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        X = X.rename(columns=str)
        missing = [c for c in self.plans_ if c not in X.columns and c not in self.dropped_]
        if missing:
            raise ValueError(f"the rows lack columns the model was trained on: {missing}; "
                             "send every feature column of the training table")
        parts = [_apply(plan, column, X[column]) for column, plan in self.plans_.items() if plan[0] != "drop"]
        out = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=X.index)
        return out.reset_index(drop=True)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        empty = pd.DataFrame({c: pd.Series([], dtype=object) for c in self.plans_})
        return np.asarray(self.transform(empty).columns, dtype=object)


def _decide(column: str, values: pd.Series) -> tuple[tuple, ColumnDecision]:
    kind = values.dtype.kind
    if kind == "b":
        return ("category",), ColumnDecision(column, "category", "kept")
    if kind == "M":
        return _decide_date(column, values)
    if kind in "iuf":
        return _decide_numeric(column, values)
    text = values.astype("string").str.strip()
    filled = text[text.notna() & ~text.str.lower().isin(NA_TOKENS)]
    tokens = int((text.notna() & text.str.lower().isin(NA_TOKENS) & (text != "")).sum())
    number = _number_format(filled)
    if number is not None:
        said = {"plain": "", "comma": "decimal commas", "thousands": "thousands separators removed"}[number]
        token_note = f"{tokens} cells like '?' or 'NA' read as missing" if tokens else ""
        detail = "; ".join(part for part in (said, token_note) if part)
        return ("number", number), ColumnDecision(column, "number", "parsed", detail)
    if len(filled) and _looks_like_dates(filled):
        return _decide_date(column, values)
    return _decide_text(column, values, filled)


def _decide_numeric(column: str, values: pd.Series) -> tuple[tuple, ColumnDecision]:
    n_inf = int(values.isin([np.inf, -np.inf]).sum())
    detail = f"{n_inf} infinite values read as missing" if n_inf else ""
    if values.dtype.kind in "iu" and len(values) >= MIN_ROWS_TO_JUDGE and values.is_unique:
        in_order = values.is_monotonic_increasing or values.is_monotonic_decreasing  # row numbers
        if _ID_NAME.search(column) or in_order:
            why = "a distinct integer per row" + (", in row order" if in_order else "")
            return ("drop",), ColumnDecision(column, "id", "dropped", f"{why}: an ID says nothing about new rows")
    return ("number", "plain"), ColumnDecision(column, "number", "kept", detail)


def _decide_text(column: str, values: pd.Series, filled: pd.Series) -> tuple[tuple, ColumnDecision]:
    n = len(filled)
    if n >= MIN_ROWS_TO_JUDGE:
        distinct = filled.nunique()
        words = filled.str.split().str.len().mean()
        if distinct >= 0.5 * n and distinct >= MIN_ROWS_TO_JUDGE and words >= 4:
            return ("drop",), ColumnDecision(column, "text", "dropped", f"free text: {distinct} distinct values of "
                                             f"{words:.0f} words on average; no text encoder in this search")
        if distinct == n and len(values) == n:
            return ("drop",), ColumnDecision(column, "id", "dropped", "a distinct value per row: an ID says "
                                             "nothing about new rows")
    return ("category",), ColumnDecision(column, "category", "kept")


def _number_format(filled: pd.Series) -> str | None:
    """plain, comma (decimal commas), thousands, or None when not every value is a number."""
    if filled.empty:
        return None
    if pd.to_numeric(filled, errors="coerce").notna().all():
        return "plain"
    if filled.str.match(_THOUSANDS).all():
        return "thousands"
    if filled.str.match(_DECIMAL_COMMA).all():
        return "comma"
    return None


def _looks_like_dates(filled: pd.Series) -> bool:
    sample = filled.head(1000)
    if not sample.str.match(_DATE_LIKE).mean() >= 0.9:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return parsed.notna().mean() >= 0.9


def _decide_date(column: str, values: pd.Series) -> tuple[tuple, ColumnDecision]:
    """Expanded into the parts that vary (a year that never changes says nothing)."""
    parts = _date_parts(values, column, DATE_PARTS + ("hour",))
    varying = tuple(part for part in DATE_PARTS + ("hour",) if parts[f"{column}.{part}"].nunique() > 1)
    if not varying:
        return ("drop",), ColumnDecision(column, "date", "dropped", "the same date in every row")
    return ("date", varying), ColumnDecision(column, "date", "expanded", "into " + ", ".join(varying))


def _apply(plan: tuple, column: str, values: pd.Series) -> pd.DataFrame:
    if plan[0] == "number":
        return pd.DataFrame({column: _to_number(values, plan[1], column)})
    if plan[0] == "date":
        return _date_parts(values, column, plan[1])
    cells = values.astype(object)
    return pd.DataFrame({column: cells.where(cells.isna(), cells.astype(str)) if values.dtype.kind != "b" else values})


def _to_number(values: pd.Series, style: str, column: str) -> pd.Series:
    if values.dtype.kind in "iufb":
        return values.astype("float64").replace([np.inf, -np.inf], np.nan)
    text = values.astype("string").str.strip()
    text = text.mask(text.str.lower().isin(NA_TOKENS))
    if style == "comma":
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    elif style == "thousands":
        text = text.str.replace(",", "", regex=False)
    numbers = pd.to_numeric(text, errors="coerce")
    bad = text[text.notna() & numbers.isna()]
    if len(bad):
        raise ValueError(f"column '{column}' holds {bad.iloc[0]!r}, which is not a number; send a number "
                         "or leave the cell empty")
    return numbers.astype("float64").replace([np.inf, -np.inf], np.nan)


def _date_parts(values: pd.Series, column: str, parts: tuple[str, ...]) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dates = pd.to_datetime(values, errors="coerce", format="mixed")
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_convert(None)
    read = {"year": dates.dt.year, "month": dates.dt.month, "day": dates.dt.day, "weekday": dates.dt.dayofweek,
            "hour": dates.dt.hour}
    return pd.DataFrame({f"{column}.{part}": read[part].astype("float64") for part in parts})
