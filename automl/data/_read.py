"""Read a CSV or Parquet file, or say in one line why not and what to set.

CSV: decoded as UTF-8 unless data.encoding says otherwise (a failure names the byte and the likely
encoding); the delimiter sniffed from the first lines unless data.delimiter names it; a header
that repeats a column name refused (pandas would rename the second 'x1' to 'x1.1').
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from automl.data._validate import DataError

SNIFF_BYTES = 64 * 1024
CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
DELIMITERS = ",;\t|"
# tried, in order, to name the encoding of a file that is not UTF-8
LIKELY_ENCODINGS = ("cp1252", "latin-1")
# the first bytes of formats a table is often saved in by mistake: (magic, what it is, the fix)
MAGIC_BYTES = (
    (b"PAR1", "a Parquet file", "rename it to .parquet"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook, or a zipped file)", "save or extract it as a CSV"),
    (b"\xd0\xcf\x11\xe0", "an Excel .xls workbook", "save it as a CSV"),
    (b"\x1f\x8b", "gzip-compressed", "decompress it (gunzip) to a .csv"),
    (b"ARROW1", "an Arrow/Feather file", "write it as Parquet or CSV"),
    (b"SQLite format 3", "an SQLite database", "export the table to a CSV"),
    (b"\x89HDF", "an HDF5 file", "write the table as Parquet or CSV"),
    (b"%PDF", "a PDF document", "export the table to a CSV"),
)


def read_file(path: Path, key: str, encoding: str | None, delimiter: str | None) -> tuple[pd.DataFrame, list[str]]:
    """The table in `path` and what was decided reading it (e.g. the sniffed delimiter)."""
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES | PARQUET_SUFFIXES:
        raise DataError(f"{key} '{path}' has suffix '{suffix}'; use a .csv or .parquet file")
    if suffix in CSV_SUFFIXES and path.stat().st_size == 0:
        raise DataError(f"{key} '{path}' is empty (0 bytes); point {key} at a file with a header and rows")
    if problem := misnamed_format(path, key):
        raise DataError(problem)
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(path, key), []
    sample = _decoded_sample(path, key, encoding or "utf-8")
    notes: list[str] = []
    if delimiter is None:
        delimiter = "\t" if suffix == ".tsv" else sniff_delimiter(sample)
        if delimiter != ",":
            notes.append(f"{key}: read with delimiter {delimiter!r} (sniffed; set data.delimiter to change it)")
    _check_header(sample, delimiter, path, key)
    try:
        frame = pd.read_csv(path, sep=delimiter, encoding=encoding or "utf-8", low_memory=False)
    except UnicodeDecodeError as error:
        raise DataError(_encoding_message(path, key, encoding or "utf-8", error, path.read_bytes())) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{key} '{path}' holds no columns (only blank lines); "
                        f"point {key} at a CSV with a header") from None
    except pd.errors.ParserError as error:
        first = str(error).strip().splitlines()[0]
        raise DataError(f"{key} '{path}' is not a well-formed CSV with delimiter {delimiter!r} ({first}); "
                        "set data.delimiter to its separator, or fix the rows named") from None
    frame.attrs["delimiter"] = delimiter  # (a ';'-separated file writes decimal commas: the ColumnCleaner asks)
    return frame, notes


def misnamed_format(path: Path, key: str) -> str | None:
    """Why a file is not the format its suffix names, in one line with the fix: a CSV named .parquet,
    or a Parquet file, a workbook, an archive named .csv (an encoding hint would only lead on to a
    tokenizer error); None when its first bytes fit its suffix. Read by data and by automl.service."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        if head.startswith(b"PAR1"):
            return None
        looks = "text, perhaps CSV" if _is_text(path) else "not Parquet"
        return (f"{key} '{path}' is not a Parquet file (it starts with {head[:4]!r}: {looks}); "
                "if it is a CSV, rename it to .csv")
    for magic, what, fix in MAGIC_BYTES:
        if head.startswith(magic):
            return f"{key} '{path}' is {what} (it starts with {magic!r}), not a CSV; {fix}"
    return None


def _read_parquet(path: Path, key: str) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as error:  # pyarrow's errors (ArrowInvalid, OSError) share no base class
        raise DataError(f"{key} '{path}' is a damaged Parquet file ({type(error).__name__}: "
                        f"{str(error).splitlines()[0] if str(error) else ''}); write it again") from None


def _is_text(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(1024)
    return b"\0" not in head


def _decoded_sample(path: Path, key: str, encoding: str) -> str:
    with open(path, "rb") as handle:
        raw = handle.read(SNIFF_BYTES)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as error:
        if error.start >= len(raw) - 4:  # a character cut at the sample's end
            return raw[:error.start].decode(encoding, errors="ignore")
        raise DataError(_encoding_message(path, key, encoding, error, raw)) from None


def _encoding_message(path: Path, key: str, encoding: str, error: UnicodeDecodeError, raw: bytes) -> str:
    line = raw[:error.start].count(b"\n") + 1 if error.start < len(raw) else "?"
    byte = error.object[error.start:error.start + 1] if error.object else b""
    likely = next((name for name in LIKELY_ENCODINGS if name != encoding and _decodes(raw, name)), None)
    guess = f"it reads as {likely}: set data.encoding: {likely}" if likely else "set data.encoding to its encoding"
    return (f"{key} '{path}' is not {encoding} text (byte {byte!r} on line {line}); {guess}")


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


def sniff_delimiter(sample: str) -> str:
    """The separator of a CSV sample (its first 50 lines): , ; tab or |, else ','."""
    lines = "\n".join(sample.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(lines, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def _check_header(sample: str, delimiter: str, path: Path, key: str) -> None:
    try:
        header = next(csv.reader(sample.splitlines()[:1], delimiter=delimiter))
    except StopIteration:
        return
    names = [name.strip() for name in header]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataError(f"{key} '{path}' repeats column names {repeated} in its header; "
                        "rename them so each column has its own name")
