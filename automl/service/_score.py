"""`automl score`: the registered model's predictions for a batch, read and predicted in chunks.

Before any row is predicted every file is checked to be a table holding the model's required
columns (and the id column, when named); each chunk's rows are checked by the served model (a
missing value in a required column, a value of the wrong kind) before that chunk is predicted.
Predictions go to a temporary file beside the output, renamed to it only when every row scored:
a refused batch leaves no output file and no MLflow run.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from automl.data import PARQUET_SUFFIXES
from automl.names import metric_name
from automl.service._batch import CHUNK_ROWS, BatchFile, batch_files, files_hash, read_chunks
from automl.service._errors import ServiceError
from automl.service._model import ModelVersion, load_served, resolve_model
from automl.service._runs import service_run
from automl.tracking import RunLog

PREDICTION = "prediction"
SAMPLE_ROWS = 100_000  # predictions kept (a uniform sample) for the quantiles of a regression's values
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass
class ScoreResult:
    output: Path
    rows: int
    seconds: float
    run_id: str
    version: ModelVersion
    distribution: dict[str, float]  # class shares, or quantiles of the values
    warnings: list[str] = field(default_factory=list)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def extra_columns(served, files: list[BatchFile], keep: set[str]) -> list[str]:
    """Columns the model never saw (dropped before predicting); a ServiceError when a file lacks a
    required column or a column in `keep` (the id column, the target)."""
    known = set(served.cleaner.plans_)
    required = served.required_columns
    extras: list[str] = []
    for file in files:
        absent = [c for c in required if c not in file.columns]
        if absent:
            more = f" (and {len(absent) - 1} more: {absent[1:6]})" if len(absent) > 1 else ""
            raise ServiceError(f"input '{file.path}' lacks column '{absent[0]}', which the model requires{more}; "
                               "send every required column of the training table")
        for column in sorted(keep - set(file.columns)):
            raise ServiceError(f"input '{file.path}' has no column '{column}'; its columns are "
                               f"{', '.join(file.columns[:12])}{', …' if len(file.columns) > 12 else ''}")
        extras += [c for c in file.columns if c not in known and c not in keep and c not in extras]
    return extras


def predict_chunk(served, rows: pd.DataFrame, proba: bool, where: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels or values (and class probabilities when asked) for one chunk; the served model's
    refusal (a required column missing a value, a value of the wrong kind) as a ServiceError."""
    try:
        labels = served.predict(rows)
        return labels, served.predict_proba(rows) if proba else None
    except (ValueError, TypeError) as error:
        raise ServiceError(f"{where}: {error}") from None


class Output:
    """Predictions written chunk by chunk to a temporary file, renamed to `path` by close()."""

    def __init__(self, path: Path):
        self.path = path
        self.temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
        self.parquet = path.suffix.lower() in PARQUET_SUFFIXES
        self.writer = None

    def write(self, frame: pd.DataFrame) -> None:
        if not self.parquet:
            frame.to_csv(self.temporary, mode="a", header=self.writer is None, index=False)
            self.writer = True
            return
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.temporary, table.schema)
        self.writer.write_table(table.cast(self.writer.schema))

    def close(self) -> None:
        if self.parquet and self.writer is not None:
            self.writer.close()
        os.replace(self.temporary, self.path)

    def discard(self) -> None:
        if self.parquet and self.writer is not None:
            self.writer.close()
        self.temporary.unlink(missing_ok=True)


def check_output(output: str) -> Path:
    path = Path(output)
    if path.suffix.lower() not in PARQUET_SUFFIXES | {".csv"}:
        raise ServiceError(f"output '{output}' must end in .csv or .parquet (the format is taken from it)")
    if not path.parent.is_dir():
        raise ServiceError(f"output '{output}': folder '{path.parent}' does not exist; create it first")
    return path


