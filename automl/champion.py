"""The new model against the current champion on this run's test rows, as the champion policy's
if_not_worse weighs it (automl.tracking's ChampionPolicy): the champion, loaded from the registry,
predicts the raw test rows (its own cleaner reads them, as in service); the new model predicts the
same rows; a paired bootstrap of the metric's difference says how much of it is noise."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from automl import evaluation
from automl.data import Dataset, Split
from automl.evaluation import PairedDifference
from automl.service import ModelVersion, load_served


def test_comparison(dataset: Dataset, split: Split, pipeline, tracking_uri: str, name: str,
                    seed: int) -> Callable[[str], PairedDifference | None]:
    """version → the new `pipeline` against version `version` of registered model `name` on the
    test rows; None where the two cannot be compared on them (other classes, no raw rows kept)."""
    predicted = _predictions(pipeline, split.X_test, dataset.task)

    def compare(version: str) -> PairedDifference | None:
        if dataset.raw is None:
            return None
        champion = load_served(ModelVersion(tracking_uri, name, version, "", f"models:/{name}/{version}"))
        classes = getattr(pipeline, "classes_", None)
        if classes is not None and not np.array_equal(np.asarray(champion.classes_), np.asarray(classes)):
            return None
        theirs = _predictions(champion, dataset.raw.loc[split.X_test.index], dataset.task)
        return evaluation.paired_bootstrap(dataset.metric, split.y_test, predicted, theirs, classes, seed)

    return compare


def _predictions(model, X, task: str) -> np.ndarray:
    """What score_predictions takes: class probabilities, or values for regression."""
    return np.asarray(model.predict(X) if task == "regression" else model.predict_proba(X), dtype=float)
