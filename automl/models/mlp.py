from __future__ import annotations

from automl.models._base import FamilyContext, ModelFamily, Suggest
from automl.nn import TorchMLPClassifier, TorchMLPRegressor, fit_packed


class MLP(ModelFamily):
    """A PyTorch MLP (CUDA when available), early-stopped and pruned per epoch.

    The space follows published tabular-MLP practice: AdamW and weight decay, dropout, label
    smoothing, a cosine schedule, optional periodic embeddings of the numeric features.
    """

    name = "mlp"
    # What packed trials may differ in; every other parameter is the pack's shared shape.
    member_params = ("learning_rate", "weight_decay", "dropout")
    uses_device = True

    def suggest(self, s: Suggest, context: FamilyContext) -> None:
        s.int("hidden_layers", 1, 4)
        s.int("hidden_width", 32, 512, log=True)
        optimizer = s.categorical("optimizer", ["adamw", "adam", "sgd"])
        s.categorical("batch_size", [32, 64, 128, 256, 512])
        s.int("max_epochs", 20, 200, log=True)
        s.categorical("schedule", ["constant", "cosine"])
        s.categorical("embedding", ["none", "periodic"])
        if context.is_classification:
            s.float("label_smoothing", 0.0, 0.2)
        if optimizer == "sgd":  # SGD needs larger steps than the Adam family
            s.float("learning_rate", 1e-3, 3e-1, log=True)
        else:
            s.float("learning_rate", 1e-4, 1e-2, log=True)
        s.float("weight_decay", 1e-6, 1e-1, log=True)
        s.float("dropout", 0.0, 0.5)

    def defaults(self, context: FamilyContext) -> dict:
        params = {"hidden_layers": 2, "hidden_width": 128, "optimizer": "adamw", "batch_size": 64,
                  "max_epochs": 100, "schedule": "cosine", "embedding": "none",
                  "learning_rate": 1e-3, "weight_decay": 1e-4, "dropout": 0.1}
        if context.is_classification:
            params["label_smoothing"] = 0.0
        return params

    def build(self, params: dict, context: FamilyContext):
        estimator = TorchMLPClassifier if context.is_classification else TorchMLPRegressor
        return estimator(**params, patience=10, device=context.device, random_state=context.seed)

    def fit(self, models: list, X, y, callbacks: list | None = None) -> None:
        fit_packed(models, X, y, callbacks)
