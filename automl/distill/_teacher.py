"""The teacher: a registered version (models:/NAME@ALIAS or /VERSION), loaded as it is served, and the
checks that it was trained on the config's table and split, so the test split stays unseen by
teacher and student alike. Every check runs before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from mlflow import MlflowClient

from automl.distill._errors import DistillError
from automl.service import ModelVersion, load_served, resolve_model


@dataclass(frozen=True)
class TrainingSplit:
    """How a training run split its table, as it logged it (params config.*, metrics n_train, n_test)."""

    seed: int
    test_size: float
    test_source: str | None
    n_train: int
    n_test: int

    def differences(self, other: TrainingSplit) -> list[str]:
        """What differs, as 'seed 0 (the teacher's) against 1' phrases; test_size only without a test table."""
        keys = ["seed", "test_source", "n_train", "n_test"] + ([] if self.test_source else ["test_size"])
        return [f"{key} {getattr(self, key)!r} (the teacher's) against {getattr(other, key)!r}" for key in keys
                if getattr(self, key) != getattr(other, key)]


@dataclass
class Teacher:
    """A registered version, its served model (ServedModel: the cleaner, then the pipeline) and the
    split its training run logged (None: the run logged none)."""

    uri: str
    version: ModelVersion
    served: Any
    split: TrainingSplit | None
    registered_score: float | None  # its version's test_score tag

    @property
    def name(self) -> str:
        return f"{self.version.name} v{self.version.version}"

    @property
    def classes(self) -> np.ndarray | None:
        return getattr(self.served.model, "classes_", None)


def load_teacher(uri: str, tracking_uri: str) -> Teacher:
    """The version `uri` names (ServiceError, naming what exists, when it does not), loaded."""
    version = resolve_model(uri, tracking_uri)
    try:
        served = load_served(version)
    except Exception as error:  # (an sklearn-flavoured model, one logged by hand: not a PythonModel)
        raise DistillError(f"teacher {uri} ({version.name} v{version.version}) is not a model automl run registered "
                           f"({type(error).__name__}); distill a version trained by automl run CONFIG") from None
    if not (hasattr(served, "cleaner") and hasattr(served, "model")):
        raise DistillError(f"teacher {uri} ({version.name} v{version.version}) is not a model automl run registered "
                           f"(it serves a {type(served).__name__}); distill a version trained by automl run CONFIG")
    client = MlflowClient(version.tracking_uri)
    tags = client.get_model_version(version.name, version.version).tags
    score = float(tags["test_score"]) if "test_score" in tags else None
    return Teacher(uri, version, served, training_split(client, version.run_id), score)


def training_split(client: MlflowClient, run_id: str) -> TrainingSplit | None:
    """The split a training run logged, or None when it logged none (a model registered by hand)."""
    if not run_id:
        return None
    data = client.get_run(run_id).data
    params, metrics = data.params, data.metrics
    keys = ("config.seed", "config.data.test_size", "config.data.test_source")
    if not all(key in params for key in keys) or not {"n_train", "n_test"} <= set(metrics):
        return None
    source = params["config.data.test_source"]
    return TrainingSplit(int(params["config.seed"]), float(params["config.data.test_size"]),
                         None if source == "None" else source, int(metrics["n_train"]), int(metrics["n_test"]))


def check_teacher(teacher: Teacher, prepared) -> None:
    """The teacher fits the config (automl.pipeline.Prepared): the same raw columns, the same kind of
    target and classes, the same training split; a DistillError naming the difference otherwise."""
    config, dataset, split = prepared.config, prepared.dataset, prepared.split
    theirs, ours = list(teacher.served.cleaner.plans_), list(dataset.cleaner.plans_)
    if set(theirs) != set(ours):
        missing, extra = [c for c in theirs if c not in ours], [c for c in ours if c not in theirs]
        raise DistillError(f"teacher {teacher.uri} ({teacher.name}) was trained on another table than data.source "
                           f"'{config.data.source}': it reads columns {_few(missing)} that the table lacks, and the "
                           f"table has {_few(extra)} it never saw; distill it with the config that trained it")
    classes = teacher.classes
    if (classes is None) != (dataset.task == "regression"):
        kind = "a regressor" if classes is None else "a classifier"
        raise DistillError(f"teacher {teacher.uri} ({teacher.name}) is {kind}, but the config's target "
                           f"'{split.y_train.name}' is a {dataset.task} task; distill it with the config that "
                           "trained it")
    if classes is not None and [str(c) for c in classes] != [str(c) for c in np.unique(split.y_train)]:
        raise DistillError(f"teacher {teacher.uri} ({teacher.name}) predicts classes {list(map(str, classes))[:10]}, "
                           f"the config's training rows hold {list(map(str, np.unique(split.y_train)))[:10]}; "
                           "distill it with the config that trained it")
    check_split(teacher, prepared)


def check_split(teacher: Teacher, prepared) -> None:
    """The config splits its table as the teacher's training run did (seed, test size or test table,
    the rows on each side): otherwise the student would learn from rows the teacher was tested on."""
    if teacher.split is None:
        raise DistillError(f"teacher {teacher.uri} ({teacher.name}) has no training split on record: its run "
                           f"{teacher.version.run_id or '(none)'} logs no seed, test split and row counts (it was "
                           "not trained by automl run), so which rows it learned from is unknown; distill a "
                           "version trained by automl run CONFIG")
    config, split = prepared.config, prepared.split
    ours = TrainingSplit(config.seed, config.data.test_size, config.data.test_source, len(split.y_train),
                         len(split.y_test))
    differ = teacher.split.differences(ours)
    if differ:
        hint = f" (e.g. --set seed={teacher.split.seed})" if teacher.split.seed != config.seed else ""
        raise DistillError(f"the config's training split is not the one teacher {teacher.uri} ({teacher.name}) learned "
                           f"from: {'; '.join(differ)}; the student would learn from rows the teacher was tested on. "
                           f"Distill with the config of its training run{hint}")


def _few(names: list[str], shown: int = 5) -> str:
    return "none" if not names else str(names[:shown])[:-1] + (f", … {len(names) - shown} more]"
                                                                if len(names) > shown else "]")
