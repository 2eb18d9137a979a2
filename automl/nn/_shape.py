"""What a pack's members share (Shape) and what each has of its own (Member): plain dataclasses, no
PyTorch, so the settings (automl.nn._settings) and the search read them without importing it.
automl.nn._model imports both from here (a model pickled before they moved still finds them there)."""

from __future__ import annotations

from dataclasses import dataclass

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "flat_cosine")
EMBEDDINGS = ("none", "periodic", "ple")
# kd_bce / kd_ce: knowledge distillation (automl.nn._distilled): the teacher's softened probabilities
# and the true labels, as one target matrix (distill_target)
LOSSES = ("bce", "ce", "mse", "kd_bce", "kd_ce")
ARCHS = ("none", "mini", "full")  # "none": a plain MLP; "mini" and "full": a TabM (automl.nn._tabm)


@dataclass(frozen=True)
class Shape:
    """What the packed members share: the architecture, the batches, the loss and the schedule. The
    estimators derive it from their settings (automl.nn._settings) by field name."""

    n_in: int
    n_out: int
    hidden_layers: int = 2
    hidden_width: int = 128
    embedding: str = "none"  # "periodic": per-feature sin/cos of learned frequencies, then linear + ReLU;
    # "ple": piecewise-linear encoding over quantile bins of the training rows, then linear + ReLU
    n_frequencies: int = 8
    n_bins: int = 16
    embedding_dim: int = 8  # per numeric feature (periodic, ple) and per categorical column
    categories: tuple[int, ...] = ()  # the last len(categories) inputs are category codes 0..c-1 (embedded)
    arch: str = "none"  # "mini" or "full": a TabM (automl.nn._tabm) of n_submodels submodels
    n_submodels: int = 1
    prune_submodels: bool = False  # TabM: keep the best-scoring subset of submodels on the validation rows
    loss: str = "ce"
    label_smoothing: float = 0.0
    temperature: float = 1.0  # kd_*: the softmax temperature of the soft term (its loss is scaled by T²)
    alpha: float = 0.5  # kd_*: the soft term's weight; the label term's is 1 - alpha
    optimizer: str = "adamw"
    schedule: str = "constant"
    batch_size: int = 128
    max_epochs: int = 100
    validation_fraction: float = 0.15

    def __setstate__(self, state: dict) -> None:
        # A model pickled before the TabM fields were renamed (issue 24) still loads and predicts:
        # `automl score` unpickles a registered model in a process that imported this automl.
        for before, now in (("ensemble", "arch"), ("ensemble_size", "n_submodels"),
                            ("prune_members", "prune_submodels")):
            if before in state:
                state[now] = state.pop(before)
        self.__dict__.update(state)

    @property
    def n_numeric(self) -> int:
        return self.n_in - len(self.categories)

    def check(self, owner: str = "Shape") -> None:
        for name, value, allowed in [("optimizer", self.optimizer, OPTIMIZERS), ("schedule", self.schedule, SCHEDULES),
                                     ("embedding", self.embedding, EMBEDDINGS), ("loss", self.loss, LOSSES)]:
            if value not in allowed:
                raise ValueError(f"The '{name}' parameter of {owner} must be one of {allowed}. Got {value!r} instead.")
        if self.arch not in ARCHS:
            raise ValueError(f"The 'arch' parameter of {owner} must be one of {ARCHS}. Got {self.arch!r} instead.")
        if self.prune_submodels and self.arch == "none":
            raise ValueError("prune_submodels needs a TabM (arch 'mini' or 'full'): a plain MLP has no submodels "
                             "to prune")
        if self.arch != "none" and (self.n_submodels < 1 or self.hidden_layers < 1):
            raise ValueError(f"{owner} needs n_submodels >= 1 and hidden_layers >= 1, got "
                             f"n_submodels={self.n_submodels} and hidden_layers={self.hidden_layers}")
        if self.temperature <= 0 or not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"{owner} needs temperature > 0 and 0 <= alpha <= 1, got temperature={self.temperature} "
                             f"and alpha={self.alpha}")
        if not 0.0 <= self.validation_fraction < 0.5:
            raise ValueError(f"validation_fraction must be in [0, 0.5), got {self.validation_fraction}")
        if self.hidden_layers < 0 or min(self.hidden_width, self.batch_size, self.max_epochs) < 1:
            raise ValueError("hidden_layers >= 0 and hidden_width, batch_size, max_epochs >= 1 must hold, "
                             f"but got ({self.hidden_layers}, {self.hidden_width}, {self.batch_size}, "
                             f"{self.max_epochs})")


@dataclass(frozen=True)
class Member:
    """What each packed member has of its own."""

    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    dropout: float = 0.1
    seed: int = 0  # initial weights; the data order and dropout masks come from the pack's seed
