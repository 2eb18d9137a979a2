"""The champion in service: batch scoring, and drift monitoring against the reference profile stored
with each registered version at training time. Plain Python (no Prefect); flows/service.py wraps it.

- score_batch: a CSV/Parquet file, folder or glob, read and predicted in chunks, rows checked by
  the served model first; the output written under a temporary name, then renamed
- resolve_model: `models:/NAME@ALIAS` or `/VERSION` to one version (unknown ones name what exists)
- ServiceError: the caller's bad input, one line (a DataError: `automl` exits 2)
"""

from automl.service._batch import CHUNK_ROWS, batch_files, read_chunks
from automl.service._errors import ServiceError
from automl.service._model import ModelVersion, load_served, resolve_model
from automl.service._score import PREDICTION, ScoreResult, score_batch

__all__ = ["CHUNK_ROWS", "PREDICTION", "ModelVersion", "ScoreResult", "ServiceError", "batch_files", "load_served",
           "read_chunks", "resolve_model", "score_batch"]
