"""The champion in service: batch scoring, and drift monitoring against the reference profile stored
with each registered version at training time. Plain Python (no Prefect); flows/service.py wraps it.

- score_batch: a CSV/Parquet file, folder or glob, read and predicted in chunks, rows checked by
  the served model first; the output written under a temporary name, then renamed
- resolve_model: `models:/NAME@ALIAS` or `/VERSION` to one version (unknown ones name what exists)
- store_reference (called by the training run's register step) / load_reference: the profile a
  version is monitored against; monitor_batch measures a batch against it and decides,
  log_monitoring writes the run (psi/<column>, the drift table, the HTML report), note_retrain
  tags it with the training flow run it started
- service_run: the run a service command writes, in `<model>-<kind>` (scoring, monitoring,
  distillation), tagged with the model version
- ServiceError: the caller's bad input, one line (a DataError: `automl` exits 2)
"""

from automl.service._batch import CHUNK_ROWS, batch_files, read_chunks
from automl.service._errors import ServiceError
from automl.service._model import ModelVersion, load_served, resolve_model
from automl.service._monitor import MonitorResult, monitor_batch
from automl.service._reference import REFERENCE_PATH, load_reference, store_reference
from automl.service._report import (
    RETRAIN_FLOW_RUN_TAG,
    html_report,
    log_monitoring,
    monitor_markdown,
    note_retrain,
    verdict,
)
from automl.service._runs import service_run
from automl.service._score import PREDICTION, ScoreResult, score_batch

__all__ = ["CHUNK_ROWS", "PREDICTION", "REFERENCE_PATH", "RETRAIN_FLOW_RUN_TAG", "ModelVersion", "MonitorResult",
           "ScoreResult", "ServiceError", "batch_files", "html_report", "load_reference", "load_served",
           "log_monitoring", "monitor_batch", "monitor_markdown", "note_retrain", "read_chunks", "resolve_model",
           "score_batch", "service_run", "store_reference", "verdict"]
