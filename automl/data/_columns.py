"""Messy real columns, understood and said out loud: ColumnCleaner decides once what each raw column
is and turns raw rows into the columns the models see, at training time and in the served model.

- numbers written as text ('?', 'NA', '-' for missing; decimal commas; thousands separators)
  are parsed as numbers, one reading for the whole column (automl.data._numbers); infinite values
  and values beyond float32's range are read as missing;
- a column of numbers with a share of words is a category, said with the fix (data.missing_values);
- dates are expanded into parts (year, month, day, day of week, and hour when times vary);
- ID-like columns (a distinct value per row: an integer key or a short code) are dropped;
- free text (many distinct, long, multi-word strings; and the columns text_columns names) is kept as
  text, which the search's text encoders turn into numbers (TF-IDF + SVD, or a pretrained sentence
  encoder); without any encoder (text.encoders: []) it is dropped. A served row's text column that
  holds numbers is refused, naming the column;
- nested values (lists, mappings) and columns holding one value in every row are dropped;
- everything else is kept: numbers as numbers, the rest as categories.

Each decision is a ColumnDecision, printed by `automl validate` and logged on the parent run; the
loud ones (a guess the user may want otherwise) are also warnings of `automl run`.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from automl.data._numbers import (
    LARGEST,
    NA_TOKENS,
    ambiguous_detail,
    number_format,
    out_of_range_note,
    parse_number,
    to_number,
    words_among_numbers,
)

MIN_ROWS_TO_JUDGE = 20  # fewer rows: no column is called an ID or free text
DATE_PARTS = ("year", "month", "day", "weekday")
NESTED = (list, tuple, dict, set, np.ndarray)
_DATE_LIKE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
_ID_NAME = re.compile(r"(^|[_\s.\-])(id|key|uuid|guid|index|idx)$|^(id|uuid)[_\s.\-]|[a-z]I[dD]$|^ID$"
                      r"|^(row_?names?|row_?(id|number)|unnamed: ?0)$", re.IGNORECASE)


@dataclass
class ColumnDecision:
    column: str
    read_as: str  # number, category, date, id, text, nested, constant
    action: str  # kept, parsed, expanded, encoded (text), dropped
    detail: str = ""
    loud: bool = False  # a guess the user may want otherwise: also a warning

    @property
    def changed(self) -> bool:
        return self.action != "kept" or bool(self.detail)

    def line(self) -> str:
        return f"{self.column}: {self.read_as}, {self.action}" + (f" ({self.detail})" if self.detail else "")


class ColumnCleaner(TransformerMixin, BaseEstimator):
    """Decides per raw column (fit) and applies the decisions to any rows (transform).

    missing_values: words read as missing in columns of numbers, besides NA_TOKENS.
    decimal: the table's decimal mark ('.' or ','), for columns whose cells read either way
    ('44,143'); None: ',' when another column has decimal commas, else '.'.
    text_encoders: the encoders the run's trials may turn free text into numbers with (named in the
    column report); empty: free text is dropped. text_columns: columns kept as text whatever their
    values look like.
    """

    def __init__(self, missing_values: tuple[str, ...] = (), decimal: str | None = None,
                 text_encoders: tuple[str, ...] = ("tfidf",), text_columns: tuple[str, ...] = ()):
        self.missing_values = missing_values
        self.decimal = decimal
        self.text_encoders = text_encoders
        self.text_columns = text_columns

    def fit(self, X: pd.DataFrame, y=None) -> ColumnCleaner:
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.tokens_ = NA_TOKENS | {str(word).strip().lower() for word in self.missing_values}
        decided = {str(column): self._decide(str(column), X[column]) for column in X.columns}
        mark, why = self._decimal_mark(decided)
        self.plans_, self.decisions_ = {}, []
        self.had_missing_ = []  # kept columns with a missing value in training (a served row may lack them)
        for column, values in zip(decided, (X[c] for c in X.columns)):
            plan, decision = decided[column]
            if plan == ("number", "ambiguous"):
                plan = ("number", "comma" if mark == "," else "thousands")
                detail = ambiguous_detail(_filled(values, self.tokens_), mark, why)
                decision = ColumnDecision(column, "number", "parsed", detail, loud=True)
            self.plans_[column] = plan
            self.decisions_.append(decision)
            if plan[0] != "drop" and self._apply(plan, column, values).isna().to_numpy().any():
                self.had_missing_.append(column)
        return self

    def _decide(self, column: str, values: pd.Series) -> tuple[tuple, ColumnDecision]:
        """_decide's plan, with free text kept for the encoders (or dropped without any), and the
        columns text_columns names read as text."""
        if column in self.text_columns:
            plan, decision = ("text",), ColumnDecision(column, "text", "kept", "named in text.columns")
        else:
            plan, decision = _decide(column, values, self.tokens_)
        if plan != ("text",):
            return plan, decision
        if not self.text_encoders:
            return ("drop",), ColumnDecision(column, "text", "dropped", f"{decision.detail}; text.encoders is empty")
        encoders = " or ".join(self.text_encoders)
        return plan, ColumnDecision(column, "text", "encoded", f"{decision.detail}; {encoders}, chosen per trial")

    @property
    def text_columns_(self) -> list[str]:
        """The columns kept as text (the pipeline's text encoders take them)."""
        return [column for column, plan in self.plans_.items() if plan[0] == "text"]

    def _decimal_mark(self, decided: dict) -> tuple[str, str]:
        if self.decimal is not None:
            return self.decimal, "the table's decimal mark: data.decimal, or its ';' delimiter"
        commas = [column for column, (plan, _) in decided.items() if plan == ("number", "comma")]
        if commas:
            return ",", f"as in column '{commas[0]}'"
        return ".", "no column of this table has decimal commas"

    @property
    def dropped_(self) -> list[str]:
        return [column for column, plan in self.plans_.items() if plan[0] == "drop"]

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        X = X.rename(columns=str)
        missing = [c for c in self.plans_ if c not in X.columns and c not in self.dropped_]
        if missing:
            raise ValueError(f"the rows lack columns the model was trained on: {missing}; "
                             "send every feature column of the training table")
        kept = [(column, plan) for column, plan in self.plans_.items() if plan[0] != "drop"]
        # Number columns that arrive as numbers: converted together (one array, not a frame per column:
        # a served row's cost is mostly pandas' per-column work); the others column by column.
        plain = {c for c, plan in kept if plan[0] == "number" and X[c].dtype.kind in "iufb"}
        parts = [self._apply(plan, c, X[c]) for c, plan in kept if c not in plain]
        if plain:
            names = [c for c, _ in kept if c in plain]
            block = X[names].to_numpy(dtype="float64", na_value=np.nan, copy=True)
            block[~(np.abs(block) <= LARGEST)] = np.nan  # (inf and beyond float32's range: missing, as to_number)
            parts.append(pd.DataFrame(block, columns=names, index=X.index))
        if not parts:
            return pd.DataFrame(index=range(len(X)))
        out = pd.concat(parts, axis=1)
        by_column = iter(parts)
        order = [name for c, _ in kept for name in ([c] if c in plain else next(by_column).columns)]
        return out[order].reset_index(drop=True)

    def _apply(self, plan: tuple, column: str, values: pd.Series) -> pd.DataFrame:
        if plan[0] == "number":
            return pd.DataFrame({column: to_number(values, plan[1], column, getattr(self, "tokens_", NA_TOKENS))})
        if plan[0] == "date":
            return _date_parts(values, column, plan[1])
        if plan[0] == "text":
            _check_text(column, values)
        cells = values.astype(object)
        return pd.DataFrame({column: cells.where(cells.isna(), cells.astype(str)) if values.dtype.kind != "b"
                             else values})

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        empty = pd.DataFrame({c: pd.Series([], dtype=object) for c in self.plans_})
        return np.asarray(self.transform(empty).columns, dtype=object)


def _check_text(column: str, values: pd.Series) -> None:
    """A text column whose rows hold numbers (a served batch with the column shifted, or its ids):
    the encoder would read '12.5' as words."""
    if not values.notna().any():  # (an optional column the rows left out: missing, not numbers)
        return
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("integer", "floating", "mixed-integer-float", "decimal", "boolean"):
        first = values.dropna().tolist()[0]
        raise ValueError(f"column '{column}' was text in training but these rows hold numbers (e.g. {first!r}); "
                         "send the column's text as training had it, or check that the columns are in place")


def _filled(values: pd.Series, tokens: frozenset[str]) -> pd.Series:
    """The cells of a text column that hold something (not missing, not a missing token)."""
    text = values.astype("string").str.strip()
    return text[text.notna() & ~text.str.lower().isin(tokens)]


def _decide(column: str, values: pd.Series, tokens: frozenset[str]) -> tuple[tuple, ColumnDecision]:
    kind = values.dtype.kind
    if kind == "O" and pd.api.types.infer_dtype(values, skipna=True) == "mixed" \
            and values.map(lambda cell: isinstance(cell, NESTED)).any():
        return ("drop",), ColumnDecision(column, "nested", "dropped", "lists or mappings in its cells: no encoder "
                                         "takes them; spread what they hold into columns of their own")
    if values.nunique(dropna=False) == 1:
        return ("drop",), ColumnDecision(column, "constant", "dropped",
                                         f"the same value ({values.iloc[:1].tolist()[0]!r}) in every row")
    if kind == "b":
        return ("category",), ColumnDecision(column, "category", "kept")
    if kind == "M":
        return _decide_date(column, values)
    if kind in "iuf":
        return _decide_numeric(column, values)
    text = values.astype("string").str.strip()
    filled = _filled(values, tokens)
    n_tokens = int((text.notna() & text.str.lower().isin(tokens) & (text != "")).sum())
    number = number_format(filled)
    if number is not None:
        said = {"plain": "", "comma": "decimal commas", "thousands": "thousands separators removed",
                "ambiguous": ""}[number]
        token_note = f"{n_tokens} cells like '?' or 'NA' read as missing" if n_tokens else ""
        too_large = out_of_range_note(parse_number(values, number, column, tokens)) if number == "plain" else ""
        detail = "; ".join(part for part in (said, token_note, too_large) if part)
        return ("number", number), ColumnDecision(column, "number", "parsed", detail)
    if len(filled) and _looks_like_dates(filled):
        return _decide_date(column, values)
    mixed = words_among_numbers(filled)
    if mixed:
        return ("category",), ColumnDecision(column, "category", "kept", mixed, loud=True)
    return _decide_text(column, values, filled)


def _decide_numeric(column: str, values: pd.Series) -> tuple[tuple, ColumnDecision]:
    detail = out_of_range_note(values.astype("float64"))
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
        varied = distinct >= 0.5 * n and distinct >= MIN_ROWS_TO_JUDGE
        words = filled.str.split().str.len().mean() if varied else 0.0  # (a category's words are not counted)
        if varied and words >= 4:
            return ("text",), ColumnDecision(column, "text", "encoded", f"free text: {distinct} distinct values of "
                                             f"{words:.0f} words on average")
        if distinct == n and len(values) == n:
            return ("drop",), ColumnDecision(column, "id", "dropped", "a distinct value per row: an ID says "
                                             "nothing about new rows")
    return ("category",), ColumnDecision(column, "category", "kept")


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


def _date_parts(values: pd.Series, column: str, parts: tuple[str, ...]) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dates = pd.to_datetime(values, errors="coerce", format="mixed")
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_convert(None)
    read = {"year": dates.dt.year, "month": dates.dt.month, "day": dates.dt.day, "weekday": dates.dt.dayofweek,
            "hour": dates.dt.hour}
    return pd.DataFrame({f"{column}.{part}": read[part].astype("float64") for part in parts})
