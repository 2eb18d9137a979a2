from __future__ import annotations

from automl.models._base import FamilyContext, Suggest
from automl.models._torch import TorchFamily


class MLP(TorchFamily):
    """A PyTorch MLP (CUDA when available), early-stopped and pruned per epoch.

    Its warm start is RealMLP's tuned-default recipe (Holzmüller et al., NeurIPS 2024) as far as
    this network has its parts: robust scaling with smooth clipping of the inputs, periodic numeric
    embeddings, 3 x 256, AdamW, dropout 0.15, label smoothing 0.1, batches of 256 and the best
    epoch's weights, with a flat-then-cosine learning rate (RealMLP's coslog4 schedule and its
    front scaling layer are not reproduced). The space around it: depth, width, the optimizer,
    batches, schedule, embedding (none, periodic, piecewise-linear), input scaling, label smoothing,
    learning rate, weight decay and dropout.
    """

    name = "mlp"
    classifier, regressor = "TorchMLPClassifier", "TorchMLPRegressor"

    def suggest(self, s: Suggest, context: FamilyContext) -> None:
        s.int("hidden_layers", 1, 4)
        s.int("hidden_width", 32, 512, log=True)
        optimizer = s.categorical("optimizer", ["adamw", "adam", "sgd"])
        s.categorical("batch_size", [32, 64, 128, 256, 512])
        s.int("max_epochs", 20, 200, log=True)
        s.categorical("schedule", ["constant", "cosine", "flat_cosine"])
        if s.categorical("embedding", ["none", "periodic", "ple"]) == "ple":
            s.int("n_bins", 8, 64, log=True)
        s.categorical("input_scaling", ["none", "robust"])
        if context.is_classification:
            s.float("label_smoothing", 0.0, 0.2)
        if optimizer == "sgd":  # SGD needs larger steps than the Adam family
            s.float("learning_rate", 1e-3, 3e-1, log=True)
        else:
            s.float("learning_rate", 1e-4, 1e-2, log=True)
        s.float("weight_decay", 1e-6, 1e-1, log=True)
        s.float("dropout", 0.0, 0.5)

    def defaults(self, context: FamilyContext) -> dict:
        params = {"hidden_layers": 3, "hidden_width": 256, "optimizer": "adamw", "batch_size": 256,
                  "max_epochs": 100, "schedule": "flat_cosine", "embedding": "periodic", "input_scaling": "robust",
                  "learning_rate": 2e-3, "weight_decay": 1e-5, "dropout": 0.15}
        if context.is_classification:
            params["label_smoothing"] = 0.1
        return params
