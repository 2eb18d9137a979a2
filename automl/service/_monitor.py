"""`automl monitor`: a batch against the reference profile stored with the model version.

Per column the PSI on the reference's bins or levels (and the Jensen–Shannon distance for
categories), the change in missing rate and the share of unseen levels; the PSI of the model's
predictions against its predictions on the test split; with the target in the batch, the live
metric beside the test score. Drifted when a column's PSI passes monitor.psi_threshold or the live
metric is worse than the test score by more than monitor.max_score_drop. What to do about it (start
the training deployment) is the caller's: flows/service.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from automl.config import DriftThresholds
from automl.evaluation import METRICS, score_predictions
from automl.service._batch import CHUNK_ROWS, batch_files, read_chunks
from automl.service._drift import ColumnCounts
from automl.service._errors import ServiceError
from automl.service._model import ModelVersion, load_served, resolve_model
from automl.service._reference import load_reference, training_config
from automl.service._score import extra_columns

PREDICTION = "(prediction)"  # the predictions' row in the drift table


@dataclass
class MonitorResult:
    version: ModelVersion
    rows: int
    table: pd.DataFrame  # one row per column, the most drifted first: psi, js, missing rates, unseen share
    prediction_psi: float
    metric: str
    test_score: float
    live_score: float | None
    settings: DriftThresholds
    config_name: str | None  # the config that trained the version: its deployment retrains it
    reasons: list[str] = field(default_factory=list)  # why it drifted (empty: it did not)
    counts: dict[str, ColumnCounts] = field(default_factory=dict, repr=False)  # for the report's plots
    run_id: str | None = None

    @property
    def drifted(self) -> bool:
        return bool(self.reasons)


class Labels:
    """The batch's target, checked against the model's (numbers for a regressor, its classes for a
    classifier), and the predictions beside it for the live metric."""

    def __init__(self, column: str, classes):
        self.column, self.classes = column, classes
        self.y: list[np.ndarray] = []
        self.predicted: list[np.ndarray] = []

    def add(self, values: pd.Series, where: str) -> np.ndarray:
        """The rows whose target is known; the target's values stored."""
        known = values.notna().to_numpy()
        if self.classes is None:
            numbers = pd.to_numeric(values[known], errors="coerce")
            if numbers.isna().any():
                raise ServiceError(f"{where}: target column '{self.column}' holds "
                                   f"{values[known][numbers.isna()].iloc[0]!r}, not a number; "
                                   "the model is a regressor: "
                                   "give its target as numbers, or leave --target out")
            self.y.append(numbers.to_numpy(dtype=float))
            return known
        by_text = {str(c): c for c in self.classes}
        text = values[known].astype(str)
        unknown = ~text.isin(list(by_text))
        if unknown.any():
            raise ServiceError(f"{where}: target column '{self.column}' holds {text[unknown].iloc[0]!r}, which is not "
                               f"a class of the model ({', '.join(by_text)}); label the batch as the training "
                               "table was, or leave --target out")
        self.y.append(text.map(by_text).to_numpy())
        return known

    def score(self, metric: str) -> float | None:
        y = np.concatenate(self.y) if self.y else np.empty(0)
        if not len(y) or (self.classes is not None and len(set(y.tolist())) < 2 and metric == "roc_auc"):
            return None
        classes = None if self.classes is None else np.asarray(self.classes)
        return score_predictions(metric, y, np.concatenate(self.predicted), classes)


def count_batch(served, reference: dict, source: str, target: str | None, chunk_rows: int):
    """Every chunk's cleaned columns and predictions counted against the reference."""
    files = batch_files(source)
    extras = extra_columns(served, files, {target} if target else set())
    columns = {**reference["numeric"], **reference["categorical"]}
    counts = {c: ColumnCounts(profile) for c, profile in columns.items()}
    predictions = ColumnCounts(reference["prediction"])
    labels = Labels(target, getattr(served, "classes_", None)) if target else None
    rows = 0
    for file, chunk in read_chunks(files, chunk_rows):
        if not len(chunk):  # (a header-only file: the pipeline's imputers refuse zero rows)
            continue
        where = f"input '{file.path}'"
        try:
            cleaned = served._rows(chunk.drop(columns=[*extras, *([target] if target else [])], errors="ignore"))
            predicted = served.model.predict(cleaned)
        except (ValueError, TypeError) as error:
            raise ServiceError(f"{where}: {error}") from None
        for column, column_counts in counts.items():
            if column in cleaned:
                column_counts.add(cleaned[column])
        predictions.add(pd.Series(predicted) if not predictions.numeric else predicted)
        if labels is not None:
            known = labels.add(chunk[target], where)
            known_rows = cleaned[known]
            labels.predicted.append(served.model.predict_proba(known_rows) if labels.classes is not None
                                    else served.model.predict(known_rows))
        rows += len(chunk)
    if rows == 0:
        raise ServiceError(f"input '{source}' holds no rows (only a header); give a batch with rows")
    return rows, counts, predictions, labels


def drift_table(counts: dict[str, ColumnCounts], predictions: ColumnCounts) -> pd.DataFrame:
    records = [{"column": column, "kind": "numeric" if c.numeric else "categorical", **c.measures()}
               for column, c in counts.items()]
    records.append({"column": PREDICTION, "kind": "prediction", **predictions.measures()})
    table = pd.DataFrame(records, columns=["column", "kind", "psi", "js", "missing_rate", "missing_change",
                                           "unseen_share"])
    return table.sort_values("psi", ascending=False, kind="stable").reset_index(drop=True)


def decide(table: pd.DataFrame, settings: DriftThresholds, metric: str, test_score: float,
           live_score: float | None) -> list[str]:
    """Why the batch counts as drifted; empty when it does not."""
    columns = table[table["kind"] != "prediction"]
    reasons = [f"{row.column}: PSI {row.psi:.3f} > {settings.psi_threshold:g}"
               for row in columns.itertuples() if row.psi > settings.psi_threshold]
    if live_score is not None:
        drop = test_score - live_score if METRICS[metric].greater_is_better else live_score - test_score
        if drop > settings.max_score_drop:
            reasons.append(f"live {metric} {live_score:.4f} is {drop:.4f} worse than the test score "
                           f"{test_score:.4f} (> {settings.max_score_drop:g})")
    return reasons


def monitor_batch(model_uri: str, source: str, tracking_uri: str, target: str | None = None,
                  settings: DriftThresholds | None = None, chunk_rows: int = CHUNK_ROWS) -> MonitorResult:
    """Measure `source` against the version's reference and decide; writes nothing (log_monitoring does)."""
    version = resolve_model(model_uri, tracking_uri)
    reference = load_reference(version)
    trained_with = training_config(version)
    if settings is None:  # the thresholds of the config that trained the version
        known = trained_with.get("monitor", {})
        settings = DriftThresholds(**{key: known[key] for key in DriftThresholds.model_fields if key in known})
    files = batch_files(source)
    if target is None and reference["target"]["name"] in files[0].columns:
        target = reference["target"]["name"]
    served = load_served(version)
    rows, counts, predictions, labels = count_batch(served, reference, source, target, chunk_rows)
    table = drift_table(counts, predictions)
    live = labels.score(reference["metric"]) if labels is not None else None
    reasons = decide(table, settings, reference["metric"], reference["test_score"], live)
    return MonitorResult(version, rows, table, float(predictions.measures()["psi"]), reference["metric"],
                         reference["test_score"], live, settings, trained_with.get("name"), reasons,
                         {**counts, PREDICTION: predictions})
