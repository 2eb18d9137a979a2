"""A batch to score or monitor: a CSV or Parquet file, a folder of them, or a glob; read in chunks
of rows so a table larger than memory is scored with bounded memory.

Every file is checked to be a table before any row is used (its suffix, its first bytes, its
header), so a bad file in a folder is refused before anything is predicted or written.
"""

from __future__ import annotations

import csv
import glob
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from automl.data import CSV_SUFFIXES, PARQUET_SUFFIXES, misnamed_format, sniff_delimiter
from automl.service._errors import ServiceError

CHUNK_ROWS = 100_000  # rows read (and predicted) at a time: ~100 MB of a 50-column table


@dataclass(frozen=True)
class BatchFile:
    path: Path
    columns: list[str]
    delimiter: str | None  # None for Parquet


def batch_files(source: str) -> list[BatchFile]:
    """The files `source` names (a file, a folder's CSV/Parquet files, or a glob), sorted, each
    checked to be a table with a header; a ServiceError naming the file otherwise."""
    path = Path(source)
    if path.is_dir():
        paths = sorted(p for p in path.iterdir() if p.suffix.lower() in CSV_SUFFIXES | PARQUET_SUFFIXES)
        where = f"folder '{source}' holds no .csv or .parquet file"
    elif any(char in source for char in "*?["):
        paths = sorted(Path(p) for p in glob.glob(source) if Path(p).is_file())
        where = f"glob '{source}' matches no file"
    else:
        paths = [path] if path.exists() else []
        where = f"input '{source}' does not exist"
    if not paths:
        raise ServiceError(f"{where}; give a CSV or Parquet file, a folder of them, or a glob such as 'batches/*.csv'")
    return [_open(p) for p in paths]


def _open(path: Path) -> BatchFile:
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES | PARQUET_SUFFIXES:
        raise ServiceError(f"input '{path}' has suffix '{suffix}'; give a .csv or .parquet file")
    if problem := misnamed_format(path, "input"):
        raise ServiceError(problem)
    if suffix in PARQUET_SUFFIXES:
        try:
            names = pq.ParquetFile(path).schema_arrow.names
        except Exception as error:  # pyarrow's errors share no base class
            raise ServiceError(f"input '{path}' is a damaged Parquet file ({type(error).__name__}); "
                               "write it again") from None
        return BatchFile(path, [n for n in names if not n.startswith("__index_level_")], None)
    with open(path, "rb") as handle:
        head = handle.read(64 * 1024)
    if b"\0" in head:
        raise ServiceError(f"input '{path}' is not a text table (it holds binary bytes); give a CSV or Parquet file")
    sample = head.decode("utf-8", errors="replace")
    first = sample.splitlines()[0] if sample.strip() else ""
    if not first.strip():
        raise ServiceError(f"input '{path}' is empty; give a CSV with a header and rows")
    delimiter = "\t" if suffix == ".tsv" else sniff_delimiter(sample)
    return BatchFile(path, [name.strip().strip('"') for name in next(csv.reader([first], delimiter=delimiter))],
                     delimiter)


def read_chunks(files: list[BatchFile], chunk_rows: int = CHUNK_ROWS) -> Iterator[tuple[BatchFile, pd.DataFrame]]:
    """(file, rows) for each chunk of at most `chunk_rows` rows, file by file, in row order."""
    for file in files:
        if file.delimiter is None:
            parquet = pq.ParquetFile(file.path)
            for batch in parquet.iter_batches(batch_size=chunk_rows):
                yield file, batch.to_pandas()
            continue
        try:
            for chunk in pd.read_csv(file.path, sep=file.delimiter, chunksize=chunk_rows, low_memory=False):
                yield file, chunk
        except pd.errors.ParserError as error:
            raise ServiceError(f"input '{file.path}' is not a well-formed CSV "
                               f"({str(error).strip().splitlines()[0]}); fix the rows named") from None
        except UnicodeDecodeError as error:
            raise ServiceError(f"input '{file.path}' is not UTF-8 (byte {error.object[error.start]:#x} at "
                               f"{error.start}); save it as UTF-8") from None


def files_hash(files: list[BatchFile]) -> str:
    """sha256 of the files' bytes, in order: which input a scoring run read."""
    digest = hashlib.sha256()
    for file in files:
        with open(file.path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()
