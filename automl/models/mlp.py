from __future__ import annotations

from automl.models._base import FamilyContext, ModelFamily, Suggest
from automl.torch_models import TorchMLPClassifier, TorchMLPRegressor


class MLP(ModelFamily):
    """A PyTorch MLP (CUDA when available), early-stopped and pruned per epoch."""

    name = "mlp"

    def suggest(self, s: Suggest, context: FamilyContext) -> None:
        s.int("hidden_layers", 1, 3)
        s.int("hidden_width", 32, 256, log=True)
        s.float("dropout", 0.0, 0.5)
        optimizer = s.categorical("optimizer", ["adamw", "adam", "sgd"])
        if optimizer == "sgd":  # SGD needs larger steps than the Adam family
            s.float("learning_rate", 1e-3, 3e-1, log=True)
        else:
            s.float("learning_rate", 1e-4, 1e-2, log=True)
        s.float("weight_decay", 1e-6, 1e-2, log=True)
        s.categorical("batch_size", [32, 64, 128, 256])
        s.int("max_epochs", 20, 120, log=True)

    def defaults(self, context: FamilyContext) -> dict:
        return {"hidden_layers": 2, "hidden_width": 128, "dropout": 0.1, "optimizer": "adamw",
                "learning_rate": 1e-3, "weight_decay": 1e-4, "batch_size": 64, "max_epochs": 60}

    def build(self, params: dict, context: FamilyContext):
        estimator = TorchMLPClassifier if context.is_classification else TorchMLPRegressor
        return estimator(**params, patience=10, device=context.device, random_state=context.seed)
