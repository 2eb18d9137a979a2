"""Numbers written as text: which format a column's cells share, and the one reading of it.

A column is read one way as a whole: every cell in plain notation, or every cell with a decimal
comma, or every cell with thousands separators. A column whose every cell fits both of the last two
('44,143') is ambiguous and takes the table's decimal mark (ColumnCleaner), said in its decision.
Infinite values, and values beyond float32's range (where the models compute), are read as missing.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

NA_TOKENS = frozenset({"", "?", "??", "na", "n/a", "nan", "null", "none", "-", "--", ".", "missing", "#n/a", "nil",
                       "unknown"})
LARGEST = float(np.finfo(np.float32).max)  # beyond it a model's float32 arithmetic overflows to inf
MOSTLY_NUMBERS = 0.5  # a column with at least this share of numbers among words is said to be one
_DECIMAL_COMMA = re.compile(r"^[+-]?\d{1,3}(?:\.\d{3})*,\d+$|^[+-]?\d+,\d+$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")


def number_format(filled: pd.Series) -> str | None:
    """plain, comma (decimal commas), thousands, ambiguous (every cell reads either way, like
    '44,143'), or None when not every cell is a number."""
    if filled.empty:
        return None
    filled = pd.Series(filled.unique(), dtype=filled.dtype)  # (every cell must read: each value once is enough)
    if pd.to_numeric(filled, errors="coerce").notna().all():
        return "plain"
    thousands, comma = filled.str.match(_THOUSANDS).all(), filled.str.match(_DECIMAL_COMMA).all()
    if thousands and comma:
        return "ambiguous"
    return "thousands" if thousands else "comma" if comma else None


def to_number(values: pd.Series, style: str, column: str, tokens: frozenset[str] = NA_TOKENS) -> pd.Series:
    """The column as float64 in the given style; missing tokens, inf and values beyond LARGEST as NaN;
    a ValueError naming the column for a cell that is not a number."""
    numbers = parse_number(values, style, column, tokens)
    return numbers.mask(~in_range(numbers))


def parse_number(values: pd.Series, style: str, column: str, tokens: frozenset[str] = NA_TOKENS) -> pd.Series:
    if values.dtype.kind in "iufb":
        return values.astype("float64")
    text = values.astype("string").str.strip()
    text = text.mask(text.str.lower().isin(tokens))
    if style == "comma":
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    elif style == "thousands":
        text = text.str.replace(",", "", regex=False)
    numbers = pd.to_numeric(text, errors="coerce")
    bad = text[text.notna() & numbers.isna()]
    if len(bad):
        raise ValueError(f"column '{column}' holds {bad.iloc[0]!r}, which is not a number; send a number "
                         "or leave the cell empty")
    return numbers.astype("float64")


def in_range(numbers: pd.Series) -> pd.Series:
    """False for inf and for values beyond ±LARGEST (NaN stays as it is: not counted here)."""
    return numbers.isna() | (numbers.abs() <= LARGEST)


def out_of_range_note(numbers: pd.Series) -> str:
    """What was read as missing for being infinite or too large ("" when nothing was)."""
    count = int((~in_range(numbers)).sum())
    return f"{count} infinite or too large values (beyond ±{LARGEST:.1e}) read as missing" if count else ""


def words_among_numbers(filled: pd.Series) -> str:
    """For a column read as a category although most of its cells are numbers: which words made it
    one, and the fix (them as missing); "" when the column is not mostly numbers."""
    if filled.empty:
        return ""
    cells = filled.value_counts()  # (each value parsed once)
    numeric = pd.to_numeric(pd.Series(cells.index, dtype=filled.dtype), errors="coerce").notna().to_numpy()
    numbers = int(cells[numeric].sum())
    if numbers < MOSTLY_NUMBERS * len(filled):
        return ""
    counts = cells[~numeric].sort_index().sort_values(ascending=False, kind="stable")  # ties: by name
    common = [str(word) for word in counts.index[:5]]
    return (f"{numbers} of {len(filled)} cells are numbers, {len(filled) - numbers} are words such as "
            f"{', '.join(repr(w) for w in common)}: read as a category; if the words mean missing, set "
            f"data.missing_values: {common} to read it as numbers")


def ambiguous_detail(filled: pd.Series, mark: str, why: str) -> str:
    """The decision on a column like '44,143' (decimal comma or thousands separator), and its fix."""
    example = str(filled.iloc[0])
    if mark == ",":
        value = float(example.replace(".", "").replace(",", "."))
        return (f"{example!r} read as {value:g}: ',' taken as the decimal mark ({why}); "
                "set data.decimal: '.' if it separates thousands")
    value = float(example.replace(",", ""))
    return (f"{example!r} read as {value:g}: ',' taken as a thousands separator ({why}); "
            "set data.decimal: ',' if it is the decimal mark")
