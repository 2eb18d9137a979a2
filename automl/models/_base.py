"""ModelFamily: one small class per family, with its search space, its defaults and its builder."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import optuna


@dataclass(frozen=True)
class FamilyContext:
    """What a family may look at when it suggests and builds: never the data itself."""

    task: str  # binary, multiclass or regression
    seed: int
    device: str = "cpu"  # where PyTorch models train: resolved once per run ("cpu" or "cuda"), never "auto"
    n_rows: int = 1000
    n_jobs: int = max(1, os.cpu_count() or 1)  # threads a model may use (trees)

    @property
    def is_classification(self) -> bool:
        return self.task != "regression"


class Suggest:
    """Namespaces a family's parameters in the study (``mlp.dropout``) and collects them plainly."""

    def __init__(self, trial: optuna.Trial, prefix: str):
        self.trial, self.prefix, self.params = trial, prefix, {}

    def int(self, name: str, low: int, high: int, log: bool = False) -> int:
        self.params[name] = self.trial.suggest_int(f"{self.prefix}.{name}", low, high, log=log)
        return self.params[name]

    def float(self, name: str, low: float, high: float, log: bool = False) -> float:
        self.params[name] = self.trial.suggest_float(f"{self.prefix}.{name}", low, high, log=log)
        return self.params[name]

    def categorical(self, name: str, choices: list) -> Any:
        self.params[name] = self.trial.suggest_categorical(f"{self.prefix}.{name}", choices)
        return self.params[name]


class ModelFamily(ABC):
    """A family of models: a name, the tasks it serves, a search space, defaults and a builder."""

    name: ClassVar[str]
    tasks: ClassVar[tuple[str, ...]] = ("binary", "multiclass", "regression")
    # True: the model takes raw numbers with gaps and integer-coded categories (`categorical_features`),
    # so it gets no one-hot encoding, scaling or imputation, and no SelectKBest in front of it.
    native_categorical: ClassVar[bool] = False
    # The parameters in which trials trained together (a pack) may differ; empty: never packed.
    member_params: ClassVar[tuple[str, ...]] = ()
    # True: its models train with PyTorch on the run's device (FamilyContext.device).
    uses_device: ClassVar[bool] = False

    @abstractmethod
    def suggest(self, s: Suggest, context: FamilyContext) -> None:
        """Draw this family's parameters through ``s`` (conditional parameters allowed)."""

    @abstractmethod
    def defaults(self, context: FamilyContext) -> dict[str, Any]:
        """A known-good configuration inside the search space, tried first (enqueued)."""

    @abstractmethod
    def build(self, params: dict[str, Any], context: FamilyContext):
        """An unfitted estimator with the sklearn contract."""

    def fit(self, models: list, X, y, callbacks: list | None = None) -> None:
        """Fit K models of this family on one (X, y): K = 1 unless the family packs (member_params).
        `callbacks` (automl.nn.Callback) see each epoch of a family that trains by epochs; a model
        fitted in one go has no epochs to show them."""
        if len(models) != 1:
            raise ValueError(f"family '{self.name}' fits one model at a time, got {len(models)}")
        models[0].fit(X, y)