class Distribution:
    """The predictions' distribution over every chunk in bounded memory: counts per class, or a
    uniform sample of the values (the SAMPLE_ROWS with the smallest random keys) for quantiles."""

    def __init__(self, classes: np.ndarray | None, seed: int = 0):
        self.classes = classes
        self.counts = np.zeros(len(classes) if classes is not None else 0, dtype=np.int64)
        self.keys, self.values = np.empty(0), np.empty(0)
        self.rng = np.random.default_rng(seed)

    def add(self, predicted: np.ndarray) -> None:
        if self.classes is not None:
            index = {label: i for i, label in enumerate(self.classes)}
            self.counts += np.bincount([index[label] for label in predicted], minlength=len(self.classes))
            return
        keys = np.concatenate([self.keys, self.rng.random(len(predicted))])
        values = np.concatenate([self.values, np.asarray(predicted, dtype=float)])
        kept = np.argpartition(keys, SAMPLE_ROWS)[:SAMPLE_ROWS] if len(keys) > SAMPLE_ROWS else slice(None)
        self.keys, self.values = keys[kept], values[kept]

    def summary(self) -> dict[str, float]:
        if self.classes is not None:
            total = max(int(self.counts.sum()), 1)
            return {f"share/{metric_name(label)}": count / total for label, count in zip(self.classes, self.counts)}
        if not len(self.values):
            return {}
        return {f"q{round(q * 100):02d}": float(v) for q, v in zip(QUANTILES, np.quantile(self.values, QUANTILES))}


def score_batch(model_uri: str, source: str, output: str, tracking_uri: str, id_column: str | None = None,
                proba: bool = False, chunk_rows: int = CHUNK_ROWS,
                on_chunk: Callable[[int, float], None] | None = None) -> ScoreResult:
    """Score every row of `source` with the registered model into `output` (CSV or Parquet, in the
    input's row order: the id column, `prediction`, then `proba_<class>` per class with `proba`)."""
    path = check_output(output)
    version = resolve_model(model_uri, tracking_uri)
    files = batch_files(source)
    served = load_served(version)
    classes = getattr(served, "classes_", None)
    if proba and classes is None:
        raise ServiceError(f"--proba: model {version.name} v{version.version} is a regressor and has no class "
                           "probabilities; leave --proba out")
    extras = extra_columns(served, files, {id_column} if id_column else set())
    more = f" (and {len(extras) - 10} more)" if len(extras) > 10 else ""
    warnings = [f"columns the model does not use were dropped: {', '.join(extras[:10])}{more}"] if extras else []
    written, started = Output(path), time.perf_counter()
    distribution, rows, offsets = Distribution(classes), 0, {}
    try:
        for file, chunk in read_chunks(files, chunk_rows):
            start = offsets.get(file.path, 0)
            offsets[file.path] = start + len(chunk)
            where = f"input '{file.path}', in the chunk of its rows {start}–{start + len(chunk) - 1}"
            labels, probabilities = predict_chunk(served, chunk.drop(columns=extras, errors="ignore"), proba, where)
            frame = pd.DataFrame({id_column: chunk[id_column].to_numpy()} if id_column else {})
            frame[PREDICTION] = labels
            for i, label in enumerate(classes if probabilities is not None else []):
                frame[f"proba_{label}"] = probabilities[:, i]
            written.write(frame)
            distribution.add(labels)
            rows += len(chunk)
            if on_chunk is not None:
                on_chunk(rows, time.perf_counter() - started)
        if rows == 0:
            raise ServiceError(f"input '{source}' holds no rows (only a header); give a batch with rows")
        written.close()
    except BaseException:
        written.discard()
        raise
    seconds = time.perf_counter() - started
    summary = distribution.summary()
    run = service_run(version, "scoring", {"input_sha256": files_hash(files)})
    RunLog(run).log(params={"input": source, "output": str(path), "id_column": id_column or "", "proba": proba,
                            "chunk_rows": chunk_rows, "files": len(files)},
                    metrics={"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds if seconds else 0.0,
                             **{f"prediction/{key}": value for key, value in summary.items()}})
    RunLog(run).end()
    return ScoreResult(path, rows, seconds, run.run_id, version, summary, warnings)
